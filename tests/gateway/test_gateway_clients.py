"""Every real MCP client's sign-in shape, end to end through the local gateway: discovery from
the 401, registration (dynamic, or a Client ID Metadata Document served through the runner's
host mapping), the consent page and sign-in, the code exchange, a tool call over Streamable
HTTP, and a refresh. Each test names the public source of the shape it reproduces; each also
checks what the gateway refuses for that client. docs/policies.md ("Client compatibility")
summarises the result."""

from __future__ import annotations

import httpx
import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio

CLAUDE_CODE_ID = "https://claude.ai/oauth/claude-code-client-metadata"
INSPECTOR_CIMD_ID = "https://inspector.example/oauth/client-metadata.json"


@pytest.fixture(scope="module")
def clients_gateway(stack, documents):
    """A gateway whose document hosts go to the local document server. Only the metadata paths
    are mapped: claude.ai's web callback must stay what it is in the Location header."""
    host_map = {"https://claude.ai/oauth": documents.url + "/claude", "https://inspector.example": documents.url + "/inspector"}
    port = sup.free_port()
    # Its own backend: the server checks that tokens name this gateway's MCP URL.
    with sup.extra_backend("clients-server", stack, f"http://127.0.0.1:{port}/mcp") as backend:
        with sup.extra_gateway("clients", stack, host_map=host_map, port=port, backend_url=backend) as gw:
            yield gw


@pytest.fixture
async def client(clients_gateway, client_ip):
    o = sup.OAuth(clients_gateway.url, client_ip)
    yield o
    await o.aclose()


async def _discover(oauth: sup.OAuth) -> dict:
    """What every client does first: the 401, the resource metadata it names, the first listed
    authorization server's metadata."""
    r = await sup.mcp_post(oauth.http, f"{oauth.gw}/mcp", None)
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and "error=" not in challenge
    prm_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
    prm = (await oauth.http.get(prm_url)).json()
    assert prm["resource"] == f"{oauth.gw}/mcp"  # the URL the user typed
    issuer = prm["authorization_servers"][0]
    asm = (await oauth.http.get(f"{issuer}/.well-known/oauth-authorization-server")).json()
    assert asm["issuer"] == issuer == oauth.gw
    return asm


async def _use_and_refresh(oauth: sup.OAuth, client_id: str, grant: dict, refresh_extra: dict | None = None, **token_extra) -> dict:
    r = await oauth.token(
        grant_type="authorization_code", code=grant["code"], redirect_uri=grant["redirect_uri"],
        client_id=client_id, code_verifier=grant["verifier"], **token_extra,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    tokens = r.json()
    r = await sup.mcp_post(oauth.http, f"{oauth.gw}/mcp", tokens["access_token"], "tools/call", {"name": "hello_mcp", "arguments": {}})
    assert r.status_code == 200, (r.status_code, r.headers, r.text)
    result = sup.rpc_result(r)
    assert result["content"][0]["text"] == "Hello I am MCPTool!", result
    r = await oauth.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client_id, **(refresh_extra or {}))
    assert r.status_code == 200, r.text
    refreshed = r.json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert (await sup.mcp_post(oauth.http, f"{oauth.gw}/mcp", refreshed["access_token"])).status_code == 200
    return refreshed


async def _register(oauth: sup.OAuth, body: dict) -> str:
    r = await oauth.http.post(f"{oauth.gw}/register", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["redirect_uris"] == body["redirect_uris"]
    return r.json()["client_id"]


async def _refused_redirect(oauth: sup.OAuth, client_id: str, redirect_uri: str) -> None:
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=redirect_uri))
    assert r.status_code == 400 and "location" not in r.headers, (r.status_code, r.headers)


async def test_claude_code(client, documents):
    """Claude Code: client_id is its Client ID Metadata Document, whose redirect URIs carry no
    port (`http://localhost/callback`, `http://127.0.0.1/callback`), while the authorize request
    uses `http://localhost:<ephemeral port>/callback`; it asks for `offline_access` and refreshes
    without `scope`. Sources: https://github.com/anthropics/claude-code/issues/37747,
    https://github.com/anthropics/claude-code/issues/90370 (the runtime value
    `http://localhost:${port}/callback`), https://github.com/anthropics/claude-code/issues/64705
    (ports chosen at run time on 127.0.0.1 too)."""
    documents.add("/claude/claude-code-client-metadata", {
        "client_id": CLAUDE_CODE_ID, "client_name": "Claude Code", "client_uri": "https://claude.ai",
        "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })  # fmt: skip
    asm = await _discover(client)
    assert asm["client_id_metadata_document_supported"] is True and "none" in asm["token_endpoint_auth_methods_supported"]
    grant = await client.authorize(CLAUDE_CODE_ID, redirect_uri="http://localhost:53117/callback", scope="snippets.read snippets.write offline_access")
    assert "code" in grant and grant["iss"] == client.gw
    assert "Claude Code" in client.agent.consent_pages[-1].text
    await _use_and_refresh(client, CLAUDE_CODE_ID, grant)
    # Next run, next port (and the 127.0.0.1 form): asked again, and it works.
    grant = await client.authorize(CLAUDE_CODE_ID, redirect_uri="http://127.0.0.1:53999/callback")
    assert "code" in grant and len(client.agent.consent_pages) == 2
    # Refused: another path, another host, https on loopback.
    for uri in ("http://localhost:53117/other", "http://evil.example/callback", "https://localhost:53117/callback"):
        await _refused_redirect(client, CLAUDE_CODE_ID, uri)


async def test_claude_ai_and_desktop(client):
    """claude.ai and Claude Desktop: discovery from a real 401 whose `resource_metadata` names the
    protected resource metadata; only the first authorization server listed is used; the
    resource must equal the URL the user typed; dynamic registration with the web callback
    `https://claude.ai/api/mcp/auth_callback` (public client, PKCE). Sources:
    https://sunpeak.ai/blogs/claude-connector-oauth-authentication (DCR or CIMD, callback
    allowlisting), https://www.worldmonitor.app/docs/api-oauth (the callback URLs)."""
    await _discover(client)
    callback = "https://claude.ai/api/mcp/auth_callback"
    client_id = await _register(client, {
        "client_name": "claudeai", "redirect_uris": [callback], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "token_endpoint_auth_method": "none",
    })  # fmt: skip
    grant = await client.authorize(client_id, redirect_uri=callback, scope="snippets.read snippets.write")
    assert "code" in grant
    await _use_and_refresh(client, client_id, grant)
    await _refused_redirect(client, client_id, "https://claude.ai/api/mcp/auth_callback/x")
    await _refused_redirect(client, client_id, "https://claude.com.evil.example/api/mcp/auth_callback")


async def test_chatgpt(client):
    """ChatGPT: dynamic registration, PKCE S256, redirect
    `https://chatgpt.com/connector_platform_oauth_redirect`, and `resource` on both the authorize
    and the token request (RFC 8707); reconnects may omit `scope`. Source:
    https://community.openai.com/t/oauth-missing-scopes-after-reconnect/1366784 (the authorize
    requests it sends)."""
    await _discover(client)
    callback = "https://chatgpt.com/connector_platform_oauth_redirect"
    client_id = await _register(client, {"client_name": "ChatGPT", "redirect_uris": [callback], "token_endpoint_auth_method": "none"})
    resource = f"{client.gw}/mcp"
    grant = await client.authorize(client_id, redirect_uri=callback, resource=resource)
    assert "code" in grant
    await _use_and_refresh(client, client_id, grant, refresh_extra={"resource": resource}, resource=resource)
    # A foreign resource is refused at the token endpoint too, and the code is spent.
    grant = await client.authorize(client_id, redirect_uri=callback, resource=resource)
    r = await client.token(
        grant_type="authorization_code", code=grant["code"], redirect_uri=callback, client_id=client_id,
        code_verifier=grant["verifier"], resource="https://elsewhere.example/mcp",
    )  # fmt: skip
    assert r.status_code == 400 and r.json()["error"] == "invalid_target", r.text


async def test_vscode(client):
    """VS Code: dynamic registration with `https://insiders.vscode.dev/redirect`,
    `https://vscode.dev/redirect`, `http://127.0.0.1/` and `http://127.0.0.1:33418/`; when 33418
    is busy it uses another port on the authorize request. Sources:
    https://github.com/microsoft/vscode/issues/278512 (the registered list),
    https://github.com/contextstream/mcp-server/issues/57 (33418 and vscode.dev)."""
    await _discover(client)
    uris = ["https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect", "http://127.0.0.1/", "http://127.0.0.1:33418/"]
    client_id = await _register(client, {"client_name": "Visual Studio Code", "redirect_uris": uris, "token_endpoint_auth_method": "none"})
    grant = await client.authorize(client_id, redirect_uri="http://127.0.0.1:33418/")
    await _use_and_refresh(client, client_id, grant)
    grant = await client.authorize(client_id, redirect_uri="http://127.0.0.1:59656/")
    assert "code" in grant
    grant = await client.authorize(client_id, redirect_uri="https://vscode.dev/redirect")
    await _use_and_refresh(client, client_id, grant)
    await _refused_redirect(client, client_id, "https://vscode.dev/redirect/")
    await _refused_redirect(client, client_id, "http://localhost:33418/")


async def test_cursor(client, blob_service):
    """Cursor: dynamic registration of `cursor://anysphere.cursor-mcp/oauth/callback` (a
    private-use scheme, RFC 8252 7.1), `https://www.cursor.com/agents/mcp/oauth/callback` and
    `http://localhost:<port>/callback` in one request. Sources:
    https://github.com/erp-mafia/accounted/pull/2225 (the three-URI registration body),
    https://github.com/makeplane/plane-mcp-server/issues/159 (the cursor:// callback)."""
    await _discover(client)
    native = "cursor://anysphere.cursor-mcp/oauth/callback"
    uris = [native, "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"]
    client_id = await _register(client, {"client_name": "Cursor", "redirect_uris": uris, "token_endpoint_auth_method": "none"})
    grant = await client.authorize(client_id, redirect_uri=native)
    assert "code" in grant and grant["state"] == "st-123"
    assert "cursor://anysphere.cursor-mcp" in client.agent.consent_pages[-1].text
    await _use_and_refresh(client, client_id, grant)
    grant = await client.authorize(client_id, redirect_uri="http://localhost:8788/callback")
    assert "code" in grant
    await _refused_redirect(client, client_id, "cursor://anysphere.cursor-mcp/other")
    # Other schemes that are not reverse-domain private-use schemes stay refused.
    before = sup.registration_blobs(blob_service)
    for uri in ("ms-msdt:/id", "file:///etc/passwd", "javascript:alert(1)", "data:text/html,x", "vscode-evil://x/cb"):
        r = await client.register([uri])
        assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri", (uri, r.text)
    assert sup.registration_blobs(blob_service) == before


async def test_mcp_inspector_web_ui(client):
    """MCP Inspector 2.x web UI: the callback is the UI's own origin plus `/oauth/callback`
    (`http://localhost:6274/oauth/callback`); dynamic registration. Source: the Inspector 2.12
    bundle (`getRedirectUrl: () => window.location.origin + "/oauth/callback"`) and
    https://github.com/modelcontextprotocol/modelcontextprotocol/pull/3143 (DCR, static client
    or CIMD)."""
    await _discover(client)
    callback = "http://localhost:6274/oauth/callback"
    client_id = await _register(client, {"client_name": "MCP Inspector", "redirect_uris": [callback], "token_endpoint_auth_method": "none"})
    grant = await client.authorize(client_id, redirect_uri=callback)
    await _use_and_refresh(client, client_id, grant)


async def test_mcp_inspector_cli_with_metadata_document(client, documents):
    """MCP Inspector 2.x CLI: callback server on `http://127.0.0.1:6276/oauth/callback` (the
    default port, any port when configured), identified by a Client ID Metadata Document given
    with `--client-metadata-url`. Source: the Inspector 2.12 CLI (`DEFAULT_HOSTNAME =
    "127.0.0.1"`, `RUNNER_OAUTH_CALLBACK_DEFAULT_PORT = 6276`) and
    https://github.com/modelcontextprotocol/modelcontextprotocol/pull/3143."""
    documents.add("/inspector/oauth/client-metadata.json", sup.metadata_document(
        INSPECTOR_CIMD_ID, ["http://127.0.0.1:6276/oauth/callback"], client_name="MCP Inspector CLI"))  # fmt: skip
    await _discover(client)
    grant = await client.authorize(INSPECTOR_CIMD_ID, redirect_uri="http://127.0.0.1:6276/oauth/callback")
    await _use_and_refresh(client, INSPECTOR_CIMD_ID, grant)
    grant = await client.authorize(INSPECTOR_CIMD_ID, redirect_uri="http://127.0.0.1:40404/oauth/callback")
    assert "code" in grant
    await _refused_redirect(client, INSPECTOR_CIMD_ID, "http://localhost:6276/oauth/callback")


async def test_resource_is_never_forwarded_to_entra(client):
    """The resource indicator is checked by the gateway and not passed on: the sign-in request
    sent to Entra ID names only the gateway's own callback and scopes."""
    client_id = await _register(client, {"client_name": "probe", "redirect_uris": [sup.REDIRECT_URI]})
    _, challenge = sup.pkce_pair()
    r = await client.agent.request("GET", client.authorize_url(client_id, challenge))
    consent = await client.agent.request("GET", r.headers["location"])
    form = sup.parse_forms(consent.text)[0]
    r = await client.agent.request("POST", f"{client.gw}/consent", data=dict(form["fields"], decision="approve"))
    assert r.status_code == 302
    query = httpx.URL(r.headers["location"]).params
    assert "resource" not in query and "/mcp" not in str(query)
