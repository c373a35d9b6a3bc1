"""Slow and hanging storage, through a latency-injecting TCP proxy in front of Azurite's blob service.

Expectation (docs/reliability.md): latency below the budget only slows calls down; storage that
accepts connections but never answers makes every call end with `storage unavailable: no answer
within <budget> ms` at the budget; the server's memory stays bounded while calls pile up against
it; once storage answers again, calls succeed without a restart.
"""

from __future__ import annotations

import time

import anyio
import pytest

import faults_support as fs
from faults_support import sup

pytestmark = pytest.mark.anyio

# Concurrent calls against hanging storage, each carrying a 64 KiB snippet.
PILE_UP = 24
RSS_GROWTH_BOUND_KIB = 64 * 1024


@pytest.fixture
def proxy(storage):
    p = fs.LatencyProxy(storage.ports["blob"]).start()
    yield p
    p.stop()


async def test_latency_below_the_budget_only_slows_calls(storage, proxy):
    proxy.delay = 0.3  # per chunk towards the server: a slow but working storage
    server = sup.Server(fs.server_env(storage.connection_string(proxy.port)), label="slow").start()
    try:
        async with sup.mcp_session(server.base_url, "http") as session:
            for i in range(3):
                save = await fs.timed_call(session, "save_snippet", {"snippetname": f"s{i}", "snippet": f"v{i}"})
                assert save.ok, save
                got = await fs.timed_call(session, "get_snippet", {"snippetname": f"s{i}"})
                assert got.ok and got.text == f"v{i}", got
                assert 0.3 <= got.seconds <= fs.BUDGET_S, got
        assert proxy.connections >= 1
    finally:
        server.stop()


async def test_hanging_storage_ends_every_call_at_the_budget_with_bounded_memory(storage, proxy):
    proxy.blackhole = True
    server = sup.Server(fs.server_env(storage.connection_string(proxy.port)), label="hanging").start()
    try:
        rss_before = fs.rss_kib(server.process.pid)
        outcomes: list[fs.Outcome] = []
        body = "x" * (64 * 1024)

        async def one(i: int) -> None:
            async with sup.mcp_session(server.base_url, "http") as session:
                outcomes.append(
                    await fs.timed_call(session, "save_snippet", {"snippetname": f"h{i}", "snippet": body})
                )
                outcomes.append(await fs.timed_call(session, "get_snippet", {"snippetname": f"h{i}"}))

        async with anyio.create_task_group() as tg:
            for i in range(PILE_UP):
                tg.start_soon(one, i)
        rss_after = fs.rss_kib(server.process.pid)
        assert len(outcomes) == 2 * PILE_UP
        for out in outcomes:
            assert not out.ok and out.text == f"{fs.UNAVAILABLE} no answer within {int(fs.BUDGET_S * 1000)} ms", out
            assert fs.BUDGET_S - 0.1 <= out.seconds <= fs.BUDGET_S + fs.SLACK_S, out
        assert rss_after - rss_before < RSS_GROWTH_BOUND_KIB, (rss_before, rss_after)
        print(f"RSS before={rss_before} KiB after={rss_after} KiB, proxy connections={proxy.connections}")

        # Storage answers again: the next call succeeds, nothing of the abandoned saves was stored.
        proxy.blackhole = False
        start = time.monotonic()
        async with sup.mcp_session(server.base_url, "http") as session:
            save = await fs.timed_call(session, "save_snippet", {"snippetname": "after", "snippet": "ok"})
        assert save.ok, save
        print(f"first save after the hang: {time.monotonic() - start:.2f}s")
        assert [n for n in storage.blobs().names() if n.startswith("h")] == []
    finally:
        server.stop()
