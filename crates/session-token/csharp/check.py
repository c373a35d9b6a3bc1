#!/usr/bin/env python3
"""Compiles the C# sketch from docs/session-token.md with Mono's mcs against the APIM context
model the local runner executes (local/runner/Model/, through devstack/csharp.py) and runs it
against the v1 and key-rotation test vectors. Exit 2 when Mono is missing. Standard library only."""

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))
from devstack import csharp  # noqa: E402

HEADER = "using System; using System.Security.Cryptography; using System.Text; using Newtonsoft.Json.Linq;\npublic static partial class SessionToken {\n"


def sketch() -> str:
    """The first ```csharp block of the doc, its bare `static` methods made visible to the checker."""
    lines, on = [], False
    for line in (ROOT / "docs" / "session-token.md").read_text().splitlines():
        if not on and line == "```csharp":
            on = True
        elif on and line == "```":
            break
        elif on:
            lines.append("internal static " + line[len("static "):] if line.startswith("static ") else line)
    return HEADER + "\n".join(lines) + "\n}\n"


def main() -> int:
    if not csharp.have_mono():
        print("check.py: needs mcs and Newtonsoft.Json (apt-get install -y mono-mcs libnewtonsoft-json-cil-dev)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "Sketch.cs"
        source.write_text(sketch())
        if "static JObject Open(" not in source.read_text():
            print("check.py: sketch not found in docs/session-token.md", file=sys.stderr)
            return 1
        exe = Path(work) / "check.exe"
        ok, out = csharp.compile([source, csharp.MODEL, HERE / "SeamForTests.cs", HERE / "VectorCheck.cs"], exe, target="exe", extra=["-warnaserror+"])
        if not ok:
            print(out, file=sys.stderr)
            return 1
        vectors = ROOT / "crates" / "session-token" / "vectors"
        run = ["mono", str(exe), str(vectors / "v1.json"), str(vectors / "rotation.json")]
        return subprocess.run(run, env=csharp.mono_env(), timeout=120).returncode


if __name__ == "__main__":
    sys.exit(main())
