#!/usr/bin/env python3
"""What the load generator's CPU does to Azurite's cost per request: the same raw blob operation (wrk straight
to Azurite over HTTPS with a bearer token, concurrency 16) from the load CPUs, which on a 2-core machine are
also Azurite's, and from the server CPUs, where the Rust server's storage client runs in an MCP window. The
windows alternate ABBA (the benchmark's own `_abba`).

Why it matters: a client that shares Azurite's CPU cannot run while Azurite does, so requests reach Azurite in
batches and each costs it less. In the benchmark's storage pairs the raw side's wrk shares Azurite's CPU; on the
MCP side wrk shares it too, but the requests come from the server on the other CPU. No placement of the raw
client on two cores reproduces that (docs/performance.md, "Storage latency"); `connects.py --client-cpus 0`
leaves Azurite alone in both kinds of window.

    bench/.venv/bin/python bench/profile/placement.py                    # get and put, 4 pairs of 3 s windows
    bench/.venv/bin/python bench/profile/placement.py --ops get --pairs 2

Run by hand after `bench/run.sh` has installed its tools.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import bench as B  # noqa: E402 - the benchmark harness: Azurite, the token endpoint, wrk windows

OPS = {"get": "rawget", "put": "rawput"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", default="get,put")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--window", type=int, default=3, help="seconds per window (wrk takes whole seconds)")
    a = ap.parse_args()
    B.CPUS = B.Cpus()
    B.TLS = B.Tls(Path(tempfile.mkdtemp(prefix="placement-tls-")))
    B.TOKENS = B.TokenEndpoint()
    az = B.Azurite(Path(tempfile.mkdtemp(prefix="placement-logs-")))
    try:
        az.seed()
        token, path, pid = B.TOKENS.token(), f"/{B.ACCOUNT}/{B.CONTAINER}", az.az.process.pid
        print(f"Azurite on CPUs {B.CPUS.azurite}; load CPUs {B.CPUS.load}; server CPUs {B.CPUS.server}")
        for op in a.ops.split(","):
            def side(cpus, m=OPS[op]):
                def run(warm):
                    r = B._window(az.port, m, 2 if warm else a.window, path, azurite_pid=pid, token=token,
                                  scheme="https", cpus=cpus)
                    if r["errors"]:
                        raise RuntimeError(f"{m} on CPUs {cpus}: {r['errors']} errors")
                    return r
                return run

            out = B._abba(side(B.CPUS.load), side(B.CPUS.server), a.pairs, ("load", "server"))
            for name, cpus in (("load", B.CPUS.load), ("server", B.CPUS.server)):
                ws = [p[name] for p in out["pairs"]]
                cpu = [w["azurite_cpu_us_per_req"] for w in ws]
                p50 = [w["p50_us"] / 1000 for w in ws]
                print(f"raw {op} from the {name} CPUs ({cpus}): Azurite CPU per request {statistics.median(cpu):.0f} "
                      f"[{min(cpu):.0f}-{max(cpu):.0f}] us, p50 {statistics.median(p50):.2f} "
                      f"[{min(p50):.2f}-{max(p50):.2f}] ms", flush=True)
            ratio = [p["server"]["azurite_cpu_us_per_req"] / p["load"]["azurite_cpu_us_per_req"] for p in out["pairs"]]
            print(f"raw {op}: Azurite CPU per request, server CPUs / load CPUs, per pair: "
                  + " ".join(f"{q:.2f}" for q in ratio), flush=True)
    finally:
        az.close()
        B.TOKENS.close()


if __name__ == "__main__":
    main()
