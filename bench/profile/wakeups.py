#!/usr/bin/env python3
"""CPU per request of one server binary when its worker is kept busy, and when it sleeps between requests.

The same `hello_mcp` call, two ways:
- **busy**: wrk (bench/lua/mcp.lua) at concurrency 16, where requests queue and the worker rarely sleeps;
- **paced**: one keep-alive connection, one request at a time, with an idle gap of G ms after each reply, so the
  worker parks and is woken by every request.
The server's CPU time (`/proc/<pid>/task/*/schedstat`, nanoseconds; split into user and system by
`/proc/<pid>/task/*/stat`, which counts 10 ms ticks) and voluntary context switches are divided by the requests
answered. No storage is involved, so the difference is what waking an idle worker costs on this
machine, and how that grows with the time it slept: a storage call waits for storage twice per call.

    bench/profile/wakeups.py target/release/snippets-mcp                  # busy + gaps 0,1,5,20 ms, 3 reps
    bench/profile/wakeups.py BIN --gaps 0,2,10 --calls 1000 --reps 3 --json

The server runs on CPU 0 and the clients on CPU 1 (`--server-cpus` / `--load-cpus`). Needs wrk and taskset.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from devstack.processes import free_port, stop_popen, wait_http  # noqa: E402 - standard library only
LUA = ROOT / "bench" / "lua" / "mcp.lua"
TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_S = 30


def snapshot(pid: int) -> tuple[float, float, float, int]:
    """(CPU s from schedstat, user s, system s, voluntary context switches) summed over the process's threads.
    schedstat counts nanoseconds on the CPU; utime/stime count clock ticks (10 ms), so they only split it."""
    cpu = 0.0
    user = system = switches = 0
    for task in glob.glob(f"/proc/{pid}/task/*"):
        cpu += int(Path(task, "schedstat").read_text().split()[0]) / 1e9
        fields = Path(task, "stat").read_text().rsplit(")", 1)[1].split()
        user += int(fields[11])
        system += int(fields[12])
        status = Path(task, "status").read_text()
        switches += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
    return cpu, user / TICKS, system / TICKS, switches


def wrk(port: int, conc: int, seconds: int, cpus: str) -> int:
    """Requests answered correctly in one wrk run (mcp.lua counts wrong answers as `bad`)."""
    cmd = ["taskset", "-c", cpus, "wrk", "-t1", f"-c{conc}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA),
           f"http://127.0.0.1:{port}", "--", "hello", "/mcp"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = json.loads(re.search(r"^BENCHJSON (.*)$", out, re.M).group(1)).get("bad", 0)
    if bad:
        raise RuntimeError(f"{bad} wrong answers at concurrency {conc}")
    return total


HELLO = (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp","arguments":{}}}')
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "MCP-Protocol-Version": "2025-06-18"}


def paced(port: int, calls: int, gap_s: float) -> int:
    """`calls` sequential hello_mcp calls on one connection, sleeping `gap_s` after each reply."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(calls):
            conn.request("POST", "/mcp", body=HELLO, headers=HEADERS)
            reply = conn.getresponse()
            body = reply.read()
            if reply.status != 200 or b"Hello I am MCPTool!" not in body:
                raise RuntimeError(f"unexpected reply {reply.status}: {body[:200]!r}")
            if gap_s:
                time.sleep(gap_s)
    finally:
        conn.close()
    return calls


class Server:
    def __init__(self, binary: Path, cpus: str) -> None:
        self.port = free_port()
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}  # hello_mcp needs no storage
        self.proc = subprocess.Popen(["taskset", "-c", cpus, str(binary), "--port", str(self.port)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready = wait_http(f"http://127.0.0.1:{self.port}/", START_TIMEOUT_S, self.proc.pid)
        if ready != "ok":
            stop_popen(self.proc)
            raise RuntimeError(f"the server did not answer GET / ({ready}) within {START_TIMEOUT_S} s")

    def measure(self, drive) -> dict:
        before = snapshot(self.proc.pid)
        n = drive()
        after = snapshot(self.proc.pid)
        per = [(b - a) * 1e6 / n for a, b in zip(before[:3], after[:3])]
        return {"requests": n, "cpu_us": per[0], "user_us": per[1], "sys_us": per[2],
                "switches_per_req": (after[3] - before[3]) / n}

    def close(self) -> None:
        stop_popen(self.proc)


def one_rep(binary: Path, a: argparse.Namespace, gaps: list[float]) -> dict:
    server = Server(binary, a.server_cpus)
    try:
        wrk(server.port, 16, 1, a.load_cpus)  # warm-up, discarded
        out = {"busy": server.measure(lambda: wrk(server.port, 16, a.seconds, a.load_cpus))}
        for gap in gaps:
            out[f"gap {gap:g} ms"] = server.measure(
                lambda g=gap: run_pinned(a.load_cpus, lambda: paced(server.port, a.calls, g / 1000)))
        return out
    finally:
        server.close()


def run_pinned(cpus: str, fn):
    """Runs `fn` with this process pinned to `cpus` (the client side), then restores the affinity."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    try:
        return fn()
    finally:
        os.sched_setaffinity(0, old)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", type=Path)
    ap.add_argument("--gaps", default="0,1,5,20", help="comma-separated idle gaps after each reply, ms")
    ap.add_argument("--calls", type=int, default=1000, help="paced calls per gap")
    ap.add_argument("--seconds", type=int, default=5, help="length of the busy (wrk) point")
    ap.add_argument("--reps", type=int, default=3, help="repetitions, each with a fresh server")
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--load-cpus", default="1")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    gaps = [float(g) for g in a.gaps.split(",")]
    reps = [one_rep(a.binary, a, gaps) for _ in range(a.reps)]
    if a.json:
        print(json.dumps(reps, indent=1))
        return 0
    print(f"{'point':>12} {'CPU us/req':>20} {'user us/req':>20} {'sys us/req':>20} {'switches/req':>12}")
    for point in reps[0]:
        rs = [r[point] for r in reps]

        def spread(key: str, rs=rs) -> str:
            v = sorted(r[key] for r in rs)
            return f"{statistics.median(v):.1f} [{v[0]:.1f}-{v[-1]:.1f}]"
        print(f"{point:>12} {spread('cpu_us'):>20} {spread('user_us'):>20} {spread('sys_us'):>20} "
              f"{statistics.median(r['switches_per_req'] for r in rs):>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
