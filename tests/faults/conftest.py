"""Fixtures for the fault-injection tests: each test gets its own Azurite on fixed loopback ports
(so it can be stopped and restarted where the server expects it) and its own server processes.

Logs go to test-artifacts/faults/; a failing test's report carries the tail of every live process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import faults_support as fs


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def storage(tmp_path: Path):
    """A restartable Azurite on fixed ports with its data in tmp_path/azurite."""
    s = fs.RestartableAzurite(tmp_path / "azurite").start()
    yield s
    s.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed and item.path.parent == Path(__file__).parent:
        for p in list(fs.sup.LIVE_PROCESSES):
            report.sections.append((f"process log: {p.name}", p.logs(80)))
    return report
