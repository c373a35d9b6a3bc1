"""The run's storage and servers: one CA and one managed identity endpoint per run, Azurite in memory over HTTPS
with `--oauth basic` on its own CPUs, and each server under test started on the server CPUs."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import os
import re
import shutil
import ssl
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

from common import BENCH, CPUS, HELLO, HELLO_REPLY, SNIPPET, free_port, post, serving, spawn
from credentials import TokenEndpoint, Tls, storage_jwt
from devstack import azurite as devstack_azurite

ACCOUNT, KEY = devstack_azurite.ACCOUNT, devstack_azurite.KEY
CONTAINER = "snippets"
BLOBS = f"/{ACCOUNT}/{CONTAINER}"  # the raw blob requests' path
SEEDS = 256  # the blobs get_snippet and raw GETs read (seed-0 .. seed-255, as bench/lua/mcp.lua names them)
API_VERSION = "2025-01-05"
# The binary under test is copied here at start, so a rebuild during the run cannot change it half-way; the
# baseline binary (bench/baseline.sh, the CPU-per-call goals' comparison) beside it.
RUST_BIN = BENCH / "results" / "bin" / "snippets-mcp"
BASELINE_BIN = RUST_BIN.with_name("snippets-mcp-baseline")
ECHO_BIN = BENCH / "target" / "release" / "bench-echo"
SERVERS = {  # name: (label, argv without --port, extra environment, an MCP server)
    "rust": ("snippets-mcp (Rust, rmcp + axum)", [str(RUST_BIN)], {}, True),
    "baseline": ("snippets-mcp before the performance work (bench/baseline.sh)", [str(BASELINE_BIN)], {}, True),
    "python": ("Python SDK (mcp + uvicorn)",
               [str(BENCH / ".venv" / "bin" / "python"), str(BENCH / "servers" / "python" / "server.py")], {}, True),
    "ts": ("TypeScript SDK (Node)", [shutil.which("node") or "node", str(BENCH / "servers" / "ts" / "server.mjs")],
           {"NODE_ENV": "production"}, True),
    "echo": ("limit: minimal axum JSON echo", [str(ECHO_BIN)], {}, False),
}
_HTTPS_LISTEN = re.compile(
    r"Azurite Blob service (?:is successfully listening at|successfully listens on) https://127\.0\.0\.1:(\d+)")
TLS: Tls  # set by setup()
TOKENS: TokenEndpoint


def setup() -> None:
    """The run's CA + Azurite certificate, and the managed identity endpoint every server's credential calls."""
    global TLS, TOKENS
    TLS, TOKENS = Tls(Path(tempfile.mkdtemp(prefix="bench-tls-"))), TokenEndpoint()


def teardown() -> None:
    TOKENS.close()
    shutil.rmtree(TLS.dir, ignore_errors=True)


class Azurite(devstack_azurite.Azurite):
    """devstack's Azurite, blob only, in memory, without an access log, on the Azurite CPUs, over HTTPS with
    `--oauth basic` (bearer tokens; Shared Key and SAS still work). A context manager: closed on exit."""

    started = 0

    @classmethod
    def run(cls, logdir: Path) -> Azurite:
        cls.started += 1
        az = cls(Path(tempfile.mkdtemp(prefix="bench-azurite-")), log_dir=logdir, name=f"azurite-{cls.started}",
                 services=("blob",), in_memory=True, silent=True, argv_prefix=["taskset", "-c", CPUS.azurite])
        # devstack's readiness probe (urllib's default context) trusts the run's CA while Azurite starts, and
        # only then: children such as pip in the package phase keep the system's trust store.
        with mock.patch.dict(os.environ, SSL_CERT_FILE=str(TLS.ca)):
            return az.start(timeout=30)

    def argv(self) -> list[str]:
        return [*super().argv(), "--oauth", "basic", "--cert", str(TLS.cert), "--key", str(TLS.key)]

    def _ports_reported(self) -> bool:
        m = _HTTPS_LISTEN.search(self.process.stdout())
        if m:
            self.ports["blob"] = int(m.group(1))
        return "blob" in self.ports

    def endpoint(self, kind: str = "blob") -> str:
        return f"https://127.0.0.1:{self.ports[kind]}/{ACCOUNT}"

    @property
    def port(self) -> int:
        return self.ports["blob"]

    def connection_string(self) -> str:
        return f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={self.endpoint()};"

    def seed(self) -> None:
        from azure.storage.blob import BlobServiceClient
        svc = BlobServiceClient.from_connection_string(self.connection_string(), api_version=API_VERSION,
                                                       connection_verify=str(TLS.ca))
        c = svc.get_container_client(CONTAINER)
        c.create_container()
        with ThreadPoolExecutor(8) as pool:  # seeding is set-up, not measurement: keep it short
            list(pool.map(lambda i: c.upload_blob(f"seed-{i}.json", SNIPPET.encode(), overwrite=True), range(SEEDS)))

    def sas(self) -> str:
        """An account SAS for blobs, like the one snippets-mcp mints from the account key (same check in Azurite)."""
        from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas
        return generate_account_sas(
            ACCOUNT, KEY, resource_types=ResourceTypes(service=True, container=True, object=True),
            permission=AccountSasPermissions(read=True, write=True, delete=True, list=True, create=True),
            expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2), protocol="https,http")

    def bearer_enforced(self) -> dict[str, int]:
        """Azurite really checks tokens: a read with a wrong-audience token must be refused and the same read with
        the endpoint's token must succeed (else the bearer table would measure nothing)."""
        def status(token: str) -> int:
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                            context=ssl.create_default_context(cafile=str(TLS.ca)))
            try:
                c.request("GET", f"{BLOBS}/seed-0.json",
                          headers={"Authorization": f"Bearer {token}", "x-ms-version": API_VERSION})
                r = c.getresponse()
                r.read()
                return r.status
            finally:
                c.close()

        got = {"good": status(TOKENS.token()), "wrong_audience": status(storage_jwt("https://vault.azure.net")[0])}
        if got["good"] != 200 or got["wrong_audience"] not in (401, 403):
            raise RuntimeError(f"Azurite's bearer check is not what the benchmark needs: {got}")
        return got

    def env(self, credential: str) -> dict[str, str]:
        """A server's storage settings: `bearer` = managed identity (IDENTITY_* + blob URI), as on Flex Consumption;
        `key` = the connection string (the Rust server mints an account SAS from it, the peers' SDKs sign with
        Shared Key). Either way the server trusts the run's CA for Azurite's HTTPS."""
        ca = str(TLS.ca)
        env = {"SSL_CERT_FILE": ca, "REQUESTS_CA_BUNDLE": ca, "NODE_EXTRA_CA_CERTS": ca}
        if credential == "bearer":
            return {**env, **TOKENS.env(), "AzureWebJobsStorage__blobServiceUri": self.endpoint(),
                    "AzureWebJobsStorage__credential": "managedidentity"}
        if credential == "key":
            return {**env, "AzureWebJobsStorage": self.connection_string()}
        raise ValueError(f"unknown credential {credential!r}")

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def spawn_server(name: str, port: int, storage: dict[str, str], logdir: Path):
    _, argv, extra, _ = SERVERS[name]
    with open(logdir / f"{name}-{port}.log", "w") as out:
        return spawn([*argv, "--port", str(port)], CPUS.server, out, {**extra, **storage})


@contextlib.contextmanager
def running(name: str, storage: dict[str, str], logdir: Path):
    """(process, port) of a server on the server CPUs that has answered one hello_mcp correctly; stopped on exit."""
    _, argv, extra, mcp = SERVERS[name]
    port = free_port()
    with serving(argv, CPUS.server, logdir / f"{name}-{port}.log", {**extra, **storage}, mcp=mcp, grace=5,
                 port=port) as (proc, port):
        status, text = post(port, HELLO)
        assert status == 200 and HELLO_REPLY in text, (status, text[:300])
        yield proc, port


@contextlib.contextmanager
def seeded_azurite(prefix: str):
    """For a profile script run alone: the run's CA and token endpoint, and one seeded Azurite (logs in a temporary
    folder, `az.log_dir`)."""
    setup()
    try:
        with Azurite.run(Path(tempfile.mkdtemp(prefix=f"{prefix}-logs-"))) as az:
            az.seed()
            yield az
    finally:
        teardown()
