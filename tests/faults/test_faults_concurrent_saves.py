"""Concurrent saves to one name, over both transports at once: the stored text is exactly one of the
texts written (storage applies each Put Blob whole), never a mix, and a get returns the same text."""

from __future__ import annotations

import anyio
import pytest

import faults_support as fs
from faults_support import sup

pytestmark = pytest.mark.anyio

WRITERS = 6
ROUNDS = 3
NAME = "contended"


def text_of(writer: int, round_: int) -> str:
    # ~200 KiB, every writer's bytes distinct, so any interleaving or truncation is visible.
    return f"<{writer}:{round_}>" + chr(ord("a") + writer) * (200 * 1024)


async def test_concurrent_saves_store_exactly_one_text(storage):
    server = sup.Server(fs.server_env(storage.connection_string()), label="contended").start()
    written = {text_of(w, r) for w in range(WRITERS) for r in range(ROUNDS)}
    try:

        async def writer(w: int) -> None:
            transport = "http" if w % 2 == 0 else "sse"
            async with sup.mcp_session(server.base_url, transport) as session:
                for r in range(ROUNDS):
                    result = await session.call_tool("save_snippet", {"snippetname": NAME, "snippet": text_of(w, r)})
                    sup.assert_ok(result)

        async with anyio.create_task_group() as tg:
            for w in range(WRITERS):
                tg.start_soon(writer, w)
        stored = storage.blobs().read(f"{NAME}.json").decode()
        assert stored in written, f"stored text is not one written: {stored[:40]!r}... ({len(stored)} chars)"
        async with sup.mcp_session(server.base_url, "http") as session:
            got = sup.result_text(sup.assert_ok(await session.call_tool("get_snippet", {"snippetname": NAME})))
        assert got == stored
    finally:
        server.stop()
