#!/usr/bin/env python3
"""Writes the Function App's zip: every regular file of SOURCE_DIR at the archive root.

    python3 scripts/lib/zip_package.py OUT.zip SOURCE_DIR [--executable NAME ...]

scripts/package.sh, infra/hooks/prepackage.ps1 and the benchmark harness all call this one
writer, so the zip azd deploys is the same bytes whichever OS built it.

- Unix modes are written explicitly (creator Unix, 0755 for each --executable NAME, 0644 for
  the rest) instead of read from the file system: on Windows there is no execute bit to read,
  and the Linux Functions host must still be able to run the handler.
- Reproducible: entries sorted, every timestamp 1980-01-01, so the same files give the same
  zip, and OUT.zip is rewritten (atomically) only when its bytes change; an unchanged package
  keeps its mtime, which lets the package scripts' second run be a no-op.
- Files whose name starts with "." are left out: function_app/ holds a .gitignore.

Standard library only: it runs under whichever Python the caller has (the project venv, or a
bare python3 before any venv exists).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile

# The earliest time a zip entry can hold; any fixed value makes the bytes reproducible.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
UNIX = 3  # ZipInfo.create_system: the host reads external_attr's high 16 bits as st_mode
REGULAR_FILE = 0o100000


def entries(src: str, skip: set[str]) -> list[tuple[str, str]]:
    """(archive name, path) of every regular file below src, sorted, dot-files left out."""
    found = []
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.startswith(".") or not os.path.isfile(path) or os.path.abspath(path) in skip:
                continue
            found.append((os.path.relpath(path, src).replace(os.sep, "/"), path))
    return found


def build(files: list[tuple[str, str]], executables: set[str]) -> bytes:
    """The zip's bytes for `entries()`; `executables` are archive names given mode 0755."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, path in files:
            info = zipfile.ZipInfo(arc, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = UNIX
            mode = 0o755 if arc in executables else 0o644
            info.external_attr = (REGULAR_FILE | mode) << 16
            with open(path, "rb") as f:
                zf.writestr(info, f.read())
    return buf.getvalue()


def write_if_changed(dest: str, data: bytes) -> bool:
    """Replaces dest with data unless it already holds exactly that; True when it wrote."""
    try:
        with open(dest, "rb") as f:
            if f.read() == data:
                return False
    except FileNotFoundError:
        pass
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dest)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Zip SOURCE_DIR's files at the archive root with Unix modes.")
    parser.add_argument("out", metavar="OUT.zip")
    parser.add_argument("source", metavar="SOURCE_DIR")
    parser.add_argument(
        "--executable", metavar="NAME", action="append", default=[], help="archive name given mode 0755 (repeatable)"
    )
    args = parser.parse_args(argv)
    if not os.path.isdir(args.source):
        parser.error(f"{args.source} is not a directory")
    # The zip must not swallow itself when it is written inside the folder it packs.
    skip = {os.path.abspath(args.out), os.path.abspath(args.out + ".tmp")}
    files = entries(args.source, skip)
    # A handler missing from the package would only show as a host that never starts.
    missing = sorted(set(args.executable) - {arc for arc, _ in files})
    if missing:
        parser.error(f"--executable {', '.join(missing)}: not in {args.source}")
    write_if_changed(args.out, build(files, set(args.executable)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
