#!/usr/bin/env bash
# The soak: a mixed OAuth + MCP load through the local gateway for a set time, with RSS and fd checks.
#
#   soak/run.sh [--minutes N] [--out FILE]     (default 3 minutes; --help for every option)
#
# Starts Azurite, target/debug/snippets-mcp (or $SNIPPETS_MCP_BIN), the APIM policy runner and the
# Entra ID stand-in on loopback; stops them all on exit, Ctrl-C included. Writes the results JSON and
# the generated section of docs/reliability.md; exits 1 on any error or growth beyond the bounds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
if [[ ! -x "$PY" ]]; then
  echo "error: $PY is missing: scripts/test.sh creates the project's .venv" >&2
  exit 1
fi
exec "$PY" "$ROOT/soak/soak.py" "$@"
