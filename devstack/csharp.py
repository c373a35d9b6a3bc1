"""Building the local APIM policy runner (local/runner/*.cs + the APIM context model) with Mono's mcs."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from . import REPO

LOCAL = REPO / "local"
APIM_MODEL = REPO / "tests" / "policies" / "apim_model" / "ApimContext.cs"
RUNNER_SOURCES = sorted((LOCAL / "runner").glob("*.cs"))
BUILD = LOCAL / ".build"
RUNNER_EXE = BUILD / "local-apim.exe"
NEWTONSOFT_CANDIDATES = [
    Path("/usr/lib/cli/Newtonsoft.Json-5.0/Newtonsoft.Json.dll"),
    Path("/usr/lib/cli/Newtonsoft.Json/Newtonsoft.Json.dll"),
]


def newtonsoft() -> Path:
    for c in NEWTONSOFT_CANDIDATES:
        if c.exists():
            return c
    raise RuntimeError("Newtonsoft.Json for Mono is missing: apt-get install libnewtonsoft-json-cil-dev (tests/gateway/apt-packages.txt)")


def build_runner() -> Path:
    """Compiles local/runner/*.cs with the APIM context model when a source is newer than the exe."""
    if shutil.which("mcs") is None or shutil.which("mono") is None:
        raise RuntimeError("Mono is missing: apt-get install the packages in tests/gateway/apt-packages.txt")
    sources = [*RUNNER_SOURCES, APIM_MODEL]
    if RUNNER_EXE.exists() and all(s.stat().st_mtime <= RUNNER_EXE.stat().st_mtime for s in sources):
        return RUNNER_EXE
    BUILD.mkdir(parents=True, exist_ok=True)
    tmp = BUILD / f"local-apim.{os.getpid()}.{secrets.token_hex(4)}.exe"
    cmd = [
        "mcs", "-target:exe", "-langversion:7", "-nowarn:618",
        f"-r:{newtonsoft()}", "-r:System.Xml.Linq.dll", "-r:System.Core.dll", "-r:System.Numerics.dll",
        "-r:System.Net.Http.dll", f"-out:{tmp}", *map(str, sources),
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"building the policy runner failed:\n{run.stdout}{run.stderr}")
    os.replace(tmp, RUNNER_EXE)  # atomic: concurrent starts never see a half-written exe
    return RUNNER_EXE
