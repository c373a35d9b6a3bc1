#!/usr/bin/env python3
"""What the load generator's CPU does to Azurite's cost per request: the same raw blob operation (wrk straight to
Azurite over HTTPS with a bearer token, concurrency 16) from the load CPUs, on two cores also Azurite's, and from
the server CPUs, where the Rust server's storage client runs in an MCP window; ABBA, as the `pairs` phase. A client
that shares Azurite's CPU cannot run while Azurite does, so its requests reach Azurite in batches and each costs
Azurite less (docs/performance.md, "Storage latency").

    bench/.venv/bin/python bench/profile/placement.py                    # get and put, 4 pairs of 3 s windows
    bench/.venv/bin/python bench/profile/placement.py --ops get --pairs 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import stack  # noqa: E402
from common import CPUS, spread  # noqa: E402
from phases import pairs  # noqa: E402
from stack import BLOBS, seeded_azurite  # noqa: E402

OPS = {"get": "rawget", "put": "rawput"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", default="get,put")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--window", type=int, default=3, help="seconds per window (wrk takes whole seconds)")
    a = ap.parse_args()
    with seeded_azurite("placement") as az:
        token = stack.TOKENS.token()
        print(f"Azurite on CPUs {CPUS.azurite}; load CPUs {CPUS.load}; server CPUs {CPUS.server}")
        for op in a.ops.split(","):
            def side(cpus, m=OPS[op]):
                def run(warm):
                    r = pairs.window(az.port, m, 2 if warm else a.window, BLOBS, azurite_pid=az.process.pid,
                                     token=token, scheme="https", cpus=cpus)
                    if r["errors"]:
                        raise RuntimeError(f"{m} on CPUs {cpus}: {r['errors']} errors")
                    return r
                return run

            out = pairs.abba(side(CPUS.load), side(CPUS.server), a.pairs, ("load", "server"))
            for name, cpus in (("load", CPUS.load), ("server", CPUS.server)):
                cpu = [p[name]["azurite_cpu_us_per_req"] for p in out["pairs"]]
                p50 = [p[name]["p50_us"] / 1000 for p in out["pairs"]]
                print(f"raw {op} from the {name} CPUs ({cpus}): Azurite CPU per request {spread(cpu)} us, "
                      f"p50 {spread(p50, 2)} ms", flush=True)
            ratio = [p["server"]["azurite_cpu_us_per_req"] / p["load"]["azurite_cpu_us_per_req"] for p in out["pairs"]]
            print(f"raw {op}: Azurite CPU per request, server CPUs / load CPUs, per pair: "
                  + " ".join(f"{q:.2f}" for q in ratio), flush=True)


if __name__ == "__main__":
    main()
