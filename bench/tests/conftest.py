"""The benchmark's offline tests import its scripts (bench/harness, bench/profile), which are not a package."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCH / "harness"), str(BENCH / "profile")]
