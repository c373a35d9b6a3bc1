"""The cargo-fuzz targets of fuzz/ (docs/reliability.md), each run for FUZZ_SECONDS: what parses
untrusted input must not panic or allocate without bound (-rss_limit_mb) on inputs libFuzzer finds.

Opt-in: it runs only when FUZZ_SECONDS is set (`FUZZ_SECONDS=5 scripts/test.sh
tests/faults/test_faults_fuzz.py`, or `fuzz/run.sh` directly). The first run installs cargo-fuzz into
.tools/ and builds every dependency with sanitizers, about eight minutes on two cores, which bought
the default test command little: five seconds of fuzzing per target. The default command still
type-checks the targets against the library (scripts/test.sh, step fuzz-check).
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from faults_support import sup

TARGETS = ["snippet_name", "jsonrpc_body", "session_token_open", "connection_string"]
SECONDS = int(os.environ.get("FUZZ_SECONDS", "0"))

pytestmark = pytest.mark.skipif(
    SECONDS <= 0, reason="long fuzzing is opt-in: set FUZZ_SECONDS=N, or run fuzz/run.sh N"
)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_survives_a_bounded_run(target):
    log = sup.ARTIFACTS / f"fuzz-{target}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        rc = subprocess.run(
            ["nice", str(sup.REPO / "fuzz" / "run.sh"), str(SECONDS), target],
            cwd=sup.REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1700,
        ).returncode
    text = log.read_text(errors="replace")
    assert rc == 0, f"fuzz target {target} failed (exit {rc}); log {log}:\n{text[-4000:]}"
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    assert runs and int(runs.group(1)) > 0, f"{target} executed nothing:\n{text[-2000:]}"
