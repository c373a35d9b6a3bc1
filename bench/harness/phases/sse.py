"""Phase `sse`: N raw `GET /sse` streams (128 opening at once), each until its `endpoint` event, then the server's
RSS with all of them open."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter

from common import Proc, log
from stack import Azurite, running


def run(rep: dict, run) -> None:
    for s in run.servers:
        run.attempt(f"sse {s}", lambda s=s: sse_hold(s, run.cfg, run.logdir), rep["sse"], s)


async def _open(port: int, sem: asyncio.Semaphore, timeout: float):
    async with sem:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(f"GET /sse HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
                     f"Cache-Control: no-cache\r\n\r\n".encode())
        await writer.drain()
        buf, end = b"", time.monotonic() + timeout
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


async def _hold(port: int, n: int, timeout: float, pid: int) -> dict:
    sem = asyncio.Semaphore(128)
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(_open(port, sem, 30)) for _ in range(n)]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        t.cancel()
    elapsed = time.perf_counter() - t0
    held = [t.result() for t in done if t.exception() is None]
    errors = dict(Counter(f"{type(e).__name__}: {str(e)[:80]}" for t in done if (e := t.exception()) is not None))
    if pending:
        errors["not open before the phase timeout"] = len(pending)
    await asyncio.sleep(2.0)  # let the server settle with every stream open
    p = Proc(pid)
    alive = {"rss_kib": p.status("VmRSS"), "hwm_kib": p.status("VmHWM")}
    for _, w in held:
        w.close()
    await asyncio.sleep(0.5)
    return {"opened": len(held), "open_seconds": elapsed, "errors": errors, **alive}


def sse_hold(name: str, cfg: dict, logdir) -> dict:
    with Azurite.run(logdir) as az, running(name, az.env("bearer"), logdir) as (proc, port):
        time.sleep(1.0)
        base = Proc(proc.pid).status("VmRSS")
        n = cfg["sse_sessions"]
        r = asyncio.run(_hold(port, n, cfg["sse_timeout"], proc.pid))
        r.update(target=n, base_rss_kib=base, server_alive=proc.poll() is None,
                 per_session_kib=(r["rss_kib"] - base) / r["opened"] if r["opened"] else None)
        log(f"{name}: SSE {r['opened']}/{n} sessions open in {r['open_seconds']:.1f}s, RSS {r['rss_kib'] / 1024:.1f} "
            f"MiB ({(r['per_session_kib'] or 0):.1f} KiB/session) errors {r['errors']}")
        return r
