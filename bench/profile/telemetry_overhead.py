#!/usr/bin/env python3
"""What telemetry costs a tool call: the same binary twice on one seeded Azurite, once without and once with
`APPLICATIONINSIGHTS_CONNECTION_STRING` (a loopback ingestion endpoint that accepts everything,
devstack/ingestion.py), server CPU per call for `hello_mcp` and `save_snippet` at concurrency 16, in ABBA windows
as the `pairs` phase. The ratio (on / off) per pair, its median and spread; the goal is at most 1.10.

    bench/.venv/bin/python bench/profile/telemetry_overhead.py                 # 4 pairs of 5 s windows
    bench/.venv/bin/python bench/profile/telemetry_overhead.py --pairs 2 --window 3 --bin target/release/snippets-mcp
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import stack  # noqa: E402
from common import spread  # noqa: E402
from devstack.ingestion import IngestionReceiver  # noqa: E402
from phases import pairs  # noqa: E402
from stack import running, seeded_azurite  # noqa: E402

OPS = ("hello", "save")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--window", type=int, default=5, help="seconds per window (wrk takes whole seconds)")
    ap.add_argument("--bin", default="target/release/snippets-mcp", help="the binary to measure")
    args = ap.parse_args()
    stack.RUST_BIN.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(args.bin, stack.RUST_BIN)
    receiver = IngestionReceiver().start()
    try:
        with seeded_azurite("telemetry-overhead") as az:
            off_env = az.env("bearer")
            on_env = {**off_env, "APPLICATIONINSIGHTS_CONNECTION_STRING": receiver.connection_string()}
            with running("rust", off_env, az.log_dir) as (off, off_port), \
                    running("rust", on_env, az.log_dir) as (on, on_port):
                for op in OPS:
                    windows = [lambda warm, port=port, pid=proc.pid: pairs.window(
                        port, op, max(1, args.window // 2) if warm else args.window, "/mcp", server_pid=pid)
                        for port, proc in ((off_port, off), (on_port, on))]
                    d = pairs.abba(*windows, args.pairs, ("off", "on"))
                    ratios = [p["on"]["cpu_us_per_req"] / p["off"]["cpu_us_per_req"] for p in d["pairs"]]
                    offs = [p["off"]["cpu_us_per_req"] for p in d["pairs"]]
                    ons = [p["on"]["cpu_us_per_req"] for p in d["pairs"]]
                    errors = sum(p[s]["errors"] for p in d["pairs"] for s in ("on", "off"))
                    print(f"{op}: CPU per call off {min(offs):.1f}-{max(offs):.1f} us, on {min(ons):.1f}-{max(ons):.1f} us;"
                          f" on/off median {spread(ratios, 3)} over {len(ratios)} pairs; errors {errors}", flush=True)
        print(f"ingestion endpoint received {len(receiver.snapshot())} envelopes in {receiver.requests} posts")
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()
