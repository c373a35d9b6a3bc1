"""The SSE relay under storage's eye: an SSE-owning instance killed while another instance relays to
it, and the connections a relaying instance opens to the queue service.

Expectation (docs/reliability.md): the client's stream ends (closed, with an error) instead of going
silent; requests relayed to the dead instance are accepted into its queue but never answered; the
dead instance's queue and overflow blobs are swept by a live instance once they are older than
MCP_SSE_RELAY_STALE_SECS; after the sweep, requests for the dead session get 404 at once.
"""

from __future__ import annotations

import signal

import anyio
import httpx
import pytest

import faults_support as fs
from faults_support import sup

pytestmark = pytest.mark.anyio

STALE_S = 3
OVERFLOW_CONTAINER = "mcp-sse-relay"


def save_call(name: str, text: str, id_: int) -> dict:
    return sup.jsonrpc("tools/call", {"name": "save_snippet", "arguments": {"snippetname": name, "snippet": text}}, id=id_)


async def poll(what: str, check, seconds: float = 20.0) -> None:
    with anyio.fail_after(seconds):
        while not check():
            await anyio.sleep(0.25)


async def test_killed_owner_closes_the_stream_and_leftovers_are_swept(storage):
    cs = storage.connection_string()
    owner = sup.Server(fs.server_env(cs), label="relay-owner").start()
    relay = sup.Server(fs.server_env(cs), label="relay-forwarder").start()
    sweeper = sup.Server(fs.server_env(cs, MCP_SSE_RELAY_STALE_SECS=str(STALE_S)), label="relay-sweeper")
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
            async with sup.RawSseSession(owner.base_url, client, post_base=relay.base_url) as sse:
                await sse.endpoint()
                await sse.initialize()  # through the forwarder and the owner's queue: the relay works
                owner_instance = sse.endpoint_data.split("sessionId=")[-1].split("-")[0]
                assert f"mcp-sse-{owner_instance}" in storage.queue_names()

                owner.stop(signal.SIGKILL)  # a crash: no shutdown, its queue stays behind

                # The client's stream ends with an error or end-of-stream, promptly: no silent hang.
                with anyio.fail_after(5):
                    with pytest.raises((httpx.HTTPError, StopAsyncIteration)):
                        for _ in range(1000):
                            await sse.next_event()

                # Requests still relayed to the dead owner: accepted into its queue (inline) or into an
                # overflow blob (large), but nobody answers them. These are the leftovers.
                small = await sse.post(save_call("lost-small", "x", 2))
                large = await sse.post(save_call("lost-large", "y" * (60 * 1024), 3))
                assert (small.status_code, large.status_code) == (202, 202), (small.text, large.text)
        overflow = sup.BlobInspector(cs, OVERFLOW_CONTAINER)
        assert [n for n in overflow.names() if n.startswith(owner_instance + "/")], "no overflow blob"

        # A live instance with a short stale bound sweeps them once they are older than the bound.
        await anyio.sleep(STALE_S + 1.5)
        await anyio.to_thread.run_sync(sweeper.start)
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
            async with sup.RawSseSession(sweeper.base_url, client) as live:
                await live.endpoint()  # opening a stream starts the sweeper's relay receiver
                await poll("queue swept", lambda: f"mcp-sse-{owner_instance}" not in storage.queue_names())
                await poll("overflow swept", lambda: not overflow.names(prefix=owner_instance + "/"))
                # The sweeper keeps its own queue, and its session still works.
                assert len(storage.queue_names()) == 1
                res = await live.initialize()
                assert "result" in res, res
            # After the sweep, the dead session is refused at once, and nothing is queued for it.
            r = await client.post(sse.message_url(), json=save_call("late", "z", 4))
            assert r.status_code == 404, (r.status_code, r.text)
            assert f"mcp-sse-{owner_instance}" not in storage.queue_names()
        # None of the unanswered saves was applied.
        assert storage.blobs().names() == []
    finally:
        for s in (owner, relay, sweeper):
            s.stop()


RELAYED = 20


async def test_relayed_messages_reuse_pooled_storage_connections(storage):
    """The forwarding instance reaches the queue service through a counting proxy. Each relayed
    message is a queue write; they must ride the server's pooled connections, not open one each
    (a fresh TLS handshake per message on Azure, and, with a managed identity, a token request)."""
    proxy = fs.LatencyProxy(storage.ports["queue"]).start()
    owner = sup.Server(fs.server_env(storage.connection_string()), label="pool-owner").start()
    forwarder = sup.Server(
        fs.server_env(storage.connection_string(queue_port=proxy.port)), label="pool-forwarder"
    ).start()
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
            async with sup.RawSseSession(owner.base_url, client, post_base=forwarder.base_url) as sse:
                await sse.endpoint()
                await sse.initialize()
                before = proxy.connections
                for i in range(RELAYED):
                    res = await sse.request(sup.jsonrpc("ping", id=100 + i))
                    assert "result" in res, res
                opened = proxy.connections - before
        # Every message went through the proxy (the forwarder has no other way to the queues), and a
        # pool needs at most a connection or two more for requests that overlap.
        assert opened <= 3, f"{opened} connections opened for {RELAYED} relayed messages"
        assert proxy.connections >= 1
    finally:
        for s in (owner, forwarder):
            s.stop()
        proxy.stop()
