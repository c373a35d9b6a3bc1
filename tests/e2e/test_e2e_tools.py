"""The five MCP tools through the official Python SDK, over Streamable HTTP AND legacy SSE.

Every write is checked in Azurite directly (container `snippets`, blob `<name>.json`, body = the
snippet's UTF-8 bytes), independently of what the server says about it.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

import e2e_support as sup
from e2e_support import assert_ok, assert_tool_error, mcp_session, result_text

pytestmark = pytest.mark.anyio


def structured(result) -> dict:
    assert_ok(result)
    assert isinstance(result.structured_content, dict), f"no structured content: {result!r}"
    return result.structured_content


# ------------------------------------------------------------------------------------ tools/list


async def test_tools_list_has_five_tools_with_schemas_and_annotations(server, transport):
    async with mcp_session(server.base_url, transport) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
    assert set(tools) == sup.TOOL_NAMES

    for t in tools.values():
        assert t.description, f"{t.name} has no description"
        assert t.input_schema.get("type") == "object", (t.name, t.input_schema)
        assert t.annotations is not None, f"{t.name} has no annotations"

    def props(name):
        return tools[name].input_schema.get("properties", {})

    def required(name):
        return set(tools[name].input_schema.get("required", []))

    assert required("hello_mcp") == set()
    assert required("save_snippet") == {"snippetname", "snippet"}
    assert props("save_snippet")["snippetname"].get("type") == "string"
    assert props("save_snippet")["snippet"].get("type") == "string"
    for name in ("get_snippet", "delete_snippet"):
        assert required(name) == {"snippetname"}, name
        assert props(name)["snippetname"].get("type") == "string", name
    assert required("list_snippets") == set()
    assert {"prefix", "limit", "cursor"} <= set(props("list_snippets"))
    limit = props("list_snippets")["limit"]
    assert "integer" in json.dumps(limit), limit

    ann = {n: t.annotations for n, t in tools.items()}
    for name in ("get_snippet", "list_snippets", "hello_mcp"):
        assert ann[name].read_only_hint is True, (name, ann[name])
    for name in ("save_snippet", "delete_snippet"):
        assert ann[name].read_only_hint is not True, (name, ann[name])
        assert ann[name].idempotent_hint is True, (name, ann[name])
    assert ann["delete_snippet"].destructive_hint is True, ann["delete_snippet"]


async def test_structured_tools_declare_output_schemas(server, transport):
    """save/list/delete return structuredContent; declaring outputSchema lets clients validate it
    (the Python SDK then checks every result against it, which the other tests exercise)."""
    async with mcp_session(server.base_url, transport) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
    expected = {
        "save_snippet": {"name", "bytes"},
        "list_snippets": {"snippets", "nextCursor"},
        "delete_snippet": {"name", "deleted"},
    }
    for name, props in expected.items():
        schema = tools[name].output_schema
        assert schema is not None, f"{name} returns structuredContent but declares no outputSchema"
        assert schema.get("type") == "object", (name, schema)
        assert props <= set(schema.get("properties", {})), (name, schema)


# ------------------------------------------------------------------------------- happy paths


async def test_hello_mcp(server, transport):
    async with mcp_session(server.base_url, transport) as s:
        r = assert_ok(await s.call_tool("hello_mcp", {}))
    assert result_text(r) == "Hello I am MCPTool!"


async def test_save_get_list_delete_happy_path(server, blobs, transport, uid):
    name = f"{uid}-hello.py"
    body = 'print("hello, snippets")\n'
    async with mcp_session(server.base_url, transport) as s:
        saved = structured(await s.call_tool("save_snippet", {"snippetname": name, "snippet": body}))
        assert saved == {"name": name, "bytes": len(body.encode())}
        # The reference's storage layout, checked in Azurite itself.
        assert blobs.names(uid) == [f"{name}.json"]
        assert blobs.read(f"{name}.json") == body.encode()

        got = assert_ok(await s.call_tool("get_snippet", {"snippetname": name}))
        assert [c.type for c in got.content] == ["text"]
        assert got.content[0].text == body

        listed = structured(await s.call_tool("list_snippets", {"prefix": uid}))
        assert "nextCursor" not in listed  # optional member: absent on the last page
        assert [e["name"] for e in listed["snippets"]] == [name]
        entry = listed["snippets"][0]
        assert entry["bytes"] == len(body.encode())
        modified = dt.datetime.fromisoformat(entry["lastModified"].replace("Z", "+00:00"))
        assert abs((dt.datetime.now(dt.timezone.utc) - modified).total_seconds()) < 600, entry

        deleted = structured(await s.call_tool("delete_snippet", {"snippetname": name}))
        assert deleted == {"name": name, "deleted": True}
        assert blobs.names(uid) == []
        assert_tool_error(await s.call_tool("get_snippet", {"snippetname": name}), "snippet not found:")
        listed = structured(await s.call_tool("list_snippets", {"prefix": uid}))
        assert listed == {"snippets": []}


async def test_save_overwrites_existing_snippet(server, blobs, transport, uid):
    name = f"{uid}-over"
    async with mcp_session(server.base_url, transport) as s:
        structured(await s.call_tool("save_snippet", {"snippetname": name, "snippet": "first version, longer"}))
        saved = structured(await s.call_tool("save_snippet", {"snippetname": name, "snippet": "second"}))
        assert saved == {"name": name, "bytes": 6}
        got = assert_ok(await s.call_tool("get_snippet", {"snippetname": name}))
    assert result_text(got) == "second"
    assert blobs.read(f"{name}.json") == b"second"


# ------------------------------------------------------------------------ byte-exact contents

CONTENTS = {
    "empty": "",
    "ascii": "def f(x):\n    return x * 2\n",
    "emoji": "🦀 rust 🚀 zwj family 👩‍👩‍👧‍👦 flag 🇫🇷 skin 👍🏽",
    "cjk": "漢字 かな カナ 한국어 中文標點，。",
    "combining": "e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937 Z\u0351\u0352\u0357",
    "crlf": "line one\r\nline two\r\n",
    "lf": "line one\nline two\n",
    "mixed_newlines": "a\r\nb\nc\rd\n\r\n",
    "tabs": "\tindented\n\t\tdouble\tinner\t\n",
    "trailing_whitespace": "code   \n  \t  \n   ",
    "leading_whitespace": "   \n\n  starts with blanks",
    "ansi_escape": "\u001b[31mred\u001b[0m \u001b]8;;http://x\u0007link\u001b]8;;\u0007",
    "c0_controls": "bell\u0007 bs\u0008 vt\u000b ff\u000c del\u007f nul\u0000 end",
    "unicode_separators": "ls\u2028ps\u2029nel\u0085 bom\ufeff nbsp\u00a0",
    "json_looking": '{"snippet": "x", "escaped": "\\"q\\"", "u": "\\u0000"}',
    "backslashes": "C:\\path\\to\\file.txt \\n is not a newline \\\\",
    "astral_math": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 \U0010fffd",
}


@pytest.mark.parametrize("kind", list(CONTENTS))
async def test_round_trip_is_byte_exact(server, blobs, transport, uid, kind):
    name = f"{uid}-{kind}"
    content = CONTENTS[kind]
    async with mcp_session(server.base_url, transport) as s:
        saved = structured(await s.call_tool("save_snippet", {"snippetname": name, "snippet": content}))
        assert saved == {"name": name, "bytes": len(content.encode("utf-8"))}
        assert blobs.read(f"{name}.json") == content.encode("utf-8")
        got = assert_ok(await s.call_tool("get_snippet", {"snippetname": name}))
    assert len(got.content) == 1 and got.content[0].type == "text"
    assert got.content[0].text == content


def one_mib_text() -> str:
    """Exactly SNIPPETS_MAX_BYTES UTF-8 bytes, mixing 1-, 2-, 3- and 4-byte characters."""
    unit = "a" + "é" + "漢" + "🦀"  # 1 + 2 + 3 + 4 = 10 bytes
    n = sup.MAX_SNIPPET_BYTES // 10
    text = unit * n + "b" * (sup.MAX_SNIPPET_BYTES - 10 * n)
    assert len(text.encode()) == sup.MAX_SNIPPET_BYTES
    return text


async def test_snippet_of_exactly_the_limit_round_trips(server, blobs, transport, uid):
    name = f"{uid}-1mib"
    content = one_mib_text()
    async with mcp_session(server.base_url, transport) as s:
        saved = structured(await s.call_tool("save_snippet", {"snippetname": name, "snippet": content}))
        assert saved == {"name": name, "bytes": sup.MAX_SNIPPET_BYTES}
        if transport == "http":
            got = assert_ok(await s.call_tool("get_snippet", {"snippetname": name}))
            assert result_text(got) == content
    assert blobs.read(f"{name}.json") == content.encode()
    if transport == "sse":
        # The SDK's SSE client caps one event at 1 MiB, smaller than this reply: read it raw.
        import httpx

        async with httpx.AsyncClient(timeout=60) as client, sup.RawSseSession(server.base_url, client) as raw:
            await raw.endpoint()
            await raw.initialize()
            reply = await raw.request(
                sup.jsonrpc("tools/call", {"name": "get_snippet", "arguments": {"snippetname": name}}, id=7)
            )
        result = reply["result"]
        assert result.get("isError") in (None, False), result
        assert [c["type"] for c in result["content"]] == ["text"]
        assert result["content"][0]["text"] == content


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(one_mib_text() + "x", id="one_byte_over"),
        # Fewer characters than the limit, more bytes: the limit is on UTF-8 bytes.
        pytest.param("é" * (sup.MAX_SNIPPET_BYTES // 2 + 1), id="multibyte_over"),
    ],
)
async def test_oversized_snippet_is_refused_and_nothing_written(server, blobs, transport, uid, content):
    name = f"{uid}-big"
    before = blobs.snapshot()
    async with mcp_session(server.base_url, transport) as s:
        assert_tool_error(
            await s.call_tool("save_snippet", {"snippetname": name, "snippet": content}), "snippet too large:"
        )
        assert_tool_error(await s.call_tool("get_snippet", {"snippetname": name}), "snippet not found:")
    assert blobs.snapshot() == before


# ------------------------------------------------------------------------------- refusals


def bad_names(uid: str) -> dict[str, str]:
    return {
        "traversal_parent": f"../{uid}",
        "traversal_deep": f"{uid}/../../{uid}",
        "dotdot_inside": f"{uid}..x",
        "dotdot_alone": "..",
        "slash": f"a/{uid}",
        "leading_slash": f"/{uid}",
        "backslash": f"{uid}\\b",
        "empty": "",
        "too_long_129": (uid + "x" * 129)[:129],
        "nul": f"{uid}\u0000",
        "newline": f"{uid}\n",
        "carriage_return": f"{uid}\rx",
        "escape_char": f"{uid}\u001b[0m",
        "del_char": f"{uid}\u007f",
        "leading_space": f" {uid}",
        "trailing_space": f"{uid} ",
        "trailing_tab": f"{uid}\t",
        "only_spaces": "   ",
        # Invisible format characters would let a name display as another in a client's UI.
        "bidi_override": f"{uid}\u202ecod.exe",
        "bidi_isolate": f"\u2066{uid}\u2069",
        "zero_width_space": f"{uid}\u200b",
        "byte_order_mark": f"\ufeff{uid}",
    }


async def test_every_bad_name_is_refused_and_nothing_written(server, blobs, transport, uid):
    before = blobs.snapshot()
    async with mcp_session(server.base_url, transport) as s:
        for label, name in bad_names(uid).items():
            for tool, args in (
                ("save_snippet", {"snippetname": name, "snippet": f"payload for {label}"}),
                ("get_snippet", {"snippetname": name}),
                ("delete_snippet", {"snippetname": name}),
            ):
                with sup.step(f"{tool} {label} {name!r}"):
                    assert_tool_error(await s.call_tool(tool, args), "invalid snippet name:")
    after = blobs.snapshot()
    assert after == before, "a refused request wrote to storage"


async def test_name_of_exactly_128_characters_is_accepted(server, blobs, transport, uid):
    name = (uid + "-" + "n" * 128)[:128]
    async with mcp_session(server.base_url, transport) as s:
        saved = structured(await s.call_tool("save_snippet", {"snippetname": name, "snippet": "x"}))
        assert saved["name"] == name
        assert result_text(assert_ok(await s.call_tool("get_snippet", {"snippetname": name}))) == "x"
    assert blobs.read(f"{name}.json") == b"x"


async def test_invalid_overwrite_leaves_old_content_intact(server, blobs, transport, uid):
    name = f"{uid}-keep"
    original = "original content ✓\n"
    async with mcp_session(server.base_url, transport) as s:
        structured(await s.call_tool("save_snippet", {"snippetname": name, "snippet": original}))
        etag = blobs.container().get_blob_client(f"{name}.json").get_blob_properties().etag

        assert_tool_error(
            await s.call_tool("save_snippet", {"snippetname": name, "snippet": "x" * (sup.MAX_SNIPPET_BYTES + 1)}),
            "snippet too large:",
        )
        # Malformed arguments: a protocol error or a tool error are both acceptable, a write is not.
        for bad_args in ({"snippetname": name}, {"snippetname": name, "snippet": 42}, {"snippetname": name, "snippet": None}):
            with sup.step(f"save_snippet {bad_args!r}"):
                try:
                    r = await s.call_tool("save_snippet", bad_args)
                except Exception:  # noqa: BLE001 - a JSON-RPC error is a refusal too
                    pass
                else:
                    assert r.is_error is True, f"accepted malformed arguments: {r!r}"

        got = assert_ok(await s.call_tool("get_snippet", {"snippetname": name}))
        assert result_text(got) == original
    props = blobs.container().get_blob_client(f"{name}.json").get_blob_properties()
    assert props.etag == etag
    assert blobs.read(f"{name}.json") == original.encode()


async def test_get_and_delete_of_missing_snippet_say_not_found(server, blobs, transport, uid):
    name = f"{uid}-never-saved"
    async with mcp_session(server.base_url, transport) as s:
        assert_tool_error(await s.call_tool("get_snippet", {"snippetname": name}), "snippet not found:")
        assert_tool_error(await s.call_tool("delete_snippet", {"snippetname": name}), "snippet not found:")
        structured(await s.call_tool("save_snippet", {"snippetname": name, "snippet": "now"}))
        assert structured(await s.call_tool("delete_snippet", {"snippetname": name}))["deleted"] is True
        # Deleting twice: the second time it is gone.
        assert_tool_error(await s.call_tool("delete_snippet", {"snippetname": name}), "snippet not found:")
    assert blobs.names(uid) == []


# ------------------------------------------------------------------------------- listing


async def list_all(s, prefix: str, limit: int | None, max_pages: int = 200) -> tuple[list[dict], list[int]]:
    """Follows nextCursor to the end (bounded); returns every entry and each page's size."""
    entries: list[dict] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(max_pages):
        args: dict = {"prefix": prefix}
        if limit is not None:
            args["limit"] = limit
        if cursor is not None:
            args["cursor"] = cursor
        page = structured(await s.call_tool("list_snippets", args))
        entries.extend(page["snippets"])
        sizes.append(len(page["snippets"]))
        cursor = page.get("nextCursor")
        if cursor is None:
            return entries, sizes
        assert isinstance(cursor, str) and cursor, page
    raise AssertionError(f"list_snippets still had a cursor after {max_pages} pages")


async def test_list_with_prefix_and_cursor_returns_every_name_once(server, transport, uid):
    a_names = {f"{uid}-a-{i:03d}": f"content {i} " + "∑" * i for i in range(23)}
    b_names = {f"{uid}-b-{i:03d}": "b" for i in range(5)}
    async with mcp_session(server.base_url, transport) as s:
        for name, body in {**a_names, **b_names}.items():
            structured(await s.call_tool("save_snippet", {"snippetname": name, "snippet": body}))

        entries, sizes = await list_all(s, f"{uid}-a-", limit=5)
        names = [e["name"] for e in entries]
        assert sorted(names) == sorted(a_names), "pagination lost or invented names"
        assert len(names) == len(set(names)), f"a name appeared twice: {names}"
        assert all(n <= 5 for n in sizes) and sum(sizes) == 23 and len(sizes) >= 5, sizes
        for e in entries:
            assert e["bytes"] == len(a_names[e["name"]].encode()), e

        entries, sizes = await list_all(s, f"{uid}-b-", limit=1000)
        assert sorted(e["name"] for e in entries) == sorted(b_names) and sizes == [5]

        entries, _ = await list_all(s, f"{uid}-", limit=None)  # default limit 100 > 28
        assert sorted(e["name"] for e in entries) == sorted({**a_names, **b_names})

        entries, sizes = await list_all(s, f"{uid}-a-", limit=1)
        assert sorted(e["name"] for e in entries) == sorted(a_names) and sizes.count(1) >= 23

        entries, _ = await list_all(s, f"{uid}-zzz", limit=10)
        assert entries == []


async def test_list_refuses_out_of_range_limits(server, transport, uid):
    async with mcp_session(server.base_url, transport) as s:
        for limit in (0, -1, 1001):
            with sup.step(f"limit={limit}"):
                try:
                    r = await s.call_tool("list_snippets", {"prefix": uid, "limit": limit})
                except Exception:  # noqa: BLE001 - a JSON-RPC invalid-params error is a refusal too
                    continue
                assert r.is_error is True, f"limit {limit} accepted: {r!r}"


# ------------------------------------------------------------------ unusual but valid names

VALID_NAMES = {
    "inner_space": "my snippet",
    "hash": "a#b",
    "query_chars": "a?b=c&d",
    "percent": "100%",
    "percent_encoded_look": "a%2Fb",
    "plus": "a+b",
    "accented": "café",
    "emoji": "😀 emoji",
    "cjk": "漢字のスニペット",
    "dots": "v1.2.3.final",
    "single_dot": ".",
    "semicolon": "semi;colon",
    "quotes": "quote'\"",
    "brackets": "[b]{c}(d)<e>",
    "misc": "tilde~comma,at@dollar$star*bang!pipe|caret^backtick`",
    "json_suffix": "already.json",
}


@pytest.mark.parametrize("kind", list(VALID_NAMES))
async def test_unusual_valid_names_map_exactly_to_blob_names(server, blobs, transport, uid, kind):
    name = f"{uid}-{VALID_NAMES[kind]}"
    content = f"content of {kind}"
    async with mcp_session(server.base_url, transport) as s:
        saved = structured(await s.call_tool("save_snippet", {"snippetname": name, "snippet": content}))
        assert saved["name"] == name
        # The blob is named exactly `<name>.json`: no escaping artefacts, no double encoding.
        assert blobs.names(uid) == [f"{name}.json"]
        assert blobs.read(f"{name}.json") == content.encode()
        assert result_text(assert_ok(await s.call_tool("get_snippet", {"snippetname": name}))) == content
        listed = structured(await s.call_tool("list_snippets", {"prefix": name}))
        assert [e["name"] for e in listed["snippets"]] == [name]
        assert structured(await s.call_tool("delete_snippet", {"snippetname": name}))["deleted"] is True
    assert blobs.names(uid) == []


async def test_concurrent_saves_to_one_name_leave_one_whole_version(server, blobs, transport, uid):
    import asyncio

    name = f"{uid}-race"
    versions = [f"version {i}: " + chr(0x4E00 + i) * (1000 + i) for i in range(20)]
    async with mcp_session(server.base_url, transport) as s:
        rs = await asyncio.gather(
            *(s.call_tool("save_snippet", {"snippetname": name, "snippet": v}) for v in versions)
        )
        for r in rs:
            assert_ok(r)
        final = result_text(assert_ok(await s.call_tool("get_snippet", {"snippetname": name})))
    assert final in versions, "the stored snippet is not one of the versions written"
    assert blobs.read(f"{name}.json") == final.encode()


# ----------------------------------------------------------- data written by someone else


async def test_blobs_written_directly_are_served_like_the_reference_layout(server, blobs, transport, uid):
    """A deployment takes over the reference sample's data: `snippets/<name>.json` holding the text."""
    name = f"{uid}-from-reference"
    text = "saved by the Python reference\r\nwith ünïcödé 🦀\n"
    container = blobs.container()
    if not container.exists():
        container.create_container()
    container.upload_blob(f"{name}.json", text.encode(), overwrite=True)
    async with mcp_session(server.base_url, transport) as s:
        assert result_text(assert_ok(await s.call_tool("get_snippet", {"snippetname": name}))) == text
        listed = structured(await s.call_tool("list_snippets", {"prefix": uid}))
        assert [(e["name"], e["bytes"]) for e in listed["snippets"]] == [(name, len(text.encode()))]


async def test_a_blob_that_is_not_utf8_gives_a_clean_tool_error(server, blobs, transport, uid):
    name = f"{uid}-binary"
    container = blobs.container()
    if not container.exists():
        container.create_container()
    container.upload_blob(f"{name}.json", b"\xff\xfe\x00 not utf-8 \xc3\x28", overwrite=True)
    async with mcp_session(server.base_url, transport) as s:
        r = await s.call_tool("get_snippet", {"snippetname": name})
        assert r.is_error is True, f"non-UTF-8 bytes served as text: {r!r}"
        # The session and the server are fine afterwards.
        assert result_text(assert_ok(await s.call_tool("hello_mcp", {}))) == "Hello I am MCPTool!"


async def test_list_with_a_forged_cursor_is_a_clean_refusal(server, transport, uid):
    async with mcp_session(server.base_url, transport) as s:
        for cursor in ("not-a-real-cursor", "", "%%%", "A" * 5000):
            with sup.step(f"cursor={cursor[:20]!r}"):
                try:
                    r = await s.call_tool("list_snippets", {"prefix": uid, "cursor": cursor})
                except Exception:  # noqa: BLE001 - a JSON-RPC invalid-params error is a clean refusal too
                    continue
                if not r.is_error:
                    # Accepting it is fine only if the answer is well formed.
                    assert isinstance(r.structured_content["snippets"], list), r
        assert result_text(assert_ok(await s.call_tool("hello_mcp", {}))) == "Hello I am MCPTool!"
