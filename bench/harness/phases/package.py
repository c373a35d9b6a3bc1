"""Phase `package`, once per run: each deployable folder's size, unzipped and zipped by the repository's one zip
writer (scripts/lib/zip_package.py, deflate at zlib's default level 6): Rust `function_app/` as scripts/package.sh
assembles it, Python app + `pip install --target` (no bytecode), TypeScript app + `npm ci --omit=dev`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from common import BENCH, ROOT, log


def run(res: dict, run) -> None:
    run.attempt("package sizes", lambda: sizes(run.outdir / "packages"), res, "package")


def _size(src: Path, work: Path, name: str, how: str, *executables: str) -> dict:
    out = work / f"{name}.zip"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "lib" / "zip_package.py"), str(out), str(src),
                    *(a for e in executables for a in ("--executable", e))], check=True)
    unzipped = sum(f.stat().st_size for f in src.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
    return {"how": how, "unzipped": unzipped, "zipped": out.stat().st_size}


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def sizes(work: Path) -> dict:
    rust, py, ts = (_fresh(work / d) for d in ("rust-function_app", "python-deploy", "ts-deploy"))
    pkg = os.environ.get("BENCH_PACKAGE_DIR")  # set by run.sh when scripts/package.sh succeeded
    if pkg and (Path(pkg) / "host.json").exists():
        files, how = [f for f in Path(pkg).iterdir() if f.is_file()], "scripts/package.sh (function_app/)"
    else:
        files = [ROOT / "host.json", ROOT / "target" / "release" / "snippets-mcp"]
        how = "host.json + target/release/snippets-mcp"
    for f in files:
        shutil.copy2(f, rust / f.name)
    out = {"rust": _size(rust, work, "rust", how, "snippets-mcp")}
    subprocess.run([str(BENCH / ".venv" / "bin" / "pip"), "install", "-q", "--no-compile", "--target",
                    str(py / ".python_packages" / "lib" / "site-packages"), "-r",
                    str(BENCH / "servers" / "python" / "requirements.txt")], check=True)
    shutil.copy2(BENCH / "servers" / "python" / "server.py", py)
    out["python"] = _size(py, work, "python", "server.py + pip install --target (no .pyc)")
    for f in (BENCH / "servers" / "ts" / "server.mjs", BENCH / "package.json", BENCH / "package-lock.json"):
        shutil.copy2(f, ts)
    subprocess.run(["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--silent"], cwd=ts, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out["ts"] = _size(ts, work, "ts", "server.mjs + npm ci --omit=dev node_modules")
    for k, v in out.items():
        log(f"package {k}: {v['zipped'] / 1e6:.1f} MB zipped ({v['unzipped'] / 1e6:.1f} MB unzipped)")
    return out
