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


def banner_complete(text: str) -> bool:
    """run-local.sh printed its whole "is running" banner (it ends with the Logs: line and a blank one)."""
    return "snippets-mcp is running" in text and re.search(r"\nLogs: [^\n]*\n\n", text) is not None


def _run_local_env(port: int, azurite_dir, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "CARGO_HOME", "RUSTUP_HOME")}
    env.update(PORT=str(port), SNIPPETS_MCP_BIN=str(sup.server_binary()), AZURITE_DIR=str(azurite_dir), NO_COLOR="1", GATEWAY="0")
    env.update(extra)
    return env


async def test_run_local_serves_mcp_and_ctrl_c_stops_everything(tmp_path, uid):
    port = sup.free_port()
    env = _run_local_env(port, tmp_path / "azurite")  # GATEWAY=0: tests/gateway covers run-local.sh with the gateway
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
            if banner_complete(text) or proc.poll() is not None:
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
        env = _run_local_env(port, tmp_path)
        r = subprocess.run(
            ["bash", str(sup.REPO / "scripts" / "run-local.sh")],
            cwd=sup.REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert r.returncode != 0
    assert f"port {port}" in r.stderr and "PORT=" in r.stderr, r.stderr


# --------------------------------------------------------------------------------------------
# A newcomer's first runs: in a real terminal, stopped and started again at once, twice at once
# --------------------------------------------------------------------------------------------


class Terminal:
    """run-local.sh in a pseudo-terminal of its own, as in a developer's shell: Ctrl-C is the
    byte 0x03 typed into it, which the terminal turns into SIGINT for its foreground process group."""

    def __init__(self, env: dict[str, str], log):
        import fcntl
        import termios
        import threading

        self.log = log
        master, slave = os.openpty()

        def become_terminal_session() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            ["bash", str(sup.REPO / "scripts" / "run-local.sh")], cwd=sup.REPO, env=env,
            stdin=slave, stdout=slave, stderr=slave, preexec_fn=become_terminal_session,
        )  # fmt: skip
        os.close(slave)
        self.master = master
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        with open(self.log, "wb") as out:
            while True:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: every process holding the terminal is gone
                    return
                if not chunk:
                    return
                out.write(chunk.replace(b"\r\n", b"\n"))
                out.flush()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_running(self, seconds: float = 120) -> str:
        deadline = Deadline(seconds)
        while not deadline.expired() and not banner_complete(self.text()) and self.proc.poll() is None:
            time.sleep(0.1)
        assert "snippets-mcp is running" in self.text(), f"run-local.sh did not come up (exit {self.proc.poll()}):\n{self.text()}"
        return self.text()

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        os.close(self.master)
        return self.proc.returncode


def leave_time_wait_on(port: int) -> None:
    """Leaves a TIME_WAIT socket on 127.0.0.1:port, as a server that just stopped does: the
    server side closes its connection first."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            conn, _ = listener.accept()
            conn.close()
            assert client.recv(1) == b""  # the server's FIN arrived
    with socket.socket() as plain, pytest.raises(OSError):  # precondition: a bind without SO_REUSEADDR fails
        plain.bind(("127.0.0.1", port))


async def _save_and_get(port: int, name: str, text: str | None) -> str:
    async with mcp_session(f"http://127.0.0.1:{port}", "http") as s:
        if text is not None:
            assert_ok(await s.call_tool("save_snippet", {"snippetname": name, "snippet": text}))
        return result_text(assert_ok(await s.call_tool("get_snippet", {"snippetname": name})))


async def test_run_local_in_a_terminal_stops_on_ctrl_c_restarts_at_once_and_refuses_a_second_copy(tmp_path, uid):
    port = sup.free_port()
    leave_time_wait_on(port)  # what stopping a server leaves behind
    data = tmp_path / "azurite"
    first = Terminal(_run_local_env(port, data), sup.ARTIFACTS / "run-local-terminal-1.log")
    try:
        first.wait_running()
        assert await _save_and_get(port, f"{uid}-kept", "survives a restart") == "survives a restart"

        # A second run-local.sh on the same data is refused, and the first one is unharmed.
        other = sup.free_port()
        second = subprocess.run(
            ["bash", str(sup.REPO / "scripts" / "run-local.sh")], cwd=sup.REPO, env=_run_local_env(other, data),
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 1, second
        assert "another scripts/run-local.sh is running with" in second.stderr and "AZURITE_DIR=" in second.stderr, second.stderr
        assert "starting Azurite" not in second.stdout and not port_open(other), second.stdout
        assert await _save_and_get(port, f"{uid}-kept", None) == "survives a restart"

        first.ctrl_c()
        try:
            code = first.proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run-local.sh still running 45s after Ctrl-C:\n{first.text()}")
    finally:
        code = first.close()
    text = first.text()
    assert code == 130, f"exit status {code}:\n{text}"
    assert "stack stopped (Ctrl-C)" in text, text
    assert "exited (status" not in text and "did not stop" not in text, text
    assert not port_open(port), "the server was left behind"

    # Started again at once on the same port and data: it comes up and still has the snippet.
    again = Terminal(_run_local_env(port, data), sup.ARTIFACTS / "run-local-terminal-2.log")
    try:
        again.wait_running()
        assert await _save_and_get(port, f"{uid}-kept", None) == "survives a restart"
        again.proc.send_signal(signal.SIGTERM)
        code = again.proc.wait(timeout=45)
    finally:
        code = again.close()
    assert code == 143, f"exit status {code}:\n{again.text()}"
    assert "stack stopped (SIGTERM)" in again.text() and "exited (status" not in again.text(), again.text()


def test_run_local_announces_the_build_and_shows_its_log_only_on_failure(tmp_path):
    # A real cargo that fails at once: no target triple of that name exists.
    env = _run_local_env(sup.free_port(), tmp_path / "azurite", CARGO_BUILD_TARGET="no-such-triple", CARGO_TARGET_DIR=str(tmp_path / "target"))
    del env["SNIPPETS_MCP_BIN"]
    r = subprocess.run(
        ["bash", str(sup.REPO / "scripts" / "run-local.sh")], cwd=sup.REPO, env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    build_log = tmp_path / "target" / "run-local-build.log"
    assert r.returncode == 1, r
    assert "the first build takes a few minutes" in r.stdout and str(build_log.name) in r.stdout, r.stdout
    assert "no-such-triple" in build_log.read_text(), "the compiler output is not in the build log"
    assert "no-such-triple" in r.stderr and f"cargo build failed (last lines above; all of it in {build_log})" in r.stderr, r.stderr
    assert "no-such-triple" not in r.stdout, "compiler output went to the terminal instead of the log"
    assert "starting Azurite" not in r.stdout, "Azurite was started before the build"


def test_port_check_counts_a_listener_as_busy_but_not_time_wait_leftovers():
    def port_free(port: int) -> int:
        return subprocess.run(
            ["python3", "-m", "devstack", "port-free", str(port)], cwd=sup.REPO, capture_output=True, timeout=30
        ).returncode

    stopped = sup.free_port()
    leave_time_wait_on(stopped)
    assert port_free(stopped) == 0, "a port with only TIME_WAIT sockets on it is free for a server"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert port_free(listener.getsockname()[1]) == 1, "a port something listens on is busy"
