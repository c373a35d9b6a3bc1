"""Telemetry through the perimeter: a signed-in user's tool call sent through the gateway with a W3C
`traceparent` arrives in Application Insights (here a loopback receiver of the ingestion protocol) as
one operation: the server's request, the tool call, its storage calls and the audit event naming the
user (the token's subject) and the OAuth client. The envelopes are kept in test-artifacts for a reader."""

from __future__ import annotations

import json
import secrets

import anyio
import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio


async def test_a_tool_call_through_the_gateway_is_one_operation(stack, oauth, ingestion):
    client_id, tokens = await oauth.login()
    claims = sup.open_token(tokens["access_token"], stack.keys["enc"], stack.keys["mac"])
    trace, span = secrets.token_hex(16), secrets.token_hex(8)
    name = f"gw-telemetry-{secrets.token_hex(4)}"
    r = await oauth.http.post(
        f"{stack.url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
              "params": {"name": "save_snippet", "arguments": {"snippetname": name, "snippet": "traced"}}},
        headers={"Authorization": f"Bearer {tokens['access_token']}", "traceparent": f"00-{trace}-{span}-01",
                 "Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-06-18"},
    )  # fmt: skip
    assert r.status_code == 200 and "error" not in sup.rpc_result(r), r.text

    def operation() -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for e in ingestion.snapshot():
            if e.get("tags", {}).get("ai.operation.id") == trace:
                out.setdefault(e["name"].rsplit(".", 1)[-1], []).append(e)
        return out

    with anyio.fail_after(15):
        while not ((op := operation()).get("Event") and op.get("Request") and len(op.get("RemoteDependency", [])) >= 2):
            await anyio.sleep(0.1)
    (sup.ARTIFACTS / "telemetry-through-gateway.json").write_text(json.dumps(op, indent=2))
    [request] = op["Request"]
    assert request["tags"]["ai.operation.parentId"] == span
    tool = next(d for d in op["RemoteDependency"] if d["data"]["baseData"]["type"] == "InProc")
    assert tool["tags"]["ai.operation.parentId"] == request["data"]["baseData"]["id"]
    props = op["Event"][0]["data"]["baseData"]["properties"]
    assert (props["tool"], props["outcome"], props["snippet"]) == ("save_snippet", "ok", name)
    assert props["userId"] == claims["sub"] and props["clientId"] == client_id
    assert tokens["access_token"] not in json.dumps(op) and "traced" not in json.dumps(op).replace(name, "")
