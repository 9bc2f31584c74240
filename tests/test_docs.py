"""The documentation a newcomer follows: the README links every page under docs/, stays short, every
relative link and anchor in it and in docs/ resolves, and code comments cite these pages (with
anchors that exist) instead of design documents that are not in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_LINES = 250


CODE_TREES = ("lmv_cli", "tests", "benchmarks", "configs")
CODE_FILES = ("Makefile", "pyproject.toml")
CODE_SUFFIXES = {".py", ".yaml", ".yml", ".toml"}

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_CITATION = re.compile(r"docs/([\w.-]+\.md)(?:#([\w-]+))?")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks."""
    lines, in_code = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a Markdown page (duplicates get GitHub's -1, -2, … suffixes)."""
    found: set[str] = set()
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            name, n = base, 0
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def markdown_files() -> list[Path]:
    """README.md, docs/*.md and the capture plugin's README: the pages a reader follows links in."""
    return [README, ROOT / "ue4" / "README.md", *sorted(DOCS.glob("*.md"))]


def link_problems(page: Path, root: Path = ROOT) -> list[str]:
    """Relative links of `page` whose file or heading anchor does not exist, as lines naming the page
    (relative to `root`) and the link."""
    problems = []
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        for target in _LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not checked offline
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            if not dest.exists():
                problems.append(f"{page.relative_to(root)}: {target}: no such file")
                continue
            if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{page.relative_to(root)}: {target}: no heading with anchor #{anchor}")
    return problems


def code_files() -> list[Path]:
    """Source, test, benchmark and config files whose comments may cite the design."""
    files = [ROOT / name for name in CODE_FILES if (ROOT / name).exists()]
    for tree in CODE_TREES:
        files += [p for p in sorted((ROOT / tree).rglob("*")) if p.suffix in CODE_SUFFIXES and p.is_file()]
    return files


def test_slug_follows_github_for_headings_with_code_and_punctuation() -> None:
    assert slug("The store: `lmv pack` (format `lmv-store`, version 2)") == "the-store-lmv-pack-format-lmv-store-version-2"
    assert slug("lmv is FSNet: the golden test") == "lmv-is-fsnet-the-golden-test"
    assert slug("Several GPUs, several machines") == "several-gpus-several-machines"


def test_anchors_ignore_comment_lines_inside_code_blocks(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# Title\n\n```sh\n# not a heading\n```\n\n## Part\n## Part\n", encoding="utf-8")
    assert anchors(page) == {"title", "part", "part-1"}


def test_readme_links_every_docs_page() -> None:
    readme = README.read_text(encoding="utf-8")
    linked = {Path(t.partition("#")[0]).name for t in _LINK.findall(readme) if t.startswith("docs/")}
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages, "docs/ holds no pages"
    assert not pages - linked, f"docs pages not linked from README.md: {sorted(pages - linked)}"


def test_readme_stays_short_enough_to_read_to_the_end() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines, limit {README_MAX_LINES}"


def test_readme_keeps_the_two_setup_commands_and_the_picture() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    picture = re.search(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert picture and (ROOT / picture.group(1)).is_file()


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    assert link_problems(page) == []


def test_link_check_reports_missing_files_and_anchors(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    (tmp_path / "other.md").write_text("# Other\n", encoding="utf-8")
    page.write_text("[a](other.md#other) [b](other.md#nope) [c](gone.md) [d](https://x.org/y)\n", encoding="utf-8")
    problems = "\n".join(link_problems(page, root=tmp_path))
    assert "other.md#nope" in problems and "gone.md" in problems
    assert "other.md#other" not in problems and "x.org" not in problems


def test_code_cites_no_design_document_outside_the_repository() -> None:
    forbidden = [name + " \u00a7" for name in ("SPEC", "study")]
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in code_files()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(word in line for word in forbidden)
    ]
    assert hits == [], f"citations of documents not in the repository (point to docs/ instead): {hits}"


def test_code_citations_of_docs_pages_resolve() -> None:
    problems = []
    for path in code_files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for page, anchor in _CITATION.findall(line):
                target = DOCS / page
                where = f"{path.relative_to(ROOT)}:{n}: docs/{page}"
                if not target.exists():
                    problems.append(f"{where}: no such page")
                elif anchor and anchor not in anchors(target):
                    problems.append(f"{where}#{anchor}: no such heading")
    assert problems == []
