#!/usr/bin/env python3
"""Measures snippets-mcp against its peers and the limits, phase by phase (bench/harness/phases/), in interleaved
repetitions; writes bench/results/<stamp>-<mode>.json and latest.json. Run by bench/run.sh, which installs and
builds everything first."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
from dataclasses import dataclass, field
from pathlib import Path

import facts
import stack
from common import BENCH, CPUS, cpu_list, log
from phases import cold, instructions, limits, load, package, pairs, sse
from stack import SERVERS

PHASES = {"cold": cold, "load": load, "limits": limits, "pairs": pairs, "sse": sse}  # every repetition, in order
ONCE = ("instructions", "package")  # once per run, after the repetitions
# Per-point duration and warm-up are short so that every figure can be the median of several interleaved
# repetitions within ~35 minutes (full) / ~10 minutes (quick) on a 2-core machine. `key_concurrency`: the points of
# the second storage table (connection string). `pairs`: ABBA window pairs per comparison of the `pairs` phase,
# `pair_window` seconds each, after a warm-up window of each side of `pair_warmup` seconds.
MODES = {
    "quick": dict(duration=2, warmup=0, cold_runs=3, sse_sessions=1000, sse_timeout=60, concurrency=[1, 16],
                  key_concurrency=[16], pairs=2, pair_window=2, pair_warmup=1),
    "full": dict(duration=5, warmup=1, cold_runs=10, sse_sessions=10000, sse_timeout=240, concurrency=[1, 16, 64],
                 key_concurrency=[1, 16], pairs=4, pair_window=3, pair_warmup=2),
}


@dataclass
class Run:
    """What every phase needs, and the run's failures: one failed phase must not lose the others."""

    servers: list[str]
    cfg: dict
    outdir: Path
    every_cpu: str
    failures: list[str] = field(default_factory=list)
    prefix: str = ""

    @property
    def logdir(self) -> Path:
        return self.outdir / "logs"

    def attempt(self, what: str, fn, into: dict | None = None, key: str | None = None):
        """fn(), stored as into[key] when it gave something; None (and a failure on record) when it raised."""
        try:
            r = fn()
        except Exception as e:  # noqa: BLE001
            log(f"FAILED {self.prefix}{what}: {e!r}")
            self.failures.append(f"{self.prefix}{what}: {e!r}")
            return None
        if r and into is not None:
            into[key] = r
        return r


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=MODES, default="full")
    ap.add_argument("--only", default="rust,python,ts", help="comma-separated servers to measure")
    ap.add_argument("--skip", default="", help=f"comma-separated phases to skip: {','.join([*PHASES, *ONCE])}")
    ap.add_argument("--instr-runs", type=int, default=1, help="callgrind runs of the instructions phase")
    ap.add_argument("--out", default=str(BENCH / "results"))
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--sse-sessions", type=int, help="override the mode's SSE session count")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (every figure: their median)")
    a = ap.parse_args()
    if a.reps < 1 or a.instr_runs < 1:
        ap.error("--reps and --instr-runs must be at least 1")
    cfg = {**MODES[a.mode], **({"sse_sessions": a.sse_sessions} if a.sse_sessions else {})}
    every_cpu = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))  # before pinning: callgrind's CPUs
    os.sched_setaffinity(0, cpu_list(CPUS.load))  # the harness is part of the load generator
    run = Run([s for s in a.only.split(",") if s], cfg, Path(a.out), every_cpu)
    run.logdir.mkdir(parents=True, exist_ok=True)
    skip = set(a.skip.split(","))
    stack.setup()
    started = dt.datetime.now(dt.timezone.utc)
    rust_binary, baseline_binary = facts.copy_binaries()
    res: dict = {
        "mode": a.mode, "config": cfg, "concurrency": cfg["concurrency"], "command": a.command,
        "reps_requested": a.reps,
        "started_utc": started.isoformat(timespec="seconds"),
        "cpus": {"server": CPUS.server, "load": CPUS.load, "azurite": CPUS.azurite, "available": CPUS.total},
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "machine": facts.machine(),
        "labels": {k: v[0] for k, v in SERVERS.items()}, "git": facts.git(), "rust_binary": rust_binary,
        "baseline_binary": baseline_binary, "package": {}, "failures": run.failures, "reps": [],
    }
    log(f"mode {a.mode}; server CPUs {CPUS.server}, load CPUs {CPUS.load}, Azurite CPUs {CPUS.azurite}")
    # Interleaved: every repetition measures every server once, so drift on the machine hits them alike.
    for i in range(1, a.reps + 1):
        log(f"=== repetition {i}/{a.reps}")
        rep = {"rep": i, "started_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "loadavg_start": os.getloadavg()[0], "cold_start": {}, "load": {}, "sse": {}, "limits": {},
               "pairs": {}, "hello_pairs": {}, "cpu_pairs": {}}
        res["reps"].append(rep)
        run.prefix = f"rep {i}: "
        for name, phase in PHASES.items():
            if name not in skip:
                phase.run(rep, run)
        rep["loadavg_end"] = os.getloadavg()[0]
        rep["tokens_issued"], rep["tokens_refused"] = stack.TOKENS.issued, list(stack.TOKENS.refused)
        log(f"rep {i}: load average {rep['loadavg_start']:.2f} -> {rep['loadavg_end']:.2f}; "
            f"{stack.TOKENS.issued} tokens issued so far, {len(stack.TOKENS.refused)} refused")
        write_results(res, run.outdir, started)  # a later crash keeps the finished repetitions
    run.prefix = ""
    if "instructions" not in skip:  # counts barely move between runs (bench/README.md)
        instructions.run(res, run, a.instr_runs)
        write_results(res, run.outdir, started)
    if "package" not in skip:
        package.run(res, run)
    res["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    res["machine"]["loadavg_end"] = os.getloadavg()
    log(f"results: {write_results(res, run.outdir, started)}")
    stack.teardown()
    return 0


def write_results(res: dict, outdir: Path, started: dt.datetime) -> Path:
    path = outdir / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{res['mode']}.json"
    text = json.dumps(res, indent=1)
    path.write_text(text)
    (outdir / "latest.json").write_text(text)
    return path


if __name__ == "__main__":
    sys.exit(main())
