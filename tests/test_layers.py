"""The package's layers, read from its source: which module may import which.

Data flows one way (SQL -> ``conversions/`` -> delivery in ``transfers/`` -> ``hooks/`` -> LinkedIn), and
the Airflow roles (``operators/``, ``sensors/``, ``transfers/``, ``triggers/``) sit on top. An import
that runs the other way (the hook reaching into a transfer, the pure layer importing Airflow) makes the
code hard to change without anyone noticing, so these tests parse every module's imports with ``ast``
(imports under ``if TYPE_CHECKING:`` and inside functions count too) and follow them transitively within
the package. Importing a module also runs its parent packages' ``__init__``, so those count as imported.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import airflow_provider_linkedin_capi

PACKAGE = airflow_provider_linkedin_capi.__name__
PACKAGE_DIR = Path(airflow_provider_linkedin_capi.__file__).resolve().parent

#: Modules that depend on nothing of the package, so every layer may use them.
SHARED_LEAVES = frozenset({f"{PACKAGE}.constants", f"{PACKAGE}.urns", f"{PACKAGE}.api_versions"})
AIRFLOW_ROLES = ("operators", "sensors", "transfers", "triggers")
HTTP_CLIENTS = frozenset({"requests", "httpx", "urllib3", "aiohttp", "http"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_internal(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _internal_module(name: str) -> str:
    """The package module ``name`` lives in (``pkg.hooks.linkedin_capi.LinkedInCapiHook`` -> the module)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _with_parent_packages(module: str) -> set[str]:
    """``module`` and the packages whose ``__init__`` importing it runs (the root package excepted)."""
    found = {module}
    parts = module.split(".")
    for end in range(2, len(parts)):
        found.add(".".join(parts[:end]))
    return found


@cache
def _direct_imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(package modules, top-level external names) that ``module``'s source imports."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own_package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = own_package.split(".")
                base_parts = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            # ``from pkg.rules import spec`` imports the submodule ``pkg.rules.spec``.
            names.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    internal: set[str] = set()
    external: set[str] = set()
    for name in names:
        if _is_internal(name):
            internal |= _with_parent_packages(_internal_module(name))
        elif name:
            external.add(name.split(".")[0])
    internal.discard(module)
    return frozenset(internal), frozenset(external)


@cache
def imports_of(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """Everything ``module`` imports, transitively within the package: (package modules, external names)."""
    internal: set[str] = set()
    external: set[str] = set()
    pending = [module]
    seen = {module}
    while pending:
        current = pending.pop()
        direct_internal, direct_external = _direct_imports(current)
        external |= direct_external
        for name in direct_internal - seen:
            seen.add(name)
            internal.add(name)
            pending.append(name)
    internal.discard(module)
    return frozenset(internal), frozenset(external)


def modules_in(subpackage: str) -> list[str]:
    prefix = f"{PACKAGE}.{subpackage}"
    return [name for name in MODULES if name == prefix or name.startswith(prefix + ".")]


def in_any(module: str, subpackages: tuple[str, ...]) -> bool:
    return any(module == f"{PACKAGE}.{sub}" or module.startswith(f"{PACKAGE}.{sub}.") for sub in subpackages)


def violations(importers: list[str], forbidden) -> list[str]:
    return sorted(
        f"{importer} -> {imported}"
        for importer in importers
        for imported in imports_of(importer)[0]
        if forbidden(imported)
    )


def test_the_import_walker_sees_the_real_dependencies():
    """Guards the other tests against passing vacuously: known edges are found, transitively."""
    internal, external = imports_of(f"{PACKAGE}.transfers.sql_to_linkedin_capi")
    assert f"{PACKAGE}.conversions.builder" in internal  # via the conversions package's __init__
    assert f"{PACKAGE}.hooks.linkedin_capi" in internal
    assert f"{PACKAGE}.rules.usable" in internal  # through the hook or the rule gate
    assert {"airflow", "requests"} <= external
    assert len(MODULES) > 50


def test_the_pure_layer_imports_nothing_of_airflow_http_or_other_layers():
    problems = []
    for module in modules_in("conversions"):
        internal, external = imports_of(module)
        outside = sorted(
            name for name in internal if not in_any(name, ("conversions",)) and name not in SHARED_LEAVES
        )
        if outside:
            problems.append(f"{module} imports {outside}")
        clients = sorted(external & (HTTP_CLIENTS | {"airflow"}))
        if clients:
            problems.append(f"{module} imports {clients}")
    assert problems == []


@pytest.mark.parametrize("leaf", sorted(SHARED_LEAVES))
def test_constants_and_other_shared_leaves_import_nothing_of_the_package(leaf):
    assert imports_of(leaf)[0] == frozenset()


def test_exceptions_import_nothing_of_the_package():
    assert imports_of(f"{PACKAGE}.exceptions")[0] == frozenset()


def test_hooks_import_no_airflow_role():
    found = violations(modules_in("hooks"), lambda name: in_any(name, AIRFLOW_ROLES))
    assert found == []


def test_rules_import_no_hook_no_push_and_no_airflow_role():
    found = violations(modules_in("rules"), lambda name: in_any(name, ("hooks", "push", *AIRFLOW_ROLES)))
    assert found == []


def test_hooks_import_nothing_of_the_push():
    """Data flows one way: the push engine sends through the hook, never the other way round."""
    found = violations(modules_in("hooks"), lambda name: in_any(name, ("push",)))
    assert found == []


def test_the_push_engine_imports_no_airflow_role():
    """``push/`` sits between ``hooks/`` and the operators: no operator, sensor or trigger below it."""
    found = violations(modules_in("push"), lambda name: in_any(name, AIRFLOW_ROLES))
    assert found == []


def test_the_sensor_the_trigger_and_the_push_import_nothing_from_operators():
    """Helpers shared by several roles live in ``urns``, ``rules/`` or ``push/``, not in one role's."""
    importers = modules_in("sensors") + modules_in("transfers") + modules_in("triggers")
    found = violations(importers, lambda name: in_any(name, ("operators",)))
    assert found == []


def test_the_sandbox_imports_nothing_of_the_provider():
    """The sandbox plays an independent LinkedIn: it must not share the provider's code, or its mistakes."""
    found = violations(modules_in("sandbox"), lambda name: not in_any(name, ("sandbox",)))
    assert found == []


def _direct_internal(module: str) -> set[str]:
    """The package modules ``module`` imports itself (parent packages' ``__init__`` left out)."""
    return {name for name in _direct_imports(module)[0] if MODULES[name].name != "__init__.py"}


def _cycles() -> list[list[str]]:
    """Every import cycle among the package's modules (each once), by depth-first search."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in MODULES:
        stack = [(start, [start])]
        while stack:
            current, path = stack.pop()
            for name in _direct_internal(current):
                if name == start:
                    key = frozenset(path)
                    if key not in seen:
                        seen.add(key)
                        found.append([*path, start])
                elif name not in path and name > start:  # each cycle is found from its smallest module
                    stack.append((name, [*path, name]))
    return found


def test_the_cycle_finder_finds_a_cycle(monkeypatch):
    """Guards the next test against passing vacuously."""
    a, b = f"{PACKAGE}.constants", f"{PACKAGE}.urns"
    fake = {a: (frozenset({b}), frozenset()), b: (frozenset({a}), frozenset())}
    monkeypatch.setattr(
        f"{__name__}._direct_imports", lambda module: fake.get(module, (frozenset(), frozenset()))
    )
    assert sorted(map(sorted, _cycles())) == [[a, a, b]]


def test_no_import_cycles():
    """Counting imports under ``TYPE_CHECKING`` and inside functions: every cycle makes a layer unclear."""
    assert _cycles() == []


def test_private_modules_are_imported_only_by_their_own_package():
    """``hooks/_transport.py`` and the like are helpers of ``hooks/``; other layers use the public hook."""
    problems = []
    for module in MODULES:
        if in_any(module, ("sandbox",)):
            continue
        owner = module.rpartition(".")[0]
        for name in _direct_internal(module):
            if name.rpartition(".")[2].startswith("_") and name.rpartition(".")[0] != owner:
                problems.append(f"{module} -> {name}")
    assert problems == []


def _module_params():
    return [
        pytest.param(path, id=module.removeprefix(PACKAGE + "."))
        for module, path in MODULES.items()
        if not in_any(module, ("sandbox",))
    ]


#: Modules are sized by job, not by a line cap; this only catches a module that has swallowed several jobs.
MAX_MODULE_LINES = 1000
#: Modules outside the sandbox (``__init__`` files aside): every job findable from a folder name.
MAX_MODULES = 45


def test_the_package_has_few_modules_each_with_a_job():
    modules = [
        path
        for module, path in MODULES.items()
        if not in_any(module, ("sandbox",)) and path.stem != "__init__"
    ]
    assert len(modules) <= MAX_MODULES, f"{len(modules)} modules outside the sandbox"


@pytest.mark.parametrize("path", _module_params())
def test_no_module_has_swallowed_several_jobs(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines; does it still have one job?"
