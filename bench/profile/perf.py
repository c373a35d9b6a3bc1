#!/usr/bin/env python3
"""`perf record` of a server under load, for bench/profile/perf.sh (its command and usage): the binary on CPU 0
beside an in-memory Azurite (plain HTTP connection string), wrk at concurrency 16 on CPU 1, perf sampling the
server's threads with DWARF call graphs for the measured seconds, after a 2 s warm-up."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
from common import SNIPPET, Client, plain_azurite, serving, tool_call, window_line, wrk  # noqa: E402


def main(binary: str, mode: str, seconds: str, out: str) -> int:
    work = Path(tempfile.mkdtemp(prefix="perf-"))
    with plain_azurite(work) as storage, serving([binary], "0", work / "server.log",
                                                 {"AzureWebJobsStorage": storage}, poll=0.1, mcp=False) as (proc, port):
        if mode == "get":  # the names get reads (seed-0 .. seed-255), saved through the server itself
            c = Client(port)
            for i in range(256):
                c.call(tool_call(i, "save_snippet", {"snippetname": f"seed-{i}", "snippet": SNIPPET}))
            c.close()
        wrk(port, mode, 16, 2, "/mcp", cpus="1", threads=1)  # warm-up
        with open(work / "perf.log", "w") as log:
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "--call-graph", "dwarf,16384", "-p",
                                     str(proc.pid), "-o", out, "--", "sleep", seconds], stderr=log)
            print(window_line(wrk(port, mode, 16, int(seconds), "/mcp", cpus="1", threads=1)))
            if perf.wait():
                sys.exit(f"perf.sh: perf record failed: {(work / 'perf.log').read_text()}")
    print(f"perf.sh: {out} ({mode}, {seconds} s at concurrency 16); perf report -i {out} --no-children")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
