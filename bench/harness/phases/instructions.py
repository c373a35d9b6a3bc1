"""Phase `instructions`, once per run: instructions per call under callgrind (bench/profile/instructions.py) of
the binary under test, the echo limit and, when the run has it, the baseline binary, whose counts should
reproduce the goal's baselines."""

from __future__ import annotations

import sys
import time

from common import BENCH, CPUS, log
from stack import BASELINE_BIN, ECHO_BIN, RUST_BIN

sys.path.insert(0, str(BENCH / "profile"))
import instructions as callgrind  # noqa: E402 - bench/profile/instructions.py

CALLS = {"rust": list(callgrind.DEFAULT_CALLS.items()), "echo": [("hello", callgrind.DEFAULT_CALLS["hello"])],
         "baseline": list(callgrind.DEFAULT_CALLS.items())}


def run(res: dict, run, runs: int) -> None:
    res["instructions"] = {"valgrind": callgrind.valgrind_version(), "calls": CALLS, "runs": []}
    for k in range(1, runs + 1):
        log(f"=== instructions per call under callgrind, run {k}/{runs}")
        r = run.attempt(f"instructions run {k}", lambda: counts(run.logdir, run.every_cpu))
        if r:
            res["instructions"]["runs"].append(r)


def counts(logdir, every_cpu: str) -> dict:
    """On every CPU the harness's caller may use, as the baselines were measured, not on the load CPUs the harness
    runs on: tokio sizes its pool from the CPUs it sees, which moves the counts by 1-3% (bench/README.md)."""
    binaries = {"rust": (RUST_BIN, True), "echo": (ECHO_BIN, False)}
    if BASELINE_BIN.exists():
        binaries["baseline"] = (BASELINE_BIN, True)
    out: dict = {"cpus": every_cpu or f"0-{CPUS.total - 1}"}
    t0 = time.monotonic()
    for name, (binary, storage) in binaries.items():
        out[name] = r = callgrind.profile(binary, CALLS[name], logdir / "callgrind", storage=storage, top=10,
                                          cpus=out["cpus"], name=name)
        log("instructions: " + ", ".join(f"{name} {op} {v['per_call']:,.0f}/call" for op, v in r.items()))
    out["seconds"] = time.monotonic() - t0
    return out
