"""One simulated user: signs in through the gateway with the official MCP SDK (OAuth, headless user
agent), then until the deadline opens sessions on alternating transports (Streamable HTTP, SSE),
runs save/get/list/delete in each, closes them, refreshes its token, and signs in afresh now and
then. Every step is timed and checked; a failed check is an error with its text."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import httpx

from gw_support import MemoryTokenStorage, UserAgent, sdk_session

# Every single step is bounded: a hang is an error, not a stuck soak.
STEP_TIMEOUT_S = 30.0
SESSION_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Plan:
    gateway_url: str
    deadline: float  # time.monotonic()
    ops_per_second: float  # per worker
    cycles_per_session: int  # save/get/list/delete rounds per session
    refresh_every_s: float
    sign_in_every_s: float


class Worker:
    def __init__(self, name: str, username: str, client_ip: str, plan: Plan, recorder):
        self.name = name
        self.username = username
        self.ip = client_ip
        self.plan = plan
        self.rec = recorder
        self.storage = MemoryTokenStorage()
        self.agent: UserAgent | None = None
        self.signed_in_at = 0.0
        self.refreshed_at = 0.0
        self.sessions = 0

    def _left(self) -> float:
        return self.plan.deadline - time.monotonic()

    async def warm_up(self) -> None:
        """Every kind of step once (sign-in on HTTP, a session on SSE, a refresh, a session with the
        refreshed token), so one-off growth (JIT, pools, caches) lands before the start sample."""
        await self._new_identity()
        await self._session("http")
        await self._session("sse")
        await self._refresh()
        await self._session("http")
        self.sessions = 1  # the load goes on with SSE

    async def run(self) -> None:
        try:
            while self._left() > 0:
                if self.agent is None or time.monotonic() - self.signed_in_at > self.plan.sign_in_every_s:
                    await self._new_identity()
                elif time.monotonic() - self.refreshed_at > self.plan.refresh_every_s:
                    await self._refresh()
                transport = "http" if self.sessions % 2 == 0 else "sse"
                self.sessions += 1
                await self._session(transport)
        finally:
            if self.agent is not None:
                await self.agent.aclose()

    async def _new_identity(self) -> None:
        """Forget tokens and client registration: the next session signs in from scratch."""
        if self.agent is not None:
            await self.agent.aclose()
        self.agent = UserAgent(self.ip, username=self.username)
        self.storage = MemoryTokenStorage()
        self.signed_in_at = self.refreshed_at = time.monotonic()

    async def _session(self, transport: str) -> None:
        signing_in = self.storage.tokens is None
        open_kind = "sign-in" if signing_in else f"open:{transport}"
        started = time.monotonic()
        phase, close_started = open_kind, 0.0
        try:
            async with asyncio.timeout(SESSION_TIMEOUT_S):
                async with sdk_session(self.plan.gateway_url, transport, self.ip, self.storage, self.agent) as session:
                    self.rec.ok(open_kind, time.monotonic() - started)
                    if signing_in and len(self.agent.sign_in_pages) != 1:
                        self.rec.error("sign-in", self.name, f"expected one sign-in page, saw {len(self.agent.sign_in_pages)}")
                    for _ in range(self.plan.cycles_per_session):
                        if self._left() <= 0:
                            break
                        phase = f"session:{transport}"
                        await self._cycle(session, transport)
                    close_started = time.monotonic()
                    phase = f"close:{transport}"
            self.rec.ok(f"close:{transport}", time.monotonic() - close_started)
        except Exception as e:  # noqa: BLE001 - every failure is reported with its text
            self.rec.error(phase, self.name, _describe(e))
            # A failing open fails fast: keep the retry at the planned pace.
            await asyncio.sleep(max(0.0, 1.0 / self.plan.ops_per_second - (time.monotonic() - started)))

    async def _cycle(self, session, transport: str) -> None:
        name = f"soak-{self.name}-{uuid.uuid4().hex[:12]}"
        text = f"soak {self.username} {name} " + "x" * 200
        await self._call(session, transport, "save", "save_snippet", {"snippetname": name, "snippet": text}, lambda t: True)
        await self._call(session, transport, "get", "get_snippet", {"snippetname": name}, lambda t: t == text)
        await self._call(session, transport, "list", "list_snippets", {"prefix": name}, lambda t: name in t)
        await self._call(session, transport, "delete", "delete_snippet", {"snippetname": name}, lambda t: True)

    async def _call(self, session, transport: str, op: str, tool: str, args: dict, check) -> None:
        kind = f"{op}:{transport}"
        started = time.monotonic()
        try:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                result = await session.call_tool(tool, args)
            elapsed = time.monotonic() - started
            text = "".join(getattr(c, "text", "") for c in result.content)
            if result.is_error:
                self.rec.error(kind, self.name, f"{tool} returned an error: {text}")
            elif not check(text):
                self.rec.error(kind, self.name, f"{tool} answered unexpectedly: {text[:300]}")
            else:
                self.rec.ok(kind, elapsed)
        except Exception as e:  # noqa: BLE001
            self.rec.error(kind, self.name, f"{tool}: {_describe(e)}")
        # Pacing keeps the load at a few requests per second per worker on a shared machine.
        await asyncio.sleep(max(0.0, 1.0 / self.plan.ops_per_second - (time.monotonic() - started)))

    async def _refresh(self) -> None:
        """A refresh_token grant at the gateway's /token; the next session uses the new token."""
        from mcp.shared.auth import OAuthToken

        self.refreshed_at = time.monotonic()
        tokens, client = self.storage.tokens, self.storage.client_info
        if tokens is None or client is None or not tokens.refresh_token:
            self.rec.error("refresh", self.name, "no refresh token after sign-in")
            return
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token, "client_id": client.client_id}
        started = time.monotonic()
        try:
            transport = httpx.AsyncHTTPTransport(local_address=self.ip)
            async with httpx.AsyncClient(transport=transport, timeout=STEP_TIMEOUT_S) as http:
                r = await http.post(f"{self.plan.gateway_url}/token", data=form)
            elapsed = time.monotonic() - started
            if r.status_code != 200:
                self.rec.error("refresh", self.name, f"/token answered {r.status_code}: {r.text[:300]}")
                return
            fresh = OAuthToken.model_validate(r.json())
            if fresh.access_token == tokens.access_token:
                self.rec.error("refresh", self.name, "refresh returned the same access token")
                return
            if not fresh.refresh_token:  # no rotation: keep using the one we have
                fresh = fresh.model_copy(update={"refresh_token": tokens.refresh_token})
            await self.storage.set_tokens(fresh)
            self.rec.ok("refresh", elapsed)
        except Exception as e:  # noqa: BLE001
            self.rec.error("refresh", self.name, _describe(e))


def _describe(e: BaseException) -> str:
    """An exception's type and text, unwrapping task-group exception groups."""
    if isinstance(e, BaseExceptionGroup):
        return "; ".join(_describe(x) for x in e.exceptions)
    if isinstance(e, TimeoutError):
        return f"TimeoutError: no answer within the step's bound ({e!r})"
    return f"{type(e).__name__}: {e}"
