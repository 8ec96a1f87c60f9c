"""The README and docs/ lead somewhere: every relative link names a file of this
repository (and a heading of it, when it names one), and none points outside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "conf" / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped except
    hyphens and underscores, spaces turned into hyphens."""
    anchors = set()
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_of_this_repository(page: Path) -> None:
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert linked.exists(), f"{page.name} links to a missing file: {target}"
        if anchor:
            assert anchor in heading_anchors(linked), f"{page.name} links to a missing heading: {target}"


def test_the_pages_have_links_to_check() -> None:
    """The link pattern finds the README's links to docs/ (a pattern that matched
    nothing would pass every page above)."""
    readme_targets = relative_links(ROOT / "README.md")
    assert "docs/method.md" in readme_targets
    assert any(target.startswith("docs/results.md#") for target in readme_targets)


def test_readme_stays_a_short_introduction() -> None:
    """The README is what a newcomer reads first; measurements and details live in docs/."""
    assert len((ROOT / "README.md").read_bytes()) < 12_000
