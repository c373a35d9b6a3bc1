"""The server's second line of defence: session tokens (docs/session-token.md) on every MCP route.

Tokens are sealed here in Python, from the specification alone, with `cryptography`: an
independent implementation, so a passing test also shows the Rust verifier follows the spec.
"""

from __future__ import annotations

import base64
import contextlib
import json

import httpx
import pytest

import e2e_support as sup
from e2e_support import (
    AUDIENCE,
    MCP_HEADERS,
    RawSseSession,
    assert_ok,
    bearer,
    claims,
    jsonrpc,
    mcp_session,
    new_keys,
    result_text,
    seal,
)

pytestmark = pytest.mark.anyio

METADATA = "https://gw.example/.well-known/oauth-protected-resource/mcp"


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return new_keys()


@pytest.fixture(scope="module")
def auth_server(azurite, keys):
    srv = sup.Server(
        sup.base_env({"AzureWebJobsStorage": azurite.connection_string(), **sup.auth_env(keys)}), label="auth"
    )
    yield sup.started(srv)
    srv.stop()


async def test_valid_token_works_over_both_transports(auth_server, keys, transport, blobs, uid):
    token = seal(*keys, claims())
    async with mcp_session(auth_server.base_url, transport, headers=bearer(token)) as s:
        assert result_text(assert_ok(await s.call_tool("hello_mcp", {}))) == "Hello I am MCPTool!"
        assert_ok(await s.call_tool("save_snippet", {"snippetname": uid, "snippet": "authorised"}))
    # With keys the server defaults to per-user namespaces: the blob is under the subject's prefix.
    assert blobs.read(sup.user_blob(claims()["sub"], uid)) == b"authorised"


def bad_tokens(keys: tuple[bytes, bytes]) -> dict[str, str | None]:
    good = seal(*keys, claims())
    raw = bytearray(base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)))
    raw[20] ^= 0x01  # one ciphertext bit
    flipped = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    other_enc, other_mac = new_keys()
    return {
        "missing": None,
        "empty": "",
        "garbage": "not-a-token",
        "expired": seal(*keys, claims(exp_in=-1)),
        "wrong_audience": seal(*keys, claims(aud="https://other.example/mcp")),
        "bit_flipped": flipped,
        "tag_removed": good[: -43],
        "other_keys": seal(other_enc, other_mac, claims()),
        "right_mac_wrong_enc": seal(other_enc, keys[1], claims()),
        "padded_base64": good + "=",
    }


async def test_requests_without_a_valid_token_get_401_with_challenge(auth_server, keys, blobs, uid):
    before = blobs.snapshot()
    save = jsonrpc("tools/call", {"name": "save_snippet", "arguments": {"snippetname": uid, "snippet": "no"}})
    async with httpx.AsyncClient(timeout=30) as c:
        for label, token in bad_tokens(keys).items():
            h = {} if token is None else {"Authorization": "Bearer"} if token == "" else bearer(token)
            with sup.step(label):
                for method, path, body in (
                    ("POST", "/mcp", save),
                    ("GET", "/sse", None),
                    ("POST", "/message?sessionId=0123456789abcdef0123456789abcdef", save),
                ):
                    # A rejected request's connection is not reused (see the report on early 401s).
                    headers = {**MCP_HEADERS, **h, "Connection": "close"}
                    r = await c.request(method, auth_server.base_url + path, json=body, headers=headers)
                    assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
                    challenge = r.headers.get("www-authenticate", "")
                    assert challenge.startswith("Bearer "), challenge
                    assert f'resource_metadata="{METADATA}"' in challenge, challenge
        # The readiness probe needs no token: the Functions host calls it.
        assert (await c.get(auth_server.base_url + "/")).status_code == 200
    assert blobs.snapshot() == before


async def test_an_sse_session_only_accepts_messages_from_its_opener(auth_server, keys):
    alice = bearer(seal(*keys, claims(sub="alice")))
    mallory = bearer(seal(*keys, claims(sub="mallory")))
    async with httpx.AsyncClient(timeout=30) as c, RawSseSession(auth_server.base_url, c, headers=alice) as sse:
        await sse.endpoint()
        r = await c.post(sse.message_url(), json=jsonrpc("ping", id=1), headers={**MCP_HEADERS, **mallory})
        assert r.status_code in (403, 404), (r.status_code, r.text)
        # Alice's own session still works, with a fresh token for the same subject.
        sse.headers = bearer(seal(*keys, claims(sub="alice")))
        assert "result" in await sse.initialize()


async def test_one_user_holds_a_bounded_number_of_sse_sessions(azurite, keys):
    """`MCP_SSE_MAX_SESSIONS_PER_USER`: one token cannot pin streams without bound (each holds memory,
    a gateway and a backend connection, and a billed instance); the next gets a 429 that says why,
    while another user is served."""
    env = {"AzureWebJobsStorage": azurite.connection_string(), **sup.auth_env(keys), "MCP_SSE_MAX_SESSIONS_PER_USER": "2"}
    srv = sup.started(sup.Server(sup.base_env(env), label="sse-cap"))
    alice, bob = seal(*keys, claims("alice")), seal(*keys, claims("bob"))
    sse_headers = {"Accept": "text/event-stream"}
    try:
        async with httpx.AsyncClient(timeout=10) as client, contextlib.AsyncExitStack() as streams:
            for _ in range(2):
                r = await streams.enter_async_context(
                    client.stream("GET", f"{srv.base_url}/sse", headers={**sse_headers, **bearer(alice)})
                )
                assert r.status_code == 200
            refused = await client.get(f"{srv.base_url}/sse", headers={**sse_headers, **bearer(alice)})
            assert refused.status_code == 429, refused.text
            assert refused.text.startswith("too many open SSE sessions"), refused.text
            other = await streams.enter_async_context(
                client.stream("GET", f"{srv.base_url}/sse", headers={**sse_headers, **bearer(bob)})
            )
            assert other.status_code == 200
    finally:
        srv.stop()
