"""Hooks and fixtures every test area shares (tests/e2e, tests/gateway, tests/conformance): fresh log directories,
process logs on a failing test's report, the anyio backend.

This is the rootdir conftest, so pytest calls its session hooks (it does not call
`pytest_sessionstart` and friends in the areas' conftests below it).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from devstack.processes import LIVE_PROCESSES, tail

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# Each area's logs (the areas' support modules read the same variables).
ARTIFACTS = {
    "e2e": Path(os.environ.get("E2E_ARTIFACTS_DIR", REPO / "test-artifacts" / "e2e")),
    "gateway": Path(os.environ.get("GATEWAY_ARTIFACTS_DIR", REPO / "test-artifacts" / "gateway")),
    "conformance": Path(os.environ.get("CONFORMANCE_ARTIFACTS_DIR", REPO / "test-artifacts" / "conformance")),
}
# The support module whose LOGS lists extra log files an area registered for reports.
SUPPORT_MODULES = {"gateway": "gw_support", "conformance": "conformance_support"}


def _area(item: pytest.Item) -> str | None:
    try:
        return item.path.relative_to(TESTS).parts[0]
    except ValueError:
        return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Fresh logs for each run: only the parts of test-artifacts/ of the areas that run."""
    for area in {_area(item) for item in session.items} & ARTIFACTS.keys():
        shutil.rmtree(ARTIFACTS[area], ignore_errors=True)
        ARTIFACTS[area].mkdir(parents=True, exist_ok=True)


def _extra_logs(area: str) -> list[Path]:
    """Log files an area registered for reports (e.g. gw_support.LOGS: stopped gateways)."""
    support = sys.modules.get(SUPPORT_MODULES.get(area, ""))
    return list(getattr(support, "LOGS", []))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    area = _area(item)
    if report.failed and area in ARTIFACTS:
        for p in list(LIVE_PROCESSES):
            report.sections.append((f"process log: {p.name}", p.logs(80)))
        for log in _extra_logs(area):
            report.sections.append((f"log: {log.name}", tail(log, 60)))
    return report


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
