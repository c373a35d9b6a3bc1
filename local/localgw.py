#!/usr/bin/env python3
"""The local perimeter launcher, kept under its old name: it now lives in devstack/gateway.py
(the library) and devstack/__main__.py (`python3 -m devstack gateway`, what local/run-gateway.sh
runs). Code that imports `localgw` keeps working through these re-exports."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devstack.azurite import ACCOUNT as AZURITE_ACCOUNT  # noqa: E402,F401
from devstack.azurite import KEY as AZURITE_KEY  # noqa: E402,F401
from devstack.csharp import build_runner, newtonsoft  # noqa: E402,F401
from devstack.gateway import (  # noqa: E402,F401
    ENTRA_AUTHORITY,
    IDP_SERVER,
    LOCAL,
    OAUTH_SCOPES,
    POLICIES,
    LocalGateway,
    ensure_local_npm,
    node_binary,
    rsa_jwk,
)
from devstack.processes import free_port, http_ok, port_free  # noqa: E402,F401
from devstack.session_token import generate_keys as session_token_keys  # noqa: E402,F401

REPO = LOCAL.parent

if __name__ == "__main__":
    from devstack.__main__ import gateway

    sys.exit(gateway(sys.argv[1:]))
