#!/usr/bin/env python3
"""Rewrites the policy file maps of the API Management Bicep from
infra/policies/manifest.json.

Bicep's loadTextContent() only takes compile-time constant paths, so the
Bicep cannot loop over the manifest's file names; instead it holds one
`'<path>': loadTextContent('../policies/<path>')` line per file, between
`// BEGIN policy-files <map>` and `// END policy-files` markers:

  infra/app/apim-config.bicep  fragmentXml: the manifest's fragments
  infra/app/apim-api.bicep     policyXml:   the manifest's API and operation policies

The preprovision hooks run this after rendering the policies; tests/infra
fails when the maps and the manifest disagree.

  python3 infra/hooks/sync-policy-files.py [--check]

--check changes nothing and exits 1 when a map is out of date.
Standard library only.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parents[1]
MANIFEST = INFRA / "policies" / "manifest.json"
TARGETS = {
    "fragmentXml": INFRA / "app" / "apim-config.bicep",
    "policyXml": INFRA / "app" / "apim-api.bicep",
}
BLOCK_RE = re.compile(
    r"(?P<head>^[ \t]*// BEGIN policy-files (?P<name>\w+)[^\n]*\n)(?P<body>.*?)(?P<tail>^[ \t]*// END policy-files[^\n]*$)",
    re.MULTILINE | re.DOTALL,
)
SAFE_PATH = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*\.xml$")


def wanted_files(manifest: dict) -> dict[str, list[str]]:
    fragments = [f["file"] for f in manifest["fragments"]]
    policies: list[str] = []
    for api in manifest["apis"]:
        for path in [api.get("policy")] + [op.get("policy") for op in api["operations"]]:
            if path and path not in policies:
                policies.append(path)
    return {"fragmentXml": fragments, "policyXml": policies}


def render(paths: list[str], indent: str) -> str:
    lines = []
    for path in paths:
        if not SAFE_PATH.match(path):
            raise SystemExit(f"sync-policy-files: refusing unsafe policy path {path!r}")
        if not (INFRA / "policies" / path).is_file():
            raise SystemExit(f"sync-policy-files: {path} is in the manifest but infra/policies/{path} does not exist")
        lines.append(f"{indent}'{path}': loadTextContent('../policies/{path}')\n")
    return "".join(lines)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    wanted = wanted_files(manifest)
    stale = []
    for name, target in TARGETS.items():
        text = target.read_text(encoding="utf-8")
        blocks = [m for m in BLOCK_RE.finditer(text) if m.group("name") == name]
        if len(blocks) != 1:
            raise SystemExit(f"sync-policy-files: expected one `// BEGIN policy-files {name}` block in {target}")
        block = blocks[0]
        indent = re.match(r"[ \t]*", block.group("head")).group(0)
        body = render(wanted[name], indent)
        if body != block.group("body"):
            stale.append(str(target.relative_to(INFRA.parent)))
            if not check:
                text = text[: block.start("body")] + body + text[block.end("body") :]
                target.write_text(text, encoding="utf-8")
    if stale and check:
        print("sync-policy-files: out of date: " + ", ".join(stale) + " (run python3 infra/hooks/sync-policy-files.py)", file=sys.stderr)
        return 1
    for path in stale:
        print(f"sync-policy-files: updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
