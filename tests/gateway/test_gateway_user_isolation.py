"""Per-user snippet namespaces through the whole perimeter: Alice and Bob sign in through the real
OAuth flow (sign-in page of the Entra stand-in, no auto-login), and each sees only their own
snippets over both transports. Storage is checked directly in Azurite."""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid

import httpx
import pytest

import gw_support as sup
from devstack.processes import clean_env

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def perimeter(stack):
    """A backend (default namespace mode, i.e. `user` since it has keys) and a gateway whose IdP
    shows its sign-in page, so the test chooses who signs in."""
    gw_port, backend_port = sup.free_port(), sup.free_port()
    backend_url = f"http://127.0.0.1:{backend_port}"
    env = clean_env()
    env.update({
        "AzureWebJobsStorage": stack.azurite["connection_string"],
        "SESSION_TOKEN_ENC_KEY": stack.keys["enc"], "SESSION_TOKEN_MAC_KEY": stack.keys["mac"],
        "MCP_RESOURCE_URL": f"http://127.0.0.1:{gw_port}/mcp", "RUST_LOG": "info",
    })  # fmt: skip
    logs = sup.ARTIFACTS / "isolation"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "server.stderr.log", "wb") as err:
        server = subprocess.Popen([str(sup.server_binary()), "--port", str(backend_port)], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
    sup.LOGS.append(logs / "server.stderr.log")
    try:
        end = time.monotonic() + 30
        while True:
            try:
                if httpx.get(backend_url + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < end, "isolation backend did not start"
            time.sleep(0.05)
        with sup.extra_gateway("isolation", stack, backend_url=backend_url, port=gw_port, auto_login=None) as gw:
            yield gw
    finally:
        server.terminate()
        server.wait(timeout=10)


class User:
    """One person signed in through the gateway: an SDK session plus the subject of its token."""

    def __init__(self, session, storage: sup.MemoryTokenStorage, keys: dict):
        self.session = session
        self.sub = sup.open_token(storage.tokens.access_token, keys["enc"], keys["mac"])["sub"]

    async def call(self, tool: str, **args):
        return await self.session.call_tool(tool, args)


@contextlib.asynccontextmanager
async def signed_in(gw, transport: str, username: str, keys: dict):
    ip = sup.next_client_ip()
    agent = sup.UserAgent(ip, username=username)
    storage = sup.MemoryTokenStorage()
    try:
        async with sup.sdk_session(gw.url, transport, ip, storage, agent) as session:
            assert len(agent.sign_in_pages) == 1  # the real sign-in page, as `username`
            yield User(session, storage, keys)
    finally:
        await agent.aclose()


def error_text(result) -> str:
    assert result.is_error, result
    return "".join(getattr(c, "text", "") for c in result.content)


def read_blob(blob_service, name: str) -> bytes | None:
    client = blob_service.get_blob_client("snippets", name)
    return client.download_blob().readall() if client.exists() else None


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_alice_and_bob_only_see_their_own_snippets(perimeter, stack, blob_service, transport):
    name = f"iso-{transport}-{uuid.uuid4().hex[:10]}"
    async with signed_in(perimeter, transport, "alice", stack.keys) as alice:
        async with signed_in(perimeter, transport, "bob", stack.keys) as bob:
            assert alice.sub != bob.sub
            sup.tool_text(await alice.call("save_snippet", snippetname=name, snippet="alice's secret"))
            alice_blob = sup.user_blob(alice.sub, name)
            bob_blob = sup.user_blob(bob.sub, name)
            assert read_blob(blob_service, alice_blob) == b"alice's secret"

            # Bob cannot read, list or delete it: to him it does not exist.
            assert error_text(await bob.call("get_snippet", snippetname=name)) == f"snippet not found: {name}"
            listed = await bob.call("list_snippets", prefix=name)
            assert not listed.is_error and listed.structured_content["snippets"] == []
            assert error_text(await bob.call("delete_snippet", snippetname=name)) == f"snippet not found: {name}"
            assert read_blob(blob_service, alice_blob) == b"alice's secret"

            # Bob's save under the same name creates his own snippet; Alice's is untouched.
            sup.tool_text(await bob.call("save_snippet", snippetname=name, snippet="bob's own"))
            assert sup.tool_text(await bob.call("get_snippet", snippetname=name)) == "bob's own"
            assert sup.tool_text(await alice.call("get_snippet", snippetname=name)) == "alice's secret"
            assert read_blob(blob_service, alice_blob) == b"alice's secret"
            assert read_blob(blob_service, bob_blob) == b"bob's own"
            # Nothing at the shared root: the reference layout is not used in `user` mode.
            assert read_blob(blob_service, f"{name}.json") is None

            alice_list = (await alice.call("list_snippets", prefix=name)).structured_content["snippets"]
            assert [s["name"] for s in alice_list] == [name] and alice_list[0]["bytes"] == len("alice's secret")

            # Bob deletes his; Alice's stays.
            sup.tool_text(await bob.call("delete_snippet", snippetname=name))
            assert read_blob(blob_service, bob_blob) is None
            assert read_blob(blob_service, alice_blob) == b"alice's secret"
