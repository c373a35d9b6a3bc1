"""Shared helpers for the offline checks of infra/, azure.yaml and packaging (tests/infra)."""

from __future__ import annotations

import importlib.util
import json
import re
import stat
from types import ModuleType
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
POLICIES = INFRA / "policies"
MANIFEST = POLICIES / "manifest.json"

# `extension <alias>` (Bicep >= 0.30) is newer than both parsers available
# from PyPI (pycep-parser, tree-sitter-bicep); it is checked separately
# against bicepconfig.json and blanked out (same length, same line numbers)
# before parsing.
EXTENSION_RE = re.compile(r"^extension\s+([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)
# Compile-time imports (`import {a, b} from 'file.bicep'`, `@export()`, Bicep
# >= 0.25) are also newer than pycep-parser: tree-sitter-bicep parses them, the
# cross-reference checks read them with these patterns, and they are blanked
# out the same way before pycep parses a file.
IMPORT_RE = re.compile(r"^import\s+\{([^}]*)\}\s+from\s+'([^']+)'\s*$", re.MULTILINE)
EXPORT_RE = re.compile(r"^@export\(\)\s*$", re.MULTILINE)

# A stub `azd` for the hooks and scripts that read the azd environment (they honour $AZD): values
# from the JSON object in $FAKE_AZD_STORE, and for a missing key what azd does (stderr, exit 1).
FAKE_AZD = r"""#!/usr/bin/env python3
import json, os, sys
env = json.load(open(os.environ["FAKE_AZD_STORE"]))
args = sys.argv[1:]
if args[:2] == ["env", "get-value"] and args[2] in env:
    print(env[args[2]]); sys.exit(0)
if args[:2] == ["env", "get-value"]:
    print(f"ERROR: key '{args[2]}' not found", file=sys.stderr); sys.exit(1)
sys.exit(f"fake azd: unexpected {args}")
"""


def load_module(path: Path, name: str) -> ModuleType:
    """A script of the repository (the benchmark's harness and profiler are not packages) as a module."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fake_tools(directory: Path, bodies: dict[str, str]) -> dict[str, Path]:
    """Each stub command's script (name -> body) written to directory/fake-<name> and made
    executable: name -> path, for the script under test to call through its $AZD, $AZ, ..."""
    tools = {}
    for name, body in bodies.items():
        path = directory / f"fake-{name}"
        path.write_text(body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        tools[name] = path
    return tools


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def rel(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def extension_aliases(text: str) -> list[str]:
    return EXTENSION_RE.findall(text)


def imports(text: str) -> list[tuple[list[str], str]]:
    """(names, path) of each `import {names} from 'path'`."""
    return [([n.strip() for n in names.split(",") if n.strip()], path) for names, path in IMPORT_RE.findall(text)]


def exported_variables(text: str) -> set[str]:
    """Names of the variables declared right after an `@export()` (other decorators may follow it)."""
    return set(re.findall(r"^@export\(\)\s*\n(?:@[^\n]*\n)*var\s+([A-Za-z_][A-Za-z0-9_]*)", text, re.MULTILINE))


def strip_extensions(text: str) -> str:
    """Blanks `extension`, `import` and `@export()` lines (same length, same line numbers) for pycep."""
    blank = lambda m: "//" + " " * (len(m.group(0)) - 2)  # noqa: E731
    return EXPORT_RE.sub(blank, IMPORT_RE.sub(blank, EXTENSION_RE.sub(blank, text)))


def strip_comments(text: str) -> str:
    """Removes // and /* */ comments outside single-quoted strings."""
    out, i, n, in_str = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == "'":
                in_str = False
            i += 1
        elif c == "'":
            in_str = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


@lru_cache(maxsize=None)
def parse_bicep(path: Path) -> dict:
    """pycep-parser's JSON-like tree of a Bicep file."""
    from pycep import BicepParser

    return BicepParser().parse(text=strip_extensions(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def module_params(module: dict) -> dict:
    """The `params` object of a module statement (plain, conditional or loop)."""
    config = module.get("config") or {}
    while "params" not in config and isinstance(config.get("config"), dict):
        config = config["config"]
    return config.get("params") or {}
