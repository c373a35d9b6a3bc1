"""Phase `cold`: process spawn to the first tools/list that lists the tools, polled every 0.5 ms, per server."""

from __future__ import annotations

import statistics
import time

from common import free_port, log, stop_popen, wait_ready
from stack import Azurite, spawn_server


def run(rep: dict, run) -> None:
    with Azurite.run(run.logdir) as az:
        for s in run.servers:
            r = run.attempt(f"cold start {s}",
                            lambda s=s: cold_start(s, run.cfg["cold_runs"], az.env("bearer"), run.logdir))
            if r:
                rep["cold_start"][s] = r
                log(f"{s}: cold start median {r['median_ms']:.1f} ms ({r['runs_ms']})")


def cold_start(name: str, runs: int, storage: dict[str, str], logdir) -> dict:
    samples = []
    for i in range(runs + 1):  # the first spawn warms the page cache and is not counted
        port = free_port()
        t0 = time.perf_counter()
        proc = spawn_server(name, port, storage, logdir)
        try:
            t1 = wait_ready(port, proc)
        finally:
            stop_popen(proc, grace=5)
        if i > 0:
            samples.append((t1 - t0) * 1000)
    return {"runs_ms": samples, "median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples)}
