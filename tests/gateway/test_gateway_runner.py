"""APIM semantics of the runner itself, on a copy of the generated policies with probes added:
outbound runs after forward-request but not after return-response, an expression failure
goes to on-error (operation <base/> -> API on-error) with APIM's default 500, and the cache
honours durations."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import pytest

import gw_support as sup
from devstack.gateway import POLICIES

pytestmark = pytest.mark.anyio

OUTBOUND_PROBE = '<outbound>\n    <base />\n    <set-header name="X-Outbound-Ran" exists-action="override"><value>@(context.Response.StatusCode.ToString())</value></set-header>'
FAIL_PROBE = (
    '<inbound>\n    <base />\n'
    '    <choose><when condition="@(context.Request.Headers.GetValueOrDefault(&quot;X-Probe&quot;, &quot;&quot;) == &quot;fail&quot;)">'
    '<set-variable name="boom" value="@(int.Parse(&quot;not a number&quot;).ToString())" /></when></choose>\n'
    '    <choose><when condition="@(context.Request.Headers.GetValueOrDefault(&quot;X-Probe&quot;, &quot;&quot;) == &quot;store&quot;)">'
    '<cache-store-value key="probe" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Value&quot;, &quot;&quot;))" duration="2" /></when></choose>\n'
    '    <choose><when condition="@(context.Request.Headers.GetValueOrDefault(&quot;X-Probe&quot;, &quot;&quot;) == &quot;load&quot;)">'
    '<cache-lookup-value key="probe" variable-name="probe" default-value="(none)" />'
    '<return-response><set-status code="200" reason="OK" /><set-body>@((string)context.Variables[&quot;probe&quot;])</set-body></return-response>'
    "</when></choose>\n"
    '    <choose><when condition="@(context.Request.Headers.GetValueOrDefault(&quot;X-Probe&quot;, &quot;&quot;) == &quot;check&quot;)">'
    '<check-header name="X-Required" failed-check-httpcode="401" failed-check-error-message="X-Required missing" ignore-case="true"><value>yes</value></check-header>'
    '<return-response><set-status code="204" reason="No Content" /></return-response>'
    "</when></choose>"
)


@pytest.fixture(scope="module")
def probed(stack):
    work = Path(tempfile.mkdtemp(prefix="gw-probed-"))
    policies = work / "policies"
    shutil.copytree(POLICIES, policies)
    for file, old, new in [
        ("oauth/api.xml", "<outbound>\n    <base />", OUTBOUND_PROBE),
        ("mcp/api.xml", "<outbound>\n    <base />", OUTBOUND_PROBE),
        ("oauth/revoke.xml", "<inbound>\n    <base />", FAIL_PROBE),
    ]:
        text = (policies / file).read_text()
        assert old in text, f"{file} changed; update the probe"
        (policies / file).write_text(text.replace(old, new, 1))
    try:
        with sup.extra_gateway("probed", stack, policies_dir=policies) as gw:
            yield gw
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
async def http(client_ip):
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=30) as c:
        yield c


async def test_outbound_runs_after_forward_request_only(probed, http):
    # return-response (the gateway's own 401, the OAuth API's metadata) cancels the pipeline.
    r = await sup.mcp_post(http, f"{probed.url}/mcp", None)
    assert r.status_code == 401 and "x-outbound-ran" not in r.headers
    r = await http.get(f"{probed.url}/.well-known/oauth-authorization-server")
    assert r.status_code == 200 and "x-outbound-ran" not in r.headers
    # Forwarded: a token of this gateway passes the policy; the server (another audience
    # configured) answers 401 itself, and outbound sees that response.
    token = sup.seal_token(sup.claims_for(f"{probed.url}/mcp"), probed.session_keys["enc"], probed.session_keys["mac"])
    r = await sup.mcp_post(http, f"{probed.url}/mcp", token)
    assert r.status_code == 401 and r.headers["x-outbound-ran"] == "401"


async def test_expression_failure_goes_to_on_error(probed, http):
    r = await http.post(f"{probed.url}/revoke", data={"token": "x"}, headers={"X-Probe": "fail"})
    assert r.status_code == 500
    body = r.json()
    assert body["statusCode"] == 500 and body["message"] == "Internal server error" and body["activityId"]
    assert r.headers["cache-control"] == "no-store"  # oauth/api.xml on-error, reached through <base/>
    assert "ExpressionValueEvaluationFailure" in probed.log("gateway", "stderr")
    r = await http.post(f"{probed.url}/revoke", data={"token": "x"})
    assert r.status_code == 200  # the same operation without the failure


async def test_cache_duration_is_honoured(probed, http):
    value = sup.b64url(os.urandom(9))
    assert (await http.post(f"{probed.url}/revoke", data={"token": "x"}, headers={"X-Probe": "store", "X-Value": value})).status_code == 200
    r = await http.post(f"{probed.url}/revoke", data={"token": "x"}, headers={"X-Probe": "load"})
    assert r.text == value
    stored_at = time.monotonic()
    deadline = stored_at + 10
    while time.monotonic() < deadline:
        r = await http.post(f"{probed.url}/revoke", data={"token": "x"}, headers={"X-Probe": "load"})
        if r.text == "(none)":
            break
        await anyio.sleep(0.2)
    assert r.text == "(none)"
    assert time.monotonic() - stored_at >= 1.5  # not before its 2 s duration


async def test_check_header(probed, http):
    url = f"{probed.url}/revoke"
    r = await http.post(url, data={"token": "x"}, headers={"X-Probe": "check"})
    assert r.status_code == 401 and r.json() == {"statusCode": 401, "message": "X-Required missing"}
    r = await http.post(url, data={"token": "x"}, headers={"X-Probe": "check", "X-Required": "no"})
    assert r.status_code == 401
    r = await http.post(url, data={"token": "x"}, headers={"X-Probe": "check", "X-Required": "YES"})
    assert r.status_code == 204
