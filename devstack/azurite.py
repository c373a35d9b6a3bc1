"""Azurite (local Azure Storage) on loopback, and the well-known development account.

Ports are 0 by default: Azurite binds free ones and prints them, and they are read from its log,
so two stacks never race for a port.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import REPO
from .processes import Deadline, ManagedProcess, clean_env

# The well-known Azurite development account (public, documented by Microsoft; not a secret).
# The only copy in Python: every script and test reads it from here.
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

SERVICES = ("blob", "queue", "table")
_SCRIPTS = {
    SERVICES: Path("node_modules/azurite/dist/src/azurite.js"),
    ("blob",): Path("node_modules/azurite/dist/src/blob/main.js"),
}
_LISTEN_RE = re.compile(
    r"Azurite (Blob|Queue|Table) service (?:is successfully listening at|successfully listens on) http://127\.0\.0\.1:(\d+)"
)


class AzuriteError(RuntimeError):
    """Azurite is missing, exited, or did not report its ports in time."""


def endpoint(port: int) -> str:
    """A service's endpoint including the account, as connection strings and SDKs want it."""
    return f"http://127.0.0.1:{port}/{ACCOUNT}"


def connection_string(ports: dict[str, int]) -> str:
    """A full connection string with an explicit endpoint for every service in `ports`."""
    parts = [f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"]
    for kind in SERVICES:
        if kind in ports:
            parts.append(f"{kind.capitalize()}Endpoint={endpoint(ports[kind])};")
    return "".join(parts)


def script(services: tuple[str, ...] = SERVICES) -> Path:
    path = REPO / _SCRIPTS[services]
    if not path.exists():
        raise AzuriteError(f"{path} is missing: run `npm ci` in {REPO} (scripts/test.sh does it)")
    return path


@dataclass
class Azurite:
    """One Azurite process. `start()` returns once every service answers HTTP."""

    workdir: Path
    log_dir: Path | None = None  # default: workdir
    name: str = "azurite"
    # Ports to bind; 0 (the default) lets the OS choose free ones.
    fixed_ports: dict[str, int] = field(default_factory=dict)
    services: tuple[str, ...] = SERVICES
    in_memory: bool = False
    silent: bool = False  # no access log (the benchmarks: logging every request costs CPU)
    argv_prefix: list[str] = field(default_factory=list)  # e.g. taskset -c N
    process: ManagedProcess | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def argv(self) -> list[str]:
        node = os.environ.get("E2E_NODE", "node")
        argv = [node, str(script(self.services))]
        argv += ["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.workdir)]
        for kind in self.services:
            argv += [f"--{kind}Host", "127.0.0.1", f"--{kind}Port", str(self.fixed_ports.get(kind, 0))]
        argv += ["--silent"] if self.silent else []
        return [*argv, "--skipApiVersionCheck", "--loose", "--disableTelemetry"]

    def start(self, timeout: float = 60.0) -> Azurite:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            self.name, self.argv(), clean_env(), cwd=self.workdir, log_dir=self.log_dir or self.workdir,
            argv_prefix=self.argv_prefix,
        )  # fmt: skip
        self.process.start()
        deadline = Deadline(timeout)
        try:
            self.process.wait_until(self._ports_reported, deadline.remaining(), "ports in its log")
            for kind in self.services:
                self.process.wait_until(lambda k=kind: _answers(self.endpoint(k)), deadline.remaining(), f"{kind} answer")
        except RuntimeError as e:
            self.stop()
            raise AzuriteError(f"Azurite did not start: {e}") from e
        return self

    def _ports_reported(self) -> bool:
        assert self.process is not None
        for kind, port in _LISTEN_RE.findall(self.process.stdout()):
            self.ports[kind.lower()] = int(port)
        return all(k in self.ports for k in self.services)

    def endpoint(self, kind: str) -> str:
        return endpoint(self.ports[kind])

    def connection_string(self) -> str:
        return connection_string(self.ports)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def _answers(url: str) -> bool:
    """Any HTTP answer (Azurite says 400/403 to an unauthenticated GET) means the service is up."""
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
