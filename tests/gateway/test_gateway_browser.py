"""The consent page in a real browser: headless Chromium (Debian package) driven by
playwright-core (local/package.json). Screenshots are kept under test-artifacts/gateway/."""

from __future__ import annotations

import shutil

import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCRIPT = sup.REPO / "local" / "browser" / "consent.mjs"


def _chromium(args: dict) -> dict:
    result = sup.run_browser_script(SCRIPT, args)
    assert "error" not in result, result["error"]
    return result


@pytest.mark.parametrize("decision", ["approve", "deny"])
async def test_consent_page_in_chromium(stack, oauth, decision):
    client_id = await oauth.new_client()
    verifier, challenge = sup.pkce_pair()
    shot = sup.ARTIFACTS / f"consent-{decision}.png"
    result = _chromium({
        "authorizeUrl": oauth.authorize_url(client_id, challenge, state=f"browser-{decision}"),
        "redirectPrefix": sup.REDIRECT_URI.rsplit("/", 1)[0],
        "decision": decision,
        "screenshot": str(shot),
    })  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 5000
    assert result["consentTitle"] == "Allow access to Snippets MCP server?"
    assert "gateway test client" in result["consentText"] and client_id in result["consentText"]
    assert sup.REDIRECT_URI in result["consentText"]  # where the user will be sent back, in full
    assert "(name supplied by the application, unverified)" in result["consentText"]
    assert result["framed"] is False, "the consent page rendered inside a frame"
    assert result["frameUrl"].startswith("chrome-error://"), result["frameUrl"]  # blocked, not merely empty
    p = sup.callback_params(result["finalUrl"])
    assert p["state"] == f"browser-{decision}" and p["iss"] == stack.url
    cookies = {c["name"]: c for c in result["cookies"]}
    assert cookies["__Host-mcp-csrf"]["secure"] and cookies["__Host-mcp-csrf"]["httpOnly"]
    binding = cookies["__Host-mcp-binding"]  # the pending request's tie to this browser
    assert binding["secure"] and binding["httpOnly"] and binding["sameSite"] == "Lax"
    if decision == "deny":
        assert p["error"] == "access_denied" and "code" not in p
        assert "__Host-mcp-consent" not in cookies
        return
    assert "code" in p
    assert cookies["__Host-mcp-consent"]["httpOnly"] and cookies["__Host-mcp-consent"]["sameSite"] == "Lax"
    r = await oauth.exchange(client_id, {"code": p["code"], "verifier": verifier, "redirect_uri": sup.REDIRECT_URI})
    assert r.status_code == 200, r.text
