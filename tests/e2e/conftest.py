"""Fixtures for the end-to-end tests: Azurite once per session, the server per session or per test.

Logs of every process go to test-artifacts/e2e/<name>.{stdout,stderr}.log and the tail of each live
process's logs is attached to a failing test's report (tests/conftest.py).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

import e2e_support as sup


@pytest.fixture(scope="session")
def azurite():
    workdir = Path(tempfile.mkdtemp(prefix="e2e-azurite-"))
    az = sup.started(sup.Azurite(workdir))
    yield az
    az.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def blobs(azurite: sup.Azurite) -> sup.BlobInspector:
    return sup.BlobInspector(azurite.connection_string())


@pytest.fixture(scope="session")
def server(azurite: sup.Azurite):
    """The shared server: a full Azurite connection string with explicit endpoints, default limits."""
    srv = sup.started(sup.Server(sup.base_env({"AzureWebJobsStorage": azurite.connection_string()}), label="server"))
    yield srv
    srv.stop()


@pytest.fixture
def start_server():
    """Factory for a dedicated server with its own environment; stopped at teardown."""
    started: list[sup.Server] = []

    def start(env: dict[str, str | None], label: str = "server", wait: bool = True) -> sup.Server:
        srv = sup.Server(sup.base_env(env), label=label)
        started.append(srv)
        if wait:
            srv.start()
        else:
            srv.spawn()
        return srv

    yield start
    for srv in started:
        srv.stop(grace=5)


@pytest.fixture
def uid() -> str:
    """A unique snippet-name prefix for one test, so tests never see each other's data."""
    return sup.unique("e2e")


@pytest.fixture(params=sup.TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return request.param
