#!/usr/bin/env python3
"""Instructions per call of an MCP server binary, counted by callgrind (user space, all threads).

The server runs under `valgrind --tool=callgrind --instr-atstart=no` beside an in-memory Azurite (plain HTTP
connection string: the server mints an account SAS from it). For each call kind the driver makes warm-up calls,
zeroes the counters and switches collection on (`callgrind_control -z` / `-i on`), makes N calls on one
keep-alive connection, dumps (`callgrind_control -d`) and switches collection off again, so a dump holds exactly
those N calls. Instructions per call = the dump's `summary:` / N. Instruction counts are deterministic up to
timer-driven and scheduling work (run to run within about 1%), so one run per benchmark is enough. They do
depend on how many CPUs the server sees (tokio's worker count): compare runs with the same `--cpus`.

    bench/profile/instructions.py target/release/snippets-mcp                 # hello, save, get
    bench/profile/instructions.py BIN --call hello --calls 2000 --top 15       # + top functions
    bench/profile/instructions.py bench/target/release/bench-echo --call hello --no-storage

Needs valgrind (callgrind_control, callgrind_annotate) and the root node_modules (Azurite). The `instructions`
phase of bench/harness/bench.py imports `profile()` from here.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from devstack.azurite import Azurite  # noqa: E402 - the repository's dev stack, standard library only
from devstack.processes import free_port, stop_popen  # noqa: E402

SNIPPET = 'fn main() { println!("hello, snippets"); }\n' * 24  # the benchmark's 1,032-byte snippet
GET_NAMES = 50  # get_snippet cycles over this many names, saved before its warm-up
WARMUP_CALLS = 20
DEFAULT_CALLS = {"hello": 2000, "save": 400, "get": 400}
MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-06-18",
}
START_TIMEOUT_S = 180  # a 50 MB binary reads its debug info under valgrind first
CALL_TIMEOUT_S = 60
CONTROL_TIMEOUT_S = 60


class ProfileError(RuntimeError):
    """The server did not start, a call failed, or callgrind did not dump."""


def tool_call(i: int, name: str, arguments: dict) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments}}).encode()


def body(op: str, i: int) -> bytes:
    """The i-th request of a call kind: every save a new name, gets cycling over the seeded names."""
    if op == "hello":
        return tool_call(i, "hello_mcp", {})
    if op == "save":
        return tool_call(i, "save_snippet", {"snippetname": f"i-{i}", "snippet": SNIPPET})
    if op == "get":
        return tool_call(i, "get_snippet", {"snippetname": f"g-{i % GET_NAMES}"})
    raise ValueError(f"unknown call {op!r}")


class Connection:
    """One keep-alive HTTP/1.1 connection to the server, as one wrk connection uses it."""

    def __init__(self, port: int) -> None:
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=CALL_TIMEOUT_S)

    def call(self, payload: bytes) -> None:
        self.c.request("POST", "/mcp", body=payload, headers=MCP_HEADERS)
        r = self.c.getresponse()
        text = r.read()
        if r.status != 200 or b'"result"' not in text or b'"isError":true' in text:
            raise ProfileError(f"call failed: HTTP {r.status} {text[:200]!r}")

    def close(self) -> None:
        self.c.close()


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


def top_functions(dump: Path, k: int, inclusive: bool) -> list[dict]:
    """The k costliest functions of a dump (callgrind_annotate), instructions and share of the total."""
    argv = ["callgrind_annotate", "--auto=no", "--threshold=100", f"--inclusive={'yes' if inclusive else 'no'}",
            str(dump)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
    return parse_annotate(out, summary(dump), k, inclusive)


def parse_annotate(out: str, total: int, k: int, inclusive: bool) -> list[dict]:
    """The first k rows of callgrind_annotate's per-function table, without cargo's source cache prefix and
    the object file; for inclusive costs without the recursion levels (`name'2`) and cycle artefacts."""
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
            continue  # a recursion level of an async poll chain: its inclusive cost counts the cycle repeatedly
        rows.append({"instructions": n, "share": n / total if total else 0.0, "function": where[:200]})
        if len(rows) == k:
            break
    return rows


def wait_ready(port: int, proc: subprocess.Popen, mcp: bool) -> None:
    end = time.monotonic() + START_TIMEOUT_S
    probe = b'{"jsonrpc":"2.0","id":0,"method":"tools/list"}' if mcp else tool_call(0, "hello_mcp", {})
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise ProfileError(f"server exited with {proc.returncode} before answering")
        try:
            c = Connection(port)
            try:
                c.call(probe)
                return
            finally:
                c.close()
        except (OSError, ProfileError):
            time.sleep(0.2)
    raise ProfileError(f"server not ready after {START_TIMEOUT_S}s")


def measure(conn: Connection, pid: int, out_file: Path, op: str, n: int, top: int) -> dict:
    """Warm-up, then N calls with collection on; one dump holds exactly them."""
    base = 1_000_000 * (1 + ["hello", "save", "get"].index(op))  # request ids and save names never repeat
    if op == "get":
        for i in range(GET_NAMES):
            conn.call(tool_call(base + i, "save_snippet", {"snippetname": f"g-{i}", "snippet": SNIPPET}))
    for i in range(WARMUP_CALLS):
        conn.call(body(op, base + 1000 + i))
    before = len(dumps(out_file))
    control("-z", str(pid))
    control("-i", "on", str(pid))
    t0 = time.perf_counter()
    for i in range(n):
        conn.call(body(op, base + 10_000 + i))
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
    r = {"calls": n, "instructions": total, "per_call": total / n, "seconds_under_valgrind": seconds,
         "dump": str(dump)}
    if top:
        r["top_inclusive"] = top_functions(dump, top, inclusive=True)
        r["top_exclusive"] = top_functions(dump, top, inclusive=False)
    return r


def profile(binary: Path, calls: list[tuple[str, int]], workdir: Path, storage: bool = True, top: int = 0,
            cpus: str | None = None, name: str = "server") -> dict:
    """Starts Azurite (if `storage`) and `binary` under callgrind; returns {op: result} for `calls` in order."""
    if not shutil.which("valgrind"):
        raise ProfileError("valgrind is not installed (Debian: apt-get install valgrind)")
    workdir.mkdir(parents=True, exist_ok=True)
    out_file = workdir / f"cg-{name}.out"
    for old in [out_file, *dumps(out_file)]:
        old.unlink(missing_ok=True)
    az = Azurite(Path(tempfile.mkdtemp(prefix="instr-azurite-")), log_dir=workdir, name=f"azurite-{name}",
                 services=("blob",), in_memory=True, silent=True) if storage else None
    proc = None
    try:
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        if az is not None:
            env["AzureWebJobsStorage"] = az.start(timeout=60).connection_string()
        port = free_port()
        argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}",
                str(binary), "--port", str(port)]
        if cpus:
            argv = ["taskset", "-c", cpus, *argv]
        with open(workdir / f"{name}-valgrind.log", "w") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_ready(port, proc, mcp=storage)
        conn = Connection(port)
        try:
            # taskset execs valgrind, which runs the guest in its own process: one pid for all three
            return {op: measure(conn, proc.pid, out_file, op, n, top) for op, n in calls}
        finally:
            conn.close()
    finally:
        if proc is not None:
            stop_popen(proc, grace=30)
        if az is not None:
            az.stop()
            shutil.rmtree(az.workdir, ignore_errors=True)


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
    ap.add_argument("--no-storage", action="store_true", help="no Azurite; readiness by a hello_mcp call (echo)")
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
    except ProfileError as e:
        print(f"instructions.py: error: {e} (logs in {out})", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    for op, r in res.items():
        print(f"{op}: {r['per_call']:,.0f} instructions per call ({r['calls']} calls, {r['instructions']:,} in all; "
              f"{r['dump']})")
        for kind in ("top_inclusive", "top_exclusive"):
            if kind in r:
                print(f"  top {len(r[kind])} by {kind.split('_')[1]} cost:")
                for f in r[kind]:
                    per_call = f["instructions"] / r["calls"]
                    print(f"    {per_call:>11,.0f}/call {f['share'] * 100:5.1f}%  {f['function']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
