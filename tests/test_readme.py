"""Every link of README.md and docs/*.md leads somewhere, and README.md's links work on PyPI too.

PyPI renders README.md without the repository around it, so a relative link there is dead: README.md links
to repository files as ``https://github.com/<repo>/blob/main/<path>`` (images as ``.../raw/main/<path>``),
and only in-page ``#anchors`` may stay relative. Every link to a repository path, in the absolute form or
a relative one, must name a path that exists in this checkout, and a ``#anchor`` must be produced by a
heading of the page it points at, under GitHub's rules for heading ids. The README's Quick start is run as
a DAG by ``tests/dags/test_readme_quick_start.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
GITHUB = "https://github.com/airflow-provider-linkedin-capi/airflow-provider-linkedin-capi/"
README = REPO_ROOT / "README.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
_HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_HTML_ID = re.compile(r"<(?:a|span|div)\b[^>]*?\b(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.source.relative_to(REPO_ROOT)}:{self.line}: {self.target}"


def _without_code(text: str) -> str:
    """The text with fenced blocks and code spans blanked out (same length, same line numbers)."""

    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return _CODE_SPAN.sub(blank, _FENCE.sub(blank, text))


def links_of(path: Path, text: str | None = None) -> list[Link]:
    """Every link and image target of a Markdown file: inline, reference definitions, and HTML."""
    text = _without_code(path.read_text(encoding="utf-8") if text is None else text)
    found = []
    for pattern in (_INLINE_LINK, _REFERENCE_DEFINITION, _HTML_LINK):
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start(1)) + 1
            found.append(Link(path, line, match.group(1)))
    return sorted(found, key=lambda link: link.line)


def github_slug(heading: str) -> str:
    """The id GitHub gives a heading: its text, lower-cased, without punctuation, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays, its target goes
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags go, their text stays
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)  # letters, digits, "_", "-" and spaces remain
    return text.replace(" ", "-")


def anchors_of(path: Path, text: str | None = None) -> set[str]:
    """The ids of a Markdown file's headings (``-1``, ``-2`` ... for repeats) and of its HTML anchors."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8") if text is None else text)
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for match in _HEADING.finditer(text):
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    anchors.update(_HTML_ID.findall(text))
    return anchors


def _repo_path(link: Link) -> tuple[str, Path, str] | None:
    """``(kind, path, anchor)`` of a link into this repository, or ``None`` for an outside link.

    ``kind`` is ``blob``, ``raw`` or ``tree`` for the absolute GitHub form, ``relative`` for a relative link
    and ``anchor`` for an in-page ``#anchor``.
    """
    target, _, anchor = link.target.partition("#")
    if link.target.startswith(GITHUB):
        kind, _, rest = target[len(GITHUB) :].partition("/")
        branch, _, path = rest.partition("/")
        if kind not in {"blob", "raw", "tree"} or branch != "main":
            return "bad", Path(), f"not {GITHUB}blob|raw|tree/main/<path>"
        return kind, REPO_ROOT / unquote(path), anchor
    if _EXTERNAL.match(link.target):
        return None
    if not target:
        return "anchor", link.source, anchor
    return "relative", (link.source.parent / unquote(target)).resolve(), anchor


def link_problems(link: Link, *, relative_allowed: bool) -> list[str]:
    """What is wrong with one link (nothing for a good or an outside one)."""
    resolved = _repo_path(link)
    if resolved is None:
        return []
    kind, path, anchor = resolved
    if kind == "bad":
        return [f"{link}: {anchor}"]
    problems = []
    if kind == "relative" and not relative_allowed:
        problems.append(f"{link}: a relative link, which PyPI cannot follow; write {GITHUB}blob/main/<path>")
    if not path.is_relative_to(REPO_ROOT) or not path.exists():
        return [*problems, f"{link}: no such path in the repository"]
    if kind == "tree" and not path.is_dir():
        problems.append(f"{link}: tree/ names a directory, but this is a file (use blob/)")
    if kind in {"blob", "raw"} and not path.is_file():
        problems.append(f"{link}: {kind}/ names a file, but this is a directory (use tree/)")
    if anchor:
        if path.suffix.lower() != ".md" or not path.is_file():
            problems.append(f"{link}: an anchor into a file that is not Markdown")
        elif unquote(anchor) not in anchors_of(path):
            problems.append(f"{link}: no heading of {path.relative_to(REPO_ROOT)} has the id {anchor!r}")
    return problems


def _problems(paths: list[Path], *, relative_allowed: bool) -> list[str]:
    return [
        problem
        for path in paths
        for link in links_of(path)
        for problem in link_problems(link, relative_allowed=relative_allowed)
    ]


def test_the_readme_links_only_to_absolute_repository_urls_that_exist():
    assert links_of(README), "README.md has no links: is the parser broken?"
    problems = _problems([README], relative_allowed=False)
    assert not problems, "\n".join(problems)


def test_the_readme_shows_images_from_raw_urls():
    """An image under ``blob/`` is GitHub's HTML page about the file, which PyPI cannot show."""
    images = re.findall(r"!\[[^\]]*\]\(\s*<?([^)\s>]*)", _without_code(README.read_text(encoding="utf-8")))
    assert [image for image in images if image.startswith(GITHUB) and "/raw/main/" not in image] == []


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.name)
def test_every_link_of_the_docs_leads_to_a_path_and_heading_that_exist(page):
    problems = _problems([page], relative_allowed=True)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("What `make demo` does", "what-make-demo-does"),
        ("Re-runs and retries", "re-runs-and-retries"),
        (
            "What is known about LinkedIn, and what is configurable",
            "what-is-known-about-linkedin-and-what-is-configurable",
        ),
        ("`LinkedInCapiCreateConversionRuleOperator`", "linkedincapicreateconversionruleoperator"),
        (
            "Batches in flight: hiding LinkedIn's time per request",
            "batches-in-flight-hiding-linkedins-time-per-request",
        ),
        ("2. `POST /rest/conversionEvents`", "2-post-restconversionevents"),
        ("`linkedin_capi_nightly_crm_sync`", "linkedin_capi_nightly_crm_sync"),
        (
            '"Obtained a LinkedIn access token" in every task',
            "obtained-a-linkedin-access-token-in-every-task",
        ),
        ("Inside a `@task`: `push_dataframe`", "inside-a-task-push_dataframe"),
    ],
)
def test_headings_get_githubs_ids(heading, slug):
    assert github_slug(heading) == slug


def test_repeated_headings_are_numbered_and_code_blocks_hold_no_headings(tmp_path):
    page = tmp_path / "page.md"
    text = "# Title\n\n## Setup\n\n```bash\n# not a heading\n```\n\n## Setup\n"
    assert anchors_of(page, text) == {"title", "setup", "setup-1"}


def test_the_checker_finds_every_kind_of_bad_link():
    # Links as docs/operators.md could hold them (so that relative ones resolve in this checkout).
    page = REPO_ROOT / "docs" / "operators.md"
    text = (
        "# Page\n\n"
        "[ok](#what-the-push-returns) [gone](#nowhere) [file](../README.md) [dead](missing.md)\n"
        f"[abs]({GITHUB}blob/main/README.md#quick-start) [abs-gone]({GITHUB}blob/main/docs/missing.md)\n"
        f"[abs-anchor]({GITHUB}blob/main/README.md#no-such-heading) [branch]({GITHUB}blob/dev/README.md)\n"
        f"[dir-as-blob]({GITHUB}blob/main/docs) [outside](https://example.com/x.md) `[code](in-code.md)`\n"
        '![image](../docs/benchmarks.png) <a href="scaling.md#no-such-heading">html</a>\n'
        "```\n[fenced](in-fence.md)\n```\n"
    )
    links = {link.target: link for link in links_of(page, text)}
    assert len(links) == 12
    assert "in-code.md" not in links
    assert "in-fence.md" not in links

    def problems(target: str, relative_allowed: bool = True) -> list[str]:
        return link_problems(links[target], relative_allowed=relative_allowed)

    assert problems("#what-the-push-returns") == []
    assert problems("#nowhere")
    assert problems("../README.md") == []
    assert problems("../README.md", relative_allowed=False)  # the README's rule
    assert problems("missing.md")
    assert problems(f"{GITHUB}blob/main/README.md#quick-start") == []
    assert problems(f"{GITHUB}blob/main/docs/missing.md")
    assert problems(f"{GITHUB}blob/main/README.md#no-such-heading")
    assert problems(f"{GITHUB}blob/dev/README.md")
    assert problems(f"{GITHUB}blob/main/docs")
    assert problems("https://example.com/x.md") == []
    assert problems("../docs/benchmarks.png") == []
    assert problems("scaling.md#no-such-heading")
