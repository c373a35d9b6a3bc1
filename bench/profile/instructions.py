#!/usr/bin/env python3
"""Instructions per call of an MCP server binary under callgrind (user space, every thread): the `instructions`
phase of the benchmark imports `profile()`, and it runs alone (bench/README.md has the method).

    bench/profile/instructions.py target/release/snippets-mcp                 # hello, save, get
    bench/profile/instructions.py BIN --call hello --calls 2000 --top 15       # + top functions
    bench/profile/instructions.py bench/target/release/bench-echo --call hello --no-storage
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
from common import SNIPPET, Client, plain_azurite, serving, tool_call  # noqa: E402

GET_NAMES = 50  # get_snippet cycles over this many names, saved before its warm-up
WARMUP_CALLS = 20
DEFAULT_CALLS = {"hello": 2000, "save": 400, "get": 400}
START_TIMEOUT_S = 180  # a 50 MB binary reads its debug info under valgrind first
CALL_TIMEOUT_S = CONTROL_TIMEOUT_S = 60


class ProfileError(RuntimeError):
    """The server did not start, a call failed, or callgrind did not dump."""


# The i-th request of a call kind: every save a new name, gets cycling over the names saved first.
BODIES = {"hello": lambda i: tool_call(i, "hello_mcp", {}),
          "save": lambda i: tool_call(i, "save_snippet", {"snippetname": f"i-{i}", "snippet": SNIPPET}),
          "get": lambda i: tool_call(i, "get_snippet", {"snippetname": f"g-{i % GET_NAMES}"})}


def control(*args: str) -> str:
    """callgrind_control, bounded in time (it reaches the process through vgdb)."""
    out = subprocess.run(["callgrind_control", *args], capture_output=True, text=True, timeout=CONTROL_TIMEOUT_S)
    if out.returncode != 0:
        raise ProfileError(f"callgrind_control {' '.join(args)} failed: {out.stdout[-300:]} {out.stderr[-300:]}")
    return out.stdout


def dumps(out_file: Path) -> list[Path]:
    """The numbered dumps (`<out>.1`, `<out>.2`, ...) in the order they were written."""
    found = [p for p in out_file.parent.glob(out_file.name + ".*") if p.suffix[1:].isdigit()]
    return sorted(found, key=lambda p: int(p.suffix[1:]))


def summary(dump: Path) -> int:
    m = re.search(r"^summary:\s+(\d+)", dump.read_text(errors="replace"), re.M)
    if not m:
        raise ProfileError(f"no summary: line in {dump}")
    return int(m.group(1))


_ANNOTATE_LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$")
_REGISTRY = re.compile(r"/\S*?/registry/src/index\.crates\.io-[0-9a-f]+/")  # cargo's source cache prefix
_OBJECT = re.compile(r" \[[^\]]*\]$")  # the object file callgrind_annotate appends
_RECURSION = re.compile(r"'\d+$")  # callgrind's name for the n-th recursion level of a function


def parse_annotate(out: str, total: int, k: int, inclusive: bool) -> list[dict]:
    """The first k rows of callgrind_annotate's per-function table, without cargo's source cache prefix and the
    object file; inclusive costs without the recursion levels (`name'2`): an async poll chain's recursion level
    counts the cycle repeatedly."""
    rows, started = [], False
    for line in out.splitlines():
        if "file:function" in line:
            started = True  # the per-function table follows its header line
            continue
        m = _ANNOTATE_LINE.match(line) if started else None
        if not m or "PROGRAM TOTALS" in line:
            continue
        n = int(m.group(1).replace(",", ""))
        where = _OBJECT.sub("", _REGISTRY.sub("", m.group(2)))
        if inclusive and (_RECURSION.search(where) or n > total):
            continue
        rows.append({"instructions": n, "share": n / total if total else 0.0, "function": where[:200]})
        if len(rows) == k:
            break
    return rows


def measure(conn: Client, pid: int, out_file: Path, op: str, n: int, top: int) -> dict:
    """Warm-up calls, then N calls with collection on; one dump holds exactly them."""
    base = 1_000_000 * (1 + ["hello", "save", "get"].index(op))  # request ids and save names never repeat
    if op == "get":
        for i in range(GET_NAMES):
            conn.call(tool_call(base + i, "save_snippet", {"snippetname": f"g-{i}", "snippet": SNIPPET}))
    for i in range(WARMUP_CALLS):
        conn.call(BODIES[op](base + 1000 + i))
    before = len(dumps(out_file))
    control("-z", str(pid))
    control("-i", "on", str(pid))
    t0 = time.perf_counter()
    for i in range(n):
        conn.call(BODIES[op](base + 10_000 + i))
    seconds = time.perf_counter() - t0
    control("-d", op, str(pid))
    control("-i", "off", str(pid))
    end = time.monotonic() + CONTROL_TIMEOUT_S
    while len(dumps(out_file)) <= before:
        if time.monotonic() > end:
            raise ProfileError(f"callgrind wrote no dump for {op}")
        time.sleep(0.05)
    dump = dumps(out_file)[-1]
    total = summary(dump)
    r = {"calls": n, "instructions": total, "per_call": total / n, "seconds_under_valgrind": seconds, "dump": str(dump)}
    for kind in ("inclusive", "exclusive") if top else ():
        annotate = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100",
                                   f"--inclusive={'yes' if kind == 'inclusive' else 'no'}", str(dump)],
                                  capture_output=True, text=True, timeout=120).stdout
        r[f"top_{kind}"] = parse_annotate(annotate, total, top, kind == "inclusive")
    return r


def profile(binary: Path, calls: list[tuple[str, int]], workdir: Path, storage: bool = True, top: int = 0,
            cpus: str | None = None, name: str = "server") -> dict:
    """Starts Azurite (if `storage`: a plain HTTP connection string, so the server mints an account SAS) and
    `binary` under callgrind; returns {op: result} for `calls` in order."""
    if not shutil.which("valgrind"):
        raise ProfileError("valgrind is not installed (Debian: apt-get install valgrind)")
    workdir.mkdir(parents=True, exist_ok=True)
    out_file = workdir / f"cg-{name}.out"
    for old in [out_file, *dumps(out_file)]:
        old.unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        env = {"AzureWebJobsStorage": stack.enter_context(plain_azurite(workdir, f"azurite-{name}"))} if storage else {}
        proc, port = stack.enter_context(serving(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}", str(binary)],
            cpus, workdir / f"{name}-valgrind.log", env, START_TIMEOUT_S, poll=0.2, mcp=storage, grace=30))
        conn = Client(port, CALL_TIMEOUT_S)
        stack.callback(conn.close)
        # taskset execs valgrind, which runs the guest in its own process: one pid for all three
        return {op: measure(conn, proc.pid, out_file, op, n, top) for op, n in calls}


def valgrind_version() -> str:
    try:
        return subprocess.run(["valgrind", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", type=Path, help="server binary (takes --port N)")
    ap.add_argument("--call", action="append", choices=sorted(DEFAULT_CALLS),
                    help="call kind, repeatable (default: hello, save, get)")
    ap.add_argument("--calls", type=int, help="calls per kind (default: hello 2000, save/get 400)")
    ap.add_argument("--top", type=int, default=0, help="also print the top K functions, inclusive and exclusive")
    ap.add_argument("--no-storage", action="store_true", help="no Azurite; hello_mcp only (the echo limit)")
    ap.add_argument("--out", type=Path, help="folder for the dumps and logs (default: a temporary one)")
    ap.add_argument("--cpus", help="taskset CPU list for the server (tokio sizes its pool from it; default: all)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    a = ap.parse_args()
    if a.calls is not None and a.calls < 1:
        ap.error("--calls must be at least 1")
    ops = a.call or (["hello"] if a.no_storage else ["hello", "save", "get"])
    if a.no_storage and set(ops) - {"hello"}:
        ap.error("--no-storage measures hello only")
    out = a.out or Path(tempfile.mkdtemp(prefix="instructions-"))
    try:
        res = profile(a.binary.resolve(), [(op, a.calls or DEFAULT_CALLS[op]) for op in ops], out,
                      storage=not a.no_storage, top=a.top, cpus=a.cpus, name=a.binary.name)
    except RuntimeError as e:  # ProfileError, or a call or start that failed
        print(f"instructions.py: error: {e} (logs in {out})", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    for op, r in res.items():
        print(f"{op}: {r['per_call']:,.0f} instructions per call ({r['calls']} calls, {r['instructions']:,} in all; "
              f"{r['dump']})")
        for kind in ("inclusive", "exclusive"):
            if f"top_{kind}" in r:
                print(f"  top {len(r[f'top_{kind}'])} by {kind} cost:")
                for f in r[f"top_{kind}"]:
                    per_call = f["instructions"] / r["calls"]
                    print(f"    {per_call:>11,.0f}/call {f['share'] * 100:5.1f}%  {f['function']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
