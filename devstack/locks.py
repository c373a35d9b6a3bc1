"""One owner per state directory: a second launcher on the same state is refused, not allowed to
delete the first one's keys and data under it. The lock is an flock, so it is released when its
holder exits, however it exits."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StateInUse(RuntimeError):
    """Another live process holds the lock."""


def acquire(lock_file: Path, state: Path, who: str) -> int:
    """Locks `lock_file` for the life of this process (the fd stays open; children inherit it
    only if passed explicitly). Raises StateInUse naming the holder when it is held."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise StateInUse(f"{state} is in use by {holder}: stop it first, or give this one its own state directory") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{who} (pid {os.getpid()})\n".encode(), 0)
    return fd
