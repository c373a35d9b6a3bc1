"""The one /proc reader: a process's (or one thread's) memory, CPU time, context switches and open
descriptors, for the benchmark's figures and the soak's growth checks."""

from __future__ import annotations

import os
import re
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Proc:
    """A process, or one of its threads (`Proc(path=/proc/<pid>/task/<tid>)`), as /proc shows it."""

    def __init__(self, pid: int | None = None, path: Path | None = None) -> None:
        self.path = Path(path or f"/proc/{pid}")

    def status(self, key: str) -> int:
        """A figure of /proc/<pid>/status: VmRSS and VmHWM in KiB, voluntary_ctxt_switches."""
        m = re.search(rf"^{key}:\s+(\d+)", (self.path / "status").read_text(errors="replace"), re.M)
        if not m:
            raise RuntimeError(f"{self.path}/status has no {key} line (a zombie?)")
        return int(m.group(1))

    def ticks(self) -> tuple[int, int]:
        """User and system CPU time (all threads, for a process) in clock ticks (CLK_TCK a second)."""
        fields = (self.path / "stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]), int(fields[12])

    def cpu_seconds(self) -> float:
        return sum(self.ticks()) / CLK_TCK

    def schedstat_seconds(self) -> float:
        """Time on the CPU in nanoseconds' resolution (one thread's /proc/<pid>/task/<tid>/schedstat)."""
        return int((self.path / "schedstat").read_text().split()[0]) / 1e9

    def threads(self) -> list[Proc]:
        return [Proc(path=p) for p in sorted((self.path / "task").iterdir())]

    def fds(self) -> int:
        """Open files, sockets, pipes and eventfds."""
        return len(os.listdir(self.path / "fd"))
