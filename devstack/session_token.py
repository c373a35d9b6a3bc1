"""v1 session tokens (docs/session-token.md), sealed and opened independently of the Rust crate.

One key type, `SessionKeys`: the two raw 32-byte keys. The gateway's named values and the
server's settings carry them as standard base64 (`.enc_b64`, `.mac_b64`, `server_env()`).
Sealing needs `cryptography` (imported only here, when called): the standard library has no AES.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
from typing import NamedTuple

from . import REPO

VERSION = 0x01
TAG_BYTES = 32
IV_BYTES = 16


class SessionTokenError(ValueError):
    """A token that is malformed, from another version, or fails its MAC."""


class SessionKeys(NamedTuple):
    """(AES-256 key, HMAC-SHA256 key), 32 raw bytes each. `enc, mac = keys` unpacks the bytes;
    `keys["enc"]` / `keys["mac"]` give the base64 text that settings and named values carry."""

    enc: bytes
    mac: bytes

    @classmethod
    def random(cls) -> SessionKeys:
        return cls(os.urandom(32), os.urandom(32))

    @classmethod
    def from_b64(cls, enc: str, mac: str) -> SessionKeys:
        return cls(base64.b64decode(enc, validate=True), base64.b64decode(mac, validate=True))

    @classmethod
    def coerce(cls, keys: SessionKeys | dict | tuple) -> SessionKeys:
        """SessionKeys from itself, a {"enc","mac"} mapping of base64 text, or a (bytes, bytes) pair."""
        if isinstance(keys, cls):
            return keys
        if isinstance(keys, dict):
            return cls.from_b64(keys["enc"], keys["mac"])
        enc, mac = keys
        return cls(enc, mac)

    @property
    def enc_b64(self) -> str:
        return base64.b64encode(self.enc).decode()

    @property
    def mac_b64(self) -> str:
        return base64.b64encode(self.mac).decode()

    def __getitem__(self, item):  # type: ignore[override]
        if item == "enc":
            return self.enc_b64
        if item == "mac":
            return self.mac_b64
        return tuple.__getitem__(self, item)

    def server_env(self, audience: str) -> dict[str, str]:
        """The server's settings that turn the session-token check on (docs/server.md)."""
        return {"SESSION_TOKEN_ENC_KEY": self.enc_b64, "SESSION_TOKEN_MAC_KEY": self.mac_b64, "MCP_RESOURCE_URL": audience}


# What the previous-key settings hold when no rotation is in progress: Key Vault secrets and APIM
# named values cannot be empty (docs/session-token.md, "Rotation").
PREVIOUS_KEY_NONE = "none"
PREVIOUS_UNTIL_NONE = "0"


def named_values(current: SessionKeys, previous: SessionKeys | None = None, until: int = 0) -> dict[str, str]:
    """The gateway's five session-key named values: the current pair, and the previous pair
    accepted while now < `until` (Unix seconds), or `none` / `0` without a rotation."""
    return {
        "SessionTokenEncKey": current.enc_b64,
        "SessionTokenMacKey": current.mac_b64,
        "SessionTokenPreviousEncKey": previous.enc_b64 if previous else PREVIOUS_KEY_NONE,
        "SessionTokenPreviousMacKey": previous.mac_b64 if previous else PREVIOUS_KEY_NONE,
        "SessionTokenPreviousUntil": str(until) if previous else PREVIOUS_UNTIL_NONE,
    }


def previous_server_env(previous: SessionKeys | None = None, until: int = 0) -> dict[str, str]:
    """The server's settings for the previous pair of a rotation (docs/server.md), or `none` /
    `0` as the vault holds them without one."""
    return {
        "SESSION_TOKEN_PREVIOUS_ENC_KEY": previous.enc_b64 if previous else PREVIOUS_KEY_NONE,
        "SESSION_TOKEN_PREVIOUS_MAC_KEY": previous.mac_b64 if previous else PREVIOUS_KEY_NONE,
        "SESSION_TOKEN_PREVIOUS_UNTIL": str(until) if previous else PREVIOUS_UNTIL_NONE,
    }


def generate_keys() -> SessionKeys:
    """Fresh keys from the project's own generator (crates/session-token), as the deployment makes them."""
    run = subprocess.run(
        ["cargo", "run", "-q", "-p", "session-token", "--bin", "session-token-keygen", "--", "--format", "json"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"session-token-keygen failed:\n{run.stderr}")
    keys = json.loads(run.stdout)
    return SessionKeys.from_b64(keys["encKey"], keys["macKey"])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(keys: SessionKeys, claims: dict, iv: bytes | None = None) -> str:
    """version 0x01 || IV || AES-256-CBC(PKCS#7(claims JSON)) || HMAC-SHA256, base64url without padding."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = iv or secrets.token_bytes(IV_BYTES)
    plaintext = json.dumps(claims, separators=(",", ":")).encode()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(keys.enc), modes.CBC(iv)).encryptor()
    signed = bytes([VERSION]) + iv + encryptor.update(padded) + encryptor.finalize()
    return b64url(signed + hmac.new(keys.mac, signed, hashlib.sha256).digest())


def open_token(keys: SessionKeys, token: str) -> dict:
    """The claims of a token sealed with `keys`; SessionTokenError when it is not one."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    raw = b64url_decode(token)
    if len(raw) < 1 + IV_BYTES + 16 + TAG_BYTES or raw[0] != VERSION:
        raise SessionTokenError("session token: not a v1 token")
    signed, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
    if not hmac.compare_digest(hmac.new(keys.mac, signed, hashlib.sha256).digest(), tag):
        raise SessionTokenError("session token: bad MAC")
    decryptor = Cipher(algorithms.AES(keys.enc), modes.CBC(raw[1 : 1 + IV_BYTES])).decryptor()
    padded = decryptor.update(signed[1 + IV_BYTES :]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return json.loads(unpadder.update(padded) + unpadder.finalize())
