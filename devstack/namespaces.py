"""Blob names of the server's per-user snippet namespaces, for tests that check storage directly.

The rule is the server's (`src/snippets/namespace.rs`, documented in docs/server.md); a test that
reads Azurite with this name fails if the two ever disagree.
"""

from __future__ import annotations

import hashlib


def user_blob(sub: str, snippet: str) -> str:
    """Blob name of `snippet` in the namespace of the verified token subject `sub`."""
    key = hashlib.sha256(b"snippets-mcp namespace v1\0" + sub.encode()).hexdigest()[:32]
    return f"u/{key}/{snippet}.json"
