"""docs/architecture.md maps every file of the server's source tree: a file added, moved or removed
without the map following fails here, so the map a newcomer reads is the tree they find."""

from __future__ import annotations

import re

from infra_helpers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "architecture.md"


def mapped() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(src/[^`]+\.rs)` \|", section, re.M))


def test_every_source_file_is_mapped_and_every_mapped_file_exists():
    tree = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "src").rglob("*.rs")}
    documented = mapped()
    assert documented, "no map found under '## Where things live'"
    assert tree - documented == set(), f"missing from docs/architecture.md: {sorted(tree - documented)}"
    assert documented - tree == set(), f"mapped but absent: {sorted(documented - tree)}"
