"""The production credential path on loopback: a per-run CA for Azurite's HTTPS, and a managed identity endpoint
speaking the App Service protocol, so every SDK under test takes its real managed identity code path."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import subprocess
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from devstack.loopback_http import LoopbackServer, answer_json

# Audiences Azurite accepts for blob (VALID_BLOB_AUDIENCES), and the issuer prefix of Entra ID's v1 tokens:
# Azurite's `--oauth basic` checks issuer prefix, audience and nbf/exp/iat, not the signature
# (node_modules/azurite/dist/src/blob/authentication/BlobTokenAuthenticator.js).
STORAGE_RESOURCES = ("https://storage.azure.com", "https://storage.azure.com/")
ISSUER = "https://sts.windows.net/00000000-0000-0000-0000-000000000000/"
API_VERSION = "2019-08-01"
TOKEN_LIFETIME_S = 3600


class Tls:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (openssl), in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca, self.cert, self.key = self.dir / "ca.pem", self.dir / "server.pem", self.dir / "server-key.pem"
        ca_key, csr, ext = self.dir / "ca-key.pem", self.dir / "server.csr", self.dir / "server.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for argv in (
            ["req", "-x509", *ec, "-keyout", ca_key, "-out", self.ca, "-days", "2",
             "-subj", "/CN=snippets-mcp bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req", *ec, "-keyout", self.key, "-out", csr, "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial", "-out", self.cert,
             "-days", "2", "-extfile", ext],
        ):
            subprocess.run(["openssl", *map(str, argv)], check=True, capture_output=True, timeout=30)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def storage_jwt(audience: str, now: float | None = None) -> tuple[str, int]:
    """A JWT with the claims Azurite's basic OAuth check reads; returns it and its expiry (epoch seconds)."""
    now = int(now if now is not None else time.time())
    exp = now + TOKEN_LIFETIME_S
    claims = {"aud": audience, "iss": ISSUER, "iat": now - 60, "nbf": now - 60, "exp": exp,
              "oid": "00000000-0000-0000-0000-0000000000be", "sub": "bench", "ver": "1.0"}
    head, body = (_b64(json.dumps(d).encode()) for d in ({"alg": "RS256", "typ": "JWT"}, claims))
    return f"{head}.{body}.{_b64(secrets.token_bytes(32))}", exp


class TokenEndpoint:
    """The managed identity endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) on 127.0.0.1, a thread of the
    harness: `GET ?resource=<aud>&api-version=2019-08-01` with the secret in `X-IDENTITY-HEADER` answers
    `access_token`, `expires_on` (epoch seconds as a string), `resource`, `token_type`. Counts what it served."""

    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(24)
        self.issued = 0
        self.refused: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # quiet: the harness logs its own summary
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                answer_json(self, *outer.answer(self.path, self.headers.get("X-IDENTITY-HEADER")))

        self.server = LoopbackServer(Handler, name="token-endpoint")
        self.port = self.server.port

    def env(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": f"http://127.0.0.1:{self.port}/msi/token", "IDENTITY_HEADER": self.secret}

    def answer(self, path: str, secret: str | None) -> tuple[int, dict]:
        """The endpoint's whole behaviour: (status, JSON body) for one request."""
        url = urllib.parse.urlsplit(path)
        q = urllib.parse.parse_qs(url.query)
        resource = (q.get("resource") or [""])[0]
        if url.path != "/msi/token":
            return self._refuse(404, f"unknown path {url.path}")
        if secret is None or not hmac.compare_digest(secret.encode(), self.secret.encode()):
            return self._refuse(401, "missing or wrong X-IDENTITY-HEADER")
        if (q.get("api-version") or [""])[0] != API_VERSION:
            return self._refuse(400, f"api-version must be {API_VERSION}, got {q.get('api-version')}")
        if resource not in STORAGE_RESOURCES:
            return self._refuse(400, f"resource must be Azure Storage, got {resource!r}")
        token, exp = storage_jwt(resource.rstrip("/"))
        self.issued += 1
        return 200, {"access_token": token, "expires_on": str(exp), "resource": resource, "token_type": "Bearer"}

    def token(self) -> str:
        """A token as the endpoint would issue it, for the raw blob limit (wrk sends it as is)."""
        return storage_jwt(STORAGE_RESOURCES[0])[0]

    def _refuse(self, status: int, why: str) -> tuple[int, dict]:
        self.refused.append(why)
        return status, {"error": "invalid_request", "error_description": why}

    def close(self) -> None:
        self.server.close()
