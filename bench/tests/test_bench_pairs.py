"""Offline check of the benchmark's paired storage windows (bench/harness/phases/pairs.py `paired`): the windows
alternate ABBA after one warm-up window of each side, and a steady drift of Azurite over the phase cancels out
of the median pair ratio instead of biasing it. The windows are stand-ins returning p50 figures, so no wrk or
Azurite is needed; what is checked is the order and the arithmetic the storage goal rests on."""

from __future__ import annotations

import common
import pytest
from phases import pairs


def _drifting_windows(mcp_factor, drift_per_window):
    """raw and MCP windows on one Azurite whose p50 grows by `drift_per_window` us with every window run."""
    order = []

    def window(side, warm):
        order.append(f"{side}-warm" if warm else side)
        p50 = 100_000 + drift_per_window * (len(order) - 1)
        return {"p50_us": p50 * (mcp_factor if side == "mcp" else 1.0), "errors": 0, "server_cpu_us_per_req": 0.0}

    return order, (lambda warm: window("raw", warm)), (lambda warm: window("mcp", warm))


def test_windows_alternate_abba_after_a_warm_up_of_each_side():
    order, raw, mcp = _drifting_windows(1.0, 0)
    out = pairs.paired(raw, mcp, 4, "test")
    assert order == ["raw-warm", "mcp-warm", "raw", "mcp", "mcp", "raw", "raw", "mcp", "mcp", "raw"]
    assert [p["first"] for p in out["pairs"]] == ["raw", "mcp", "raw", "mcp"]
    assert set(out["warmup"]) == {"raw", "mcp"} and all(set(p) == {"first", "raw", "mcp", "p50_ratio"}
                                                         for p in out["pairs"])
    assert out["median_p50_ratio"] == pytest.approx(1.0)


def test_a_steady_drift_cancels_out_of_the_median_ratio():
    # Azurite slows by 10% of its p50 per window; the MCP path really costs +10%.
    _, raw, mcp = _drifting_windows(1.10, 10_000)
    out = pairs.paired(raw, mcp, 4, "test")
    ratios = [p["p50_ratio"] for p in out["pairs"]]
    assert ratios[0] > 1.15 and ratios[1] < 1.05  # each pair alone is off by the drift, in opposite directions
    assert out["median_p50_ratio"] == pytest.approx(1.10, abs=0.02)
    # the same drift with raw always first would read about +17%: a 15% goal would flip on drift alone
    always_raw_first = [1.10 * (100_000 + 10_000 * (2 * k + 3)) / (100_000 + 10_000 * (2 * k + 2)) for k in range(4)]
    assert sorted(always_raw_first)[1] > 1.15


def test_wrk_runs_on_the_cpus_it_is_given_and_on_the_load_cpus_by_default(monkeypatch):
    monkeypatch.setattr(common, "CPUS", type("Cpus", (), {"server": "0", "load": "1", "azurite": "1"})(), raising=False)
    seen = []

    class Done:
        stdout = ('BENCHJSON {"requests":10,"duration_us":1000000,"bad":0,"err_connect":0,"err_read":0,'
                  '"err_write":0,"err_timeout":0,"p50_us":5}\n')
        stderr = ""

    monkeypatch.setattr(common.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or Done())
    common.wrk(1, "rawget", 16, 1, "/p", token="t", scheme="https", cpus="0")
    common.wrk(1, "get", 16, 1, "/mcp")
    assert [c[:3] for c in seen] == [["taskset", "-c", "0"], ["taskset", "-c", "1"]]


@pytest.mark.parametrize("server,load,azurite,client", [
    ("0", "1", "1", "0"),        # two cores: Azurite beside the load generator, so wrk goes beside the server
    ("0", "1", "2", "1"),        # three cores: Azurite alone, wrk stays on the load CPU
    ("0", "1-2", "2-3", "0"),    # ranges that overlap on CPU 2
    ("0", "1,2", "3", "1,2"),
])
def test_storage_latency_pairs_keep_wrk_off_azurites_cpus(monkeypatch, server, load, azurite, client):
    for k, v in (("SERVER", server), ("LOAD", load), ("AZURITE", azurite)):
        monkeypatch.setenv(f"BENCH_{k}_CPUS", v)
    assert common.Cpus().storage_client == client


def test_a_window_passes_its_cpus_to_wrk(monkeypatch):
    seen = []
    monkeypatch.setattr(pairs, "wrk", lambda *a, **kw: seen.append(kw) or {"requests": 10})
    pairs.window(1, "rawget", 1, "/p", cpus="0", token="t")
    pairs.window(1, "get", 1, "/mcp")
    assert [kw.get("cpus") for kw in seen] == ["0", None]
