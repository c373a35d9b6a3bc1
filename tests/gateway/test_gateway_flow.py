"""The whole authorization flow with the official MCP Python SDK, through the local APIM policy
runner executing the generated policies, to the real server, over both transports."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_sdk_oauth_flow_then_tools(stack, client_ip, blob_service, transport):
    storage = sup.MemoryTokenStorage()
    agent = sup.UserAgent(client_ip)
    name = f"gw-{transport}-{uuid.uuid4().hex[:10]}"
    text = "fn main() {\n    println!(\"through the gateway ✓\");\n}\n"
    try:
        async with sup.sdk_session(stack.url, transport, client_ip, storage, agent) as session:
            saved = await session.call_tool("save_snippet", {"snippetname": name, "snippet": text})
            sup.tool_text(saved)
            got = await session.call_tool("get_snippet", {"snippetname": name})
            assert sup.tool_text(got) == text
    finally:
        await agent.aclose()

    # Discovery, registration, authorize, consent, sign-in, callback and token all happened.
    paths = [(r.request.method, r.request.url.path) for r in agent.history]
    assert ("GET", "/authorize") in paths
    assert ("GET", "/consent") in paths and ("POST", "/consent") in paths
    assert any(p.endswith("/oauth2/v2.0/authorize") for _, p in paths), paths  # the Entra stand-in
    assert ("GET", "/oauth-callback") in paths
    assert len(agent.consent_pages) == 1

    # The registration persisted as a blob through the gateway's managed identity.
    client_id = storage.client_info.client_id
    assert client_id.startswith("mcp-")
    record = json.loads(blob_service.get_blob_client("registrations", f"{client_id}.json").download_blob().readall())
    assert record["redirect_uris"] == [sup.REDIRECT_URI] and record["token_endpoint_auth_method"] == "none"
    assert record["expires_at"] > record["client_id_issued_at"]

    # The access token is a v1 session token for this client, user and resource.
    tokens = storage.tokens
    claims = sup.open_token(tokens.access_token, stack.keys["enc"], stack.keys["mac"])

    # The snippet landed in storage, in the signed-in user's namespace, written by the backend.
    blob = blob_service.get_blob_client("snippets", sup.user_blob(claims["sub"], name)).download_blob().readall()
    assert blob.decode() == text
    assert claims["aud"] == f"{stack.url}/mcp"
    assert claims["cid"] == client_id
    assert claims["scp"] == "snippets.read snippets.write"
    assert claims["exp"] - claims["iat"] == 3600
    assert len(claims["sub"]) == 36  # the IdP's object id for the auto-signed-in user
    assert tokens.refresh_token


async def test_refresh_rotation_and_revocation(stack, oauth):
    client_id, first = await oauth.login()
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=oauth.ip), timeout=30) as http:
        assert (await sup.mcp_post(http, f"{stack.url}/mcp", first["access_token"])).status_code == 200

        # Rotation: a new refresh token (and access token) for the old one.
        r = await oauth.refresh(client_id, first["refresh_token"])
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        second = r.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        old_claims = sup.open_token(first["access_token"], stack.keys["enc"], stack.keys["mac"])
        new_claims = sup.open_token(second["access_token"], stack.keys["enc"], stack.keys["mac"])
        assert new_claims["sub"] == old_claims["sub"] and new_claims["cid"] == client_id
        tools = sup.rpc_result(await sup.mcp_post(http, f"{stack.url}/mcp", second["access_token"]))
        assert {t["name"] for t in tools["tools"]} >= {"save_snippet", "get_snippet"}

        # Rotation again works with the newest token.
        r = await oauth.refresh(client_id, second["refresh_token"])
        assert r.status_code == 200, r.text
        third = r.json()

        # Revocation (RFC 7009) of the newest refresh token ends the family.
        r = await oauth.revoke(client_id, third["refresh_token"])
        assert r.status_code == 200
        r = await oauth.refresh(client_id, third["refresh_token"])
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
