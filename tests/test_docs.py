"""The README and the docs/ pages render: every relative link and image points to a file (and heading) that exists."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
TARGET = re.compile(r"\]\(([^)\s]+)\)|<img[^>]*\ssrc=\"([^\"]+)\"|<a[^>]*\shref=\"([^\"]+)\"")
MAX_README_LINES = 220  # front matter aside: a visitor reads it in two minutes (issue 20)


def anchor(heading: str) -> str:
    """The anchor GitHub and the Hub give a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings (outside code blocks)."""
    text = FENCE.sub("", page.read_text())
    return {anchor(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def broken_links(page: Path) -> list[str]:
    """The relative links and images of a Markdown page whose file, or heading, does not exist."""
    broken = []
    for groups in TARGET.findall(FENCE.sub("", page.read_text())):
        link = next(g for g in groups if g)
        if re.match(r"[a-z][a-z+.-]*:", link):  # https:, mailto: ...: not ours to check offline
            continue
        path, _, fragment = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target):
            broken.append(f"{link}: no such heading in {target.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    assert not broken_links(page), f"{page.relative_to(ROOT)} has broken links: {broken_links(page)}"


def test_a_broken_link_or_heading_is_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# The app's server\n")
    page = tmp_path / "page.md"
    page.write_text("# Here\n![gone](missing.png) [ok](other.md#the-apps-server) [no](other.md#nothing)\n"
                    '<img src="missing.gif" alt=""> [self](#here) [web](https://example.org/x)\n'
                    "```\n[in code](not-a-link.md)\n```\n")
    assert broken_links(page) == ["missing.png: no such file", "other.md#nothing: no such heading in other.md",
                                  "missing.gif: no such file"]


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    orphans = [p.name for p in PAGES[1:] if f"(docs/{p.name}" not in readme]
    assert not orphans, f"docs pages no link in README.md reaches: {orphans}"


def test_readme_is_short() -> None:
    body = (ROOT / "README.md").read_text().split("---\n", 2)[2]  # the Space card's front matter aside
    assert len(body.splitlines()) < MAX_README_LINES, "README.md is for a two-minute read: move depth to docs/"
