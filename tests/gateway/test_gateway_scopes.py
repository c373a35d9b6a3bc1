"""Who may sign in and what each may do, through the local gateway and a real server: the Entra
stand-in assigns app roles per user (reader, writer, none), the callback grants the scopes those
roles allow (never more than the client asked for), a user with neither role is stopped on a
page, and each tool call needs its scope: a reader's save and delete get MCP's 403
`insufficient_scope` answer over both transports, from the gateway and from the server itself,
and nothing is written. A refresh follows the roles as they are at that moment."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

import anyio
import httpx
import pytest
from azure.core.exceptions import ResourceExistsError

import gw_support as sup
from devstack.namespaces import user_blob
from raw_mcp import RawSseSession

pytestmark = pytest.mark.anyio

READ, WRITE = "snippets.read", "snippets.write"
JSONRPC_INSUFFICIENT_SCOPE = -32003
ROLES = {"default": [], "users": {"rita": ["Snippets.Read"], "walt": ["Snippets.Write"], "nora": []}}


@pytest.fixture(scope="module")
def roles_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("roles") / "app-roles.json"
    path.write_text(json.dumps(ROLES))
    return path


@pytest.fixture(scope="module")
def gw(stack, roles_file):
    """A gateway whose Entra stand-in assigns the roles above (sign-in page: the test chooses the
    user), in front of a server of its own that accepts its tokens."""
    port = sup.free_port()
    with sup.extra_backend("scopes-server", stack, f"http://127.0.0.1:{port}/mcp") as backend_url:
        with sup.extra_gateway(
            "scopes", stack, backend_url=backend_url, port=port, auto_login=None,
            idp_overrides={"appRolesFile": str(roles_file)},
        ) as g:  # fmt: skip
            yield g


@contextlib.asynccontextmanager
async def signed_in(gw, username: str, **authorize):
    """`username` signs in through a client of its own; yields (oauth driver, client id, grant)."""
    oauth = sup.OAuth(gw.url, sup.next_client_ip())
    oauth.agent.username = username
    try:
        client_id = await oauth.new_client()
        grant = await oauth.authorize(client_id, **authorize)
        yield oauth, client_id, grant
    finally:
        await oauth.aclose()


async def token_for(gw, username: str, **authorize) -> dict:
    async with signed_in(gw, username, **authorize) as (oauth, client_id, grant):
        assert "code" in grant, grant
        r = await oauth.exchange(client_id, grant)
        assert r.status_code == 200, r.text
        return dict(r.json(), client_id=client_id)


def claims(gw, token: str) -> dict:
    return sup.open_token(token, gw.session_keys["enc"], gw.session_keys["mac"])


def snippets(blob_service):
    """The server's container, created here when this test writes before the server has."""
    container = blob_service.get_container_client("snippets")
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    return container


def call_body(tool: str, arguments: dict, id_: int = 9) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


async def post_mcp(http: httpx.AsyncClient, base: str, token: str, body: dict) -> httpx.Response:
    return await sup.mcp_post(http, f"{base}/mcp", token, body["method"], body.get("params"), request_id=body["id"])


def assert_insufficient_scope(r: httpx.Response, gw, tool: str, challenge: str, id_: int = 9) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{challenge}", '
        f'resource_metadata="{gw.url}/.well-known/oauth-protected-resource/mcp"'
    )
    error = r.json()
    assert error["id"] == id_ and error["error"]["code"] == JSONRPC_INSUFFICIENT_SCOPE
    assert error["error"]["message"] == f"insufficient scope: {tool} needs {WRITE}"
    assert error["error"]["data"] == {"requiredScope": WRITE}


def tool_result(r: httpx.Response) -> dict:
    result = sup.rpc_result(r)
    assert not result.get("isError"), result
    return result


@contextlib.asynccontextmanager
async def sse_session(http: httpx.AsyncClient, gw, token: str):
    """An initialized legacy-SSE session through the gateway, driven without an SDK."""
    async with RawSseSession(f"{gw.url}/mcp", http, headers={"Authorization": f"Bearer {token}"}) as sse:
        assert sse.response.status_code == 200
        await sse.endpoint()
        await sse.initialize()
        yield sse


@pytest.fixture
async def http():
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=sup.next_client_ip()), timeout=30) as c:
        yield c


async def test_metadata_and_tools_list_name_the_scopes(gw, http):
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server"):
        assert (await http.get(gw.url + path)).json()["scopes_supported"] == [READ, WRITE], path
    reader = await token_for(gw, "rita")
    tools = sup.rpc_result(await post_mcp(http, gw.url, reader["access_token"], {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
    required = {t["name"]: t["_meta"]["requiredScope"] for t in tools["tools"]}
    assert required == {
        "hello_mcp": READ, "list_snippets": READ, "get_snippet": READ, "save_snippet": WRITE, "delete_snippet": WRITE,
    }  # fmt: skip


async def test_a_user_without_a_role_is_stopped_at_sign_in(gw, blob_service):
    async with signed_in_without_code(gw, "nora") as (agent, landed):
        assert landed is None, "no redirect back to the client: it gets no code"
        page = agent.history[-1]
        assert page.request.url.path == "/oauth-callback"
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "your account has no role for this server" in page.text
        assert "Snippets reader or Snippets writer" in page.text
        assert "code=" not in page.text


@contextlib.asynccontextmanager
async def signed_in_without_code(gw, username: str):
    """Signs in as `username` expecting the flow to stop before the client's redirect URI."""
    oauth = sup.OAuth(gw.url, sup.next_client_ip())
    oauth.agent.username = username
    try:
        client_id = await oauth.new_client()
        verifier, challenge = sup.pkce_pair()
        landed = None
        with pytest.raises(AssertionError, match="navigation stopped at GET .*/oauth-callback.*: 403"):
            landed = await oauth.agent.navigate(oauth.authorize_url(client_id, challenge), sup.REDIRECT_URI)
        yield oauth.agent, landed
    finally:
        await oauth.aclose()


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_a_reader_reads_but_may_not_write(gw, http, blob_service, transport):
    reader = await token_for(gw, "rita", scope=f"{READ} {WRITE}")
    assert reader["scope"] == READ, "the intersection of what was asked and what the role allows"
    token = reader["access_token"]
    sub = claims(gw, token)["sub"]
    assert claims(gw, token)["scp"] == READ
    kept, fresh = f"kept-{uuid.uuid4().hex[:8]}", f"new-{uuid.uuid4().hex[:8]}"
    container = snippets(blob_service)
    container.upload_blob(user_blob(sub, kept), b"written by an administrator")

    if transport == "http":
        assert "Hello" in json.dumps(tool_result(await post_mcp(http, gw.url, token, call_body("hello_mcp", {}))))
        got = tool_result(await post_mcp(http, gw.url, token, call_body("get_snippet", {"snippetname": kept})))
        assert "written by an administrator" in json.dumps(got)
        listed = tool_result(await post_mcp(http, gw.url, token, call_body("list_snippets", {})))
        assert kept in json.dumps(listed)
        save = await post_mcp(http, gw.url, token, call_body("save_snippet", {"snippetname": fresh, "snippet": "x"}))
        assert_insufficient_scope(save, gw, "save_snippet", f"{READ} {WRITE}")
        delete = await post_mcp(http, gw.url, token, call_body("delete_snippet", {"snippetname": kept}))
        assert_insufficient_scope(delete, gw, "delete_snippet", f"{READ} {WRITE}")
    else:
        async with sse_session(http, gw, token) as sse:
            got = await sse.request(call_body("get_snippet", {"snippetname": kept}, id_=3))
            assert "written by an administrator" in json.dumps(got["result"])
            save = await sse.post(call_body("save_snippet", {"snippetname": fresh, "snippet": "x"}))
            assert_insufficient_scope(save, gw, "save_snippet", f"{READ} {WRITE}")
            delete = await sse.post(call_body("delete_snippet", {"snippetname": kept}))
            assert_insufficient_scope(delete, gw, "delete_snippet", f"{READ} {WRITE}")
            # The session goes on: the refused calls changed nothing in it.
            listed = await sse.request(call_body("list_snippets", {}, id_=4))
            assert kept in json.dumps(listed["result"])

    namespace = user_blob(sub, kept).rsplit("/", 1)[0] + "/"
    names = {b.name for b in container.list_blobs(name_starts_with=namespace)}
    assert user_blob(sub, kept) in names and user_blob(sub, fresh) not in names
    assert container.get_blob_client(user_blob(sub, kept)).download_blob().readall() == b"written by an administrator"


async def test_the_server_refuses_what_the_gateway_lets_through(gw, http, blob_service):
    """Defence in depth: the server checks every call itself. Straight to the backend, and through
    the gateway with a body too large for the gateway to parse or sent chunked, the answer is the
    same 403."""
    token = (await token_for(gw, "rita"))["access_token"]
    sub = claims(gw, token)["sub"]
    name = f"big-{uuid.uuid4().hex[:8]}"
    direct = await post_mcp(http, gw.backend_url, token, call_body("save_snippet", {"snippetname": name, "snippet": "x"}))
    assert_insufficient_scope(direct, gw, "save_snippet", f"{READ} {WRITE}")
    big = await post_mcp(http, gw.url, token, call_body("save_snippet", {"snippetname": name, "snippet": "x" * 200_000}))
    assert_insufficient_scope(big, gw, "save_snippet", f"{READ} {WRITE}")

    async def chunks():  # no Content-Length: the gateway does not read it
        yield json.dumps(call_body("save_snippet", {"snippetname": name, "snippet": "x"})).encode()

    chunked = await http.post(f"{gw.url}/mcp", content=chunks(), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-06-18"})  # fmt: skip
    assert_insufficient_scope(chunked, gw, "save_snippet", f"{READ} {WRITE}")
    assert not list(snippets(blob_service).list_blobs(name_starts_with=user_blob(sub, name)))


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_a_writer_does_everything(gw, http, blob_service, transport):
    writer = await token_for(gw, "walt")
    assert writer["scope"] == f"{READ} {WRITE}"
    token = writer["access_token"]
    sub = claims(gw, token)["sub"]
    name = f"w-{uuid.uuid4().hex[:8]}"
    calls = [
        call_body("save_snippet", {"snippetname": name, "snippet": "by walt"}, 1),
        call_body("get_snippet", {"snippetname": name}, 2),
        call_body("list_snippets", {}, 3),
        call_body("delete_snippet", {"snippetname": name}, 4),
    ]
    if transport == "http":
        results = [tool_result(await post_mcp(http, gw.url, token, body)) for body in calls[:3]]
        container = blob_service.get_container_client("snippets")
        assert container.get_blob_client(user_blob(sub, name)).download_blob().readall() == b"by walt"
        results.append(tool_result(await post_mcp(http, gw.url, token, calls[3])))
    else:
        async with sse_session(http, gw, token) as sse:
            results = []
            for body in calls:
                message = await sse.request(body)
                assert "result" in message and not message["result"].get("isError"), message
                results.append(message["result"])
    assert "by walt" in json.dumps(results[1]) and name in json.dumps(results[2])
    assert not list(blob_service.get_container_client("snippets").list_blobs(name_starts_with=user_blob(sub, name)))


async def test_a_client_gets_no_more_than_it_asked_or_the_roles_allow(gw, http):
    # A writer asking for reading only gets reading only, and is held to it.
    narrowed = await token_for(gw, "walt", scope=READ)
    assert narrowed["scope"] == READ and claims(gw, narrowed["access_token"])["scp"] == READ
    save = await post_mcp(http, gw.url, narrowed["access_token"], call_body("save_snippet", {"snippetname": "n", "snippet": "x"}))
    assert_insufficient_scope(save, gw, "save_snippet", f"{READ} {WRITE}")
    # Scopes of other servers (and none at all) mean "what the roles allow"; unknown ones are not granted.
    for asked in ("openid offline_access mcp.tools", None):
        extra = {"scope": asked} if asked else {}
        assert (await token_for(gw, "walt", **extra))["scope"] == f"{READ} {WRITE}", asked
    # A reader asking only for writing is granted nothing: the client hears invalid_scope, with no code.
    async with signed_in(gw, "rita", scope=WRITE) as (_, _, grant):
        assert grant.get("error") == "invalid_scope" and "code" not in grant, grant


async def test_a_refresh_follows_the_roles_of_the_moment(gw, http, roles_file):
    name = f"walt-{uuid.uuid4().hex[:6]}"
    roles_file.write_text(json.dumps({**ROLES, "users": {**ROLES["users"], name: ["Snippets.Write"]}}))
    try:
        first = await token_for(gw, name)
        assert first["scope"] == f"{READ} {WRITE}"
        oauth = sup.OAuth(gw.url, sup.next_client_ip())
        try:
            # Demoted to reader: the next access token can read, not write.
            roles_file.write_text(json.dumps({**ROLES, "users": {**ROLES["users"], name: ["Snippets.Read"]}}))
            r = await oauth.refresh(first["client_id"], first["refresh_token"])
            assert r.status_code == 200, r.text
            second = r.json()
            assert second["scope"] == READ and claims(gw, second["access_token"])["scp"] == READ
            # Every role gone: the session ends, and the family with it.
            roles_file.write_text(json.dumps({**ROLES, "users": {**ROLES["users"], name: []}}))
            r = await oauth.refresh(first["client_id"], second["refresh_token"])
            assert r.status_code == 400 and r.json() == {
                "error": "invalid_grant", "error_description": "this account no longer has a role for this server"}  # fmt: skip
            roles_file.write_text(json.dumps({**ROLES, "users": {**ROLES["users"], name: ["Snippets.Write"]}}))
            r = await oauth.refresh(first["client_id"], second["refresh_token"])
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant", "the revoked family stays revoked"
        finally:
            await oauth.aclose()
    finally:
        roles_file.write_text(json.dumps(ROLES))


async def test_a_reader_through_the_python_sdk_steps_up_once_and_is_still_refused(gw, blob_service):
    """The MCP Python SDK answers a 403 `insufficient_scope` by signing in again for the challenged
    scope (step-up). The roles still allow only reading, so the second token is read-only too: the
    call fails with the insufficient-scope error after one extra sign-in (no loop), nothing is
    written, and the session goes on reading."""
    from mcp.shared.exceptions import MCPError

    agent = sup.UserAgent(sup.next_client_ip(), username="rita")
    storage = sup.MemoryTokenStorage()
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    try:
        with anyio.fail_after(sup.CALL_TIMEOUT * 4):
            async with sup.sdk_session(gw.url, "http", agent.client_ip, storage, agent) as session:
                assert "Hello" in sup.tool_text(await session.call_tool("hello_mcp", {}))
                def authorizations() -> int:
                    return sum(1 for r in agent.history if r.request.url.path == "/authorize")

                assert authorizations() == 1
                outcome = None
                try:
                    outcome = await session.call_tool("save_snippet", {"snippetname": name, "snippet": "x"})
                except MCPError as e:
                    outcome = e
                assert isinstance(outcome, MCPError), f"a reader's save_snippet succeeded: {outcome}"
                assert outcome.error.code == JSONRPC_INSUFFICIENT_SCOPE
                assert outcome.error.message == f"insufficient scope: save_snippet needs {WRITE}"
                assert authorizations() == 2, "exactly one step-up: no loop, and the SDK did try"
                assert storage.tokens.scope == READ
                assert "snippets" in sup.tool_text(await session.call_tool("list_snippets", {}))
    finally:
        await agent.aclose()
    sub = sup.open_token(storage.tokens.access_token, gw.session_keys["enc"], gw.session_keys["mac"])["sub"]
    assert not list(snippets(blob_service).list_blobs(name_starts_with=user_blob(sub, name)))
