"""What the authorization-code cache holds between /oauth-callback and /token: the Entra refresh
token waits there for up to five minutes, sealed with the session token keys and bound to the
code, never in the clear (APIM's cache is a shared service, not a secret store). A copy of the
generated policies adds one probe that returns a code's cache value as it is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import tempfile
from pathlib import Path

import pytest

import gw_support as sup
from devstack.gateway import POLICIES

pytestmark = pytest.mark.anyio

# crates/policies/src/names.rs: CACHE_AUTH_CODE, UPSTREAM_SEAL_LABEL, UPSTREAM_SEAL_CODE_BINDING.
CACHE_AUTH_CODE = "mcp-code-"
UPSTREAM_SEAL_LABEL = "mcp-upstream-refresh-v1."
UPSTREAM_SEAL_CODE_BINDING = "code-"

# POST /revoke with X-Probe-Code: <code> answers the code's cache value (default "(none)").
CODE_PROBE = (
    "<inbound>\n    <base />\n"
    '    <choose><when condition="@(context.Request.Headers.GetValueOrDefault(&quot;X-Probe-Code&quot;, &quot;&quot;) != &quot;&quot;)">'
    f'<cache-lookup-value key="@(&quot;{CACHE_AUTH_CODE}&quot; + BitConverter.ToString(System.Security.Cryptography.SHA256.Create()'
    ".ComputeHash(Encoding.UTF8.GetBytes(context.Request.Headers.GetValueOrDefault(&quot;X-Probe-Code&quot;, &quot;&quot;))))"
    '.Replace(&quot;-&quot;, &quot;&quot;).ToLowerInvariant())" variable-name="probe" default-value="(none)" />'
    '<return-response><set-status code="200" reason="OK" /><set-body>@((string)context.Variables[&quot;probe&quot;])</set-body></return-response>'
    "</when></choose>"
)


@pytest.fixture(scope="module")
def probed(stack):
    work = Path(tempfile.mkdtemp(prefix="gw-code-cache-"))
    policies = work / "policies"
    shutil.copytree(POLICIES, policies)
    revoke = policies / "oauth" / "revoke.xml"
    text = revoke.read_text()
    assert "<inbound>\n    <base />" in text, "revoke.xml changed; update the probe"
    revoke.write_text(text.replace("<inbound>\n    <base />", CODE_PROBE, 1))
    try:
        with sup.extra_gateway("code-cache", stack, policies_dir=policies) as gw:
            yield gw
    finally:
        shutil.rmtree(work, ignore_errors=True)


def open_sealed(sealed: str, binding: str, keys) -> str:
    """The policies' seal_upstream, opened: base64(iv || AES-256-CBC) "." base64(HMAC-SHA256)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    body, tag = sealed.split(".")
    mac_key, enc_key = base64.b64decode(keys["mac"]), base64.b64decode(keys["enc"])
    expected = hmac.new(mac_key, (UPSTREAM_SEAL_LABEL + binding + "." + body).encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(base64.b64decode(tag), expected), "the seal's MAC must bind it to the code"
    raw = base64.b64decode(body)
    decryptor = Cipher(algorithms.AES(enc_key), modes.CBC(raw[:16])).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    plain = unpadder.update(decryptor.update(raw[16:]) + decryptor.finalize()) + unpadder.finalize()
    return plain.decode()


async def test_code_cache_holds_the_entra_refresh_token_sealed(probed):
    oauth = sup.OAuth(probed.url, sup.next_client_ip())
    try:
        client_id = await oauth.new_client()
        grant = await oauth.authorize(client_id)
        r = await oauth.http.post(f"{probed.url}/revoke", headers={"X-Probe-Code": grant["code"]}, data={"token": "x"})
        assert r.status_code == 200 and r.text != "(none)", r.text
        stored, text = r.json(), r.text
        assert "upstream_refresh_token" not in stored, stored
        code_hash = hashlib.sha256(grant["code"].encode()).hexdigest()
        upstream = open_sealed(stored["upstream"], UPSTREAM_SEAL_CODE_BINDING + code_hash, probed.session_keys)
        assert len(upstream) >= 32, "the sealed value is Entra's refresh token"
        assert upstream not in text
        # Sealed for this code only: the same value does not open as a family's.
        with pytest.raises(AssertionError):
            open_sealed(stored["upstream"], "0" * 32, probed.session_keys)
        # And it is the working token: the exchange re-seals it for the family, and Entra
        # accepts it at the first refresh.
        r = await oauth.exchange(client_id, grant)
        assert r.status_code == 200, r.text
        r = await oauth.refresh(client_id, r.json()["refresh_token"])
        assert r.status_code == 200, r.text
    finally:
        await oauth.aclose()
