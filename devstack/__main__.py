"""The command line the shell scripts call: `python3 -m devstack COMMAND ...` (run from anywhere
with the repository on PYTHONPATH).

    gateway ...                      the local perimeter (local/run-gateway.sh passes its arguments)
    azurite --location DIR --info-file FILE [--prefer-ports 10000,10001,10002]
                                     Azurite in the foreground; FILE gets its ports and connection string
    limits                           the gateway's throttling from the environment, in one line (exit 1 when invalid)
    port-free PORT                   exit 0 when a server could listen on 127.0.0.1:PORT now
    wait-http URL SECONDS PID        exit 0 once URL answers 2xx, 2 when PID exits first, 1 on timeout
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from . import azurite, locks, throttling
from .gateway import LOCAL, LocalGateway, write_secret
from .processes import port_free, wait_http
from .session_token import SessionKeys

STATE_MARKER = ".local-gateway-state"


class Stopped(Exception):
    """SIGINT or SIGTERM arrived; carries the exit status a stopped command reports."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.status = 128 + signum


def _raise_stopped(signum, _frame) -> None:
    raise Stopped(signum)


def _stop_on_signals() -> None:
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 1


# -- gateway -----------------------------------------------------------------------------------


def _gateway_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    ap = argparse.ArgumentParser(prog="local/run-gateway.sh", description="Local APIM policy runner + Entra ID stand-in in front of snippets-mcp.")
    ap.add_argument("--backend", default=env("BACKEND_URL", "http://127.0.0.1:7071"), help="snippets-mcp base URL")
    ap.add_argument("--blob-endpoint", default=env("BLOB_ENDPOINT"), help="Azurite blob endpoint incl. account (default: start Azurite)")
    ap.add_argument("--port", type=int, default=int(env("GATEWAY_PORT", "0")), help="gateway port (default: a free one)")
    ap.add_argument("--idp-port", type=int, default=int(env("IDP_PORT", "0")), help="IdP port (default: a free one)")
    ap.add_argument("--auto-login", default=env("IDP_AUTO_LOGIN"), help="sign this user in without a sign-in page")
    ap.add_argument("--state-dir", default=env("LOCAL_GATEWAY_STATE_DIR", str(LOCAL / ".state")), help="keys, configs and logs (recreated)")
    ap.add_argument("--env-file", help="also write the server's session-token settings (KEY=VALUE lines) here")
    ap.add_argument("--verbose", action="store_true", help="log every policy the runner executes")
    return ap.parse_args(argv)


def _claim_state(state: Path) -> int:
    """Locks the state directory, then empties it. A non-empty directory without the marker is
    not ours and is refused; one whose lock is held belongs to a running gateway and is refused."""
    marker = state / STATE_MARKER
    if state.exists() and any(state.iterdir()) and not marker.exists():
        raise locks.StateInUse(f"{state} is not empty and not a local gateway state directory; refusing to delete it")
    state.mkdir(parents=True, exist_ok=True)
    fd = locks.acquire(marker, state, "local/run-gateway.sh")
    for entry in state.iterdir():
        if entry.name != STATE_MARKER:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    return fd


def _limits(nv: dict[str, str]) -> str:
    return (
        f"{nv['McpUserRateLimitCalls']} calls per user and {nv['McpClientRateLimitCalls']} per client every "
        f"{nv['McpRateLimitPeriodSecs']} s, {nv['McpUserQuotaCalls']} per user every {nv['McpUserQuotaPeriodSecs']} s; "
        f"OAuth {nv['OAuthRateLimitCalls']} per address and {nv['OAuthTokenClientRateLimitCalls']} tokens per client "
        f"every {nv['OAuthRateLimitPeriodSecs']} s"
    )


def _print_urls(gw: LocalGateway) -> None:
    for line in (
        f"local gateway (APIM policy runner) in front of {gw.backend_url}",
        f"  Streamable HTTP: {gw.url}/mcp",
        f"  SSE:             {gw.url}/mcp/sse",
        f"  OAuth metadata:  {gw.url}/.well-known/oauth-authorization-server",
        f"  Entra stand-in:  {gw.idp_url} (sign-in page; auto-login: {gw.auto_login or 'off'})",
        f"  registrations:   {gw.named_values['RegistrationStoreUrl']}",
        f"  throttling:      {_limits(gw.named_values)}",
        f"  logs:            {gw.log_dir}/gateway.stdout.log, idp.stdout.log",
    ):
        print(line, flush=True)


def _app_roles(path: str) -> dict:
    """The stand-in's `appRolesFile` from `IDP_APP_ROLES_FILE`, checked before anything starts
    (without it every user has `Snippets.Write`, docs/local-gateway.md)."""
    if not path:
        return {}
    try:
        assigned = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"IDP_APP_ROLES_FILE: {path} is not a readable JSON file: {e}") from None
    users = assigned.get("users", {}) if isinstance(assigned, dict) else None
    lists = [assigned.get("default", [])] + list(users.values()) if isinstance(users, dict) else [None]
    if not all(isinstance(roles, list) and all(isinstance(r, str) for r in roles) for roles in lists):
        raise ValueError(f'IDP_APP_ROLES_FILE: {path} must be {{"default": [roles], "users": {{"<name>": [roles]}}}}')
    return {"appRolesFile": str(Path(path).resolve())}


def gateway(argv: list[str]) -> int:
    args = _gateway_args(argv)
    state = Path(args.state_dir)
    try:
        # The deployed limits unless the environment sets others (docs/local-gateway.md).
        limits = throttling.from_environment(os.environ)
    except throttling.LimitError as e:
        return _error(str(e))
    try:
        idp_overrides = _app_roles(os.environ.get("IDP_APP_ROLES_FILE", ""))
    except ValueError as e:
        return _error(str(e))
    try:
        lock = _claim_state(state)
    except locks.StateInUse as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    keys = None
    if os.environ.get("SESSION_TOKEN_ENC_KEY") and os.environ.get("SESSION_TOKEN_MAC_KEY"):
        # The caller (e.g. scripts/run-local.sh) shares its keys with the server it starts.
        keys = SessionKeys.from_b64(os.environ["SESSION_TOKEN_ENC_KEY"], os.environ["SESSION_TOKEN_MAC_KEY"])
    storage = None
    gw = None
    _stop_on_signals()
    try:
        blob = args.blob_endpoint
        if not blob:
            storage = azurite.Azurite(state / "azurite", log_dir=state, services=("blob",)).start()
            blob = storage.endpoint("blob")
        gw = LocalGateway(state, backend_url=args.backend, blob_endpoint=blob, port=args.port, idp_port=args.idp_port,
                          auto_login=args.auto_login or None, session_keys=keys, verbose=args.verbose,
                          limits=limits, idp_overrides=idp_overrides)  # fmt: skip
        gw.start()
        if args.env_file:
            write_secret(Path(args.env_file), gw.server_env_file())
        _print_urls(gw)
        while True:
            for name, p in gw.procs.items():
                if p.exited() is not None:
                    return _error(f"{name} exited with {p.exited()}; see {p.stderr_path}")
            time.sleep(0.5)
    except Stopped:
        return 0
    except Exception as e:  # noqa: BLE001 - the command line reports every failure the same way
        return _error(str(e))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if gw is not None:
            gw.stop()
        if storage is not None:
            storage.stop()
        os.close(lock)


# -- azurite -------------------------------------------------------------------------------------


def _ports(text: str) -> dict[str, int]:
    values = [int(p) for p in text.split(",")]
    if len(values) != 3:
        raise argparse.ArgumentTypeError("want BLOB,QUEUE,TABLE")
    return dict(zip(azurite.SERVICES, values, strict=True))


def azurite_command(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m devstack azurite")
    ap.add_argument("--location", required=True, type=Path, help="data directory (and its logs)")
    ap.add_argument("--info-file", required=True, type=Path, help="written once it is up: ports and connection string")
    ap.add_argument("--prefer-ports", type=_ports, help="BLOB,QUEUE,TABLE to use when all are free (else free ports)")
    args = ap.parse_args(argv)
    fixed = {}
    if args.prefer_ports:
        if all(port_free(p) for p in args.prefer_ports.values()):
            fixed = args.prefer_ports
        else:
            print(f"warning: ports {','.join(map(str, args.prefer_ports.values()))} are busy: Azurite will use free ports", file=sys.stderr)
    az = azurite.Azurite(args.location, fixed_ports=fixed)
    _stop_on_signals()
    try:
        az.start()
        info = {f"{k.upper()}_PORT": str(v) for k, v in az.ports.items()}
        info["CONNECTION_STRING"] = az.connection_string()
        tmp = args.info_file.with_name(args.info_file.name + ".tmp")
        tmp.write_text("".join(f"{k}={v}\n" for k, v in info.items()))
        os.replace(tmp, args.info_file)  # atomic: the waiting script never reads half a file
        code = None
        while code is None:
            code = az.process.wait_exit(0.5) if az.process else 1
        return _error(f"Azurite exited with {code}; see {az.process.stdout_path if az.process else args.location}")
    except Stopped:
        return 0
    except azurite.AzuriteError as e:
        return _error(str(e))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        az.stop()


# -- small helpers for shell scripts ---------------------------------------------------------------


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "gateway":
        return gateway(rest)
    if command == "azurite":
        return azurite_command(rest)
    if command == "limits" and not rest:
        try:
            print(_limits(throttling.from_environment(os.environ)))
        except throttling.LimitError as e:
            return _error(str(e))
        return 0
    if command == "port-free" and len(rest) == 1:
        return 0 if port_free(int(rest[0])) else 1
    if command == "wait-http" and len(rest) == 3:
        return {"ok": 0, "exited": 2, "timeout": 1}[wait_http(rest[0], float(rest[1]), int(rest[2]))]
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
