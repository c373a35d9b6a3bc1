"""API versions of the resources in infra/ against the newest GA version of each type in
Azure/bicep-types-az.

The check (test_infra_api_versions.py) runs offline against a pinned list,
tests/infra/fixtures/bicep-types-api-versions.json. This module also regenerates that list from a
local clone of Azure/bicep-types-az, reading the `## Resource <type>@<version>` headings of every
generated/**/types.md at the clone's HEAD (generated/index.json would do, but it is large enough
that partial clones leave it out):

    python tests/infra/bicep_types_versions.py <bicep-types-az git dir> > tests/infra/fixtures/bicep-types-api-versions.json

The entries a person decided on (previewAllowed, notInBicepTypesAz) are carried over from the
current list; everything else is derived.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from infra_helpers import bicep_files, rel, strip_extensions  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "bicep-types-api-versions.json"
# Preview, private preview, alpha and beta versions: bicep-types-az names their folders so.
PREVIEW_RE = re.compile(r"-(preview|privatepreview|alpha|beta)$", re.IGNORECASE)
HEADING_RE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):## Resource (?P<type>\S+)@(?P<version>\S+)")


@dataclass(frozen=True)
class Declaration:
    path: Path
    line: int
    symbol: str
    type: str
    version: str
    existing: bool

    def where(self) -> str:
        return f"{rel(self.path)}:{self.line} {self.symbol} ({self.type}@{self.version})"


def is_preview(version: str) -> bool:
    return bool(PREVIEW_RE.search(version))


def version_date(version: str) -> str:
    """The date part of an ARM API version (`2021-05-01-preview` -> `2021-05-01`)."""
    return version[:10]


def _parser():
    import tree_sitter
    import tree_sitter_bicep

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))


def declarations_in(text: str, path: Path) -> list[Declaration]:
    """Every `resource` statement of a Bicep text, nested ones with their full type
    (`resource x 'child@v'` inside `resource p 'A/b@v'` is `A/b/child`)."""
    tree = _parser().parse(strip_extensions(text).encode("utf-8"))
    found: list[Declaration] = []

    def visit(node, parents: tuple[str, ...]):
        if node.type == "resource_declaration":
            named = [c for c in node.children if c.type in ("identifier", "string")]
            symbol = named[0].text.decode()
            literal = named[1].text.decode().strip("'")
            type_, _, version = literal.partition("@")
            if parents and "/" not in type_ and "." not in type_:
                type_ = f"{parents[-1]}/{type_}"
            existing = any(c.type == "existing" for c in node.children)
            found.append(Declaration(path, node.start_point[0] + 1, symbol, type_, version, existing))
            parents = parents + (type_,)
        for child in node.children:
            visit(child, parents)

    visit(tree.root_node, ())
    return found


def declarations() -> list[Declaration]:
    out: list[Declaration] = []
    for path in bicep_files():
        out.extend(declarations_in(path.read_text(encoding="utf-8"), path))
    return out


def load_fixture() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def violations(decls: list[Declaration], fixture: dict) -> list[str]:
    """What is wrong with the API versions of `decls`, one line each; empty when nothing is."""
    ga = {k.lower(): v for k, v in fixture["newestGa"].items()}
    allowed = {k.lower(): v for k, v in fixture["previewAllowed"].items()}
    outside = {k.lower() for k in fixture["notInBicepTypesAz"]}
    problems = []
    for d in decls:
        key = d.type.lower()
        if key in outside:
            continue
        entry = ga.get(key)
        if entry is None:
            problems.append(f"{d.where()}: type not in {FIXTURE.name} (regenerate it, see {Path(__file__).name})")
            continue
        newest = entry["version"]
        if key in allowed and d.version == allowed[key]["version"]:
            if version_date(d.version) <= version_date(newest):
                problems.append(f"{d.where()}: allowed preview {d.version} is not newer than GA {newest}")
            continue
        if is_preview(d.version):
            problems.append(f"{d.where()}: preview version; the newest GA is {newest} ({entry['file']}:{entry['line']})")
        elif d.version != newest:
            older = version_date(d.version) < version_date(newest)
            what = "older than" if older else "not"
            problems.append(f"{d.where()}: {what} the newest GA version {newest} ({entry['file']}:{entry['line']})")
    return problems


# --- regeneration from a bicep-types-az clone -------------------------------------------------


def index_of(repo: str) -> dict[str, dict[str, tuple[str, int]]]:
    """{type (lower case): {version: (types.md path, heading line)}} at the clone's HEAD."""
    proc = subprocess.run(
        ["git", "-C", repo, "grep", "-n", "-e", "^## Resource .*@", "HEAD", "--", "generated/**/types.md"],
        capture_output=True,
        text=True,
        check=True,
    )
    index: dict[str, dict[str, tuple[str, int]]] = {}
    for line in proc.stdout.splitlines():
        m = HEADING_RE.match(line.removeprefix("HEAD:"))
        if m:
            index.setdefault(m["type"].lower(), {})[m["version"]] = (m["file"], int(m["line"]))
    return index


def regenerate(repo: str) -> dict:
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    index = index_of(repo)
    previous = load_fixture() if FIXTURE.is_file() else {"previewAllowed": {}, "notInBicepTypesAz": {}}
    outside = {k.lower() for k in previous["notInBicepTypesAz"]}
    types = sorted({d.type for d in declarations() if d.type.lower() not in outside}, key=str.lower)
    newest = {}
    for type_ in types:
        versions = index.get(type_.lower())
        if not versions:
            raise SystemExit(f"{type_} is in no types.md of {repo}: add it to notInBicepTypesAz with a reason")
        ga = sorted(v for v in versions if not is_preview(v))
        if not ga:
            raise SystemExit(f"{type_} has no GA version: add it to previewAllowed with a reason")
        file, line = versions[ga[-1]]
        entry = {"version": ga[-1], "file": file, "line": line}
        previews = sorted((v for v in versions if is_preview(v) and version_date(v) > version_date(ga[-1])), key=version_date)
        if previews:
            entry["newerPreview"] = previews[-1]
        newest[type_] = entry
    return {
        "_about": previous.get("_about", ""),
        "repository": "Azure/bicep-types-az",
        "commit": commit,
        "newestGa": newest,
        "previewAllowed": previous["previewAllowed"],
        "notInBicepTypesAz": previous["notInBicepTypesAz"],
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} <Azure/bicep-types-az git dir>")
    print(json.dumps(regenerate(sys.argv[1]), indent=1))
