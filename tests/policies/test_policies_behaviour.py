"""Runs individual policy expressions under Mono with real inputs, through the APIM context
model: form parsing, redirect URI matching, authorize checks, PKCE, registration
validation, the consent cookie and the MCP API's 401 challenge."""

import base64
import hashlib
import json

import pytest

import policies_csharp as cs

pytestmark = pytest.mark.skipif(not cs.have_mono(), reason="needs mono-mcs, mono-runtime and Newtonsoft.Json")

GW = cs.DEFAULT_NAMED_VALUES["ApimGatewayUrl"]
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def ev(tmp_path_factory):
    return cs.Evaluator(tmp_path_factory.mktemp("expressions"))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---- parse-form ---------------------------------------------------------------------------

def parse_form(ev, body, content_type=FORM):
    return ev.eval("fragments/parse-form.xml", "form", method="POST", headers={"Content-Type": content_type}, body=body)


def test_form_is_url_decoded(ev):
    form = parse_form(ev, "grant_type=authorization_code&redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcb&name=a+b")
    assert form == {"grant_type": "authorization_code", "redirect_uri": "http://127.0.0.1:3000/cb", "name": "a b"}


@pytest.mark.parametrize(
    "body,content_type",
    [("a=1&a=2", FORM), ("a=1", "application/json"), ("x=" + "y" * 17000, FORM), ("&".join(f"k{i}=v" for i in range(40)), FORM)],
    ids=["repeated", "not-a-form", "too-large", "too-many"],
)
def test_bad_forms_are_flagged(ev, body, content_type):
    assert "__invalid" in parse_form(ev, body, content_type)


# ---- authorize: redirect URI matching -------------------------------------------------------

CLIENT = {
    "client_id": "mcp-" + "0" * 32,
    "client_name": "Test client",
    "redirect_uris": ["http://127.0.0.1:33418/callback", "https://app.example.com/cb"],
    "expires_at": 1767225600 + 3600,
}


def redirect_matches(ev, uri):
    return ev.eval(
        "oauth/authorize.xml", "redirectMatches", variables={"redirectUri": uri, "client": json.dumps(CLIENT)}
    )


@pytest.mark.parametrize(
    "uri,expected",
    [
        ("https://app.example.com/cb", True),
        ("http://127.0.0.1:33418/callback", True),
        ("http://127.0.0.1:51000/callback", True),  # RFC 8252: loopback port may vary
        ("http://127.0.0.1:51000/other", False),
        ("http://localhost:33418/callback", False),  # a different loopback host is not the same URI
        ("https://app.example.com/cb/", False),
        ("https://app.example.com:8443/cb", False),  # the port rule is for loopback http only
        ("https://app.example.com/cb#frag", False),
        ("https://evil.example.com/cb", False),
        ("not a uri", False),
    ],
)
def test_redirect_uri_must_match_exactly_except_loopback_port(ev, uri, expected):
    assert redirect_matches(ev, uri) is expected


# ---- authorize: request checks --------------------------------------------------------------

def authorize_error(ev, **params):
    query = {
        "response_type": "code",
        "client_id": CLIENT["client_id"],
        "redirect_uri": CLIENT["redirect_uris"][0],
        "state": "xyz",
        "code_challenge": b64url(hashlib.sha256(b"v" * 43).digest()),
        "code_challenge_method": "S256",
    }
    query.update(params)
    from urllib.parse import urlencode

    url = f"{GW}/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})
    return ev.eval("oauth/authorize.xml", "oauthError", url=url)


def test_valid_authorize_request_passes(ev):
    assert authorize_error(ev) == ""
    assert authorize_error(ev, resource=f"{GW}/mcp") == ""


@pytest.mark.parametrize(
    "params,error",
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"state": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"resource": "https://other.example.com/mcp"}, "invalid_target"),
    ],
)
def test_invalid_authorize_requests_are_refused(ev, params, error):
    assert authorize_error(ev, **params) == error


# ---- token: authorization_code grant --------------------------------------------------------

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def code_grant(ev, record, **form):
    body = {
        "grant_type": "authorization_code",
        "client_id": CLIENT["client_id"],
        "redirect_uri": CLIENT["redirect_uris"][0],
        "code_verifier": VERIFIER,
    }
    body.update(form)
    # token.xml sets "grant" once per grant type; the first is authorization_code.
    return ev.eval(
        "oauth/token.xml", "grant", nth=0,
        variables={"codeRecord": json.dumps(record) if record else "", "form": body},
    )


RECORD = {
    "client_id": CLIENT["client_id"],
    "redirect_uri": CLIENT["redirect_uris"][0],
    "code_challenge": b64url(hashlib.sha256(VERIFIER.encode()).digest()),
    "scope": "snippets.read snippets.write",
    "resource": f"{GW}/mcp",
    "sub": "user-oid",
    "upstream_refresh_token": "entra-rt",
}


def test_code_with_right_verifier_yields_a_grant_with_a_fresh_family(ev):
    grant = code_grant(ev, RECORD)
    assert "error" not in grant
    assert grant["sub"] == "user-oid" and grant["client_id"] == CLIENT["client_id"]
    assert len(grant["family"]) == 32
    assert grant["family"] != code_grant(ev, RECORD)["family"]


@pytest.mark.parametrize(
    "record,form",
    [
        (RECORD, {"code_verifier": "x" * 43}),
        (RECORD, {"code_verifier": "short"}),
        (RECORD, {"client_id": "mcp-" + "1" * 32}),
        (RECORD, {"redirect_uri": "http://127.0.0.1:1/callback"}),
        (None, {}),
    ],
    ids=["wrong-verifier", "malformed-verifier", "other-client", "other-redirect", "spent-or-unknown"],
)
def test_code_grant_refusals(ev, record, form):
    assert "error" in code_grant(ev, record, **form)


# ---- register -------------------------------------------------------------------------------

def register(ev, metadata):
    return ev.eval(
        "oauth/register.xml", "registration", method="POST",
        headers={"Content-Type": "application/json"}, body=json.dumps(metadata),
    )


def test_registration_of_a_public_client(ev):
    result = register(ev, {"redirect_uris": ["http://127.0.0.1:8765/cb"], "client_name": "Inspector", "token_endpoint_auth_method": "client_secret_post"})
    client = result["client"]
    assert client["client_id"].startswith("mcp-") and len(client["client_id"]) == 36
    assert client["token_endpoint_auth_method"] == "none"
    assert client["expires_at"] > client["client_id_issued_at"]


@pytest.mark.parametrize(
    "metadata",
    [
        {"redirect_uris": ["http://app.example.com/cb"]},
        {"redirect_uris": []},
        {"redirect_uris": [f"https://app.example.com/{i}" for i in range(11)]},
        {"redirect_uris": ["https://app.example.com/" + "a" * 600]},
        {"redirect_uris": ["https://app.example.com/cb"], "grant_types": ["client_credentials"]},
        {"redirect_uris": ["https://app.example.com/cb"], "response_types": ["token"]},
        {"redirect_uris": ["https://app.example.com/cb"], "client_name": "n" * 201},
    ],
    ids=["http-not-loopback", "none", "too-many", "too-long", "grant-type", "response-type", "long-name"],
)
def test_registration_refusals(ev, metadata):
    assert "error" in register(ev, metadata)


# ---- consent cookie -------------------------------------------------------------------------

def test_consent_cookie_round_trip_and_tamper_detection(ev):
    auth_request = json.dumps({"client_id": CLIENT["client_id"], "redirect_uri": CLIENT["redirect_uris"][0], "state": "s"})
    cookie = ev.eval("oauth/consent-post.xml", "consentCookie", variables={"authRequest": auth_request})
    name_value = cookie.split(";")[0]
    assert name_value.startswith("__Host-mcp-consent=")

    def consented(cookie_header, client_id=CLIENT["client_id"], redirect_uri=CLIENT["redirect_uris"][0]):
        variables = {"clientId": client_id, "redirectUri": redirect_uri}
        return ev.eval("oauth/authorize.xml", "consented", headers={"Cookie": cookie_header}, variables=variables)

    assert consented("other=1; " + name_value) is True
    assert consented(name_value, client_id="mcp-" + "9" * 32) is False
    # Consent covers the exact redirect URI: another loopback port is asked again.
    assert consented(name_value, redirect_uri="http://127.0.0.1:40000/callback") is False
    payload, tag = name_value.split("=", 1)[1].split(".")
    forged = b64url(json.dumps(["mcp-" + "9" * 32]).encode())
    assert consented(f"__Host-mcp-consent={forged}.{tag}", client_id="mcp-" + "9" * 32) is False
    assert consented("") is False


# ---- MCP API challenge ----------------------------------------------------------------------

def test_mcp_challenge_names_the_resource_metadata(ev):
    def challenge(token):
        return ev.eval("mcp/api.xml", "WWW-Authenticate", nth=0, variables={"sessionToken": token})

    metadata = f'resource_metadata="{GW}/.well-known/oauth-protected-resource/mcp"'
    assert challenge("") == f"Bearer {metadata}"
    assert challenge("garbage") == f'Bearer error="invalid_token", {metadata}'
