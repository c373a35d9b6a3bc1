"""The server serves only what it declares: tools. Prompts, resources and completions are
"method not found" (-32601) on both protocol revisions, while `initialize` (2025-11-25) and
`server/discover` (2026-07-28) declare tools and nothing else, directly and through the gateway
(with a token it issued). Raw JSON-RPC over httpx, independent of the conformance suite."""

from __future__ import annotations

import json

import httpx
import pytest

UNDECLARED = {
    "prompts/list": {},
    "prompts/get": {"name": "anything"},
    "resources/list": {},
    "resources/templates/list": {},
    "resources/read": {"uri": "file:///etc/passwd"},
    "completion/complete": {"ref": {"type": "ref/prompt", "name": "anything"}, "argument": {"name": "a", "value": "b"}},
    "logging/setLevel": {"level": "debug"},
    "resources/subscribe": {"uri": "file:///etc/passwd"},
}
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "conformance-test", "version": "1"},
}


def rpc(url: str, era: str, method: str, params: dict) -> dict:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json", "MCP-Protocol-Version": era}
    if era == MODERN:
        headers["Mcp-Method"] = method
        params = {**params, "_meta": META}
        # The modern era mirrors the target (a prompt's or tool's name, a resource's URI) in Mcp-Name.
        if "uri" in params:
            headers["Mcp-Name"] = params["uri"]
        elif method in ("prompts/get", "tools/call"):
            headers["Mcp-Name"] = params["name"]
    r = httpx.post(url, json={"jsonrpc": "2.0", "id": 7, "method": method, "params": params}, headers=headers, timeout=30.0)
    text = r.text
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        text = next(line[5:] for line in text.splitlines() if line.startswith("data:") and line[5:].strip())
    return json.loads(text)


def initialize(url: str) -> dict:
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "conformance-test", "version": "1"}}
    return rpc(url, LEGACY, "initialize", params)["result"]


@pytest.fixture(params=["direct", "gateway"])
def mcp_url(request) -> str:
    return request.getfixturevalue("direct_url" if request.param == "direct" else "gateway_mcp_url")


@pytest.mark.parametrize("era", [LEGACY, MODERN])
@pytest.mark.parametrize("method", sorted(UNDECLARED))
def test_undeclared_methods_are_not_found(mcp_url, era, method):
    reply = rpc(mcp_url, era, method, UNDECLARED[method])
    assert "result" not in reply, reply
    assert reply["error"]["code"] == -32601, reply


def test_initialize_declares_only_tools(mcp_url):
    caps = initialize(mcp_url)["capabilities"]
    assert set(caps) == {"tools"}, caps


def test_discover_declares_only_tools(mcp_url):
    reply = rpc(mcp_url, MODERN, "server/discover", {})
    assert set(reply["result"]["capabilities"]) == {"tools"}, reply
    # tools/list still works on the same era: the refusals above are not a blanket failure.
    tools = rpc(mcp_url, MODERN, "tools/list", {})["result"]["tools"]
    assert {t["name"] for t in tools} >= {"save_snippet", "get_snippet"}
