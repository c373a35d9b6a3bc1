"""The cargo-fuzz targets of fuzz/ (docs/reliability.md), each run for a few seconds: what parses
untrusted input must not panic or allocate without bound (-rss_limit_mb) on inputs libFuzzer finds.

The first run installs cargo-fuzz into .tools/ and builds the targets with sanitizers (minutes);
later runs reuse both. FUZZ_SECONDS overrides the time per target.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from faults_support import sup

TARGETS = ["snippet_name", "jsonrpc_body", "session_token_open", "connection_string"]
SECONDS = int(os.environ.get("FUZZ_SECONDS", "5"))


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
