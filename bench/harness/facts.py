"""What a results file records about the run besides its figures: the machine, the versions of everything
measured, the commit and the binaries under test."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

from common import BENCH, ROOT, log
from stack import BASELINE_BIN, RUST_BIN

PYPI = ["mcp", "azure-storage-blob", "uvicorn", "starlette", "uvloop", "httptools", "aiohttp"]


def sh(cmd: list[str] | str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, shell=isinstance(cmd, str), timeout=60)
        return out.stdout.strip()
    except Exception as e:  # noqa: BLE001 - a fact that cannot be read is recorded as such
        return f"? ({e})"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _lock_version(name: str) -> str:
    m = re.search(r'name = "' + re.escape(name) + r'"\nversion = "([^"]+)"', (ROOT / "Cargo.lock").read_text())
    return m.group(1) if m else "?"


def _npm_version(pkg: str, base: Path) -> str:
    try:
        return json.loads((base / "node_modules" / pkg / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def _proc_line(path: str, prefix: str) -> str:
    with open(path) as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith(prefix)), "?")


def machine() -> dict:
    py = str(BENCH / ".venv" / "bin" / "python")
    return {
        "nproc": os.cpu_count(), "cpu_model": _proc_line("/proc/cpuinfo", "model name"),
        "mem_total_gib": round(int(_proc_line("/proc/meminfo", "MemTotal:").split()[0]) / 1024 / 1024, 1),
        "kernel": platform.release(), "os": sh("sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '\"'"),
        "loadavg_start": os.getloadavg(),
        "versions": {
            "rustc": sh(["rustc", "--version"]),
            **{k: _lock_version(k) for k in ("rmcp", "axum", "tokio")},
            "azure_storage_blob (Rust)": _lock_version("azure_storage_blob"),
            "python": sh([py, "--version"]),
            **{f"{k} (PyPI)": sh([py, "-c", f"import importlib.metadata as m; print(m.version('{k}'))"]) for k in PYPI},
            "node": sh(["node", "--version"]),
            **{k: _npm_version(k, BENCH) for k in ("@modelcontextprotocol/sdk", "@azure/storage-blob")},
            "azurite": _npm_version("azurite", ROOT),
            "wrk": sh("wrk -v 2>&1 | head -1"),
        },
    }


def git() -> dict:
    return {"commit": sh(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
            "src_dirty": bool(sh(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "Cargo.toml",
                                  "Cargo.lock"]))}


def copy_binaries() -> tuple[dict, dict | None]:
    """Copies the binary under test, and the baseline binary (BENCH_BASELINE_BIN) when there is one, beside the
    results; their facts (the baseline's None without one: then there are no CPU pairs)."""
    RUST_BIN.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "target" / "release" / "snippets-mcp", RUST_BIN)
    built = dt.datetime.fromtimestamp(RUST_BIN.stat().st_mtime, dt.timezone.utc).isoformat(timespec="seconds")
    rust = {"built_utc": built, "bytes": RUST_BIN.stat().st_size, "sha256": sha(RUST_BIN)}
    BASELINE_BIN.unlink(missing_ok=True)  # a copy from an earlier run must not stand in for a missing build
    src = os.environ.get("BENCH_BASELINE_BIN", "")
    if not src or not Path(src).is_file():
        log("no baseline binary (BENCH_BASELINE_BIN): the CPU-per-call pairs are not measured")
        return rust, None
    shutil.copy2(src, BASELINE_BIN)
    return rust, {"source": src, "commit": Path(src).parent.name, "bytes": BASELINE_BIN.stat().st_size,
                  "sha256": sha(BASELINE_BIN)}
