"""The package as a user gets it (#21): its metadata, dependency floors that a lock tests, its version, and a
wheel built from this checkout that installs into a clean virtualenv where Airflow lists it.

The wheel test downloads Airflow and the provider's dependencies from the package index into a new
virtualenv, resolved against the lock file of the Airflow under test (so under `make test-oldest-airflow`
it installs the declared floors); it takes about 20 s. A build or an install that fails always fails it;
without git or the package index it is skipped, except under ``CI=true``, where that fails too.
"""

from __future__ import annotations

import ast
import email.parser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
import zipfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pytest
import trove_classifiers
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from airflow_provider_linkedin_capi import __version__
from airflow_provider_linkedin_capi.get_provider_info import get_provider_info

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_linkedin_capi"
DIST = "airflow-provider-linkedin-capi"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
LOCKS = sorted((REPO_ROOT / "requirements").glob("lock*.txt"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SUPPORTED_PYTHONS = ["3.11", "3.12", "3.13"]


def _declared() -> list[tuple[str, Requirement]]:
    """Every requirement the package states: its dependencies, each extra's, and the build backend's."""
    found = [("dependencies", Requirement(r)) for r in PROJECT["dependencies"]]
    for extra, reqs in PROJECT["optional-dependencies"].items():
        found += [(f"extra {extra}", Requirement(r)) for r in reqs]
    found += [("build-system", Requirement(r)) for r in PYPROJECT["build-system"]["requires"]]
    return found


def _pins(lock: Path) -> dict[NormalizedName, Version]:
    """``name==version`` lines of a lock file; anything looser is refused (a lock pins every package)."""
    pins: dict[NormalizedName, Version] = {}
    for number, raw in enumerate(lock.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        where = f"{lock.name}:{number}: {raw!r}"
        assert [spec.operator for spec in specs] == ["=="], f"{where} is not pinned with =="
        assert not req.marker, f"{where}: a lock line is a bare name==version"
        assert not req.url, f"{where}: a lock line is a bare name==version"
        assert not req.extras, f"{where}: a lock line is a bare name==version"
        name = canonicalize_name(req.name)
        assert name not in pins, f"{where} pins {name} a second time"
        pins[name] = Version(specs[0].version)
    return pins


LOCK_PINS = {lock.name: _pins(lock) for lock in LOCKS}


def _floor(req: Requirement) -> Version:
    lower = [spec for spec in req.specifier if spec.operator in {">=", ">", "~=", "==", "==="}]
    assert [spec.operator for spec in lower] == [">="], f"{req}: state one floor, as >="
    return Version(lower[0].version)


# -- dependency floors ---------------------------------------------------------------------------------


def test_there_is_a_lock_for_the_newest_and_for_the_oldest_airflow():
    airflows = {pins[canonicalize_name("apache-airflow")] for pins in LOCK_PINS.values()}
    assert len(airflows) >= 2, LOCK_PINS.keys()


@pytest.mark.parametrize(("where", "req"), _declared(), ids=lambda value: str(value))
def test_every_floor_is_a_version_that_a_lock_tests(where, req):
    """A floor nobody runs is a guess: each one must be pinned exactly in a lock that the tests run on."""
    floor = _floor(req)
    name = canonicalize_name(req.name)
    pinned = {lock: str(pins[name]) for lock, pins in LOCK_PINS.items() if name in pins}
    assert any(Version(version) == floor for version in pinned.values()), (
        f"{where}: {req} has floor {floor}, but the locks pin {pinned or 'nothing'}; pin {floor} in "
        "requirements/lock-airflow-3.1.txt (the oldest lock) or raise the floor to a version a lock pins"
    )


@pytest.mark.parametrize("lock", [lock.name for lock in LOCKS])
def test_each_lock_installs_what_the_package_declares(lock):
    """A lock tests the package only if it holds every dependency, each within the declared range."""
    pins = LOCK_PINS[lock]
    for where, req in _declared():
        name = canonicalize_name(req.name)
        if where == "dependencies":
            assert name in pins, f"{lock} does not pin {name}, a dependency"
        if name in pins:
            assert req.specifier.contains(pins[name], prereleases=True), f"{lock}: {name}=={pins[name]} {req}"


def test_this_environment_is_exactly_the_lock_of_its_airflow():
    """`make` builds each test environment from one lock; a package it pulled in but the lock misses (or a
    version it moved) would make the lock lie about what the tests ran on."""
    pins = LOCK_PINS[_lock_for_this_airflow().name]
    venv_seed = {"pip", "setuptools", canonicalize_name(DIST)}
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in metadata.distributions()}
    unpinned = {name: str(v) for name, v in installed.items() if name not in pins and name not in venv_seed}
    assert not unpinned, f"installed but not pinned in the lock: {unpinned}"
    moved = {name: f"{pin} in the lock, {installed.get(name)} installed" for name, pin in pins.items()}
    assert not {name: text for name, text in moved.items() if installed.get(name) != pins[name]}


def test_every_third_party_import_is_declared():
    """Each distribution the code imports is a requirement of the package, or one Airflow itself installs.

    Imported only where something else provides them: the UI widgets that Airflow 3.1 asks the hook for (its
    own Flask-AppBuilder), and the PostgreSQL driver of the user's own connection.
    """
    provided_elsewhere = {"flask_appbuilder", "flask_babel", "wtforms", "psycopg", "psycopg2"}
    declared = {canonicalize_name(req.name) for _, req in _declared()}
    airflow_requires = {
        canonicalize_name(Requirement(r).name)
        for dist in ("apache-airflow-core", "apache-airflow-task-sdk")
        for r in metadata.requires(dist) or []
        if "extra ==" not in r
    }
    distributions = metadata.packages_distributions()
    undeclared = {}
    for path in sorted((REPO_ROOT / PACKAGE).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == PACKAGE or top in provided_elsewhere:
                    continue
                if top == "airflow":
                    parts = module.split(".")
                    depth = 4 if parts[1:3] == ["providers", "common"] else 3
                    if parts[1:2] == ["providers"]:
                        names = {canonicalize_name("apache-airflow-" + "-".join(parts[1:depth]))}
                    else:
                        names = {canonicalize_name("apache-airflow")}
                else:
                    names = {canonicalize_name(d) for d in distributions.get(top, [])}
                if not names & (declared | airflow_requires):
                    undeclared[module] = (str(path.relative_to(REPO_ROOT)), sorted(names))
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


# -- metadata ------------------------------------------------------------------------------------------


def test_classifiers_are_valid_and_consistent():
    classifiers = PROJECT["classifiers"]
    assert len(set(classifiers)) == len(classifiers)
    unknown = [c for c in classifiers if c not in trove_classifiers.classifiers]
    assert not unknown, f"not trove classifiers: {unknown}"
    # PEP 639: with an SPDX `license` expression, License :: classifiers are deprecated.
    assert PROJECT["license"] == "Apache-2.0"
    assert not [c for c in classifiers if c.startswith("License ::")]
    for needed in (
        "Framework :: Apache Airflow",
        "Framework :: Apache Airflow :: Provider",
        "Programming Language :: Python :: 3 :: Only",
    ):
        assert needed in classifiers
    assert sum(c.startswith("Development Status ::") for c in classifiers) == 1
    python_classifier = re.compile(r"Programming Language :: Python :: (3\.\d+)")
    pythons = sorted((m[1] for c in classifiers if (m := python_classifier.fullmatch(c))), key=Version)
    assert pythons == SUPPORTED_PYTHONS
    requires_python = SpecifierSet(PROJECT["requires-python"])
    assert all(requires_python.contains(p) for p in pythons)
    assert not requires_python.contains("3.10")
    typed = (REPO_ROOT / PACKAGE / "py.typed").is_file()
    assert typed == ("Typing :: Typed" in classifiers)


def test_project_urls_name_the_changelog_and_the_issues():
    urls = PROJECT["urls"]
    assert {"Homepage", "Documentation", "Source", "Changelog", "Issues"} <= set(urls)
    source = urls["Source"].rstrip("/")
    assert source.startswith("https://github.com/")
    assert urls["Changelog"] == f"{source}/blob/main/CHANGELOG.md"
    assert urls["Issues"] == f"{source}/issues"
    assert PROJECT["keywords"]


# -- version -------------------------------------------------------------------------------------------

_SECTION = re.compile(r"^## \[(?P<name>[^\]]+)\](?: - (?P<date>\S+))?[ \t]*$", re.MULTILINE)
_LINK = re.compile(r"^\[(?P<name>[^\]]+)\]: (?P<url>\S+)$", re.MULTILINE)


def test_changelog_top_version_is_the_package_version():
    """The first versioned section (below an "Unreleased" one, which gathers changes for the next version)
    is the version this checkout builds, with a release date that has come, and a link."""
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    sections = [(m["name"], m["date"]) for m in _SECTION.finditer(changelog)]
    names = [name for name, _ in sections]
    if "Unreleased" in names:
        assert names.index("Unreleased") == 0, "Unreleased goes above every version"
    versions = [(Version(name), day) for name, day in sections if name != "Unreleased"]
    assert versions, "no versioned section"
    assert [v for v, _ in versions] == sorted((v for v, _ in versions), reverse=True), "newest first"
    top = versions[0][0]
    assert str(top) == __version__, f"CHANGELOG's top version {top} is not __version__ {__version__}"
    for version, day in versions:
        assert day is not None, f"## [{version}] has no date"
        assert datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).date() <= datetime.now(UTC).date()
    links = {m["name"]: m["url"] for m in _LINK.finditer(changelog)}
    source = PROJECT["urls"]["Source"].rstrip("/")
    for name in names:
        assert links.get(name, "").startswith(source), f"no link for [{name}]"
    if "Unreleased" in names:
        assert links["Unreleased"] == f"{source}/compare/v{__version__}...HEAD"
    assert links[__version__].endswith(f"v{__version__}")
    assert get_provider_info()["versions"][0] == __version__


def test_readme_installs_the_current_release_tag():
    readme = (REPO_ROOT / "README.md").read_text()
    source = PROJECT["urls"]["Source"].rstrip("/")
    assert f'pip install "{DIST} @ git+{source}@v{__version__}"' in readme
    assert f"dist/{PACKAGE}-{__version__}-py3-none-any.whl" in readme


# -- the wheel -----------------------------------------------------------------------------------------


def _unavailable(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} (required under CI=true)")
    pytest.skip(what)


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of the checkout's files (tracked, or new and not ignored), built as `pip wheel` builds one."""
    if shutil.which("git") is None:
        _unavailable("git is not installed")
    listed = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT
    ).stdout.split("\0")
    source = tmp_path_factory.mktemp("source")
    for name in filter(None, listed):
        if (REPO_ROOT / name).is_file():  # a tracked file deleted in the work tree is not there
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out), str(source)])
    (built,) = out.glob("*.whl")
    assert built.name == f"{PACKAGE}-{__version__}-py3-none-any.whl"
    return built


def test_wheel_contents(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"{PACKAGE}-{__version__}.dist-info"
        meta = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        assert archive.read(f"{info}/licenses/LICENSE") == (REPO_ROOT / "LICENSE").read_bytes()

    shipped = {n for n in names if not n.startswith(f"{info}/")}
    sources = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in (REPO_ROOT / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert shipped <= sources, f"the wheel ships files the package does not have: {shipped - sources}"
    assert {f"{PACKAGE}/py.typed", f"{PACKAGE}/get_provider_info.py", f"{PACKAGE}/__init__.py"} <= shipped
    assert {s for s in sources if s.endswith((".py", ".svg"))} <= shipped, "a module or the logo is missing"
    assert not [n for n in shipped if re.search(r"(^|/)tests?/|\.sqlite|\.db$|\.py[co]$", n)]

    assert (meta["Name"], meta["Version"]) == (DIST, __version__)
    assert Version(meta["Metadata-Version"]) >= Version("2.4")
    assert (meta["License-Expression"], meta["License-File"]) == ("Apache-2.0", "LICENSE")
    assert meta["Requires-Python"] == PROJECT["requires-python"]
    assert sorted(meta.get_all("Classifier")) == sorted(PROJECT["classifiers"])
    assert {line.split(", ", 1)[0] for line in meta.get_all("Project-URL")} == set(PROJECT["urls"])
    requires = {str(Requirement(r)) for r in meta.get_all("Requires-Dist")}
    expected = {str(Requirement(r)) for r in PROJECT["dependencies"]}
    for extra, reqs in PROJECT["optional-dependencies"].items():
        expected |= {str(Requirement(f"{r}; extra == '{extra}'")) for r in reqs}
    assert requires == expected
    assert "apache_airflow_provider" in entry_points
    assert f"{PACKAGE}.get_provider_info:get_provider_info" in entry_points


def _lock_for_this_airflow() -> Path:
    """The lock of the Airflow these tests run on: lock-airflow-3.1.txt under `make test-oldest-airflow`."""
    from airflow import __version__ as airflow_version

    for lock in LOCKS:
        if LOCK_PINS[lock.name][canonicalize_name("apache-airflow")] == Version(airflow_version):
            return lock
    pytest.fail(f"no lock in requirements/ pins apache-airflow=={airflow_version}")


@pytest.mark.slow
def test_wheel_installs_in_a_clean_virtualenv_and_airflow_lists_it(wheel, tmp_path):
    """The acceptance test of #21, with every extra, resolved against the lock of the Airflow under test."""
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
    except OSError as exc:
        _unavailable(f"the package index is not reachable: {exc}")
    env_dir = tmp_path / "venv"
    # No pip inside: this environment's pip installs into it (`--python`), twice as fast as the venv's own.
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    python = env_dir / "bin" / "python"
    # Nothing of this test's environment may leak in: no Airflow settings, no paths, another directory.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env |= {"AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    extras = ",".join(sorted(PROJECT["optional-dependencies"]))
    lock = _lock_for_this_airflow()
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    install = [*pip, "install", "--quiet", "--no-compile", "--constraint", str(lock), f"{wheel}[{extras}]"]
    _run(install, cwd=tmp_path, env=env)
    _run([*pip, "check"], cwd=tmp_path, env=env)
    where = _run([str(python), "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"], cwd=tmp_path, env=env)
    assert Path(where.stdout.strip()).is_relative_to(env_dir), "the provider was not imported from the wheel"

    airflow = str(env_dir / "bin" / "airflow")
    shown = _run([airflow, "providers", "get", DIST, "--output", "json"], cwd=tmp_path, env=env)
    (listing,) = [line for line in shown.stdout.splitlines() if line.startswith("[")]
    assert json.loads(listing) == [{"Provider": DIST, "Version": __version__}], shown.stdout
