"""MCP over HTTP without an SDK in between, for the tests of every area: JSON-RPC messages, and
the legacy HTTP+SSE transport driven line by line (the server's own `/sse`, or the gateway's
`/mcp/sse`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx


def jsonrpc(method: str, params: dict | None = None, id: int | str | None = 1) -> dict:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    if id is not None:
        msg["id"] = id
    return msg


class RawSseSession:
    """The legacy HTTP+SSE transport driven byte by byte with httpx (no SDK in between)."""

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        headers: dict[str, str] | None = None,
        post_base: str | None = None,
    ):
        self.base_url = base_url
        self.client = client
        self.headers = dict(headers or {})
        # Where POSTs go: another instance than the stream's, to exercise the cross-instance relay.
        self.post_base = post_base or base_url
        self._cm = None
        self.response: httpx.Response | None = None
        self._lines: AsyncIterator[str] | None = None
        self.endpoint_data: str | None = None
        self.comments: list[str] = []
        # Every JSON-RPC message that arrived on the stream, in order.
        self.seen: list[dict] = []

    async def __aenter__(self) -> "RawSseSession":
        self._cm = self.client.stream("GET", f"{self.base_url}/sse", headers={"Accept": "text/event-stream", **self.headers})
        self.response = await self._cm.__aenter__()
        self._lines = self.response.aiter_lines()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._cm is not None
        await self._cm.__aexit__(*exc)

    async def next_line(self) -> str:
        assert self._lines is not None
        return await self._lines.__anext__()

    async def next_event(self, max_lines: int = 100_000) -> dict[str, str]:
        """The next complete event; comment lines are recorded in self.comments."""
        assert self._lines is not None
        cur: dict[str, str] = {}
        data: list[str] = []
        for _ in range(max_lines):
            line = await self._lines.__anext__()
            if line == "":
                if data or cur:
                    cur["data"] = "\n".join(data)
                    cur.setdefault("event", "message")
                    return cur
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if k == "data":
                data.append(v)
            else:
                cur[k] = v
        raise AssertionError(f"no complete SSE event within {max_lines} lines")

    async def endpoint(self) -> str:
        ev = await self.next_event()
        assert ev["event"] == "endpoint", f"first SSE event is not `endpoint`: {ev!r}"
        self.endpoint_data = ev["data"]
        return ev["data"]

    def message_url(self) -> str:
        assert self.endpoint_data is not None
        return str(httpx.URL(f"{self.post_base}/sse").join(self.endpoint_data))

    async def post(self, body: bytes | dict, headers: dict | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        h = {"Content-Type": "application/json", **self.headers}
        h.update(headers or {})
        return await self.client.post(self.message_url(), content=content, headers=h)

    async def request(self, msg: dict, max_events: int = 1000) -> dict:
        """POST a JSON-RPC request and read the stream until its response arrives."""
        r = await self.post(msg)
        assert r.status_code == 202, f"POST {self.message_url()} -> {r.status_code} {r.text!r}"
        for _ in range(max_events):
            ev = await self.next_event()
            if ev["event"] != "message" or not ev.get("data"):
                continue
            m = json.loads(ev["data"])
            self.seen.append(m)
            if m.get("id") == msg.get("id") and ("result" in m or "error" in m):
                return m
        raise AssertionError(f"no response to id {msg.get('id')} within {max_events} events")

    async def initialize(self) -> dict:
        res = await self.request(
            jsonrpc(
                "initialize",
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "e2e-raw-sse", "version": "0"},
                },
                id="init",
            )
        )
        r = await self.post(jsonrpc("notifications/initialized", id=None))
        assert r.status_code == 202, r.text
        return res
