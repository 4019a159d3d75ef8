"""Relative links in the documentation point at files and headings that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT

DOCUMENTS = sorted([REPO_ROOT / "README.md", REPO_ROOT / "deploy" / "README.md"])
DOCUMENTS += sorted((REPO_ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+?)\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _anchors(path: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {
        re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        for heading in HEADING.findall(text)
    }


def test_the_documents_exist() -> None:
    expected = {
        "architecture.md",
        "api.md",
        "storage.md",
        "services.md",
        "llm.md",
        "models.md",
        "networking.md",
        "lang-ecosystem.md",
        "operations.md",
    }
    assert expected <= {p.name for p in DOCUMENTS}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    broken = []
    text = FENCE.sub("", document.read_text(encoding="utf-8"))
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(target)
    assert not broken, f"{document.name}: broken links {broken}"
