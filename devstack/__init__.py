"""The local dev stack, one implementation for every caller: scripts/run-local.sh, local/run-gateway.sh,
the test areas (tests/e2e, tests/gateway), the benchmark harness (bench/harness) and the soak (soak/).

Standard library only, so `python3 -m devstack ...` works from a fresh checkout before any venv exists.
The one exception is `session_token`, which imports `cryptography` when it seals or opens a token
(the Python standard library has no AES).

    processes      spawn with logs, bounded waits, stop; free and reusable ports; the server binary to run
    procfs         the one /proc reader: RSS, CPU time, context switches, open descriptors
    azurite        Azurite on loopback (OS-chosen ports read from its log), the dev account, connection strings
    csharp         building the APIM policy runner with Mono's mcs
    gateway        the local perimeter: Entra ID stand-in (local/idp) + APIM policy runner (local/runner)
    named_values   the named values the generated policies declare (infra/policies/manifest.json)
    throttling     the gateway's throttling limits: deployed defaults, environment variables, test limits
    session_token  v1 session tokens (docs/session-token.md): keys, seal, open
    locks          one owner per state directory
    loopback_http  a handler class served on 127.0.0.1 from a thread, and its JSON reply (stand-ins, tests)
    ingestion      a loopback Application Insights ingestion endpoint (the server's telemetry without Azure)
    namespaces     blob names of the per-user snippet namespaces, for tests that check storage directly
    __main__       the command line the shell scripts call
"""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
