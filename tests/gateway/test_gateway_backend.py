"""What the MCP API sends to the backend, seen by a recording backend: no identity headers a
caller sent, the function key, path mapping and rewrite, and unbuffered streaming.
Also the Entra-facing error paths: a cancelled sign-in, a refused federated credential, and
registrations that expired or cannot be read."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio


@pytest.fixture
def recorder():
    r = sup.RecordingBackend()
    yield r
    r.close()


async def test_backend_sees_no_spoofed_identity_but_the_function_key_and_mapped_paths(start_gateway, recorder, client_ip):
    gw = start_gateway("recording", backend_url=recorder.url, auto_login="carol")
    oauth = sup.OAuth(gw.url, client_ip)
    try:
        _, tokens = await oauth.login()
    finally:
        await oauth.aclose()
    # Identity-looking headers a caller might hope a backend trusts; the gateway must drop them.
    identity = {"x-mcp-subject": "someone-else", "x-mcp-client-id": "evil-client", "x-mcp-session-id": "fixed"}
    spoofed = {
        "Authorization": f"Bearer {tokens['access_token']}", **identity,
        "x-functions-key": "guessed-key", "Content-Type": "application/json",
    }  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=30) as http:
        assert (await http.post(f"{gw.url}/mcp", json={"a": 1}, headers=spoofed)).status_code == 200
        assert (await http.post(f"{gw.url}/mcp/?x=1", json={}, headers=spoofed)).status_code == 200
        assert (await http.post(f"{gw.url}/mcp/message?sessionId=abc", json={"b": 2}, headers=spoofed)).status_code == 200
        assert (await http.delete(f"{gw.url}/mcp", headers=spoofed)).status_code == 200
    paths = [(r["method"], r["path"]) for r in recorder.requests]
    assert paths == [("POST", "/mcp"), ("POST", "/mcp?x=1"), ("POST", "/message?sessionId=abc"), ("DELETE", "/mcp")]
    for r in recorder.requests:
        h = {k.lower(): v for k, v in r["headers"].items()}
        assert not identity.keys() & h.keys(), r["headers"]
        assert not set(identity.values()) & set(h.values()), r["headers"]
        assert h["x-functions-key"] == gw.named_values["McpFunctionKey"]
        assert h["authorization"] == f"Bearer {tokens['access_token']}"
    assert json.loads(recorder.requests[0]["body"]) == {"a": 1}
    assert json.loads(recorder.requests[2]["body"]) == {"b": 2}


async def test_sse_events_are_relayed_before_the_backend_finishes(start_gateway, recorder, stack, client_ip):
    gw = start_gateway("streaming", backend_url=recorder.url)
    token = sup.seal_token(sup.claims_for(f"{gw.url}/mcp"), gw.session_keys["enc"], gw.session_keys["mac"])
    events = []
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=30) as http:
        async with http.stream("GET", f"{gw.url}/mcp/sse", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
            async for line in r.aiter_lines():
                if line.startswith("data:"):
                    events.append(line[5:].strip())
                    recorder.first_event_seen.set()  # the backend sends the second event only now
    assert events == ["1", "after-ack"]


async def test_sign_in_cancelled_returns_access_denied(start_gateway, client_ip):
    gw = start_gateway("cancel-post", auto_login=None)
    oauth = sup.OAuth(gw.url, client_ip)
    try:
        client_id = await oauth.new_client()
        _, challenge = sup.pkce_pair()
        agent = oauth.agent
        url = oauth.authorize_url(client_id, challenge)
        method, data = "GET", None
        for _ in range(20):
            if url.startswith(sup.REDIRECT_URI):
                break
            r = await agent.request(method, url, data=data)
            method, data = "GET", None
            if r.status_code in (302, 303):
                url = str(httpx.URL(url).join(r.headers["location"]))
                continue
            forms = sup.parse_forms(r.text)
            if "/consent" in url:
                url, method, data = f"{gw.url}/consent", "POST", dict(forms[0]["fields"], decision="approve")
            else:
                abort = next(f for f in forms if f["action"].endswith("/abort"))
                url, method, data = str(httpx.URL(url).join(abort["action"])), "POST", {}
    finally:
        await oauth.aclose()
    p = sup.callback_params(url)
    assert url.startswith(sup.REDIRECT_URI)
    assert p["error"] == "access_denied" and p["state"] == "st-123" and p["iss"] == gw.url and "code" not in p


async def test_refused_federated_credential_gives_server_error(start_gateway, client_ip):
    """Entra refuses the gateway's managed-identity assertion (wrong federated credential
    subject): the client gets server_error, no code."""
    gw = start_gateway("no-federation", idp_overrides={"federation": {"subject": str(uuid.uuid4())}})
    oauth = sup.OAuth(gw.url, client_ip)
    try:
        client_id = await oauth.new_client()
        grant = await oauth.authorize(client_id)
    finally:
        await oauth.aclose()
    assert grant["error"] == "server_error" and "code" not in grant and grant["state"] == "st-123"
    assert "federated assertion rejected" in gw.log("idp", "stderr")


@pytest.mark.parametrize("record", ["expired", "unreadable", "no_expiry"])
async def test_stored_registration_must_be_valid(stack, oauth, blob_service, record):
    client_id = "mcp-" + uuid.uuid4().hex
    now = int(time.time())
    body = {
        "expired": json.dumps({"client_id": client_id, "client_name": "x", "redirect_uris": [sup.REDIRECT_URI], "expires_at": now - 1}),
        "unreadable": "{not json",
        "no_expiry": json.dumps({"client_id": client_id, "client_name": "x", "redirect_uris": [sup.REDIRECT_URI]}),
    }[record]
    blob_service.get_blob_client("registrations", f"{client_id}.json").upload_blob(body)
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge))
    assert r.status_code == 400 and r.json()["error"] == "invalid_client", r.text
    assert "location" not in r.headers


async def test_mcp_preflight_and_challenge_readable_cross_origin(stack, client_ip):
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=30) as http:
        r = await http.options(
            f"{stack.url}/mcp",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type,mcp-protocol-version"},
        )  # fmt: skip
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        r = await http.post(f"{stack.url}/mcp", json={}, headers={"Origin": "https://app.example"})
        assert r.status_code == 401
        assert "WWW-Authenticate" in r.headers["access-control-expose-headers"]
