"""Phase `pairs`: the goals' own measurements, in alternating windows at concurrency 16 (ABBA) so both sides of a
ratio see the machine seconds apart: hello_mcp against the echo limit and each peer, save/get against the raw blob
operation on one Azurite, and save/get CPU per call against the baseline binary."""

from __future__ import annotations

import contextlib
import statistics
import time

import stack
from common import CPUS, Proc, log, window_line, wrk
from facts import sha
from stack import BASELINE_BIN, BLOBS, Azurite, running

CONC = 16
HELLO_SIDES = ("echo", "python", "ts")  # what the Rust server's hello_mcp is compared with, each beside it


def run(rep: dict, run) -> None:
    if "rust" not in run.servers:
        return
    log("hello pairs: rust vs the echo limit and each peer, alternating windows")
    run.attempt("hello pairs", lambda: hello_pairs(run.cfg, run.logdir, run.servers), rep, "hello_pairs")
    log("storage pairs: rust vs raw blob, alternating windows on one Azurite (bearer tokens)")
    run.attempt("storage pairs", lambda: storage_pairs(run.cfg, run.logdir), rep, "pairs")
    if BASELINE_BIN.exists():
        log("cpu pairs: rust vs the baseline binary, alternating windows on one Azurite (bearer tokens)")
        run.attempt("cpu pairs", lambda: cpu_pairs(run.cfg, run.logdir), rep, "cpu_pairs")


def window(port: int, mode: str, seconds: float, path: str, server_pid: int | None = None,
           azurite_pid: int | None = None, cpus: str | None = None, **raw) -> dict:
    """One wrk window at concurrency 16 (wrk on `cpus`, default the load CPUs) with the CPU the server and Azurite
    (each when given) spent on it, per request."""
    pids = {k: pid for k, pid in (("server", server_pid), ("azurite", azurite_pid)) if pid is not None}
    before = {k: Proc(pid).cpu_seconds() for k, pid in pids.items()}
    r = wrk(port, mode, CONC, seconds, path, cpus=cpus, **raw)
    for k, pid in pids.items():
        r[f"{k}_cpu_us_per_req"] = (Proc(pid).cpu_seconds() - before[k]) * 1e6 / max(1, r["requests"])
    if mode in ("save", "get", "hello") and server_pid is not None:
        r["cpu_us_per_req"] = r["server_cpu_us_per_req"]
    return r


def abba(first_window, second_window, pairs: int, names: tuple[str, str]) -> dict:
    """A warm-up window of each side, then `pairs` adjacent window pairs, even pairs `names[0]` first and odd pairs
    `names[1]` first, so a steady trend over the phase raises as many ratios as it lowers. Each window function
    takes `warm` (a warm-up window may be shorter and is never compared)."""
    windows = dict(zip(names, (first_window, second_window)))
    out = {"warmup": {n: windows[n](warm=True) for n in names}, "pairs": []}
    for k in range(pairs):
        order = names if k % 2 == 0 else names[::-1]
        out["pairs"].append({"first": order[0], **{n: windows[n](warm=False) for n in order}})
    return out


def paired(raw_window, mcp_window, pairs: int, label: str) -> dict:
    """The storage pairs: raw and MCP windows (`abba`), each pair with its p50 ratio (MCP / raw)."""
    out = abba(raw_window, mcp_window, pairs, ("raw", "mcp"))
    for k, p in enumerate(out["pairs"]):
        p["p50_ratio"] = p["mcp"]["p50_us"] / p["raw"]["p50_us"] if p["raw"]["p50_us"] else None
        log(f"  pair {k + 1}/{pairs} {label} ({p['first']} first): raw p50 {p['raw']['p50_us'] / 1000:6.2f} ms, "
            f"MCP p50 {p['mcp']['p50_us'] / 1000:6.2f} ms, ratio {p['p50_ratio'] or 0:.3f}; errors "
            f"{p['raw']['errors']}/{p['mcp']['errors']}; server CPU {p['mcp']['server_cpu_us_per_req']:.0f} us/call")
    ratios = [p["p50_ratio"] for p in out["pairs"] if p["p50_ratio"] is not None]
    out["median_p50_ratio"] = statistics.median(ratios) if ratios else None
    return out


def _windows(cfg: dict, port: int, mode: str, path: str = "/mcp", **kw):
    """A window function for `abba`: the phase's warm-up or window length."""
    return lambda warm: window(port, mode, cfg["pair_warmup" if warm else "pair_window"], path, **kw)


def _phase(cfg: dict, **more) -> dict:
    return {"concurrency": CONC, "pairs": cfg["pairs"], "window_s": cfg["pair_window"], "warmup_s": cfg["pair_warmup"],
            **more}


def _log_pairs(label: str, d: dict) -> None:
    for k, p in enumerate(d["pairs"]):
        log(f"  {label} pair {k + 1}/{len(d['pairs'])} ({p['first']} first): "
            + "; ".join(f"{n} {window_line(w)}" for n, w in p.items() if n != "first" and isinstance(w, dict)))


def hello_pairs(cfg: dict, logdir, servers: list[str]) -> dict:
    """The Rust server and each comparison server side by side, both idle but for their own windows: a stall of
    a few seconds lands in one pair of one repetition instead of in that repetition's whole figure."""
    t0 = time.monotonic()
    # The servers want storage settings to start; hello_mcp never calls storage.
    with Azurite.run(logdir) as az, running("rust", az.env("bearer"), logdir) as (rust, rust_port):
        res = _phase(cfg)
        for side in (s for s in HELLO_SIDES if s == "echo" or s in servers):
            with running(side, az.env("bearer"), logdir) as (proc, port):
                res[side] = abba(_windows(cfg, rust_port, "hello", server_pid=rust.pid),
                                 _windows(cfg, port, "hello", server_pid=proc.pid), cfg["pairs"], ("rust", side))
            _log_pairs(f"hello rust vs {side}", res[side])
        res["seconds"] = time.monotonic() - t0
        return res


def storage_pairs(cfg: dict, logdir) -> dict:
    """The Rust server (bearer tokens) and the raw blob operation on one seeded Azurite; wrk on
    `CPUS.storage_client` in both kinds of window."""
    t0 = time.monotonic()
    with Azurite.run(logdir) as az:
        az.seed()
        enforced = az.bearer_enforced()
        with running("rust", az.env("bearer"), logdir) as (proc, port):
            raw = dict(token=stack.TOKENS.token(), scheme="https")
            pids = dict(server_pid=proc.pid, azurite_pid=az.process.pid, cpus=CPUS.storage_client)
            res = _phase(cfg, bearer_check=enforced, client_cpus=CPUS.storage_client)
            for op, raw_mode, label in (("save", "rawput", "save vs raw PUT"), ("get", "rawget", "get vs raw GET")):
                res[op] = paired(_windows(cfg, az.port, raw_mode, BLOBS, **pids, **raw),
                                 _windows(cfg, port, op, **pids), cfg["pairs"], label)
                log(f"rust: {label}, paired: median p50 ratio {res[op]['median_p50_ratio'] or 0:.3f}")
            res["seconds"] = time.monotonic() - t0  # the phase's share of the run's time, set-up included
            return res


def cpu_pairs(cfg: dict, logdir) -> dict:
    """The binary under test and the baseline binary side by side on one seeded Azurite (bearer tokens), wrk on the
    load CPUs as in the load tables. A pair's ratio is test / baseline server CPU per call: the code's figure, not
    the machine's speed."""
    t0 = time.monotonic()
    with Azurite.run(logdir) as az, contextlib.ExitStack() as servers:
        az.seed()
        sides = {n: servers.enter_context(running(n, az.env("bearer"), logdir)) for n in ("baseline", "rust")}
        res = _phase(cfg, baseline_sha256=sha(BASELINE_BIN))
        for op in ("save", "get"):
            d = abba(*(_windows(cfg, sides[n][1], op, server_pid=sides[n][0].pid) for n in ("baseline", "rust")),
                     cfg["pairs"], ("baseline", "rust"))
            for p in d["pairs"]:
                b, r = p["baseline"]["server_cpu_us_per_req"], p["rust"]["server_cpu_us_per_req"]
                p["cpu_ratio"] = r / b if b else None
            _log_pairs(f"cpu {op}", d)
            res[op] = d
        res["seconds"] = time.monotonic() - t0
        return res
