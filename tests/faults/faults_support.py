"""Support for the fault-injection tests: a restartable Azurite, a latency-injecting TCP proxy,
the server's resident memory, and timed MCP tool calls.

Processes, clients and Azurite helpers come from tests/e2e/e2e_support.py (imported, not copied).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
os.environ.setdefault(
    "E2E_ARTIFACTS_DIR", str(Path(__file__).resolve().parents[2] / "test-artifacts" / "faults")
)
import e2e_support as sup  # noqa: E402

# The storage budget the tests give the server (STORAGE_TIMEOUT_MS), and the slack allowed on top
# of it for the client round trip and a loaded 2-core machine.
BUDGET_S = 2.0
SLACK_S = 2.0
UNAVAILABLE = "storage unavailable:"


class RestartableAzurite:
    """Azurite on ports chosen once, so a restart (same or fresh data folder) is where the server expects it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.ports = {k: sup.free_port() for k in ("blob", "queue", "table")}
        self.azurite: sup.Azurite | None = None

    def start(self, workdir: Path | None = None) -> "RestartableAzurite":
        if workdir is not None:
            self.workdir = workdir
        self.azurite = sup.Azurite(self.workdir, fixed_ports=dict(self.ports)).start()
        return self

    def stop(self) -> None:
        if self.azurite is not None:
            self.azurite.stop()
            self.azurite = None

    def endpoint(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.ports[kind]}/{sup.DEV_ACCOUNT}"

    def connection_string(self, blob_port: int | None = None, queue_port: int | None = None) -> str:
        """The connection string, with either service reached through another port (a proxy) if given."""
        blob = f"http://127.0.0.1:{blob_port or self.ports['blob']}/{sup.DEV_ACCOUNT}"
        queue = f"http://127.0.0.1:{queue_port or self.ports['queue']}/{sup.DEV_ACCOUNT}"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={sup.DEV_ACCOUNT};AccountKey={sup.DEV_KEY};"
            f"BlobEndpoint={blob};QueueEndpoint={queue};"
        )

    def blobs(self, container: str = sup.CONTAINER) -> sup.BlobInspector:
        return sup.BlobInspector(self.connection_string(), container)

    def queue_names(self, prefix: str = "mcp-sse-") -> list[str]:
        from azure.storage.queue import QueueServiceClient

        svc = QueueServiceClient.from_connection_string(self.connection_string())
        return sorted(q.name for q in svc.list_queues(name_starts_with=prefix))


def server_env(connection_string: str, **extra: str) -> dict[str, str]:
    return sup.base_env(
        {
            "AzureWebJobsStorage": connection_string,
            "STORAGE_TIMEOUT_MS": str(int(BUDGET_S * 1000)),
            **extra,
        }
    )


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


@dataclass
class Outcome:
    tool: str
    name: str
    seconds: float
    ok: bool
    text: str


async def timed_call(session, tool: str, args: dict) -> Outcome:
    start = time.monotonic()
    result = await session.call_tool(tool, args)
    return Outcome(
        tool, args.get("snippetname", ""), time.monotonic() - start, not result.is_error, sup.result_text(result)
    )


# --------------------------------------------------------------------------------------------
# A latency-injecting TCP proxy (asyncio, on its own thread and loop)
# --------------------------------------------------------------------------------------------


@dataclass
class LatencyProxy:
    """Forwards 127.0.0.1:<port> to `target_port`, delaying every chunk towards the client by `delay`
    seconds; `blackhole` accepts connections and never answers (a storage front end that hangs)."""

    target_port: int
    delay: float = 0.0
    blackhole: bool = False
    port: int = 0
    connections: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    _tasks: set = field(default_factory=set)

    def start(self) -> "LatencyProxy":
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="latency-proxy", daemon=True)
        self._thread.start()
        assert ready.wait(10), "proxy did not start"
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            if self.blackhole:
                # Read and discard until the client gives up: the request is never answered.
                while await reader.read(65536):
                    pass
                return
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(self._pipe(reader, up_w, 0.0), self._pipe(up_r, writer, self.delay))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: float) -> None:
        try:
            while chunk := await src.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                dst.write(chunk)
                await dst.drain()
        finally:
            with contextlib.suppress(Exception):
                dst.close()

    def open_connections(self) -> int:
        return len(self._tasks)

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for t in list(self._tasks):
                t.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
