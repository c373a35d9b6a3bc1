"""Session tokens on the MCP API: every forged, altered or stale token is refused by the
gateway (C# policy) with a 401 that carries the RFC 9728 challenge, nothing reaches storage,
and the three implementations (policy C# on Mono, the Rust crate in the server, this test's
Python) agree on live tokens."""

from __future__ import annotations

import base64
import secrets
import time
import uuid

import httpx
import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio


def _flip(token: str, index: int) -> str:
    raw = bytearray(sup.b64url_decode(token))
    raw[index] ^= 0x01
    return sup.b64url(bytes(raw))


def _other_keys() -> tuple[str, str]:
    return base64.b64encode(secrets.token_bytes(32)).decode(), base64.b64encode(secrets.token_bytes(32)).decode()


def _forgeries(stack) -> dict[str, str]:
    aud = f"{stack.url}/mcp"
    enc, mac = stack.keys["enc"], stack.keys["mac"]
    good = sup.seal_token(sup.claims_for(aud), enc, mac)
    raw_len = len(sup.b64url_decode(good))
    other_enc, other_mac = _other_keys()
    v2 = bytearray(sup.b64url_decode(good))
    v2[0] = 2
    return {
        "garbage": "not-a-token",
        "truncated": good[:-10],
        "mac_altered": _flip(good, raw_len - 1),
        "iv_altered": _flip(good, 3),
        "ciphertext_altered": _flip(good, 20),
        "version_2": sup.b64url(bytes(v2)),
        "padded_base64": good + "==",
        "other_keys": sup.seal_token(sup.claims_for(aud), other_enc, other_mac),
        "keys_swapped": sup.seal_token(sup.claims_for(aud), mac, enc),
        "expired": sup.seal_token(sup.claims_for(aud, iat=int(time.time()) - 7200), enc, mac),
        "expires_now": sup.seal_token(sup.claims_for(aud, lifetime=0), enc, mac),
        "wrong_audience": sup.seal_token(sup.claims_for("https://other.example/mcp"), enc, mac),
        "audience_of_gateway_root": sup.seal_token(sup.claims_for(stack.url), enc, mac),
        "exp_as_string": sup.seal_token(dict(sup.claims_for(aud), exp=str(int(time.time()) + 600)), enc, mac),
        "sub_missing": sup.seal_token({k: v for k, v in sup.claims_for(aud).items() if k != "sub"}, enc, mac),
        "oversized": "A" * 5000,
    }


FORGERY_NAMES = [
    "garbage", "truncated", "mac_altered", "iv_altered", "ciphertext_altered", "version_2", "padded_base64",
    "other_keys", "keys_swapped", "expired", "expires_now", "wrong_audience", "audience_of_gateway_root",
    "exp_as_string", "sub_missing", "oversized",
]  # fmt: skip


def _assert_challenge(r: httpx.Response, stack, error: bool) -> None:
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{stack.url}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert ('error="invalid_token"' in challenge) is error
    assert r.headers["cache-control"] == "no-store"


@pytest.fixture
async def http(client_ip):
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=30) as c:
        yield c


async def test_python_sealed_token_is_accepted_by_gateway_and_server(stack, http):
    """Control for the forgeries: a token sealed here with the same keys passes the C# policy
    (gateway) and the Rust crate (server) alike."""
    token = sup.seal_token(sup.claims_for(f"{stack.url}/mcp"), stack.keys["enc"], stack.keys["mac"])
    for base in (stack.url, stack.backend_url):
        r = await sup.mcp_post(http, f"{base}/mcp", token)
        assert r.status_code == 200, (base, r.text)
        assert "tools" in sup.rpc_result(r)


async def test_gateway_token_is_accepted_by_the_rust_server(stack, oauth, http):
    """Cross-language agreement on a live token: minted by the policies' C# under Mono,
    opened by Python and by the server's Rust session-token crate."""
    client_id, tokens = await oauth.login()
    claims = sup.open_token(tokens["access_token"], stack.keys["enc"], stack.keys["mac"])
    assert claims["cid"] == client_id
    r = await sup.mcp_post(http, f"{stack.backend_url}/mcp", tokens["access_token"])
    assert r.status_code == 200, r.text
    # And the Rust side refuses the same token altered by one bit.
    raw_len = len(sup.b64url_decode(tokens["access_token"]))
    r = await sup.mcp_post(http, f"{stack.backend_url}/mcp", _flip(tokens["access_token"], raw_len - 1))
    assert r.status_code == 401


async def test_missing_token_gets_challenge_without_error(stack, http):
    _assert_challenge(await sup.mcp_post(http, f"{stack.url}/mcp", None), stack, error=False)
    r = await http.get(f"{stack.url}/mcp/sse", headers={"Accept": "text/event-stream"})
    _assert_challenge(r, stack, error=False)
    r = await http.post(f"{stack.url}/mcp/message?sessionId=x", json={})
    _assert_challenge(r, stack, error=False)


@pytest.mark.parametrize("forgery", FORGERY_NAMES)
async def test_forged_tokens_are_refused_without_side_effects(stack, http, blob_service, forgery):
    token = _forgeries(stack)[forgery]
    name = f"gw-forged-{uuid.uuid4().hex[:10]}"
    r = await sup.mcp_post(http, f"{stack.url}/mcp", token, "tools/call", {"name": "save_snippet", "arguments": {"snippetname": name, "snippet": "x"}})
    _assert_challenge(r, stack, error=True)
    assert not blob_service.get_blob_client("snippets", f"{name}.json").exists()
    r = await http.get(f"{stack.url}/mcp/sse", headers={"Accept": "text/event-stream", "Authorization": f"Bearer {token}"})
    _assert_challenge(r, stack, error=True)


async def test_bearer_scheme_required(stack, http):
    token = sup.seal_token(sup.claims_for(f"{stack.url}/mcp"), stack.keys["enc"], stack.keys["mac"])
    r = await http.post(f"{stack.url}/mcp", json={}, headers={"Authorization": f"Basic {token}"})
    _assert_challenge(r, stack, error=False)
    r = await http.post(f"{stack.url}/mcp", json={}, headers={"Authorization": token})
    _assert_challenge(r, stack, error=False)


@pytest.mark.parametrize(
    ("form", "accepted"),
    [("Bearer {}", True), ("bearer {}", True), ("Bearer   {}", True), ("Bearer \t{}", False), ("Bearer\t{}", False)],
    ids=["plain", "lowercase", "spaces", "tab_after_space", "tab_instead_of_space"],
)
async def test_gateway_and_server_read_the_authorization_header_alike(stack, http, form, accepted):
    """One rule on both sides (RFC 6750: the scheme, one or more spaces, the token): a header
    the gateway accepts, the server accepts too, and the other way round."""
    token = sup.seal_token(sup.claims_for(f"{stack.url}/mcp"), stack.keys["enc"], stack.keys["mac"])
    headers = {"Authorization": form.format(token), "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-06-18"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for base in (stack.url, stack.backend_url):
        r = await http.post(f"{base}/mcp", json=body, headers=headers)
        assert (r.status_code == 200) is accepted, (base, form, r.status_code, r.text)


async def test_sse_stream_flows_unbuffered_through_the_gateway(stack, http):
    """The endpoint event arrives while the stream stays open (forward-request
    buffer-response=false), and is relative so it resolves to /mcp/message on the gateway."""
    token = sup.seal_token(sup.claims_for(f"{stack.url}/mcp"), stack.keys["enc"], stack.keys["mac"])
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}
    async with http.stream("GET", f"{stack.url}/mcp/sse", headers=headers, timeout=httpx.Timeout(10.0)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = []
        async for line in r.aiter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break
    assert "event: endpoint" in lines
    endpoint = lines[-1][5:].strip()
    assert endpoint.startswith("message?sessionId=")
