"""Resident memory and open file descriptors of a process, read from /proc (Linux only)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Usage:
    rss_kb: int
    fds: int

    def as_dict(self) -> dict:
        return asdict(self)


def rss_kb(pid: int) -> int:
    """VmRSS of `pid` in kB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line (a zombie?)")


def fd_count(pid: int) -> int:
    """Entries in /proc/<pid>/fd: every open file, socket, pipe and eventfd."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def usage(pid: int) -> Usage | None:
    """None once the process has exited (its /proc entry is gone, or it is a zombie)."""
    try:
        return Usage(rss_kb(pid), fd_count(pid))
    except (FileNotFoundError, ProcessLookupError, RuntimeError):
        return None
