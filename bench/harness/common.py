"""What every benchmark script shares: the CPU sets, the /proc reader (from devstack), the one wrk wrapper, the MCP request
bodies, the one wait-until-ready loop, a server process in a clean environment and a plain in-memory Azurite."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from devstack.azurite import Azurite  # noqa: E402 - the repository's dev stack
from devstack.processes import clean_env, free_port, stop_popen  # noqa: E402
from devstack.procfs import CLK_TCK, Proc  # noqa: E402,F401 - re-exported: the one /proc reader

LUA = BENCH / "lua" / "mcp.lua"
SNIPPET = 'fn main() { println!("hello, snippets"); }\n' * 24  # the 1,032-byte snippet, as bench/lua/mcp.lua sends it
HELLO_REPLY = "Hello I am MCPTool!"
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-06-18"}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_list(spec: str) -> list[int]:
    """A taskset CPU list ("0", "0,2", "1-3") as CPU numbers."""
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


class Cpus:
    """The CPU plan (taskset lists, BENCH_*_CPUS): the server alone; wrk, the harness and the SSE client on the
    load CPUs; Azurite on a third CPU where there is one, else beside the load generator."""

    def __init__(self) -> None:
        self.total = os.cpu_count() or 1  # the harness pins itself to the load CPUs, so not its own affinity
        default = ("0", "1", "2") if self.total >= 3 else ("0", "1", "1") if self.total == 2 else ("0", "0", "0")
        self.server, self.load, self.azurite = (
            os.environ.get(f"BENCH_{k}_CPUS", d) for k, d in zip(("SERVER", "LOAD", "AZURITE"), default))

    @property
    def storage_client(self) -> str:
        """Where the storage latency pairs run wrk: never on Azurite's CPUs. Azure Storage runs on machines of its
        own; beside Azurite, wrk batched the raw requests (it cannot send while Azurite runs) but not the
        server's, so the comparison measured where wrk sat instead of the server's hop."""
        return self.server if set(cpu_list(self.azurite)) & set(cpu_list(self.load)) else self.load


CPUS = Cpus()


def wrk(port: int, mode: str, conc: int, seconds: float, path: str, sas: str = "", token: str = "",
        scheme: str = "http", cpus: str | None = None, threads: int | None = None) -> dict:
    """One closed-loop wrk run of bench/lua/mcp.lua (`mode`: hello, save, get, rawput, rawget) on `cpus`
    (default: the load CPUs): the script's BENCHJSON figures plus req/s, correct req/s and errors."""
    cpus = cpus or CPUS.load
    threads = threads or max(1, min(conc, int(os.environ.get("BENCH_WRK_THREADS", str(len(cpus.split(",")))))))
    cmd = ["taskset", "-c", cpus, "wrk", "-t", str(threads), "-c", str(conc), "-d", f"{seconds}s",
           "--timeout", "10s", "-s", str(LUA), f"{scheme}://127.0.0.1:{port}", "--", mode, path, sas, token]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"^BENCHJSON (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(m.group(1))
    s = r["duration_us"] / 1e6
    r.update(rps=r["requests"] / s, ok_rps=(r["requests"] - r["bad"]) / s, concurrency=conc, wrk_threads=threads,
             errors=r["bad"] + r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"])
    return r


def window_line(r: dict) -> str:
    """One wrk run's figures, for the progress log."""
    cpu, az = r.get("server_cpu_us_per_req", r.get("cpu_us_per_req")), r.get("azurite_cpu_us_per_req")
    return (f"{r['ok_rps']:.0f} req/s, p50 {r['p50_us'] / 1000:.2f} ms, p99 {r['p99_us'] / 1000:.2f} ms, errors "
            f"{r['errors']}" + ("" if cpu is None else f", server CPU {cpu:.1f} us/req")
            + ("" if az is None else f", Azurite CPU {az:.0f} us/req")
            + (f" (first failure: {r['bad_sample'][:160]})" if r["errors"] else ""))


def spread(vals: list[float], nd: int = 0) -> str:
    """`median [min-max]` of a profiler's samples."""
    return f"{statistics.median(vals):.{nd}f} [{min(vals):.{nd}f}-{max(vals):.{nd}f}]"


def rpc(i: int, method: str, params: dict | None = None) -> bytes:
    """A JSON-RPC request body (json.dumps' separators, as the callgrind counts were measured with)."""
    return json.dumps({"jsonrpc": "2.0", "id": i, "method": method, **({"params": params} if params else {})}).encode()


def tool_call(i: int, name: str, arguments: dict | None = None) -> bytes:
    return rpc(i, "tools/call", {"name": name, "arguments": arguments or {}})


HELLO = tool_call(1, "hello_mcp")
TOOLS_LIST = rpc(1, "tools/list")


class Client:
    """One keep-alive HTTP/1.1 connection to a server's /mcp, as one wrk connection uses it."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def post(self, body: bytes) -> tuple[int, str]:
        self.conn.request("POST", "/mcp", body=body, headers=MCP_HEADERS)
        r = self.conn.getresponse()
        return r.status, r.read().decode(errors="replace")

    def call(self, body: bytes) -> str:
        """A call that must succeed: HTTP 200 with a JSON-RPC result that is not a tool error."""
        status, text = self.post(body)
        if status != 200 or '"result"' not in text or '"isError":true' in text:
            raise RuntimeError(f"call failed: HTTP {status} {text[:200]!r}")
        return text

    def close(self) -> None:
        self.conn.close()


def post(port: int, body: bytes, timeout: float = 5.0) -> tuple[int, str]:
    """One request on a connection of its own."""
    c = Client(port, timeout)
    try:
        return c.post(body)
    finally:
        c.close()


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60, poll: float = 0.0005, mcp: bool = True) -> float:
    """Polls tools/list every `poll` s until it is answered (by an MCP server: with its tools; the echo limit
    answers any body); returns that moment (perf_counter). Raises if the process exits first or time runs out."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering")
        try:
            status, text = post(port, TOOLS_LIST, timeout=timeout)
            if status == 200 and ('"hello_mcp"' if mcp else '"result"') in text:
                return time.perf_counter()
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(poll)
    raise RuntimeError(f"no answer to tools/list within {timeout} s")


def spawn(argv: list[str], cpus: str | None, out, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A server on `cpus` (taskset execs it, so the pid is the server's own) with a clean environment, as on a
    Functions instance: nothing from the caller's shell that changes how a runtime behaves (RUST_BACKTRACE makes
    every azure_core error capture a backtrace; NODE_OPTIONS, PYTHON* flags, RUST_LOG)."""
    return subprocess.Popen((["taskset", "-c", cpus] if cpus else []) + argv, env=clean_env(env), stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


@contextlib.contextmanager
def serving(argv: list[str], cpus: str | None, log: Path | None, env: dict[str, str] | None = None,
            timeout: float = 60, poll: float = 0.0005, mcp: bool = True, grace: float = 10, port: int | None = None):
    """(process, port) of `argv --port N` (spawned with its output in `log`, or none), once it has answered
    tools/list (wait_ready); stopped on exit."""
    port = port or free_port()
    with open(log or os.devnull, "w") as out:
        proc = spawn([*argv, "--port", str(port)], cpus, out, env)
    try:
        wait_ready(port, proc, timeout, poll, mcp)
        yield proc, port
    finally:
        stop_popen(proc, grace=grace)


@contextlib.contextmanager
def plain_azurite(log_dir: Path, name: str = "azurite"):
    """devstack's Azurite, blob only, in memory, over plain HTTP (no CA, no tokens), for the profilers: yields its
    connection string, from which the Rust server mints an account SAS."""
    az = Azurite(Path(tempfile.mkdtemp(prefix="bench-azurite-")), log_dir=log_dir, name=name, services=("blob",),
                 in_memory=True, silent=True)
    try:
        yield az.start(timeout=60).connection_string()
    finally:
        az.stop()
        shutil.rmtree(az.workdir, ignore_errors=True)
