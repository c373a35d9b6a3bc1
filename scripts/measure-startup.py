#!/usr/bin/env python3
"""Cold start (process spawn to GET / 200) and idle RSS of a snippets-mcp binary.

Usage: scripts/measure-startup.py target/release/snippets-mcp
No storage call is made; the connection string only has to be valid.
"""
import subprocess, time, socket, statistics, os, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from devstack.azurite import connection_string  # noqa: E402 - the dev account's key is defined once, there
BIN = sys.argv[1]
env = {"AzureWebJobsStorage": connection_string({"blob": 10000}), "PATH": os.environ["PATH"]}
def probe(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        ok = s.recv(64).startswith(b"HTTP/1.1 200")
        s.close(); return ok
    except OSError:
        return False
times=[]; rss=[]
for i in range(30):
    port = 18100 + i
    t0 = time.perf_counter()
    p = subprocess.Popen([BIN, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = t0 + 5
    while not probe(port):
        assert time.perf_counter() < deadline
    times.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.2)
    rss.append(int([l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")][0].split()[1]))
    p.terminate(); p.wait()
times.sort()
print(f"cold start to GET / 200 (n={len(times)}): median {statistics.median(times):.2f} ms, p90 {times[int(0.9*len(times))]:.2f} ms, min {times[0]:.2f} ms")
print(f"idle RSS after start + one probe: median {statistics.median(rss)/1024:.2f} MiB, max {max(rss)/1024:.2f} MiB")
