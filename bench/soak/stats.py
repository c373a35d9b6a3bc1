"""Latency samples per request kind, errors with their text, and percentiles."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

# Errors kept with their text, per kind (so a flood of one kind cannot hide another); the rest
# are counted.
MAX_ERRORS_LISTED_PER_KIND = 10


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Recorder:
    """Shared by every worker (one asyncio loop, so no locking)."""

    started: float = field(default_factory=time.monotonic)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)

    def ok(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def error(self, kind: str, worker: str, text: str) -> None:
        self.error_count += 1
        self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1
        self.latencies.setdefault(kind, [])
        if sum(e["kind"] == kind for e in self.errors) < MAX_ERRORS_LISTED_PER_KIND:
            at = round(time.monotonic() - self.started, 1)
            self.errors.append({"kind": kind, "worker": worker, "at_s": at, "text": text[:2000]})

    def summary(self) -> dict[str, dict]:
        """kind -> count (successes), errors, p50_ms, p99_ms, max_ms."""
        errors_by_kind = self.errors_by_kind
        out = {}
        for kind in sorted(self.latencies):
            values = sorted(self.latencies[kind])
            out[kind] = {
                "count": len(values),
                "errors": errors_by_kind.get(kind, 0),
                "p50_ms": round(percentile(values, 50) * 1000, 1) if values else None,
                "p99_ms": round(percentile(values, 99) * 1000, 1) if values else None,
                "max_ms": round(values[-1] * 1000, 1) if values else None,
            }
        return out
