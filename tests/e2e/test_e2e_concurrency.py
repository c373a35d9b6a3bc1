"""Concurrent tool calls: one session with 100 calls in flight, and many SSE sessions at once.

Over SSE each reply must reach the stream of the session that asked, never another one.
"""

from __future__ import annotations

import asyncio

import pytest

import e2e_support as sup
from e2e_support import assert_ok, mcp_session, result_text

pytestmark = pytest.mark.anyio

N = 100


def content_for(i: int) -> str:
    return f"snippet #{i}\n" + "α🦀\t" * (i % 7) + "\r\n" * (i % 3) + "x" * (i * 37)


async def test_100_concurrent_saves_in_one_session_are_all_readable(server, blobs, transport, uid):
    names = [f"{uid}-c{i:03d}" for i in range(N)]
    async with mcp_session(server.base_url, transport) as s:
        saves = await asyncio.gather(
            *(s.call_tool("save_snippet", {"snippetname": n, "snippet": content_for(i)}) for i, n in enumerate(names))
        )
        for i, r in enumerate(saves):
            assert_ok(r)
            assert r.structured_content == {"name": names[i], "bytes": len(content_for(i).encode())}

        gets = await asyncio.gather(*(s.call_tool("get_snippet", {"snippetname": n}) for n in names))
        for i, r in enumerate(gets):
            assert result_text(assert_ok(r)) == content_for(i), names[i]

    assert blobs.names(uid) == sorted(f"{n}.json" for n in names)
    for i, n in enumerate(names):
        assert blobs.read(f"{n}.json") == content_for(i).encode(), n


async def test_parallel_sessions_each_get_their_own_replies(server, blobs, transport, uid):
    """10 sessions x 10 calls at once; a reply routed to the wrong session would fail its check."""

    async def one_session(k: int) -> None:
        async with mcp_session(server.base_url, transport) as s:
            names = [f"{uid}-s{k:02d}-{j:02d}" for j in range(10)]
            rs = await asyncio.gather(
                *(s.call_tool("save_snippet", {"snippetname": n, "snippet": f"{k}/{j}"}) for j, n in enumerate(names))
            )
            for n, r in zip(names, rs, strict=True):
                assert_ok(r)
                assert r.structured_content["name"] == n
            gs = await asyncio.gather(*(s.call_tool("get_snippet", {"snippetname": n}) for n in names))
            assert [result_text(assert_ok(g)) for g in gs] == [f"{k}/{j}" for j in range(10)]

    await asyncio.gather(*(one_session(k) for k in range(10)))
    assert len(blobs.names(uid)) == 100
