"""Gets through the gateway's real OAuth flow (register, authorize, consent, IdP sign-in in
auto-login mode, token) with the gateway tests' headless user agent, and completes the
conformance suite's own authorization-code flow the same way."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading

import httpx

import conformance_support as cs
from devstack.processes import free_port

sys.path.insert(0, str(cs.REPO / "tests" / "gateway"))
import gw_support  # noqa: E402  (the gateway tests' user agent and OAuth client)

AUTH_SCENARIOS = ("authorization-server-metadata-endpoint", "authorization-code-grant")


def gateway_token(gateway_url: str) -> str:
    async def login() -> str:
        oauth = gw_support.OAuth(gateway_url, gw_support.next_client_ip())
        try:
            _, tokens = await oauth.login()
            return tokens["access_token"]
        finally:
            await oauth.aclose()

    return asyncio.run(login())


def run_authorization_suite(gateway_url: str, era: str) -> cs.Run:
    """`conformance authorization` against the gateway as issuer. The suite prints the
    authorization URL and waits for its callback; the user agent follows it (consent approved,
    IdP auto-login) and delivers the redirect to the suite's callback listener."""
    port = free_port()
    callback = f"http://127.0.0.1:{port}/callback"

    async def register() -> str:
        oauth = gw_support.OAuth(gateway_url, gw_support.next_client_ip())
        try:
            return await oauth.new_client([callback])
        finally:
            await oauth.aclose()

    client_id = asyncio.run(register())
    out = cs.ARTIFACTS / f"authorization-{era}"
    argv = cs.suite_argv(
        "authorization", "--url", gateway_url, "--client-id", client_id, "--resource", f"{gateway_url}/mcp",
        "--port", str(port), "--spec-version", era, "-o", str(out),
    )  # fmt: skip
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, cwd=cs.REPO)
    lines: list[str] = []
    errors: list[BaseException] = []

    def sign_in(url: str) -> None:
        async def go() -> None:
            agent = gw_support.UserAgent(gw_support.next_client_ip())
            try:
                final = await agent.navigate(url, callback)
                async with httpx.AsyncClient(timeout=30.0) as http:
                    await http.get(final)
            finally:
                await agent.aclose()

        try:
            asyncio.run(go())
        except BaseException as e:  # noqa: BLE001  (reported with the suite's output)
            errors.append(e)

    timer = threading.Timer(cs.RUN_TIMEOUT, p.kill)
    timer.start()
    try:
        assert p.stdout is not None
        for line in p.stdout:
            lines.append(line)
            if re.match(r"^https?://\S+/authorize\?", line.strip()):
                threading.Thread(target=sign_in, args=(line.strip(),), daemon=True).start()
        p.wait()
    finally:
        timer.cancel()
    log = f"$ {' '.join(argv)}\nexit {p.returncode}\n{''.join(lines)}\n" + "".join(f"sign-in error: {e!r}\n" for e in errors)
    (cs.ARTIFACTS / f"authorization-{era}.log").write_text(log)
    run = cs.Run("authorization", era, cs.read_results(out, "authorization-server-"), log)
    if not run.scenarios:
        raise AssertionError(f"the authorization suite produced no results:\n{log[-3000:]}")
    return run

