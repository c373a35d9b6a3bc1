#!/usr/bin/env python3
"""What a storage call costs Azurite, and how many connections it takes: raw blob windows (wrk straight to Azurite)
against MCP windows through the Rust server, alternating at concurrency 16 on one Azurite over HTTPS with bearer
tokens, as the benchmark's `pairs` phase runs them. Per window: p50, req/s, Azurite's and the server's CPU per
request, and the TCP connections the machine opened (/proc/net/snmp ActiveOpens) beyond wrk's own 16. It measures
bench/results/bin/snippets-mcp (the binary the last benchmark run copied) unless --bin names another.

    bench/.venv/bin/python bench/profile/connects.py --ops get --rounds 2 --window 5 --client-cpus 0
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import stack  # noqa: E402
from phases import pairs  # noqa: E402
from stack import BLOBS, RUST_BIN, running, seeded_azurite  # noqa: E402

OPS = {"get": "rawget", "save": "rawput"}


def active_opens() -> int:
    """TCP connections this machine has opened since boot (every namespace-local active open)."""
    rows = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("ActiveOpens")])


def window(port: int, mode: str, seconds: int, path: str, pids: dict, **raw) -> dict:
    before = active_opens()
    r = pairs.window(port, mode, seconds, path, **pids, **raw)
    r["extra_opens"] = active_opens() - before - pairs.CONC
    if r["errors"]:
        raise RuntimeError(f"{mode}: {r['errors']} errors; first: {r.get('bad_sample', '')[:160]}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", default="get,save")
    ap.add_argument("--rounds", type=int, default=4, help="raw/MCP window pairs per operation")
    ap.add_argument("--window", type=int, default=3, help="seconds per window (wrk takes whole seconds)")
    ap.add_argument("--client-cpus", help="CPUs for wrk on both sides (default: the load CPUs, as the benchmark); "
                    "the server CPUs (0 on two cores) leave Azurite alone on its CPU in every window")
    ap.add_argument("--bin", help="server binary to measure (copied to bench/results/bin/snippets-mcp)")
    a = ap.parse_args()
    if a.bin:
        RUST_BIN.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(a.bin, RUST_BIN)
    with seeded_azurite("connects") as az, running("rust", az.env("bearer"), az.log_dir) as (proc, port):
        pids = dict(server_pid=proc.pid, azurite_pid=az.process.pid, cpus=a.client_cpus)
        token = stack.TOKENS.token()  # one token for every raw window, as the server caches its own
        for op in a.ops.split(","):
            # The benchmark's own ABBA loop, so the windows are the ones the `pairs` phase measures.
            paired = pairs.paired(
                lambda warm, m=OPS[op]: window(az.port, m, 2 if warm else a.window, BLOBS, pids, token=token,
                                               scheme="https"),
                lambda warm, o=op: window(port, o, 2 if warm else a.window, "/mcp", pids), a.rounds, op)
            for side in ("raw", "mcp"):
                rs = [p[side] for p in paired["pairs"]]
                for r in rs:
                    print(f"{op:4s} {side:3s}: p50 {r['p50_us'] / 1000:5.1f} ms, {r['rps']:5.0f} req/s, Azurite "
                          f"{r['azurite_cpu_us_per_req']:5.0f} us/req, server {r['server_cpu_us_per_req']:4.0f} "
                          f"us/req, {r['extra_opens']:3d} connections opened beyond wrk's", flush=True)
                cpu = [r["azurite_cpu_us_per_req"] for r in rs]
                print(f"{op} {side}: Azurite CPU per request median {statistics.median(cpu):.0f} us "
                      f"[{min(cpu):.0f}-{max(cpu):.0f}], connections opened beyond wrk's "
                      f"{sum(r['extra_opens'] for r in rs)} in {len(rs)} windows", flush=True)


if __name__ == "__main__":
    main()
