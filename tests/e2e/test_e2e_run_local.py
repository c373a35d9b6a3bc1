"""scripts/run-local.sh as a newcomer runs it: Azurite + server come up, work, and Ctrl-C stops both.

Uses the debug binary (SNIPPETS_MCP_BIN) so the suite does not pay for a release build, and a
temporary AZURITE_DIR so the repository's .azurite/ is left alone.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time

import pytest

import e2e_support as sup
from e2e_support import Deadline, assert_ok, mcp_session, result_text

pytestmark = pytest.mark.anyio


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_run_local_serves_mcp_and_ctrl_c_stops_everything(tmp_path, uid):
    port = sup.free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "CARGO_HOME", "RUSTUP_HOME")}
    env.update(
        PORT=str(port),
        SNIPPETS_MCP_BIN=str(sup.server_binary()),
        AZURITE_DIR=str(tmp_path / "azurite"),
        NO_COLOR="1",
        GATEWAY="0",  # the server alone; tests/gateway covers run-local.sh with the gateway
    )
    log = sup.ARTIFACTS / "run-local.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", str(sup.REPO / "scripts" / "run-local.sh")],
            cwd=sup.REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's foreground job
            # A terminal delivers Ctrl-C to a shell whose SIGINT is not ignored; make sure of that.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline = Deadline(120)
        text = ""
        while not deadline.expired():
            text = log.read_text(errors="replace")
            if "snippets-mcp is running" in text or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert "snippets-mcp is running" in text, f"run-local.sh did not come up (exit {proc.poll()}):\n{text}"
        assert f"http://127.0.0.1:{port}/mcp" in text and f"http://127.0.0.1:{port}/sse" in text, text
        assert "inspector.sh --cli" in text, text
        az_ports = [int(p) for p in re.findall(r"(?:blob|queue|table) http://127\.0\.0\.1:(\d+)", text)]
        assert len(az_ports) == 3, text

        base = f"http://127.0.0.1:{port}"
        for transport in sup.TRANSPORTS:
            async with mcp_session(base, transport) as s:
                name = f"{uid}-{transport}"
                assert_ok(await s.call_tool("save_snippet", {"snippetname": name, "snippet": "from run-local"}))
                got = assert_ok(await s.call_tool("get_snippet", {"snippetname": name}))
                assert result_text(got) == "from run-local"
        # The data is in Azurite, whose files are in AZURITE_DIR.
        conn = sup.Azurite(tmp_path)
        conn.ports = dict(zip(("blob", "queue", "table"), az_ports, strict=True))
        assert sup.BlobInspector(conn.connection_string()).names(uid) == [f"{uid}-http.json", f"{uid}-sse.json"]
        assert any((tmp_path / "azurite").iterdir())

        # Ctrl-C: SIGINT to the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run-local.sh still running 45s after Ctrl-C:\n{log.read_text(errors='replace')}")
        assert code == 130, f"exit status {code}"
        for p in [port, *az_ports]:
            assert not port_open(p), f"port {p} still answers after Ctrl-C: a process was left behind"
        text = log.read_text(errors="replace")
        assert "stopped" in text
        assert "did not stop" not in text, f"a process had to be killed:\n{text}"
    finally:
        if proc.poll() is None:
            # Let its trap stop the server and Azurite (which runs in a session of its own) first.
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_run_local_refuses_a_busy_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env.update(PORT=str(port), SNIPPETS_MCP_BIN=str(sup.server_binary()), AZURITE_DIR=str(tmp_path), GATEWAY="0")
        r = subprocess.run(
            ["bash", str(sup.REPO / "scripts" / "run-local.sh")],
            cwd=sup.REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert r.returncode != 0
    assert f"port {port}" in r.stderr and "PORT=" in r.stderr, r.stderr
