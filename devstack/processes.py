"""Child processes with their output in log files, bounded waits, and loopback ports.

Every wait polls against a deadline; every stop is SIGTERM, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import REPO

# Variables a child may inherit; everything else (Azure settings, RUST_LOG, NODE_OPTIONS...) stays out.
INHERITED_ENV = ("PATH", "HOME", "LANG", "TMPDIR")

# Every live process started through ManagedProcess, so a failing test can show their logs.
LIVE_PROCESSES: list[ManagedProcess] = []


class Deadline:
    """A monotonic deadline for bounded polling loops."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's PATH, HOME, LANG and TMPDIR, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k in INHERITED_ENV}
    env.update(extra or {})
    return env


class MissingBinary(RuntimeError):
    """The server binary to run is not there."""


def server_binary() -> Path:
    """The snippets-mcp binary every local run starts: $SNIPPETS_MCP_BIN, else the debug build (what
    scripts/test.sh builds, so the suites do not pay for a release build)."""
    override = os.environ.get("SNIPPETS_MCP_BIN")
    path = Path(override) if override else REPO / "target" / "debug" / "snippets-mcp"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise MissingBinary(f"server binary {path} not found: run `cargo build --bin snippets-mcp` "
                            "(scripts/test.sh does it) or set SNIPPETS_MCP_BIN")
    return path


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (callers retry if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on host:port now.

    It binds the way the servers do (tokio, Node and Mono set SO_REUSEADDR), so sockets left in
    TIME_WAIT by a server that just stopped do not count as "in use", while a listener does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(1)
        except OSError:
            return False
        return True


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether GET url answers 2xx within `timeout` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 300
    except (urllib.error.URLError, OSError):
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_http(url: str, seconds: float, pid: int | None = None) -> str:
    """Polls url until it answers 2xx: "ok", or "exited" when `pid` dies first, or "timeout"."""
    deadline = Deadline(seconds)
    while not deadline.expired():
        if pid is not None and not pid_alive(pid):
            return "exited"
        if http_ok(url, timeout=1.0):
            return "ok"
        time.sleep(0.1)
    return "timeout"


def tail(path: Path, lines: int = 120) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "<no log file>"
    rows = text.splitlines()
    cut = rows[-lines:]
    head = f"... ({len(rows) - len(cut)} earlier lines in {path})\n" if len(rows) > len(cut) else ""
    return head + "\n".join(cut)


def stop_popen(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 10.0) -> int:
    """Signal, wait up to `grace` seconds, then SIGKILL. Returns the exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


@dataclass
class ManagedProcess:
    """A child process whose stdout and stderr go to <log_dir>/<name>.{stdout,stderr}.log.

    It runs in a session of its own, so a terminal's (or pytest's) Ctrl-C does not reach it
    behind the back of whoever stops it in order.
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path = REPO
    log_dir: Path | None = None
    argv_prefix: list[str] = field(default_factory=list)  # e.g. ["taskset", "-c", "1"]
    proc: subprocess.Popen | None = None
    stdout_path: Path = field(init=False)
    stderr_path: Path = field(init=False)

    def __post_init__(self) -> None:
        if self.log_dir is None:
            raise ValueError(f"{self.name}: log_dir is required")
        self.log_dir = Path(self.log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.log_dir / f"{self.name}.stdout.log"
        self.stderr_path = self.log_dir / f"{self.name}.stderr.log"

    def start(self) -> ManagedProcess:
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [*self.argv_prefix, *self.argv],
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        LIVE_PROCESSES.append(self)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def logs(self, lines: int = 120) -> str:
        return (
            f"--- {self.name} (pid {self.proc.pid if self.proc else '-'}, exit {self.exited()}) stdout: {self.stdout_path}\n"
            f"{tail(self.stdout_path, lines)}\n"
            f"--- {self.name} stderr: {self.stderr_path}\n{tail(self.stderr_path, lines)}"
        )

    def wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_until(self, ready: Callable[[], bool], seconds: float, what: str) -> None:
        """Polls `ready` until it is true; raises RuntimeError (with the logs) on exit or timeout."""
        deadline = Deadline(seconds)
        while not deadline.expired():
            if self.exited() is not None:
                raise RuntimeError(f"{self.name} exited with {self.exited()} before {what}\n{self.logs()}")
            if ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: no {what} within {seconds}s\n{self.logs()}")

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> int | None:
        """Signal the process, wait up to `grace` seconds, then kill it. Returns the exit code."""
        if self.proc is None:
            return None
        stop_popen(self.proc, sig, grace)
        if self in LIVE_PROCESSES:
            LIVE_PROCESSES.remove(self)
        return self.proc.returncode
