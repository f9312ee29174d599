"""The documentation holds together: every relative link in README.md, ci/README.md and docs/*.md reaches a
file that exists, and every #anchor a heading there; the options table of docs/configuration.md lists exactly
the options settings.py defines. A moved section or a new option then fails here instead of leaving a dead link
or a missing row."""

import re
from pathlib import Path

import pytest

from selfdisc_checks.settings import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", ROOT / "ci" / "README.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\]\n]|\](?!\())*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text without fenced code blocks, whose '#' lines are comments, not headings."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(prose(path.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    text = INLINE_CODE.sub("", prose(path.read_text()))
    return LINK.findall(text)


def test_the_docs_exist():
    names = {p.name for p in DOCS}
    assert {"README.md", "index.md", "configuration.md", "protocol.md", "statistics.md", "results.md"} <= names
    assert {"backends.md", "ci-and-reports.md", "reliability.md", "benchmarks.md"} <= names


def test_the_slug_follows_github():
    assert slug("`[tool.selfdisc]`") == "toolselfdisc"
    assert slug("hf: transformers in this process") == "hf-transformers-in-this-process"
    assert slug("The fixture checkpoint (2026-11-25)") == "the-fixture-checkpoint-2026-11-25"
    assert slug("What the tool writes, and where") == "what-the-tool-writes-and-where"


def test_a_link_inside_code_is_not_a_link():
    assert LINK.findall(INLINE_CODE.sub("", prose("`[a](b)` and\n```\n[c](d)\n```\n[e](f.md#g)"))) == ["f.md#g"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(doc):
    broken = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not ours to check
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)} has broken links:\n" + "\n".join(broken)


def test_every_doc_starts_with_a_title_and_a_one_line_purpose():
    for doc in (ROOT / "docs").glob("*.md"):
        lines = doc.read_text().splitlines()
        assert lines[0].startswith("# "), doc.name
        assert lines[1] == "" and lines[2].strip() and not lines[2].startswith("#"), doc.name


def test_the_options_table_lists_every_option_and_no_other():
    table = (ROOT / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `(--[a-z-]+)", table, re.MULTILINE)
    defined = [flag for flag, _ in OPTIONS.values()]
    assert sorted(set(rows)) == sorted(defined)
    assert len(rows) == len(set(rows)), "an option has two rows"
