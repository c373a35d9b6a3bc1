"""Attacks on the consent decision itself: double-clickjacking (a click meant for a popup lands
on Allow), consent links opened in another browser, approvals posted faster than a person can
read the page, one approval turned into a lasting silent code source, and a consent page that
lets a registrant's chosen name and a bare host pass for facts.

The attacker of every test registered its own client with an https redirect it controls
(`https://attacker.example/cb`) and calls /authorize with its own PKCE challenge, as in the
review that reproduced the attack. Each test asserts the refusal and that no code reached the
attacker's redirect URI; where the refusal is about timing or binding, it also shows that the
same request still works for the person it belongs to (the refusal changed nothing).
docs/policies.md ("Threat model" and "Consent") maps each class to its rule."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time

import httpx
import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio

ATTACKER_REDIRECT = "https://attacker.example/cb"
SCRIPT = sup.REPO / "local" / "browser" / "consent_attacks.mjs"
NAMES = (sup.REPO / "crates" / "policies" / "src" / "names.rs").read_text()


def _name(const: str) -> int:
    """An integer constant of names.rs (`24 * 3600` style products included)."""
    expr = re.search(rf"pub const {const}: \w+ = ([0-9 *]+);", NAMES).group(1)
    value = 1
    for factor in expr.split("*"):
        value *= int(factor)
    return value


CONSENT_TTL_SECS = _name("CONSENT_TTL_SECS")
CONSENT_REMOTE_TTL_SECS = _name("CONSENT_REMOTE_TTL_SECS")
CONSENT_DWELL_MS = _name("CONSENT_DWELL_MS")


async def _attacker_client(oauth: sup.OAuth, name: str = "gateway test client") -> str:
    r = await oauth.register([ATTACKER_REDIRECT], client_name=name)
    assert r.status_code == 201, r.text
    return r.json()["client_id"]


def _codes(landed: list[str]) -> list[str]:
    return [p["code"] for p in map(sup.callback_params, landed) if "code" in p]


def _assert_refused(r: httpx.Response, status: int, error: str) -> None:
    """A refusal shown to the user: no redirect anywhere, no sign-in started, nothing remembered."""
    assert r.status_code == status, (r.status_code, r.headers, r.text)
    assert r.json()["error"] == error, r.text
    assert "location" not in r.headers, r.headers
    cookies = r.headers.get("set-cookie", "")
    assert "__Host-mcp-authstate" not in cookies and "__Host-mcp-consent" not in cookies, cookies


# --- 1. Allow needs a person who saw the page ---------------------------------------------------


async def test_click_on_allow_as_the_page_appears_does_nothing(oauth):
    """Headless Chromium clicks where Allow is within 100 ms of the page showing (raw mouse
    input, no waiting for the button): no form is sent, nothing reaches the attacker, the page
    stays. Read and answered as a person would, the same page then signs in."""
    client_id = await _attacker_client(oauth)
    verifier, challenge = sup.pkce_pair()
    result = sup.run_browser_script(SCRIPT, {
        "scenario": "fast-click", "authorizeUrl": oauth.authorize_url(client_id, challenge, redirect_uri=ATTACKER_REDIRECT, state="fast"),
        "redirectPrefix": ATTACKER_REDIRECT, "screenshot": str(sup.ARTIFACTS / "consent-fast-click.png"),
    })  # fmt: skip
    fast = result["afterFastClick"]
    assert fast == {"url": fast["url"], "landed": 0, "consentPosts": 0}, result
    assert "/consent?request=" in fast["url"], fast
    # The click landed on Allow, within 100 ms of the first paint, while Allow was disabled.
    assert result["target"] == dict(result["target"], approve=True, disabled=True), result
    assert 0 <= result["clickAfterMs"] < 100, result
    # The person's answer afterwards: exactly one code, for this sign-in.
    assert "error" not in result, result["error"]
    assert len(result["consentPosts"]) == 1 and len(_codes(result["landed"])) == 1, result
    p = sup.callback_params(result["finalUrl"])
    r = await oauth.exchange(client_id, {"code": p["code"], "verifier": verifier, "redirect_uri": ATTACKER_REDIRECT})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("sent_to", ["authorize_url", "consent_link"])
async def test_double_click_through_a_popup_gets_no_code(oauth, sent_to):
    """The double-clickjacking sequence in a real browser: the attacker's page (loopback,
    another site) opens a popup on the victim's click and sends itself, the top-level window,
    to the attacker's sign-in; the popup closes on the first click of "double-click to
    continue" and the second click lands where Allow is. Sent to the attacker's authorize URL,
    the victim sees a consent page whose Allow is still disabled under that click; sent to a
    consent link the attacker created, the victim's browser is refused the page altogether."""
    client_id = await _attacker_client(oauth)
    _, challenge = sup.pkce_pair()
    authorize_url = oauth.authorize_url(client_id, challenge, redirect_uri=ATTACKER_REDIRECT, state="double")
    target = authorize_url
    if sent_to == "consent_link":
        # The attacker's own /authorize call: a pending consent link any browser can open.
        r = await oauth.agent.request("GET", authorize_url)
        assert r.status_code == 302 and "/consent?request=" in r.headers["location"], r.text
        target = r.headers["location"]
    attack_origin = f"http://localhost:{sup.free_port()}"
    result = sup.run_browser_script(SCRIPT, {
        "scenario": "double-click", "consentUrl": target, "attackOrigin": attack_origin, "redirectPrefix": ATTACKER_REDIRECT,
        "screenshot": str(sup.ARTIFACTS / f"consent-double-click-{sent_to}.png"),
    })  # fmt: skip
    assert "error" not in result, result["error"]
    assert result["popupClosed"], result
    assert result["landed"] == [] and result["consentPosts"] == [], result
    assert "/consent?request=" in result["openerUrl"], result
    if sent_to == "authorize_url":
        # The second click hit Allow, which was not live: the page had not been seen yet.
        assert result["consentPageShown"] and result["target"] == dict(result["target"], approve=True, disabled=True), result
    else:
        assert result["consentPageShown"] is False, result


async def test_approval_posted_faster_than_the_dwell_is_refused(oauth, stack):
    """A script with a valid CSRF token posts Allow right after the page was served: refused
    with a clear error, no sign-in started, nothing remembered; the request is untouched, and
    the same form posted after the dwell goes on to Entra ID."""
    client_id = await _attacker_client(oauth)
    _, challenge = sup.pkce_pair()
    oauth.agent.consent_dwell = 0
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=ATTACKER_REDIRECT))
    page = await oauth.agent.request("GET", r.headers["location"])
    assert page.status_code == 200
    served = time.monotonic()
    form = dict(sup.parse_forms(page.text)[0]["fields"], decision="approve")
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=form)
    assert time.monotonic() - served < CONSENT_DWELL_MS / 1000
    _assert_refused(r, 400, "invalid_request")
    assert "sooner than it can be read" in r.json()["error_description"], r.text
    await asyncio.sleep(CONSENT_DWELL_MS / 1000 + 0.1)
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=form)
    assert r.status_code == 302 and "/oauth2/v2.0/authorize?" in r.headers["location"], r.text


async def test_approval_of_a_page_never_served_is_refused(oauth, stack):
    """The CSRF cookie of one consent page does not approve another pending request whose page
    this browser never loaded: there is no time the page was seen."""
    client_id = await _attacker_client(oauth)
    _, challenge = sup.pkce_pair()
    links = []
    for state in ("shown", "unseen"):
        r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=ATTACKER_REDIRECT, state=state))
        links.append(r.headers["location"])
    page = await oauth.agent.request("GET", links[0])
    form = sup.parse_forms(page.text)[0]["fields"]
    unseen = httpx.URL(links[1]).params["request"]
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=dict(form, request=unseen, decision="approve"))
    _assert_refused(r, 400, "invalid_request")


# --- 2. a pending request belongs to the browser that started it -------------------------------


async def test_consent_link_opened_in_another_browser_context_is_refused(oauth):
    """Chromium: the consent link of a sign-in started in one browser context, opened in
    another (no binding cookie), is refused without side effects: no form, no cookie set. The
    first context then answers its page and signs in."""
    client_id = await _attacker_client(oauth)
    verifier, challenge = sup.pkce_pair()
    result = sup.run_browser_script(SCRIPT, {
        "scenario": "other-context", "authorizeUrl": oauth.authorize_url(client_id, challenge, redirect_uri=ATTACKER_REDIRECT),
        "redirectPrefix": ATTACKER_REDIRECT,
    })  # fmt: skip
    other = result["other"]
    assert other["status"] == 403 and "another browser" in other["text"], result
    assert other["forms"] == 0 and other["setCookie"] == "" and other["cookies"] == [], result
    assert "error" not in result, result["error"]
    assert len(_codes(result["landed"])) == 1, result  # the owner's, after its own answer
    p = sup.callback_params(result["finalUrl"])
    r = await oauth.exchange(client_id, {"code": p["code"], "verifier": verifier, "redirect_uri": ATTACKER_REDIRECT})
    assert r.status_code == 200, r.text


async def test_consent_post_from_another_browser_is_refused(oauth, stack, client_ip):
    """The POST is bound too: the attacker's own page and CSRF token, replayed from a browser
    without the binding cookie, are refused and consume nothing."""
    client_id = await _attacker_client(oauth)
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=ATTACKER_REDIRECT))
    link = r.headers["location"]
    victim = sup.UserAgent(client_ip)
    try:
        r = await victim.request("GET", link)
        _assert_refused(r, 403, "access_denied")
        assert "set-cookie" not in r.headers, r.headers
        page = await oauth.agent.request("GET", link)
        form = dict(sup.parse_forms(page.text)[0]["fields"], decision="approve")
        victim.cookies["127.0.0.1"] = {"__Host-mcp-csrf": oauth.agent.cookies["127.0.0.1"]["__Host-mcp-csrf"]}
        # Past the dwell, so that the binding is the only thing missing.
        await asyncio.sleep(CONSENT_DWELL_MS / 1000 + 0.1)
        victim.consent_dwell = 0
        r = await victim.request("POST", f"{stack.url}/consent", data=form)
        _assert_refused(r, 403, "access_denied")
    finally:
        await victim.aclose()
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=form)
    assert r.status_code == 302 and "/oauth2/v2.0/authorize?" in r.headers["location"], r.text


# --- 3. remembered approvals are bounded and can be withdrawn ----------------------------------


def _consent_key(stack) -> bytes:
    mac = base64.b64decode(stack.keys["mac"])
    return hmac.new(mac, b"snippets-mcp consent cookie key v2", hashlib.sha256).digest()


def _read_consent(stack, cookie: str) -> list[str]:
    payload, _, tag = cookie.partition(".")
    assert hmac.compare_digest(sup.b64url(hmac.new(_consent_key(stack), payload.encode(), hashlib.sha256).digest()), tag)
    return json.loads(sup.b64url_decode(payload))


def _write_consent(stack, entries: list[str]) -> str:
    payload = sup.b64url(json.dumps(entries, separators=(",", ":")).encode())
    return payload + "." + sup.b64url(hmac.new(_consent_key(stack), payload.encode(), hashlib.sha256).digest())


def _entry(client_id: str, redirect_uri: str) -> str:
    return hashlib.sha256(f"{client_id} {redirect_uri}".encode()).hexdigest()


async def _asked(oauth: sup.OAuth, client_id: str, redirect_uri: str) -> bool:
    """Whether /authorize for this client and redirect shows the consent page (rather than
    going straight to Entra ID, which would end in a code without a page)."""
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=redirect_uri))
    assert r.status_code == 302, r.text
    return "/consent?request=" in r.headers["location"]


async def test_remembered_approval_of_a_remote_redirect_expires(oauth, stack):
    """An approval for an https redirect is remembered for CONSENT_REMOTE_TTL_SECS (stored in
    the signed cookie as the entry's expiry), a loopback one for CONSENT_TTL_SECS. Past its
    expiry (the gateway's own signed cookie, with the expiry moved into the past) the client
    is asked again instead of silently getting a code."""
    remote = await _attacker_client(oauth)
    local = await oauth.new_client()
    before = int(time.time())
    assert "code" in await oauth.authorize(remote, redirect_uri=ATTACKER_REDIRECT)
    assert "code" in await oauth.authorize(local)
    after = int(time.time())
    jar = oauth.agent.cookies["127.0.0.1"]
    entries = dict(e.split(".") for e in _read_consent(stack, jar["__Host-mcp-consent"]))
    remote_expiry = int(entries[_entry(remote, ATTACKER_REDIRECT)])
    local_expiry = int(entries[_entry(local, sup.REDIRECT_URI)])
    assert before + CONSENT_REMOTE_TTL_SECS <= remote_expiry <= after + CONSENT_REMOTE_TTL_SECS + 1
    assert before + CONSENT_TTL_SECS <= local_expiry <= after + CONSENT_TTL_SECS + 1
    assert not await _asked(oauth, remote, ATTACKER_REDIRECT)  # within the bound: remembered
    # The bound has passed for the remote approval (and not for the loopback one).
    now = int(time.time())
    jar["__Host-mcp-consent"] = _write_consent(stack, [
        f"{_entry(remote, ATTACKER_REDIRECT)}.{now - 1}", f"{_entry(local, sup.REDIRECT_URI)}.{local_expiry}",
    ])  # fmt: skip
    assert await _asked(oauth, remote, ATTACKER_REDIRECT)
    assert not await _asked(oauth, local, sup.REDIRECT_URI)
    # An entry without an expiry (the format before the bound) remembers nothing.
    jar["__Host-mcp-consent"] = _write_consent(stack, [_entry(local, sup.REDIRECT_URI)])
    assert await _asked(oauth, local, sup.REDIRECT_URI)


async def test_remembered_approvals_can_be_withdrawn(oauth, stack):
    """/consent?forget=1 lists how many approvals this browser remembers and forgets them all
    (CSRF-protected POST); afterwards the client is asked again."""
    client_id = await _attacker_client(oauth)
    assert "code" in await oauth.authorize(client_id, redirect_uri=ATTACKER_REDIRECT)
    assert not await _asked(oauth, client_id, ATTACKER_REDIRECT)
    page = await oauth.agent.request("GET", f"{stack.url}/consent?forget=1")
    assert page.status_code == 200 and "remembers <strong>1</strong> approval" in page.text, page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    form = sup.parse_forms(page.text)[0]
    assert set(form["fields"]) == {"csrf"} and ("decision", "forget") in form["buttons"], form
    # Without the form's CSRF token nothing is forgotten.
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data={"csrf": "x" * 43, "decision": "forget"})
    assert r.status_code == 403 and "set-cookie" not in r.headers, r.text
    assert not await _asked(oauth, client_id, ATTACKER_REDIRECT)
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=dict(form["fields"], decision="forget"))
    assert r.status_code == 302 and r.headers["location"] == f"{stack.url}/consent?forget=done", r.headers
    assert r.headers["set-cookie"].startswith("__Host-mcp-consent=;") and "Max-Age=0" in r.headers["set-cookie"]
    done = await oauth.agent.request("GET", r.headers["location"])
    assert "remembers <strong>0</strong> approval" in done.text and "forgotten" in done.text, done.text
    assert await _asked(oauth, client_id, ATTACKER_REDIRECT)


# --- 4. what the consent page states as fact ---------------------------------------------------


async def test_consent_page_shows_the_full_redirect_uri_and_an_unverified_name(oauth):
    """A client named "Claude" redirecting to a script host shows the complete redirect URI
    (path included, HTML-encoded), its host emphasised, and the name labelled as supplied by the
    application and unverified; a registered client has no verified publisher. The CSP limits
    the form (and the redirects after it) to the gateway, Entra ID and this redirect's origin."""
    redirect = "https://script.google.com/macros/s/AKfycb-attacker/exec?a=1&b=<2>"
    r = await oauth.register([redirect], client_name="Claude")
    assert r.status_code == 201, r.text
    client_id = r.json()["client_id"]
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=redirect))
    page = await oauth.agent.request("GET", r.headers["location"])
    assert page.status_code == 200, page.text
    text = page.text
    assert "https://script.google.com/macros/s/AKfycb-attacker/exec?a=1&amp;b=&lt;2&gt;" in text, text
    assert "<strong>script.google.com</strong>" in text, text
    assert "<strong>Claude</strong>" in text and "(name supplied by the application, unverified)" in text, text
    assert "registered itself with this server, so its name and addresses are unverified" in text, text
    csp = page.headers["content-security-policy"]
    assert "form-action 'self' " in csp and "https://script.google.com:443" in csp, csp
    assert re.search(r"script-src 'nonce-[A-Za-z0-9_-]{22}'", csp), csp
    nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", csp).group(1)
    assert f'<script nonce="{nonce}">' in text and "onclick" not in text.lower()
    assert re.search(r'<button class="approve" id="allow" [^>]*disabled>', text), text


DOC_HOST = "https://clients.example"


@pytest.fixture(scope="module")
def cimd_gateway(stack, documents):
    with sup.extra_gateway("consent-cimd", stack, host_map={DOC_HOST: documents.url}) as gw:
        yield gw


async def test_metadata_document_client_shows_its_host_and_warns_on_another(cimd_gateway, documents, client_ip):
    """A metadata document client's verified identity is the host serving its document; a
    redirect to another https host is warned about, one on the same host is not."""
    oauth = sup.OAuth(cimd_gateway.url, client_ip)
    try:
        pages = {}
        for name, redirect in (("elsewhere", "https://script.google.com/macros/s/x/exec"), ("same", f"{DOC_HOST}/cb")):
            client_id = f"{DOC_HOST}/consent/{name}.json"
            documents.add(f"/consent/{name}.json", sup.metadata_document(client_id, [redirect], client_name="Claude"))
            _, challenge = sup.pkce_pair()
            r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=redirect))
            assert r.status_code == 302 and "/consent?request=" in r.headers["location"], r.text
            pages[name] = (await oauth.agent.request("GET", r.headers["location"])).text
    finally:
        await oauth.aclose()
    for text in pages.values():
        assert "<strong>clients.example</strong> (verified: the metadata document of this application is published on this host)" in text
        assert "(name supplied by the application, unverified)" in text
    assert ("Warning: this application is published by clients.example but sends you back to script.google.com"
            in pages["elsewhere"]), pages["elsewhere"]  # fmt: skip
    assert '<p class="warning"></p>' in pages["same"], pages["same"]
