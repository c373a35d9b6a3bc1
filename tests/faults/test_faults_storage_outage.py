"""Storage outages under load: Azurite stopped mid-load, restarted with its data, restarted empty.

Expectation (docs/reliability.md): while storage is down every call answers a tool error starting
`storage unavailable:` within the storage budget (STORAGE_TIMEOUT_MS) plus slack, never hangs; no
acknowledged save is lost and no blob is partial; after storage returns, calls succeed within seconds
without restarting the server; after an empty restart, saves recreate the container.
"""

from __future__ import annotations

import time

import anyio
import pytest

import faults_support as fs
from faults_support import sup

pytestmark = pytest.mark.anyio

WORKERS = 3
RECOVERY_BOUND_S = 10.0


def text_for(name: str, round_: int) -> str:
    # Distinct, self-describing and large enough (~64 KiB) that a torn write would show.
    return f"{name}#{round_}:" + (f"{name}-{round_}|" * 4000)


async def load(base_url: str, transport: str, worker: int, stop: anyio.Event, record: dict) -> None:
    """Saves and gets in a loop until `stop`; records attempted texts and outcomes."""
    async with sup.mcp_session(base_url, transport) as session:
        round_ = 0
        while not stop.is_set():
            name = f"w{worker}-{round_ % 4}"
            text = text_for(name, round_)
            record["attempted"].setdefault(name, set()).add(text)
            out = await fs.timed_call(session, "save_snippet", {"snippetname": name, "snippet": text})
            record["outcomes"].append(out)
            if out.ok:
                record["acked"][name] = text
            got = await fs.timed_call(session, "get_snippet", {"snippetname": name})
            record["outcomes"].append(got)
            round_ += 1


async def wait_until_save_works(base_url: str, transport: str, name: str) -> float:
    """Seconds from now until a save succeeds (polls every 0.2 s, bounded)."""
    start = time.monotonic()
    deadline = sup.Deadline(RECOVERY_BOUND_S + fs.BUDGET_S)
    async with sup.mcp_session(base_url, transport) as session:
        last = None
        while not deadline.expired():
            last = await fs.timed_call(session, "save_snippet", {"snippetname": name, "snippet": "back"})
            if last.ok:
                return time.monotonic() - start
            assert last.text.startswith(fs.UNAVAILABLE), last.text
            await anyio.sleep(0.2)
    raise AssertionError(f"saves did not recover within {RECOVERY_BOUND_S}s: {last}")


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_outage_mid_load_fails_fast_and_loses_nothing(storage, transport):
    server = sup.Server(fs.server_env(storage.connection_string()), label=f"outage-{transport}").start()
    try:
        record: dict = {"attempted": {}, "acked": {}, "outcomes": []}
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            for w in range(WORKERS):
                tg.start_soon(load, server.base_url, transport, w, stop, record)
            # The outage starts once every worker has completed calls (session set-up varies under load).
            with anyio.fail_after(30):
                while len(record["outcomes"]) < 4 * WORKERS:
                    await anyio.sleep(0.05)
            before_outage = len(record["outcomes"])
            # In a thread: blocking the event loop would inflate the measured call times.
            await anyio.to_thread.run_sync(storage.stop)  # SIGTERM: Azurite flushes its data and exits
            outage_start = len(record["outcomes"])
            await anyio.sleep(3 * fs.BUDGET_S)
            during = record["outcomes"][outage_start:]
            await anyio.to_thread.run_sync(storage.start)  # same data folder, same ports
            recovery = await wait_until_save_works(server.base_url, transport, "recovery-probe")
            await anyio.sleep(1.0)
            stop.set()
        assert before_outage > 0, "the load did not run before the outage"
        assert during, "no call was made during the outage"
        # Every call ended within the budget plus slack, and every failure is the documented one.
        for out in record["outcomes"]:
            assert out.seconds <= fs.BUDGET_S + fs.SLACK_S, f"{out} took longer than the budget"
            if not out.ok:
                assert out.text.startswith(fs.UNAVAILABLE) or out.text.startswith("snippet not found:"), out
        assert any(not o.ok and o.text.startswith(fs.UNAVAILABLE) for o in during), during[:5]
        assert recovery < RECOVERY_BOUND_S
        # No acknowledged save lost: the last acknowledged text of each name, or a later attempt
        # (an unacknowledged save may still have landed), never a mix or a truncation.
        inspector = storage.blobs()
        for name, attempted in record["attempted"].items():
            blob = f"{name}.json"
            if name in record["acked"]:
                assert inspector.exists(blob), f"acknowledged save of {name} lost"
            if inspector.exists(blob):
                assert inspector.read(blob).decode() in attempted, f"{name}: stored text is not one written"
        async with sup.mcp_session(server.base_url, transport) as session:
            for name in record["acked"]:
                got = sup.assert_ok(await session.call_tool("get_snippet", {"snippetname": name}))
                assert sup.result_text(got) in record["attempted"][name]
        print(f"[{transport}] calls={len(record['outcomes'])} during-outage={len(during)} recovery={recovery:.2f}s")
    finally:
        server.stop()


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_refused_connections_answer_within_budget(storage, transport):
    """Storage not listening at all: a save answers `storage unavailable:` in time (it used to wait
    out the SDK's minute of retries), and nothing is stored once storage is back."""
    server = sup.Server(fs.server_env(storage.connection_string()), label=f"refused-{transport}").start()
    try:
        storage.stop()
        async with sup.mcp_session(server.base_url, transport) as session:
            for tool, args in [
                ("save_snippet", {"snippetname": "never", "snippet": "x"}),
                ("get_snippet", {"snippetname": "never"}),
                ("list_snippets", {}),
                ("delete_snippet", {"snippetname": "never"}),
            ]:
                out = await fs.timed_call(session, tool, args)
                assert not out.ok and out.text.startswith(fs.UNAVAILABLE), out
                assert out.seconds <= fs.BUDGET_S + fs.SLACK_S, out
        storage.start()
        assert not storage.blobs().exists("never.json")
    finally:
        server.stop()


async def test_storage_restarted_empty_recreates_the_container(storage, tmp_path):
    server = sup.Server(fs.server_env(storage.connection_string()), label="empty-restart").start()
    try:
        async with sup.mcp_session(server.base_url, "http") as session:
            sup.assert_ok(await session.call_tool("save_snippet", {"snippetname": "a", "snippet": "one"}))
        storage.stop()
        storage.start(tmp_path / "azurite-empty")  # same ports, no data: the container is gone
        assert storage.blobs().names() == []
        async with sup.mcp_session(server.base_url, "http") as session:
            start = time.monotonic()
            sup.assert_ok(await session.call_tool("save_snippet", {"snippetname": "b", "snippet": "two"}))
            assert time.monotonic() - start <= fs.BUDGET_S + fs.SLACK_S
            got = sup.assert_ok(await session.call_tool("get_snippet", {"snippetname": "b"}))
            assert sup.result_text(got) == "two"
            got = await session.call_tool("get_snippet", {"snippetname": "a"})
            sup.assert_tool_error(got, "snippet not found:")
        assert storage.blobs().read("b.json") == b"two"
    finally:
        server.stop()
