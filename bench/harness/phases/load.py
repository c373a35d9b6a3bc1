"""Phase `load`: wrk at each concurrency against each server, bearer tokens first (hello_mcp, save, get), then
the connection string (save, get) from a fresh process; server CPU per request and memory from /proc."""

from __future__ import annotations

import time

from common import Proc, log, window_line, wrk
from stack import SERVERS, Azurite, running


def run(rep: dict, run) -> None:
    for s in run.servers:
        log(f"load: {s}")
        run.attempt(f"load {s}", lambda s=s: server_load(s, run.cfg, run.logdir), rep["load"], s)


def series(port: int, mode: str, cfg: dict, path: str, pid: int | None = None, conc: list[int] | None = None,
           **raw) -> list[dict]:
    """One wrk point per concurrency, each after a discarded warm-up; `raw`: sas/token/scheme for raw blob."""
    out = []
    for c in conc or cfg["concurrency"]:
        if cfg["warmup"]:
            wrk(port, mode, c, cfg["warmup"], path, **raw)
        cpu0 = Proc(pid).cpu_seconds() if pid is not None else None
        r = wrk(port, mode, c, cfg["duration"], path, **raw)
        if pid is not None:
            r["rss_after_kib"] = Proc(pid).status("VmRSS")
            r["server_cpu_s"] = Proc(pid).cpu_seconds() - cpu0
            r["cpu_us_per_req"] = r["server_cpu_s"] * 1e6 / max(1, r["requests"])
        log(f"  {mode:7s} c={c:<3d} {window_line(r)}")
        out.append(r)
    return out


def server_load(name: str, cfg: dict, logdir) -> dict:
    mcp = SERVERS[name][3]
    with Azurite.run(logdir) as az:
        if mcp:
            az.seed()
        with running(name, az.env("bearer"), logdir) as (proc, port):
            time.sleep(1.0)
            p = Proc(proc.pid)
            res = {"idle_rss_kib": p.status("VmRSS"), "idle_hwm_kib": p.status("VmHWM")}
            log(f"{name}: idle RSS {res['idle_rss_kib'] / 1024:.1f} MiB")
            for op in ("hello", "save", "get") if mcp else ("hello",):
                res[op] = series(port, op, cfg, "/mcp", pid=proc.pid)
            res["peak_rss_kib"], res["rss_after_load_kib"] = p.status("VmHWM"), p.status("VmRSS")
            log(f"{name}: peak RSS under load {res['peak_rss_kib'] / 1024:.1f} MiB")
        if mcp:
            log(f"{name}: storage with the connection string (SAS / Shared Key)")
            with running(name, az.env("key"), logdir) as (proc, port):
                for op in ("save", "get"):
                    res[f"{op}_key"] = series(port, op, cfg, "/mcp", pid=proc.pid, conc=cfg["key_concurrency"])
    return res
