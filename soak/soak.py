"""The soak: starts Azurite, snippets-mcp and the local gateway (APIM policy runner + Entra ID
stand-in) on loopback, runs a mixed OAuth + MCP load through the gateway for a set time, reads
each process's RSS and open fds, and writes a JSON results file and the Markdown section in
docs/reliability.md. Exit status 1 when any request failed or a process grew beyond its bound.

Run it through soak/run.sh (it picks the project's .venv)."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "gateway"), str(Path(__file__).resolve().parent)]

from devstack.azurite import Azurite  # noqa: E402
from devstack.gateway import LocalGateway  # noqa: E402
from devstack.processes import (ManagedProcess, MissingBinary, clean_env, free_port, http_ok,  # noqa: E402
                                server_binary, tail)
from devstack.procfs import Proc  # noqa: E402
from devstack.session_token import generate_keys  # noqa: E402

import load  # noqa: E402
import soak_report as report  # noqa: E402  (a unique module name: tests/conformance has a report module too)

USERS = ("alice", "bob", "carol", "dave")
MAX_WORKERS = 4
# After the deadline, workers finish the step they are in; this bounds how long that may take.
DRAIN_S = load.SESSION_TIMEOUT_S + 10
# Resource samples during the load (the JSON keeps them all and each process's peak).
SAMPLE_EVERY_S = 10.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(Exception):
    """SIGTERM (or SIGINT) arrived: stop the load and every process, then exit."""


def _on_signal(signum, _frame):
    raise Stopped(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Outside the event loop: a signal raises Stopped wherever the main thread is."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)


def cancel_on_signals(received: list[str]) -> None:
    """Inside the event loop: a signal cancels the main task, so every worker unwinds through its
    own cleanup (raising from a plain handler could land inside a worker and be taken for a
    failed request)."""
    loop, main = asyncio.get_running_loop(), asyncio.current_task()
    assert main is not None
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, lambda s=sig: (received.append(signal.Signals(s).name), main.cancel()))


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="soak/run.sh", description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="load duration after the warm-up (default 3)")
    ap.add_argument("--out", type=Path, default=REPO / "soak" / "results" / "latest.json", help="results JSON")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "reliability.md", help="Markdown file with the soak markers")
    ap.add_argument("--no-doc", action="store_true", help="write only the JSON (and print the section)")
    ap.add_argument("--workers", type=int, default=4, help=f"simulated users, 1..{MAX_WORKERS} (default 4)")
    ap.add_argument("--rate", type=float, default=2.0, help="tool calls per second per user (default 2, at most 5)")
    ap.add_argument("--cycles", type=int, default=3, help="save/get/list/delete rounds per session (default 3)")
    ap.add_argument("--refresh-every", type=float, default=20.0, help="seconds between token refreshes per user")
    ap.add_argument("--sign-in-every", type=float, default=60.0, help="seconds between fresh sign-ins per user")
    ap.add_argument("--rss-pct", type=float, default=50.0, help="allowed RSS growth in percent (plus --rss-mb)")
    ap.add_argument("--rss-mb", type=float, default=20.0, help="allowed RSS growth in MB (on top of --rss-pct)")
    ap.add_argument("--fd-growth", type=int, default=32, help="allowed growth of open file descriptors")
    ap.add_argument("--render", type=Path, metavar="JSON", help="only re-render the doc section from a results file")
    ap.add_argument("--logs", type=Path, default=REPO / "test-artifacts" / "soak", help="process logs")
    args = ap.parse_args(argv)
    for ok, what in ((0 < args.minutes <= 120, "--minutes must be in (0, 120]"),
                     (1 <= args.workers <= MAX_WORKERS, f"--workers must be 1..{MAX_WORKERS}"),
                     (0 < args.rate <= 5, "--rate must be in (0, 5]"), (1 <= args.cycles <= 20, "--cycles must be 1..20")):
        if not ok:
            ap.error(what)
    return args


def build_kind(path: Path) -> str:
    """Which cargo profile built the server, from its path (target/<profile>/snippets-mcp)."""
    parts = path.resolve().parts
    return next((kind for kind in ("release", "debug") if kind in parts), "unknown")


class Stack:
    """Azurite, the server and the gateway + IdP; `stop()` stops whatever was started."""

    def __init__(self, logs: Path, binary: Path):
        self.logs, self.binary = logs, binary
        self.tmp = Path(tempfile.mkdtemp(prefix="soak-"))
        self.azurite: Azurite | None = None
        self.server: ManagedProcess | None = None
        self.gateway: LocalGateway | None = None
        self.reported_exits: set[str] = set()

    def start(self) -> Stack:
        self.azurite = Azurite(self.tmp / "azurite", log_dir=self.logs, silent=True).start()
        keys = generate_keys()
        gw_port, backend_port = free_port(), free_port()
        backend_url = f"http://127.0.0.1:{backend_port}"
        env = clean_env({
            "AzureWebJobsStorage": self.azurite.connection_string(), **keys.server_env(f"http://127.0.0.1:{gw_port}/mcp"),
            "RUST_LOG": "info", "LOG_FORMAT": "text", "NO_COLOR": "1",
        })  # fmt: skip
        self.server = ManagedProcess("server", [str(self.binary), "--port", str(backend_port)], env, log_dir=self.logs).start()
        self.server.wait_until(lambda: http_ok(backend_url + "/", timeout=1.0), 60, f"answer on {backend_url}/")
        self.gateway = LocalGateway(
            self.tmp / "gateway", backend_url=backend_url, blob_endpoint=self.azurite.endpoint("blob"), port=gw_port,
            auto_login=None, session_keys=keys, log_dir=self.logs,
        )  # fmt: skip
        self.gateway.start()
        return self

    def pids(self) -> dict[str, int]:
        assert self.server and self.gateway and self.azurite and self.azurite.process
        return {
            "server (snippets-mcp)": self.server.pid,
            "gateway (mono runner)": self.gateway.procs["gateway"].pid,
            "IdP (node)": self.gateway.procs["idp"].pid,
            "Azurite (node)": self.azurite.process.pid,
        }

    def newly_exited(self) -> list[str]:
        """One line (with the tail of its log) per process that has exited since the last call."""
        procs = [self.server, *(self.gateway.procs.values() if self.gateway else []), self.azurite.process if self.azurite else None]
        lines = []
        for p in procs:
            if p is not None and p.exited() is not None and p.name not in self.reported_exits:
                self.reported_exits.add(p.name)
                lines.append(f"{p.name} exited with status {p.exited()} during the soak; its log ends:\n{tail(p.stderr_path, 20)}")
        return lines

    def stop(self) -> None:
        for part in (self.gateway, self.server, self.azurite):
            if part is not None:
                part.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def display_path(path: Path) -> str:
    """Repository-relative when inside the repository (the doc names the file it came from)."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(resolved)


def usage(pid: int) -> dict:
    """VmRSS (kB) and open fds of a process; an exited one (no /proc entry, or a zombie) reads as 0 and 0,
    marked `exited`."""
    try:
        p = Proc(pid)
        return {"rss_kb": p.status("VmRSS"), "fds": p.fds()}
    except (OSError, RuntimeError):
        return {"rss_kb": 0, "fds": 0, "exited": True}


def sample(pids: dict[str, int]) -> dict[str, dict]:
    return {name: usage(pid) for name, pid in pids.items()}


async def run_load(stack: Stack, args, rec: report.Recorder, pids: dict, samples: dict, stopped_by: list[str]) -> float:
    """The warm-up (Worker.warm_up), the start sample, then the timed load with a sample every SAMPLE_EVERY_S.
    Returns its length."""
    from gw_support import next_client_ip

    cancel_on_signals(stopped_by)
    far = time.monotonic() + 3600
    warm = load.Plan(stack.gateway.url, far, args.rate, 1, args.refresh_every, args.sign_in_every)
    workers = [load.Worker(f"u{i}", USERS[i], next_client_ip(), warm, rec) for i in range(args.workers)]
    warm_tasks = [asyncio.create_task(w.warm_up()) for w in workers]
    try:
        _, pending = await asyncio.wait(warm_tasks, timeout=4 * (load.SESSION_TIMEOUT_S + 10))
        if pending:
            rec.error("warm-up", "-", f"{len(pending)} users did not finish the warm-up within its bound")
    finally:
        await cancel_all(warm_tasks)
    samples["start"] = sample(pids)
    print("==> soak: warm-up done, load running", file=sys.stderr, flush=True)
    started = time.monotonic()
    plan = load.Plan(stack.gateway.url, started + args.minutes * 60, args.rate, args.cycles, args.refresh_every, args.sign_in_every)
    for w in workers:
        w.plan = plan
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        while not all(t.done() for t in tasks):
            await asyncio.wait(tasks, timeout=SAMPLE_EVERY_S)
            samples["during"].append(sample(pids))
            dead = stack.newly_exited()
            if dead:  # a crash is the soak's finding: report it, stop the load, keep the figures
                for line in dead:
                    rec.error("process", "-", line)
                break
            if time.monotonic() > plan.deadline + DRAIN_S:
                rec.error("drain", "-", f"workers still busy {DRAIN_S:g} s after the deadline (a step outlived its bound)")
                break
    finally:
        await cancel_all(tasks)
    return time.monotonic() - started


async def cancel_all(tasks: list[asyncio.Task]) -> None:
    """Cancels what is still running and waits for every task's cleanup (clients closed)."""
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.render:
        report.write_section(args.doc, report.markdown(json.loads(args.render.read_text())))
        print(f"==> soak: section re-rendered from {args.render} into {args.doc}", file=sys.stderr)
        return 0
    try:
        binary = server_binary()  # before anything starts
    except MissingBinary as e:
        raise SystemExit(f"error: {e}") from None
    stop_on_signals()
    command = "soak/run.sh" + (f" {' '.join(argv)}" if argv else "")
    started_utc = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    loadavg_start = os.getloadavg()[0]
    args.logs.mkdir(parents=True, exist_ok=True)
    stack = Stack(args.logs, binary)
    rec = report.Recorder()
    samples: dict = {"during": []}
    try:
        print(f"==> soak: starting Azurite, snippets-mcp, gateway + IdP (logs in {args.logs})", file=sys.stderr, flush=True)
        stack.start()
        pids = stack.pids()
        samples["launched"] = sample(pids)
        print(f"==> soak: warm-up, then {args.minutes:g} min of load with {args.workers} users", file=sys.stderr, flush=True)
        print(f"==> soak: pids {json.dumps(pids)}", file=sys.stderr, flush=True)
        stopped_by: list[str] = []
        try:
            elapsed = asyncio.run(run_load(stack, args, rec, pids, samples, stopped_by))
        except asyncio.CancelledError:
            if not stopped_by:
                raise
            raise Stopped(stopped_by[0]) from None
        finally:
            stop_on_signals()  # closing the loop restored the default handlers
        samples["end"] = sample(pids)
        for line in stack.newly_exited():
            rec.error("process", "-", line)
    except Stopped as e:
        print(f"soak: stopped by {e}; stopping every process", file=sys.stderr, flush=True)
        return 128 + signal.Signals[str(e)].value
    finally:
        # A second Ctrl-C must not cut the shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()

    bounds = {"rss_pct": args.rss_pct, "rss_mb": args.rss_mb, "fd_count": args.fd_growth}
    processes = {}
    for name in samples["end"]:
        s, e = samples["start"][name], samples["end"][name]
        series = [t[name] for t in samples["during"]]
        processes[name] = {
            "launched": samples["launched"][name], "start": s, "end": e,
            "peak": {"rss_kb": max(x["rss_kb"] for x in [s, *series, e]), "fds": max(x["fds"] for x in [s, *series, e])},
            "during": series, "check": report.check_growth(s, e, bounds),
        }  # fmt: skip
    kinds = rec.summary()
    results = {
        "config": {
            "command": command, "started_utc": started_utc, "minutes": args.minutes, "workers": args.workers,
            "users": list(USERS[: args.workers]), "ops_per_second": args.rate, "cycles_per_session": args.cycles,
            "refresh_every_s": args.refresh_every, "sign_in_every_s": args.sign_in_every, "bounds": bounds,
            "out": display_path(args.out), "server_binary": str(binary),
            "server_build": build_kind(binary), "loadavg_start": loadavg_start,
            "loadavg_end": os.getloadavg()[0],
        },  # fmt: skip
        "elapsed_s": round(elapsed, 1),
        "requests_total": sum(k["count"] for k in kinds.values()),
        "kinds": kinds,
        "errors": {"count": rec.error_count, "listed": rec.errors},
        "processes": processes,
    }
    problems = report.verdict(results)
    results.update(verdict="PASS" if not problems else "FAIL", problems=problems)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    section = report.markdown(results)
    if args.no_doc:
        print(section)
    else:
        report.write_section(args.doc, section)
        print(f"==> soak: section written into {args.doc}", file=sys.stderr)
    print(f"==> soak: {results['verdict']} ({'; '.join(problems) or 'no errors, growth within bounds'}); results in {args.out}", file=sys.stderr)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
