#!/usr/bin/env python3
"""CPU per `hello_mcp` request of one server binary with its worker kept busy (wrk at concurrency 16) and with an
idle gap of G ms after every reply (one keep-alive connection, one request at a time, so the worker parks and every
request wakes it): what a wake-up costs on this machine. No storage is involved.

    bench/profile/wakeups.py target/release/snippets-mcp                  # busy + gaps 0,1,5,20 ms, 3 reps
    bench/profile/wakeups.py BIN --gaps 0,2,10 --calls 1000 --reps 3 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
from common import CLK_TCK, HELLO, Client, Proc, cpu_list, serving, spread, wrk  # noqa: E402


def snapshot(pid: int) -> tuple[float, float, float, int]:
    """(CPU s, user s, system s, voluntary context switches) summed over the process's threads: schedstat counts
    nanoseconds on the CPU; utime/stime count 10 ms ticks, so they only split it."""
    threads = Proc(pid).threads()
    ticks = [t.ticks() for t in threads]
    return (sum(t.schedstat_seconds() for t in threads), sum(u for u, _ in ticks) / CLK_TCK,
            sum(s for _, s in ticks) / CLK_TCK, sum(t.status("voluntary_ctxt_switches") for t in threads))


def busy(port: int, seconds: int, cpus: str) -> int:
    r = wrk(port, "hello", 16, seconds, "/mcp", cpus=cpus, threads=1)
    if r["bad"]:
        raise RuntimeError(f"{r['bad']} wrong answers at concurrency 16")
    return r["requests"]


def paced(port: int, calls: int, gap_s: float, cpus: str) -> int:
    """`calls` sequential calls on one connection from `cpus`, sleeping `gap_s` after each reply."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpu_list(cpus))
    c = Client(port)
    try:
        for _ in range(calls):
            c.call(HELLO)
            if gap_s:
                time.sleep(gap_s)
    finally:
        c.close()
        os.sched_setaffinity(0, old)
    return calls


def one_rep(binary: Path, a: argparse.Namespace, gaps: list[float]) -> dict:
    with serving([str(binary)], a.server_cpus, None, timeout=30, poll=0.1, mcp=False) as (proc, port):
        def measure(drive) -> dict:
            before = snapshot(proc.pid)
            n = drive()
            after = snapshot(proc.pid)
            cpu, user, system = ((b - x) * 1e6 / n for x, b in zip(before[:3], after[:3]))
            return {"requests": n, "cpu_us": cpu, "user_us": user, "sys_us": system,
                    "switches_per_req": (after[3] - before[3]) / n}

        busy(port, 1, a.load_cpus)  # warm-up, discarded
        out = {"busy": measure(lambda: busy(port, a.seconds, a.load_cpus))}
        for gap in gaps:
            out[f"gap {gap:g} ms"] = measure(lambda g=gap: paced(port, a.calls, g / 1000, a.load_cpus))
        return out


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
    reps = [one_rep(a.binary, a, [float(g) for g in a.gaps.split(",")]) for _ in range(a.reps)]
    if a.json:
        print(json.dumps(reps, indent=1))
        return 0
    print(f"{'point':>12} {'CPU us/req':>20} {'user us/req':>20} {'sys us/req':>20} {'switches/req':>12}")
    for point in reps[0]:
        rs = [r[point] for r in reps]
        print(f"{point:>12} " + " ".join(f"{spread([r[k] for r in rs], 1):>20}" for k in ("cpu_us", "user_us", "sys_us"))
              + f" {statistics.median(r['switches_per_req'] for r in rs):>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
