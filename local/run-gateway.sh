#!/usr/bin/env bash
# Starts the local Azure perimeter in front of a snippets-mcp server:
#   - the Entra ID stand-in (local/idp/server.js, npm oidc-provider), and
#   - the APIM policy runner (local/runner, Mono) executing the generated infra/policies.
# Prints the gateway's Streamable HTTP and SSE URLs; Ctrl-C stops everything it started.
#
#   local/run-gateway.sh [--backend http://127.0.0.1:7071] [--blob-endpoint URL] [--port N]
#                        [--idp-port N] [--auto-login USER] [--env-file FILE] [--verbose]
#
# Without --blob-endpoint it starts its own Azurite for client registrations. To let the server
# check tokens too, start it with the keys written by --env-file (docs/local-gateway.md).
# Throttling comes from MCP_RATE_LIMIT_CALLS, MCP_RATE_LIMIT_PERIOD_SECONDS, MCP_CLIENT_RATE_LIMIT_CALLS,
# MCP_QUOTA_CALLS, MCP_QUOTA_PERIOD_SECONDS, OAUTH_RATE_LIMIT_CALLS, OAUTH_RATE_LIMIT_PERIOD_SECONDS,
# OAUTH_TOKEN_CLIENT_RATE_LIMIT_CALLS (the deployed defaults when unset); IDP_APP_ROLES_FILE, the
# app roles the Entra stand-in assigns (every user Snippets.Write when unset).
# Needs: Mono (local/apt-packages.txt), Node 20+, Python 3.11+, cargo (key generation).
set -Eeuo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

for tool in mono mcs node npm python3 cargo; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "error: $tool is missing (Mono: apt-get install -y \$(grep -v '^#' $REPO/local/apt-packages.txt))" >&2
    exit 1
  }
done

# devstack/ (the repository root on PYTHONPATH; the working directory stays, for relative paths).
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m devstack gateway "$@"
