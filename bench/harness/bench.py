#!/usr/bin/env python3
"""Measures snippets-mcp against its peers and the limits; writes bench/results/<stamp>.json (+ latest.json).

Run by bench/run.sh (which installs and builds everything first); not meant to be run alone.
Every server runs in turn, alone, pinned to the server CPU set; wrk, this harness and the SSE client run on
the load CPU set; Azurite on its own set when the machine has a third core, else beside the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from devstack import azurite as devstack_azurite  # noqa: E402 - the repository's dev stack, standard library only
from devstack.processes import free_port, stop_popen  # noqa: E402,F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
from credentials import TokenEndpoint, Tls  # noqa: E402

sys.path.insert(0, str(BENCH / "profile"))
import instructions as callgrind  # noqa: E402 - bench/profile/instructions.py

LUA = BENCH / "lua" / "mcp.lua"
ACCOUNT = devstack_azurite.ACCOUNT
KEY = devstack_azurite.KEY
CONTAINER = "snippets"
SEEDS = 256
SNIPPET = 'fn main() { println!("hello, snippets"); }\n' * 24  # the payload mcp.lua sends
MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-06-18",
}
TOOLS_LIST = b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
HELLO_CALL = b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"hello_mcp","arguments":{}}}'

# Per-point duration and warm-up are short so that every figure can be the median of several interleaved
# repetitions within ~35 minutes (full) / ~8 minutes (quick) on a 2-core machine. `key_concurrency`: the
# points of the second storage table (connection string: SAS for Rust, Shared Key for the peers).
MODES = {
    "quick": dict(duration=2, warmup=0, cold_runs=3, sse_sessions=1000, sse_timeout=60, concurrency=[1, 16],
                  key_concurrency=[16], pairs=2, pair_window=2, pair_warmup=1),
    "full": dict(duration=5, warmup=1, cold_runs=10, sse_sessions=10000, sse_timeout=240, concurrency=[1, 16, 64],
                 key_concurrency=[1, 16], pairs=4, pair_window=3, pair_warmup=2),
}
# The paired storage phase (`pairs`): K raw/MCP window pairs per operation at this concurrency, `pair_window`
# seconds each, after one warm-up window of each side of `pair_warmup` seconds.
PAIR_CONC = 16
# Instruction counts under callgrind (`instructions`, once per run): calls per kind, bench/profile's defaults.
INSTR_CALLS = {"rust": list(callgrind.DEFAULT_CALLS.items()), "echo": [("hello", callgrind.DEFAULT_CALLS["hello"])],
               "baseline": list(callgrind.DEFAULT_CALLS.items())}
DEFAULT_REPS = 3
# The binary under test is copied here at start, so a rebuild during the run cannot change it half-way.
RUST_BIN = BENCH / "results" / "bin" / "snippets-mcp"
# The same server at the commit before the performance work (bench/baseline.sh builds it; run.sh passes its path
# in BENCH_BASELINE_BIN), copied beside it: the CPU-per-call goals' comparison, measured in the same run.
BASELINE_BIN = BENCH / "results" / "bin" / "snippets-mcp-baseline"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- processes


class Cpus:
    def __init__(self) -> None:
        n = os.cpu_count() or 1  # run.sh pins this harness to the load CPUs, so not its own affinity
        env = os.environ.get
        if n >= 3:
            default = ("0", "1", "2")
        elif n == 2:
            default = ("0", "1", "1")
        else:
            default = ("0", "0", "0")
        self.server = env("BENCH_SERVER_CPUS", default[0])
        self.load = env("BENCH_LOAD_CPUS", default[1])
        self.azurite = env("BENCH_AZURITE_CPUS", default[2])
        self.total = n

    @property
    def storage_client(self) -> str:
        """Where the storage latency pairs run wrk: the load CPUs when Azurite has CPUs of its own, else beside
        the server. Azure Storage runs on other machines, so its latency must not depend on a load generator
        taking its CPU: beside Azurite, wrk batched the raw requests (it cannot send while Azurite runs) but not
        the server's, and the comparison measured where wrk sat instead of the server's hop."""
        if set(_cpu_list(self.azurite)) & set(_cpu_list(self.load)):
            return self.server
        return self.load


def _cpu_list(spec: str) -> list[int]:
    """A taskset CPU list ("0", "0,2", "1-3") as CPU numbers."""
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


CPUS: Cpus
TLS: Tls  # the run's CA + Azurite's certificate
TOKENS: TokenEndpoint  # the managed identity endpoint every server's credential calls


def wait_port(port: int, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        stop_popen(proc, grace=5)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM in KiB, from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class _HttpsAzurite(devstack_azurite.Azurite):
    """devstack's Azurite, over HTTPS with `--oauth basic` (bearer tokens; Shared Key and SAS still work)."""

    tls: Tls

    def argv(self) -> list[str]:
        return [*super().argv(), "--oauth", "basic", "--cert", str(self.tls.cert), "--key", str(self.tls.key)]

    def _ports_reported(self) -> bool:
        assert self.process is not None
        m = _HTTPS_LISTEN_RE.search(self.process.stdout())
        if m:
            self.ports["blob"] = int(m.group(1))
        return "blob" in self.ports

    def endpoint(self, kind: str) -> str:
        return f"https://127.0.0.1:{self.ports[kind]}/{ACCOUNT}"


_HTTPS_LISTEN_RE = re.compile(
    r"Azurite Blob service (?:is successfully listening at|successfully listens on) https://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def _trusting_run_ca():
    """devstack's readiness probe (urllib's default context) trusts the run's CA while Azurite starts, and only
    then: children such as pip in the package phase must keep the system's trust store."""
    saved = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(TLS.ca)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = saved


class Azurite:
    """Blob-only Azurite in memory over HTTPS, without an access log, on its own CPU set (devstack/azurite.py)."""

    _started = 0

    def __init__(self, logdir: Path) -> None:
        Azurite._started += 1
        self.dir = tempfile.mkdtemp(prefix="bench-azurite-")
        az = _HttpsAzurite(
            Path(self.dir), log_dir=logdir, name=f"azurite-{Azurite._started}", services=("blob",), in_memory=True,
            silent=True, argv_prefix=["taskset", "-c", CPUS.azurite])
        az.tls = TLS
        with _trusting_run_ca():
            self.az = az.start(timeout=30)
        self.port = self.az.ports["blob"]
        self.blob_uri = self.az.endpoint("blob")

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={KEY};"
                f"BlobEndpoint={self.blob_uri};")

    def seed(self) -> None:
        from azure.storage.blob import BlobServiceClient
        svc = BlobServiceClient.from_connection_string(self.connection_string, api_version="2025-01-05",
                                                       connection_verify=str(TLS.ca))
        c = svc.get_container_client(CONTAINER)
        c.create_container()
        with ThreadPoolExecutor(8) as pool:  # seeding is set-up, not measurement: keep it short
            list(pool.map(lambda i: c.upload_blob(f"seed-{i}.json", SNIPPET.encode(), overwrite=True), range(SEEDS)))

    def sas(self) -> str:
        """An account SAS for blobs, like the one snippets-mcp mints from the account key (same check in Azurite)."""
        from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas
        return generate_account_sas(
            ACCOUNT, KEY, resource_types=ResourceTypes(service=True, container=True, object=True),
            permission=AccountSasPermissions(read=True, write=True, delete=True, list=True, create=True),
            expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2), protocol="https,http")

    def bearer_enforced(self) -> dict[str, int]:
        """Azurite really checks tokens here: a blob read with a wrong-audience token must be refused and the
        same read with the endpoint's token must succeed (else the bearer table would measure nothing)."""
        import ssl
        from credentials import storage_jwt

        def status(token: str) -> int:
            ctx = ssl.create_default_context(cafile=str(TLS.ca))
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=ctx)
            try:
                c.request("GET", f"/{ACCOUNT}/{CONTAINER}/seed-0.json",
                          headers={"Authorization": f"Bearer {token}", "x-ms-version": "2025-01-05"})
                r = c.getresponse()
                r.read()
                return r.status
            finally:
                c.close()

        got = {"good": status(TOKENS.token()), "wrong_audience": status(storage_jwt("https://vault.azure.net")[0])}
        if got["good"] != 200 or got["wrong_audience"] not in (401, 403):
            raise RuntimeError(f"Azurite's bearer check is not what the benchmark needs: {got}")
        return got

    def env(self, credential: str) -> dict[str, str]:
        """A server's storage settings: `bearer` = managed identity (IDENTITY_* + blob URI), as on Flex
        Consumption; `key` = the connection string (the Rust server mints an account SAS from it, the
        peers' SDKs sign with Shared Key). Either way the server trusts the run's CA for Azurite's HTTPS."""
        ca = str(TLS.ca)
        env = {"SSL_CERT_FILE": ca, "REQUESTS_CA_BUNDLE": ca, "NODE_EXTRA_CA_CERTS": ca}
        if credential == "bearer":
            env.update(TOKENS.env())
            env["AzureWebJobsStorage__blobServiceUri"] = self.blob_uri
            env["AzureWebJobsStorage__credential"] = "managedidentity"
        elif credential == "key":
            env["AzureWebJobsStorage"] = self.connection_string
        else:
            raise ValueError(f"unknown credential {credential!r}")
        return env

    def close(self) -> None:
        self.az.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


SERVERS = {
    # name: (label, argv builder, extra env, is an MCP server)
    "rust": ("snippets-mcp (Rust, rmcp + axum)",
             lambda p: [str(RUST_BIN), "--port", str(p)], {}, True),
    "baseline": ("snippets-mcp before the performance work (bench/baseline.sh)",
                 lambda p: [str(BASELINE_BIN), "--port", str(p)], {}, True),
    "python": ("Python SDK (mcp + uvicorn)",
               lambda p: [str(BENCH / ".venv" / "bin" / "python"), str(BENCH / "servers" / "python" / "server.py"),
                          "--port", str(p)], {}, True),
    "ts": ("TypeScript SDK (Node)",
           lambda p: [shutil.which("node") or "node", str(BENCH / "servers" / "ts" / "server.mjs"), "--port", str(p)],
           {"NODE_ENV": "production"}, True),
    "echo": ("limit: minimal axum JSON echo",
             lambda p: [str(BENCH / "target" / "release" / "bench-echo"), "--port", str(p)], {}, False),
}


def spawn(name: str, port: int, storage: dict[str, str], logdir: Path) -> subprocess.Popen:
    _, argv, extra, _ = SERVERS[name]
    # A clean environment, as on a Functions instance: nothing inherited from the shell that changes how a
    # runtime behaves (RUST_BACKTRACE makes every azure_core error capture a backtrace, NODE_OPTIONS,
    # PYTHON* flags, RUST_LOG...).
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(extra)
    env.update(storage)
    errlog = open(logdir / f"{name}-{port}.log", "w")
    # taskset execs the server, so the pid is the server's own.
    return subprocess.Popen(["taskset", "-c", CPUS.server] + argv(port), env=env, stdout=errlog,
                            stderr=subprocess.STDOUT, start_new_session=True)


def post(port: int, body: bytes, timeout: float = 5.0) -> tuple[int, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/mcp", body=body, headers=MCP_HEADERS)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def wait_tools_list(port: int, proc: subprocess.Popen, timeout: float = 60) -> float:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering")
        try:
            status, text = post(port, TOOLS_LIST, timeout=timeout)
            if status == 200 and '"hello_mcp"' in text:
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.0005)
    raise RuntimeError("no successful tools/list before the timeout")


def wait_ready_any(port: int, proc: subprocess.Popen, mcp: bool) -> None:
    if mcp:
        wait_tools_list(port, proc)
    else:
        wait_port(port, 30)


# --------------------------------------------------------------------------- measurements


def cold_start(name: str, runs: int, storage: dict[str, str], logdir: Path) -> dict:
    samples = []
    for i in range(runs + 1):  # the first run warms the page cache and is discarded
        port = free_port()
        t0 = time.perf_counter()
        proc = spawn(name, port, storage, logdir)
        try:
            t1 = wait_tools_list(port, proc)
        finally:
            stop(proc)
        if i > 0:
            samples.append((t1 - t0) * 1000)
    return {"runs_ms": samples, "median_ms": statistics.median(samples), "min_ms": min(samples),
            "max_ms": max(samples)}


def wrk(port: int, mode: str, conc: int, seconds: float, path: str, sas: str = "", token: str = "",
        scheme: str = "http", cpus: str | None = None) -> dict:
    """One wrk point on `cpus` (default: the load CPUs)."""
    cpus = cpus or CPUS.load
    threads = max(1, min(conc, int(os.environ.get("BENCH_WRK_THREADS", str(len(cpus.split(",")))))))
    cmd = ["taskset", "-c", cpus, "wrk", "-t", str(threads), "-c", str(conc), "-d", f"{seconds}s",
           "--timeout", "10s", "-s", str(LUA), f"{scheme}://127.0.0.1:{port}", "--", mode, path, sas, token]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"^BENCHJSON (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["ok_rps"] = (r["requests"] - r["bad"]) / (r["duration_us"] / 1e6)
    r["errors"] = r["bad"] + r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
    r["concurrency"] = conc
    r["wrk_threads"] = threads
    return r


def load_series(port: int, mode: str, cfg: dict, path: str, pid: int | None = None, conc: list[int] | None = None,
                **raw) -> list[dict]:
    """One wrk point per concurrency (after a discarded warm-up); `raw` = sas/token/scheme for raw blob."""
    series = []
    for c in conc or cfg["concurrency"]:
        if cfg["warmup"]:
            wrk(port, mode, c, cfg["warmup"], path, **raw)  # warm-up, discarded
        cpu0 = cpu_seconds(pid) if pid is not None else None
        r = wrk(port, mode, c, cfg["duration"], path, **raw)
        if pid is not None:
            r["rss_after_kib"] = proc_status(pid)["VmRSS"]
            r["server_cpu_s"] = cpu_seconds(pid) - cpu0
            r["cpu_us_per_req"] = r["server_cpu_s"] * 1e6 / max(1, r["requests"])
        cpu = f"  server CPU {r['cpu_us_per_req']:7.1f} us/req" if "cpu_us_per_req" in r else ""
        log(f"  {mode:7s} c={c:<3d} {r['rps']:9.0f} req/s  p50 {r['p50_us'] / 1000:7.2f} ms  "
            f"p99 {r['p99_us'] / 1000:7.2f} ms  errors {r['errors']}{cpu}")
        if r["errors"]:
            log(f"    first failure: {r['bad_sample'][:160]}")
        series.append(r)
    return series


def start_server(name: str, storage: dict[str, str], logdir: Path) -> tuple[subprocess.Popen, int]:
    """Spawns a server and waits until it answers one hello_mcp correctly."""
    port = free_port()
    proc = spawn(name, port, storage, logdir)
    try:
        wait_ready_any(port, proc, SERVERS[name][3])
        status, text = post(port, HELLO_CALL)
        assert status == 200 and "Hello I am MCPTool!" in text, (status, text[:300])
    except BaseException:
        stop(proc)
        raise
    return proc, port


def server_load(name: str, cfg: dict, logdir: Path) -> dict:
    """The primary table (bearer tokens: hello, save, get), then the second one (connection string: save, get),
    each from a fresh process of the server, on one fresh Azurite."""
    az = Azurite(logdir)
    mcp = SERVERS[name][3]
    try:
        if mcp:
            az.seed()
        proc, port = start_server(name, az.env("bearer"), logdir)
        try:
            time.sleep(1.0)
            idle = proc_status(proc.pid)
            log(f"{name}: idle RSS {idle['VmRSS'] / 1024:.1f} MiB")
            res = {"idle_rss_kib": idle["VmRSS"], "idle_hwm_kib": idle["VmHWM"],
                   "hello": load_series(port, "hello", cfg, "/mcp", pid=proc.pid)}
            if mcp:
                res["save"] = load_series(port, "save", cfg, "/mcp", pid=proc.pid)
                res["get"] = load_series(port, "get", cfg, "/mcp", pid=proc.pid)
            st = proc_status(proc.pid)
            res["peak_rss_kib"] = st["VmHWM"]
            res["rss_after_load_kib"] = st["VmRSS"]
            log(f"{name}: peak RSS under load {st['VmHWM'] / 1024:.1f} MiB")
        finally:
            stop(proc)
        if mcp:
            log(f"{name}: storage with the connection string (SAS / Shared Key)")
            proc, port = start_server(name, az.env("key"), logdir)
            try:
                res["save_key"] = load_series(port, "save", cfg, "/mcp", pid=proc.pid, conc=cfg["key_concurrency"])
                res["get_key"] = load_series(port, "get", cfg, "/mcp", pid=proc.pid, conc=cfg["key_concurrency"])
            finally:
                stop(proc)
        return res
    finally:
        az.close()


def raw_blob(cfg: dict, logdir: Path) -> dict:
    """The same blob operations straight to Azurite: with a bearer token (the managed identity endpoint's own
    token), then with an account SAS."""
    az = Azurite(logdir)
    try:
        az.seed()
        enforced = az.bearer_enforced()
        token = TOKENS.token()
        path = f"/{ACCOUNT}/{CONTAINER}"
        log("raw blob operations against Azurite (no MCP): bearer token, then SAS")
        bearer = dict(token=token, scheme="https")
        sas = dict(sas=az.sas(), scheme="https")
        kc = cfg["key_concurrency"]
        return {"bearer_check": enforced, "put": load_series(az.port, "rawput", cfg, path, **bearer),
                "get": load_series(az.port, "rawget", cfg, path, **bearer),
                "put_sas": load_series(az.port, "rawput", cfg, path, conc=kc, **sas),
                "get_sas": load_series(az.port, "rawget", cfg, path, conc=kc, **sas)}
    finally:
        az.close()


def _window(port: int, mode: str, seconds: float, path: str, server_pid: int | None = None,
            azurite_pid: int | None = None, cpus: str | None = None, **raw) -> dict:
    """One wrk window at PAIR_CONC (wrk on `cpus`, default the load CPUs) with the CPU the server and Azurite
    (each when given) spent on it, per request."""
    pids = {k: pid for k, pid in (("server", server_pid), ("azurite", azurite_pid)) if pid is not None}
    before = {k: cpu_seconds(pid) for k, pid in pids.items()}
    r = wrk(port, mode, PAIR_CONC, seconds, path, cpus=cpus, **raw)
    n = max(1, r["requests"])
    for k, pid in pids.items():
        r[f"{k}_cpu_us_per_req"] = (cpu_seconds(pid) - before[k]) * 1e6 / n
    if mode in ("save", "get", "hello") and server_pid is not None:
        r["cpu_us_per_req"] = r["server_cpu_us_per_req"]
    return r


def _abba(first_window, second_window, pairs: int, names: tuple[str, str]) -> dict:
    """Warm-up (one window of each side), then `pairs` adjacent window pairs, ABBA: even pairs `names[0]` first,
    odd pairs `names[1]` first, so a steady trend over the phase raises as many ratios as it lowers. Each
    window function takes `warm` (a warm-up window may be shorter and is never compared)."""
    windows = dict(zip(names, (first_window, second_window)))
    out = {"warmup": {n: windows[n](warm=True) for n in names}, "pairs": []}
    for k in range(pairs):
        order = names if k % 2 == 0 else names[::-1]
        out["pairs"].append({"first": order[0], **{n: windows[n](warm=False) for n in order}})
    return out


def _paired(raw_window, mcp_window, pairs: int, label: str) -> dict:
    """The storage pairs: raw and MCP windows, ABBA (`_abba`), each pair with its p50 ratio (MCP / raw)."""
    out = _abba(raw_window, mcp_window, pairs, ("raw", "mcp"))
    for k, p in enumerate(out["pairs"]):
        p["p50_ratio"] = p["mcp"]["p50_us"] / p["raw"]["p50_us"] if p["raw"]["p50_us"] else None
        log(f"  pair {k + 1}/{pairs} {label} ({p['first']} first): raw p50 {p['raw']['p50_us'] / 1000:6.2f} ms, "
            f"MCP p50 {p['mcp']['p50_us'] / 1000:6.2f} ms, ratio {p['p50_ratio'] or 0:.3f}; errors "
            f"{p['raw']['errors']}/{p['mcp']['errors']}; server CPU {p['mcp']['server_cpu_us_per_req']:.0f} us/call")
    ratios = [p["p50_ratio"] for p in out["pairs"] if p["p50_ratio"] is not None]
    out["median_p50_ratio"] = statistics.median(ratios) if ratios else None
    return out


# The hello_mcp goals' comparison servers: the echo limit (server CPU per request) and the SDK peers (p99,
# throughput). Each runs beside the Rust server, both idle but for the window being measured.
HELLO_PAIR_SIDES = ("echo", "python", "ts")


def hello_pairs(cfg: dict, logdir: Path, servers: list[str]) -> dict:
    """The hello_mcp goals' own measurement: the Rust server and each comparison server in alternating windows
    at PAIR_CONC (`_abba`), so both sides of a ratio see the machine at nearly the same moment and a stall of
    a few seconds lands in one pair of one repetition instead of in that repetition's whole figure."""
    t0 = time.monotonic()
    az = Azurite(logdir)  # the servers want storage settings to start; hello_mcp never calls storage
    rust = None
    try:
        rust, rust_port = start_server("rust", az.env("bearer"), logdir)
        res = {"concurrency": PAIR_CONC, "pairs": cfg["pairs"], "window_s": cfg["pair_window"],
               "warmup_s": cfg["pair_warmup"]}

        def window(port, pid):
            return lambda warm: _window(port, "hello", cfg["pair_warmup" if warm else "pair_window"], "/mcp",
                                        server_pid=pid)

        for side in (s for s in HELLO_PAIR_SIDES if s == "echo" or s in servers):
            proc, port = start_server(side, az.env("bearer"), logdir)
            try:
                res[side] = _abba(window(rust_port, rust.pid), window(port, proc.pid), cfg["pairs"], ("rust", side))
            finally:
                stop(proc)
            for k, p in enumerate(res[side]["pairs"]):
                r, o = p["rust"], p[side]
                log(f"  hello pair {k + 1}/{cfg['pairs']} rust vs {side} ({p['first']} first): "
                    f"{r['ok_rps']:.0f} / {o['ok_rps']:.0f} req/s, p99 {r['p99_us'] / 1000:.2f} / "
                    f"{o['p99_us'] / 1000:.2f} ms, CPU {r['server_cpu_us_per_req']:.1f} / "
                    f"{o['server_cpu_us_per_req']:.1f} us/req; errors {r['errors']}/{o['errors']}")
        res["seconds"] = time.monotonic() - t0
        return res
    finally:
        stop(rust)
        az.close()


def storage_pairs(cfg: dict, logdir: Path) -> dict:
    """The storage-bound goal's own measurement: the Rust server (bearer tokens) and the raw blob operation on
    one Azurite, in alternating short windows at PAIR_CONC, so both sides of each ratio see the same Azurite at
    nearly the same moment. wrk runs on `CPUS.storage_client` in both kinds of window."""
    t0 = time.monotonic()
    az = Azurite(logdir)
    proc = None
    try:
        az.seed()
        enforced = az.bearer_enforced()
        proc, port = start_server("rust", az.env("bearer"), logdir)
        raw = dict(token=TOKENS.token(), scheme="https")
        path = f"/{ACCOUNT}/{CONTAINER}"
        pids = dict(server_pid=proc.pid, azurite_pid=az.az.process.pid, cpus=CPUS.storage_client)
        res = {"concurrency": PAIR_CONC, "pairs": cfg["pairs"], "window_s": cfg["pair_window"],
               "warmup_s": cfg["pair_warmup"], "bearer_check": enforced, "client_cpus": CPUS.storage_client}
        for op, raw_mode, label in (("save", "rawput", "save vs raw PUT"), ("get", "rawget", "get vs raw GET")):
            def raw_window(warm, m=raw_mode):
                return _window(az.port, m, cfg["pair_warmup" if warm else "pair_window"], path, **pids, **raw)

            def mcp_window(warm, o=op):
                return _window(port, o, cfg["pair_warmup" if warm else "pair_window"], "/mcp", **pids)

            res[op] = _paired(raw_window, mcp_window, cfg["pairs"], label)
            log(f"rust: {label}, paired: median p50 ratio {res[op]['median_p50_ratio'] or 0:.3f}")
        res["seconds"] = time.monotonic() - t0  # the phase's share of the run's time, set-up included
        return res
    finally:
        stop(proc)
        az.close()


def cpu_pairs(cfg: dict, logdir: Path) -> dict:
    """The CPU-per-call goals' measurement: the binary under test and the baseline binary side by side (both
    on the server CPUs, bearer tokens, one seeded Azurite), save and get in alternating windows at PAIR_CONC
    (`_abba`), wrk on the load CPUs as in the load tables. A pair's ratio is test / baseline server CPU per
    call, so the figure is the code's, not the machine's speed."""
    t0 = time.monotonic()
    az = Azurite(logdir)
    procs: list[subprocess.Popen] = []
    try:
        az.seed()
        sides = {}
        for name in ("baseline", "rust"):
            proc, port = start_server(name, az.env("bearer"), logdir)
            procs.append(proc)
            sides[name] = (port, proc.pid)
        res = {"concurrency": PAIR_CONC, "pairs": cfg["pairs"], "window_s": cfg["pair_window"],
               "warmup_s": cfg["pair_warmup"], "baseline_sha256": _sha(BASELINE_BIN)}

        def window(name, op):
            port, pid = sides[name]
            return lambda warm: _window(port, op, cfg["pair_warmup" if warm else "pair_window"], "/mcp",
                                        server_pid=pid)

        for op in ("save", "get"):
            d = _abba(window("baseline", op), window("rust", op), cfg["pairs"], ("baseline", "rust"))
            for k, p in enumerate(d["pairs"]):
                b, r = p["baseline"]["server_cpu_us_per_req"], p["rust"]["server_cpu_us_per_req"]
                p["cpu_ratio"] = r / b if b else None
                log(f"  cpu pair {k + 1}/{cfg['pairs']} {op} ({p['first']} first): baseline {b:.0f} us/call, "
                    f"under test {r:.0f} us/call, ratio {p['cpu_ratio'] or 0:.3f}; errors "
                    f"{p['baseline']['errors']}/{p['rust']['errors']}")
            res[op] = d
        res["seconds"] = time.monotonic() - t0
        return res
    finally:
        for proc in procs:
            stop(proc)
        az.close()


def _sha(path: Path) -> str:
    return sh(["sha256sum", str(path)]).split()[0][:16]


def instruction_counts(logdir: Path) -> dict:
    """Instructions per call under callgrind: the binary this run measures and the echo limit (hello). On every
    CPU of the machine, as the baselines were measured, not on the harness's load CPUs it would inherit: tokio
    sizes its pool from the CPUs it sees, which moves the counts by 1-3% (bench/README.md)."""
    binaries = {"rust": (RUST_BIN, True), "echo": (BENCH / "target" / "release" / "bench-echo", False)}
    if BASELINE_BIN.exists():  # reproduces the goal's baseline counts on this machine, in this run
        binaries["baseline"] = (BASELINE_BIN, True)
    try:  # run.sh pins only this harness; its own shell keeps every CPU the machine (or container) allows
        every_cpu = ",".join(str(c) for c in sorted(os.sched_getaffinity(os.getppid())))
    except OSError:
        every_cpu = f"0-{CPUS.total - 1}"
    out: dict = {"cpus": every_cpu}
    t0 = time.monotonic()
    for name, (binary, storage) in binaries.items():
        r = callgrind.profile(binary, INSTR_CALLS[name], logdir / "callgrind", storage=storage, top=10,
                              cpus=every_cpu, name=name)
        out[name] = r
        log("instructions: " + ", ".join(f"{name} {op} {v['per_call']:,.0f}/call" for op, v in r.items()))
    out["seconds"] = time.monotonic() - t0
    return out


async def _open_sse(port: int, sem: asyncio.Semaphore, timeout: float):
    async with sem:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(f"GET /sse HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
                     f"Cache-Control: no-cache\r\n\r\n".encode())
        await writer.drain()
        buf = b""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no endpoint event")
            chunk = await asyncio.wait_for(reader.read(4096), left)
            if not chunk:
                raise ConnectionError("closed before the endpoint event")
            buf += chunk
            if not buf.startswith(b"HTTP/1.1 200"):
                if b"\r\n" in buf:
                    raise ConnectionError(buf.split(b"\r\n", 1)[0].decode(errors="replace"))
                continue
            i = buf.find(b"event: endpoint")
            if i >= 0:
                m = re.search(rb"data: ?([^\r\n]*)\r?\n", buf[i:])
                if m and (b"sessionId=" in m.group(1) or b"session_id=" in m.group(1)):
                    return reader, writer


async def _hold_sse(port: int, n: int, timeout: float, pid: int) -> dict:
    sem = asyncio.Semaphore(128)
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(_open_sse(port, sem, 30)) for _ in range(n)]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        t.cancel()
    elapsed = time.perf_counter() - t0
    held, errors = [], {}
    for t in done:
        if t.exception() is None:
            held.append(t.result())
        else:
            k = f"{type(t.exception()).__name__}: {str(t.exception())[:80]}"
            errors[k] = errors.get(k, 0) + 1
    if pending:
        errors["not open before the phase timeout"] = len(pending)
    await asyncio.sleep(2.0)  # let the server settle with every stream open
    alive = proc_status(pid)
    for _, w in held:
        w.close()
    await asyncio.sleep(0.5)
    return {"opened": len(held), "open_seconds": elapsed, "errors": errors,
            "rss_kib": alive["VmRSS"], "hwm_kib": alive["VmHWM"]}


def sse_hold(name: str, cfg: dict, logdir: Path) -> dict:
    az = Azurite(logdir)
    proc = None
    try:
        proc, port = start_server(name, az.env("bearer"), logdir)
        time.sleep(1.0)
        base = proc_status(proc.pid)["VmRSS"]
        n = cfg["sse_sessions"]
        r = asyncio.run(_hold_sse(port, n, cfg["sse_timeout"], proc.pid))
        r["target"] = n
        r["base_rss_kib"] = base
        r["per_session_kib"] = (r["rss_kib"] - base) / r["opened"] if r["opened"] else None
        r["server_alive"] = proc.poll() is None
        log(f"{name}: SSE {r['opened']}/{n} sessions open in {r['open_seconds']:.1f}s, RSS "
            f"{r['rss_kib'] / 1024:.1f} MiB ({(r['per_session_kib'] or 0):.1f} KiB/session) errors {r['errors']}")
        return r
    finally:
        stop(proc)
        az.close()


# --------------------------------------------------------------------------- package sizes


def zip_dir(src: Path, dest: Path) -> int:
    """Deflate-zips a folder the same way for every stack; returns the zip's size in bytes."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for p in sorted(src.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                z.write(p, p.relative_to(src))
    return dest.stat().st_size


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)


def package_sizes(work: Path) -> dict:
    out = {}
    # Rust: function_app/ as scripts/package.sh assembles it (host.json + stripped release binary).
    rust_dir = work / "rust-function_app"
    shutil.rmtree(rust_dir, ignore_errors=True)
    rust_dir.mkdir(parents=True)
    pkg = os.environ.get("BENCH_PACKAGE_DIR")  # set by run.sh when scripts/package.sh succeeded
    if pkg and (Path(pkg) / "host.json").exists():
        for f in Path(pkg).iterdir():
            if f.is_file():
                shutil.copy2(f, rust_dir / f.name)
        how = "scripts/package.sh (function_app/)"
    else:
        shutil.copy2(ROOT / "host.json", rust_dir / "host.json")
        shutil.copy2(ROOT / "target" / "release" / "snippets-mcp", rust_dir / "snippets-mcp")
        how = "host.json + target/release/snippets-mcp"
    out["rust"] = {"how": how, "unzipped": dir_size(rust_dir), "zipped": zip_dir(rust_dir, work / "rust.zip")}
    # Python: app + site-packages (pip install --target, no bytecode), as a Functions Python package holds them.
    py_dir = work / "python-deploy"
    shutil.rmtree(py_dir, ignore_errors=True)
    site = py_dir / ".python_packages" / "lib" / "site-packages"
    subprocess.run([str(BENCH / ".venv" / "bin" / "pip"), "install", "-q", "--no-compile", "--target", str(site),
                    "-r", str(BENCH / "servers" / "python" / "requirements.txt")], check=True)
    shutil.copy2(BENCH / "servers" / "python" / "server.py", py_dir / "server.py")
    out["python"] = {"how": "server.py + pip install --target (no .pyc)", "unzipped": dir_size(py_dir),
                     "zipped": zip_dir(py_dir, work / "python.zip")}
    # TypeScript: app + production node_modules.
    ts_dir = work / "ts-deploy"
    shutil.rmtree(ts_dir, ignore_errors=True)
    ts_dir.mkdir(parents=True)
    shutil.copy2(BENCH / "servers" / "ts" / "server.mjs", ts_dir / "server.mjs")
    shutil.copy2(BENCH / "package.json", ts_dir / "package.json")
    shutil.copy2(BENCH / "package-lock.json", ts_dir / "package-lock.json")
    subprocess.run(["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--silent"], cwd=ts_dir, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out["ts"] = {"how": "server.mjs + npm ci --omit=dev node_modules", "unzipped": dir_size(ts_dir),
                 "zipped": zip_dir(ts_dir, work / "ts.zip")}
    for k, v in out.items():
        log(f"package {k}: {v['zipped'] / 1e6:.1f} MB zipped ({v['unzipped'] / 1e6:.1f} MB unzipped)")
    return out


# --------------------------------------------------------------------------- environment


def sh(cmd: list[str] | str, **kw) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, shell=isinstance(cmd, str), timeout=60,
                              **kw).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return f"? ({e})"


def lock_version(name: str) -> str:
    text = (ROOT / "Cargo.lock").read_text()
    m = re.search(r'name = "' + re.escape(name) + r'"\nversion = "([^"]+)"', text)
    return m.group(1) if m else "?"


def machine() -> dict:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    pyv = {}
    for pkg in ["mcp", "azure-storage-blob", "uvicorn", "starlette", "uvloop", "httptools", "aiohttp"]:
        pyv[pkg] = sh([str(BENCH / ".venv" / "bin" / "python"), "-c",
                       f"import importlib.metadata as m; print(m.version('{pkg}'))"])

    def npm_v(pkg: str, base: Path) -> str:
        try:
            return json.loads((base / "node_modules" / pkg / "package.json").read_text())["version"]
        except Exception:  # noqa: BLE001
            return "?"

    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_gib": round(mem / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": sh("sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '\"'"),
        "loadavg_start": os.getloadavg(),
        "versions": {
            "rustc": sh(["rustc", "--version"]),
            "rmcp": lock_version("rmcp"), "axum": lock_version("axum"), "tokio": lock_version("tokio"),
            "azure_storage_blob (Rust)": lock_version("azure_storage_blob"),
            "python": sh([str(BENCH / ".venv" / "bin" / "python"), "--version"]),
            **{f"{k} (PyPI)": v for k, v in pyv.items()},
            "node": sh(["node", "--version"]),
            "@modelcontextprotocol/sdk": npm_v("@modelcontextprotocol/sdk", BENCH),
            "@azure/storage-blob": npm_v("@azure/storage-blob", BENCH),
            "azurite": npm_v("azurite", ROOT),
            "wrk": sh("wrk -v 2>&1 | head -1"),
        },
    }


# --------------------------------------------------------------------------- main


def main() -> int:
    global CPUS, TLS, TOKENS
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=MODES, default="full")
    ap.add_argument("--only", default="rust,python,ts", help="comma-separated servers to measure")
    ap.add_argument("--skip", default="",
                    help="comma-separated phases to skip: cold,load,limits,pairs,sse,instructions,package")
    ap.add_argument("--instr-runs", type=int, default=1,
                    help="callgrind runs of the instructions phase (their spread is recorded)")
    ap.add_argument("--out", default=str(BENCH / "results"))
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--sse-sessions", type=int, help="override the mode's SSE session count")
    ap.add_argument("--reps", type=int, default=DEFAULT_REPS,
                    help="interleaved repetitions (every figure: their median)")
    a = ap.parse_args()
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    if a.instr_runs < 1:
        ap.error("--instr-runs must be at least 1")
    CPUS = Cpus()
    TLS = Tls(Path(tempfile.mkdtemp(prefix="bench-tls-")))
    TOKENS = TokenEndpoint()
    cfg = dict(MODES[a.mode])
    if a.sse_sessions:
        cfg["sse_sessions"] = a.sse_sessions
    outdir = Path(a.out)
    outdir.mkdir(parents=True, exist_ok=True)
    logdir = outdir / "logs"
    logdir.mkdir(exist_ok=True)
    servers = [s for s in a.only.split(",") if s]
    skip = set(a.skip.split(","))
    started = dt.datetime.now(dt.timezone.utc)
    RUST_BIN.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "target" / "release" / "snippets-mcp", RUST_BIN)
    built = dt.datetime.fromtimestamp(RUST_BIN.stat().st_mtime, dt.timezone.utc).isoformat(timespec="seconds")
    res: dict = {
        "mode": a.mode, "config": cfg, "concurrency": cfg["concurrency"], "command": a.command,
        "reps_requested": a.reps,
        "started_utc": started.isoformat(timespec="seconds"),
        "cpus": {"server": CPUS.server, "load": CPUS.load, "azurite": CPUS.azurite, "available": CPUS.total},
        "nofile_limit": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[0],
        "machine": machine(), "labels": {k: v[0] for k, v in SERVERS.items()},
        "git": {"commit": sh(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
                "src_dirty": bool(sh(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "Cargo.toml",
                                      "Cargo.lock"]))},
        "rust_binary": {"built_utc": built, "bytes": RUST_BIN.stat().st_size, "sha256": _sha(RUST_BIN)},
        "baseline_binary": copy_baseline(),
        "package": {}, "failures": [],
    }
    log(f"mode {a.mode}; server CPUs {CPUS.server}, load CPUs {CPUS.load}, Azurite CPUs {CPUS.azurite}")

    def attempt(what: str, fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001  one failed phase must not lose the others
            log(f"FAILED {what}: {e!r}")
            res["failures"].append(f"{what}: {e!r}")
            return None

    # Interleaved: every repetition measures every server once, so drift on the machine hits them alike.
    res["reps"] = []
    for i in range(1, a.reps + 1):
        log(f"=== repetition {i}/{a.reps}")
        rep = {"rep": i, "started_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "loadavg_start": os.getloadavg()[0], "cold_start": {}, "load": {}, "sse": {}, "limits": {},
               "pairs": {}, "hello_pairs": {}, "cpu_pairs": {}}
        res["reps"].append(rep)
        measure_rep(rep, servers, skip, cfg, logdir, lambda what, fn, i=i: attempt(f"rep {i}: {what}", fn))
        rep["loadavg_end"] = os.getloadavg()[0]
        rep["tokens_issued"], rep["tokens_refused"] = TOKENS.issued, list(TOKENS.refused)
        log(f"rep {i}: load average {rep['loadavg_start']:.2f} -> {rep['loadavg_end']:.2f}; "
            f"{TOKENS.issued} tokens issued so far, {len(TOKENS.refused)} refused")
        write_results(res, outdir, started, a.mode)  # a later crash keeps the finished repetitions
    if "instructions" not in skip:
        # Once per run: counts barely move between runs (see bench/profile/instructions.py).
        res["instructions"] = {"valgrind": callgrind.valgrind_version(), "calls": INSTR_CALLS, "runs": []}
        for k in range(1, a.instr_runs + 1):
            log(f"=== instructions per call under callgrind, run {k}/{a.instr_runs}")
            r = attempt(f"instructions run {k}", lambda: instruction_counts(logdir))
            if r:
                res["instructions"]["runs"].append(r)
        write_results(res, outdir, started, a.mode)
    if "package" not in skip:
        r = attempt("package sizes", lambda: package_sizes(outdir / "packages"))
        if r:
            res["package"] = r
    res["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    res["machine"]["loadavg_end"] = os.getloadavg()
    path = write_results(res, outdir, started, a.mode)
    TOKENS.close()
    shutil.rmtree(TLS.dir, ignore_errors=True)
    log(f"results: {path}")
    return 0


def measure_rep(rep: dict, servers: list[str], skip: set[str], cfg: dict, logdir: Path, attempt) -> None:
    """One repetition: cold starts, load (servers, then the limits), the paired windows (`pairs`: hello_mcp
    against the echo limit and each peer, then storage against the raw operation), SSE; a fresh Azurite for
    each."""
    if "cold" not in skip:
        az = Azurite(logdir)
        try:
            for s in servers:
                r = attempt(f"cold start {s}", lambda s=s: cold_start(s, cfg["cold_runs"], az.env("bearer"), logdir))
                if r:
                    rep["cold_start"][s] = r
                    log(f"{s}: cold start median {r['median_ms']:.1f} ms ({r['runs_ms']})")
        finally:
            az.close()
    if "load" not in skip:
        for s in servers:
            log(f"load: {s}")
            r = attempt(f"load {s}", lambda s=s: server_load(s, cfg, logdir))
            if r:
                rep["load"][s] = r
    if "limits" not in skip:
        r = attempt("raw blob", lambda: raw_blob(cfg, logdir))
        if r:
            rep["limits"]["blob"] = r
        log("load: echo (limit)")
        r = attempt("echo", lambda: server_load("echo", cfg, logdir))
        if r:
            rep["limits"]["echo"] = r
    if "pairs" not in skip and "rust" in servers:
        log("hello pairs: rust vs the echo limit and each peer, alternating windows")
        r = attempt("hello pairs", lambda: hello_pairs(cfg, logdir, servers))
        if r:
            rep["hello_pairs"] = r
        log("storage pairs: rust vs raw blob, alternating windows on one Azurite (bearer tokens)")
        r = attempt("storage pairs", lambda: storage_pairs(cfg, logdir))
        if r:
            rep["pairs"] = r
        if BASELINE_BIN.exists():
            log("cpu pairs: rust vs the baseline binary, alternating windows on one Azurite (bearer tokens)")
            r = attempt("cpu pairs", lambda: cpu_pairs(cfg, logdir))
            if r:
                rep["cpu_pairs"] = r
    if "sse" not in skip:
        for s in servers:
            r = attempt(f"sse {s}", lambda s=s: sse_hold(s, cfg, logdir))
            if r:
                rep["sse"][s] = r


def copy_baseline() -> dict | None:
    """Copies the baseline binary (BENCH_BASELINE_BIN) beside the one under test; None without one (no pairs)."""
    BASELINE_BIN.unlink(missing_ok=True)  # a copy from an earlier run must not stand in for a missing build
    src = os.environ.get("BENCH_BASELINE_BIN", "")
    if not src or not Path(src).is_file():
        log("no baseline binary (BENCH_BASELINE_BIN): the CPU-per-call pairs are not measured")
        return None
    shutil.copy2(src, BASELINE_BIN)
    return {"source": src, "commit": Path(src).parent.name, "bytes": BASELINE_BIN.stat().st_size,
            "sha256": _sha(BASELINE_BIN)}


def write_results(res: dict, outdir: Path, started: dt.datetime, mode: str) -> Path:
    path = outdir / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{mode}.json"
    text = json.dumps(res, indent=1)
    path.write_text(text)
    (outdir / "latest.json").write_text(text)
    return path


if __name__ == "__main__":
    sys.exit(main())
