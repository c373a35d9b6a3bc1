"""Offline checks of the benchmark's renderer and token endpoint (bench/harness/render.py, stats.py, goals.toml,
credentials.py).

Renderer, on a small synthetic results file: a goal passes only when it passes in every repetition (a median
that passes is not enough), counters add up over repetitions, and the README headline is rewritten between
its markers and nowhere else. Token endpoint, on loopback: the App Service managed identity protocol, and a
refusal (with nothing issued) for a missing or wrong secret, api-version or resource.
Standard library only: charts are skipped, so matplotlib need not be installed.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path

import credentials
import pytest
import render
import stats

RENDER = Path(__file__).resolve().parents[2] / "bench" / "harness" / "render.py"


def _point(c, rps, p50, p99, cpu, errors=0):
    return {"concurrency": c, "ok_rps": rps, "rps": rps, "p50_us": p50, "p95_us": p99, "p99_us": p99,
            "cpu_us_per_req": cpu, "errors": errors, "bad": errors, "requests": int(rps * 5)}


def _server(rps, p99, cpu, save_cpu, get_cpu, p50_storage, idle_kib=9000):
    series = lambda cpu_, p50: [_point(c, rps, p50, p99, cpu_) for c in (1, 16)]  # noqa: E731
    return {"idle_rss_kib": idle_kib, "peak_rss_kib": idle_kib * 2, "hello": series(cpu, 1000),
            "save": series(save_cpu, p50_storage), "get": series(get_cpu, p50_storage),
            "save_key": [_point(16, 90, p50_storage, p99, save_cpu)],
            "get_key": [_point(16, 90, p50_storage, p99, get_cpu)]}


def _window(p50, errors=0):
    return {"concurrency": 16, "p50_us": p50, "p99_us": 2 * p50, "rps": 300, "ok_rps": 300, "errors": errors,
            "requests": 600, "server_cpu_us_per_req": 400.0, "azurite_cpu_us_per_req": 900.0}


def _pairs(ratios, raw_p50=40_000):
    """A paired phase whose pair ratios (MCP p50 / raw p50) are `ratios`, for save and get alike."""
    def op():
        return {"warmup": {"raw": _window(raw_p50), "mcp": _window(raw_p50)},
                "pairs": [{"first": "raw" if k % 2 == 0 else "mcp", "raw": _window(raw_p50),
                           "mcp": _window(int(raw_p50 * q)), "p50_ratio": q} for k, q in enumerate(ratios)]}
    return {"concurrency": 16, "pairs": len(ratios), "window_s": 3, "warmup_s": 2, "save": op(), "get": op()}


def _hello_window(rps, p99, cpu, errors=0):
    return {"concurrency": 16, "ok_rps": rps, "rps": rps, "p50_us": p99 // 2, "p99_us": p99, "errors": errors,
            "requests": int(rps * 3), "server_cpu_us_per_req": cpu, "cpu_us_per_req": cpu}


def _hello_pairs(k=4):
    """Rust (20,000 req/s, p99 2 ms, 40 us/req) against the echo limit and each peer, `k` ABBA pairs."""
    others = {"echo": (42000, 900, 25.0), "python": (1500, 50000, 900.0), "ts": (900, 50000, 1000.0)}

    def side(name):
        return {"warmup": {"rust": _hello_window(20000, 2000, 40.0), name: _hello_window(*others[name])},
                "pairs": [{"first": "rust" if j % 2 == 0 else name, "rust": _hello_window(20000, 2000, 40.0),
                           name: _hello_window(*others[name])} for j in range(k)]}
    return {"concurrency": 16, "pairs": k, "window_s": 3, "warmup_s": 2, **{n: side(n) for n in others}}


def _cpu_window(cpu, errors=0):
    return {"concurrency": 16, "ok_rps": 2500, "rps": 2500, "p50_us": 6000, "p99_us": 9000, "errors": errors,
            "requests": 7500, "server_cpu_us_per_req": cpu, "cpu_us_per_req": cpu}


def _cpu_pairs(save_cpu, get_cpu=120.0, baseline=400.0, k=4):
    """The binary under test (`save_cpu` / `get_cpu` us per call) against the baseline (`baseline`), k pairs."""
    def op(cpu):
        return {"warmup": {"baseline": _cpu_window(baseline), "rust": _cpu_window(cpu)},
                "pairs": [{"first": "baseline" if j % 2 == 0 else "rust", "baseline": _cpu_window(baseline),
                           "rust": _cpu_window(cpu)} for j in range(k)]}
    return {"concurrency": 16, "pairs": k, "window_s": 3, "warmup_s": 2, "save": op(save_cpu), "get": op(get_cpu)}


def _rep(i, rust_save_cpu=150.0, pair_ratios=(1.02, 1.10, 1.08, 1.04)):
    raw = lambda p50: [_point(c, 100, p50, 2 * p50, None) for c in (1, 16)]  # noqa: E731
    return {
        "pairs": _pairs(pair_ratios), "hello_pairs": _hello_pairs(), "cpu_pairs": _cpu_pairs(rust_save_cpu),
        "rep": i, "loadavg_start": 0.5 + i, "loadavg_end": 0.75 + i,
        "cold_start": {s: {"runs_ms": [v], "median_ms": v, "min_ms": v, "max_ms": v}
                       for s, v in (("rust", 12.0), ("python", 1200.0), ("ts", 550.0))},
        "load": {"rust": _server(20000, 2000, 40.0, rust_save_cpu, 120.0, 100_000),
                 "python": _server(1500, 50000, 900.0, 7000.0, 7000.0, 200_000, idle_kib=95000),
                 "ts": _server(900, 50000, 1000.0, 3000.0, 3000.0, 150_000, idle_kib=90000)},
        "limits": {"echo": {"idle_rss_kib": 3000, "peak_rss_kib": 3500,
                            "hello": [_point(c, 40000 + 1000 * i, 500, 900, 25.0) for c in (1, 16)]},
                   "blob": {"put": raw(95_000), "get": raw(95_000), "put_sas": raw(95_000),
                            "get_sas": raw(95_000)}},
        "sse": {"rust": {"opened": 1000, "target": 1000, "open_seconds": 1.0, "errors": {}, "base_rss_kib": 9000,
                         "rss_kib": 17000, "per_session_kib": 8.0}},
    }


def _results(reps):
    return {
        "mode": "quick", "config": {"duration": 2, "warmup": 1, "cold_runs": 3, "sse_sessions": 1000,
                                    "concurrency": [1, 16], "key_concurrency": [16]},
        "concurrency": [1, 16], "command": "bench/run.sh --quick", "started_utc": "2026-01-01T00:00:00+00:00",
        "finished_utc": "2026-01-01T00:08:00+00:00", "cpus": {"server": "0", "load": "1", "azurite": "1"},
        "nofile_limit": 65536, "git": {"commit": "abc1234"}, "rust_binary": {"bytes": 10_000_000},
        "machine": {"nproc": 2, "cpu_model": "test CPU", "mem_total_gib": 8, "kernel": "6", "os": "test",
                    "versions": {"wrk": "4"}},
        "package": {}, "failures": [], "reps": reps,
        "instructions": {"valgrind": "valgrind-3.19.0", "runs": [_instr(170_000, 180_000)]},
    }


def _instr(save, get, hello=60_000, echo=30_000):
    def r(n, per_call):
        return {"calls": n, "instructions": per_call * n, "per_call": float(per_call)}
    return {"rust": {"hello": r(2000, hello), "save": r(400, save), "get": r(400, get)},
            "echo": {"hello": r(2000, echo)}}


SAVE_CPU = "save_snippet server CPU per call"


def _row(res, prefix):
    return next(r for r in render.goals(res) if r[0].startswith(prefix))


def test_a_goal_passes_when_every_repetition_passes():
    res = _results([_rep(1), _rep(2), _rep(3)])
    name, measured, result = _row(res, SAVE_CPU)
    assert result == "**PASS**"
    assert "3/3 reps pass" in measured


def test_one_failing_repetition_is_a_miss_even_when_the_median_passes():
    res = _results([_rep(1, 150.0), _rep(2, 400.0), _rep(3, 150.0)])
    _, measured, result = _row(res, SAVE_CPU)
    assert result == "**MISS**"
    assert measured.startswith("0.38 [0.38-1.00]x the baseline's"), measured
    assert "2/3 reps pass" in measured


def test_a_repetition_without_the_measurement_does_not_pass():
    missing = _rep(3)
    del missing["cpu_pairs"]["save"]
    _, measured, result = _row(_results([_rep(1), _rep(2), missing]), SAVE_CPU)
    assert result == "**MISS**"
    assert "2/3 reps pass" in measured


def test_ratios_are_taken_per_repetition():
    reps = [_rep(1), _rep(2), _rep(3)]
    for p in reps[1]["hello_pairs"]["echo"]["pairs"]:
        p["echo"]["server_cpu_us_per_req"] = 10.0  # rust 40 / echo 10 = 4x in rep 2 only
    _, measured, result = _row(_results(reps), "hello_mcp server CPU per request")
    assert result == "**MISS**"
    assert "[1.60-4.00]x" in measured, measured


HELLO_CPU = "hello_mcp server CPU per request"
P99_PY = "hello_mcp p99 at concurrency 16 >= 5x lower than Python SDK"


def test_one_stalled_hello_window_moves_one_pair_not_the_repetition():
    reps = [_rep(1), _rep(2), _rep(3)]
    stalled = reps[2]["hello_pairs"]["echo"]["pairs"][1]["rust"]
    stalled.update(server_cpu_us_per_req=90.0, p99_us=17_400, ok_rps=9000)  # 3.6x the echo's, in one window
    reps[2]["hello_pairs"]["python"]["pairs"][3]["rust"]["p99_us"] = 17_400  # 2.9x lower only, in one window
    for r in reps:  # and the unpaired load table of that repetition saw the same stall
        r["load"]["rust"]["hello"][1].update(cpu_us_per_req=90.0, p99_us=17_400)
    res = _results(reps)
    _, measured, result = _row(res, HELLO_CPU)
    assert result == "**PASS**" and "3/3 reps pass" in measured and measured.startswith("1.60 [1.60-1.60]x"), measured
    assert stats.pair_ratios(reps[2], "hello_pairs", "echo", "rust", "echo", "server_cpu_us_per_req") == pytest.approx(
        [1.6, 3.6, 1.6, 1.6])
    _, measured, result = _row(res, P99_PY)
    assert result == "**PASS**" and measured.startswith("25.0 [25.0-25.0]x lower"), measured
    _, context, verdict = _row(res, f"context, not a goal: {HELLO_CPU}")
    assert verdict == "context" and context.startswith("3.60 [3.60-3.60]x"), context  # what the old figure said


def test_a_stall_in_most_of_a_repetitions_hello_pairs_is_a_miss():
    reps = [_rep(1), _rep(2), _rep(3)]
    for p in reps[0]["hello_pairs"]["echo"]["pairs"][:3]:
        p["rust"]["server_cpu_us_per_req"] = 60.0  # 2.4x, in three of four pairs: the median fails
    _, measured, result = _row(_results(reps), HELLO_CPU)
    assert result == "**MISS**" and "2/3 reps pass" in measured and "[1.60-2.40]x" in measured, measured


def test_a_repetition_without_hello_pairs_misses_the_hello_goals():
    missing = _rep(3)
    missing["hello_pairs"] = {}
    res = _results([_rep(1), _rep(2), missing])
    for goal in (HELLO_CPU, P99_PY, "hello_mcp throughput at concurrency 16 >= 10x Python SDK"):
        _, measured, result = _row(res, goal)
        assert result == "**MISS**" and "2/3 reps pass" in measured, (goal, measured)


def test_an_error_in_a_hello_pair_window_misses_the_no_errors_goal():
    reps = [_rep(1), _rep(2), _rep(3)]
    reps[0]["hello_pairs"]["ts"]["pairs"][2]["ts"]["errors"] = 2
    _, measured, result = _row(_results(reps), "no errors")
    assert result == "**MISS**" and "2/3 reps pass" in measured


def test_errors_add_up_over_repetitions_and_the_doc_reports_noise(tmp_path):
    reps = [_rep(1), _rep(2), _rep(3)]
    reps[2]["load"]["rust"]["get"][1]["errors"] = 7
    res = _results(reps)
    view = render.median_run(res)
    assert render.point(view["load"]["rust"]["get"], 16)["errors"] == 7
    doc = tmp_path / "benchmarks.md"
    render.render(res, doc, tmp_path / "benchmarks", with_charts=False)
    text = doc.read_text()
    assert "rep 1: 1.50 -> 1.75" in text and "rep 3: 3.50 -> 3.75" in text
    assert "42,000 [41,000-43,000] req/s" in text  # the echo limit's spread
    assert "QUICK RUN" in text
    assert not (tmp_path / "benchmarks").exists()  # no charts asked for, none written


def test_readme_block_is_rewritten_between_the_markers_only(tmp_path):
    res = _results([_rep(1), _rep(2), _rep(3)])
    before, after = "# Title\n\n## Benchmarks\n\nintro line\n", "\n\n## Next section\n\ntext\n"
    readme = tmp_path / "README.md"
    readme.write_text(f"{before}{render.README_BEGIN}\nstale figures\n{render.README_END}{after}")
    render.write_readme(res, readme)
    once = readme.read_text()
    assert once.startswith(before + render.README_BEGIN + "\n") and once.endswith(render.README_END + after)
    assert "stale figures" not in once
    assert "Medians of 3 interleaved repetitions" in once and "| `hello_mcp` at concurrency 16 |" in once
    render.write_readme(res, readme)
    assert readme.read_text() == once  # idempotent: a second render changes nothing


@pytest.mark.parametrize("text", ["no markers at all\n", "<!-- bench:end -->\n<!-- bench:begin -->\n",
                                  "<!-- bench:begin -->\n<!-- bench:begin -->\n<!-- bench:end -->\n"])
def test_readme_without_exactly_one_marker_pair_is_refused(text):
    with pytest.raises(ValueError, match="expected one"):
        render.rewrite_between(text, "block")


def test_a_results_file_from_before_repetitions_renders_as_one():
    single = {k: v for k, v in _results([]).items() if k != "reps"}
    single.update(copy.deepcopy({k: _rep(1)[k] for k in ("cold_start", "load", "sse", "limits")}))
    _, measured, result = _row(single, "idle RSS")
    assert result == "**PASS**" and "1/1 reps pass" in measured


# ------------------------------------------------------------------ the managed identity endpoint (credentials.py)


@pytest.fixture()
def tokens():
    mod = credentials
    endpoint = mod.TokenEndpoint()
    yield mod, endpoint
    endpoint.close()


def _get(endpoint, query, secret):
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=5)
    try:
        c.request("GET", f"/msi/token?{query}", headers={} if secret is None else {"X-IDENTITY-HEADER": secret})
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


def test_token_endpoint_speaks_the_app_service_protocol(tokens):
    mod, endpoint = tokens
    status, body = _get(endpoint, "resource=https://storage.azure.com&api-version=2019-08-01", endpoint.secret)
    assert status == 200 and body["token_type"] == "Bearer" and body["resource"] == "https://storage.azure.com"
    assert isinstance(body["expires_on"], str) and int(body["expires_on"]) > time.time() + 3000
    payload = body["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == "https://storage.azure.com" and claims["iss"].startswith("https://sts.windows.net/")
    assert claims["nbf"] <= time.time() <= claims["exp"] and "iat" in claims  # what Azurite's basic check reads
    assert endpoint.issued == 1


@pytest.mark.parametrize("query,secret,code", [
    ("resource=https://storage.azure.com&api-version=2019-08-01", None, 401),
    ("resource=https://storage.azure.com&api-version=2019-08-01", "wrong", 401),
    ("resource=https://storage.azure.com&api-version=2017-09-01", "SECRET", 400),
    ("resource=https://vault.azure.net&api-version=2019-08-01", "SECRET", 400),
])
def test_token_endpoint_refuses_bad_requests_and_issues_nothing(tokens, query, secret, code):
    _, endpoint = tokens
    status, body = _get(endpoint, query, endpoint.secret if secret == "SECRET" else secret)
    assert status == code and "access_token" not in body
    assert endpoint.issued == 0 and len(endpoint.refused) == 1


def test_an_error_in_any_repetition_misses_the_no_errors_goal():
    reps = [_rep(1), _rep(2), _rep(3)]
    assert _row(_results(reps), "no errors")[2] == "**PASS**"
    reps[1]["limits"]["blob"]["get_sas"][1]["errors"] = 3  # the second table's raw GET, one repetition
    _, measured, result = _row(_results(reps), "no errors")
    assert result == "**MISS**" and "2/3 reps pass" in measured


def test_the_repository_readme_has_one_bench_block():
    readme = (RENDER.parents[2] / "README.md").read_text()
    rewritten = render.rewrite_between(readme, "BLOCK")  # raises unless exactly one marker pair, in order
    head = readme.split(render.README_BEGIN)[0]
    assert rewritten.startswith(head) and "BLOCK" in rewritten
    assert head[head.rfind("\n## "):].startswith("\n## Benchmarks")  # the block sits in the Benchmarks section


# ------------------------------------------------------------------ paired storage windows, instructions per call

SAVE_VS_RAW = "save_snippet vs raw PUT: p50"
INSTR = "save_snippet / get_snippet instructions per call"


def test_storage_goal_is_the_median_of_each_repetitions_pair_ratios():
    # The unpaired load table says +5% (100 ms vs 95 ms); the pairs say otherwise in rep 2 (median 1.25).
    reps = [_rep(1), _rep(2, pair_ratios=(1.30, 1.20, 1.02, 1.40)), _rep(3)]
    _, measured, result = _row(_results(reps), SAVE_VS_RAW)
    assert result == "**MISS**" and "2/3 reps pass" in measured, measured
    assert measured.startswith("+6 [6-25]% vs raw"), measured  # medians 1.06, 1.25, 1.06 (even count: mean of two)
    assert stats.paired(reps[1], "pairs", "save", ("mcp", "raw"), "p50_us") == pytest.approx(1.25)


def test_pairs_pass_where_the_unpaired_comparison_would_miss_and_that_stays_visible_as_context():
    reps = [_rep(1), _rep(2), _rep(3)]
    for r in reps:  # the raw limit, measured minutes apart, happened to be fast: unpaired +67%
        for p in r["limits"]["blob"]["put"]:
            p["p50_us"] = 60_000
    res = _results(reps)
    _, measured, result = _row(res, SAVE_VS_RAW)
    assert result == "**PASS**" and "3/3 reps pass" in measured and measured.startswith("+6 [6-6]% vs raw"), measured
    name, context, verdict = _row(res, "context, not a goal: save_snippet vs raw PUT unpaired")
    assert verdict == "context" and context.startswith("+67 [67-67]% vs raw"), context
    assert render.goal_verdicts(res)[name] == "context"
    v = render.goal_verdicts(res)
    assert next(r for k, r in v.items() if k.startswith("save_snippet vs raw")) == "PASS"  # the README's pick


def test_ratios_come_from_the_windows_not_from_a_stored_figure():
    rep = _rep(1)
    for p in rep["pairs"]["get"]["pairs"]:
        p["p50_ratio"] = 1.0  # a stale or wrong stored ratio is ignored
        p["mcp"]["p50_us"] = 2 * p["raw"]["p50_us"]
    _, measured, result = _row(_results([rep]), "get_snippet vs raw GET: p50")
    assert result == "**MISS**" and measured.startswith("+100% vs raw"), measured


def test_a_repetition_without_pairs_misses_the_storage_goal():
    missing = _rep(3)
    missing["pairs"] = {}
    _, measured, result = _row(_results([_rep(1), _rep(2), missing]), SAVE_VS_RAW)
    assert result == "**MISS**" and "2/3 reps pass" in measured


def test_an_error_in_a_paired_window_misses_the_no_errors_goal():
    reps = [_rep(1), _rep(2), _rep(3)]
    reps[2]["pairs"]["save"]["warmup"]["mcp"]["errors"] = 1  # even a warm-up window's reply must be correct
    _, measured, result = _row(_results(reps), "no errors")
    assert result == "**MISS**" and "2/3 reps pass" in measured


@pytest.mark.parametrize("runs,verdict,shown", [
    ([_instr(170_000, 180_000)], "**PASS**", "save 170,000 (0.44x); get 180,000 (0.44x); 1/1 callgrind run pass"),
    ([_instr(170_000, 210_000)], "**MISS**", "get 210,000 (0.51x); 0/1 callgrind run pass"),  # get above half
    ([_instr(170_000, 180_000), _instr(193_000, 180_000)], "**MISS**",  # one run of two above half for save
     "save 181,500 [170,000-193,000] (0.47 [0.44-0.50]x)"),
])
def test_instruction_goal_is_half_the_baseline_in_every_callgrind_run(runs, verdict, shown):
    res = _results([_rep(1)])
    res["instructions"]["runs"] = runs
    _, measured, result = _row(res, INSTR)
    assert result == verdict and shown in measured, measured


def test_instruction_goal_without_a_callgrind_run_is_not_measured():
    res = _results([_rep(1)])
    del res["instructions"]
    assert _row(res, INSTR)[1:] == ("not measured", "n/a")


def test_the_doc_shows_the_pairs_and_the_instruction_table(tmp_path):
    res = _results([_rep(1), _rep(2)])
    doc = tmp_path / "benchmarks.md"
    render.render(res, doc, tmp_path / "charts", with_charts=False)
    text = doc.read_text()
    assert "4 pairs of adjacent 3 s windows" in text and "after a 2 s warm-up window" in text
    assert "| save_snippet vs raw PUT | 2 | 1.02 1.10 1.08 1.04 | 1.060 |" in text
    assert "### Paired windows: the `hello_mcp` goals' measurement" in text
    assert ("| axum echo (limit) | 2 | 1.60 1.60 1.60 1.60 / 0.45 0.45 0.45 0.45 / 0.48 0.48 0.48 0.48 | "
            "20,000 [20,000-20,000] / 42,000 [42,000-42,000] |") in text
    assert "## Instructions per call (callgrind, user space)" in text
    assert "| `save_snippet` | Rust (snippets-mcp) | 400 | 170,000 | 385,485 | 0.44x |" in text
    assert "| `hello_mcp` | Rust (snippets-mcp) | 2,000 | 60,000 | 144,468 | 0.42x | 2.00x the echo's |" in text


# ------------------------------------------------------------------ CPU per storage call against the baseline binary

GET_CPU = "get_snippet server CPU per call"


def test_cpu_goal_is_the_median_of_each_repetitions_ratios_to_the_baseline():
    reps = [_rep(1), _rep(2), _rep(3)]
    for p in reps[1]["cpu_pairs"]["get"]["pairs"][:2]:  # two of four pairs at 0.6x: median 0.45 still passes
        p["rust"]["server_cpu_us_per_req"] = 240.0
    _, measured, result = _row(_results(reps), GET_CPU)
    assert result == "**PASS**", measured
    assert measured.startswith("0.30 [0.30-0.45]x the baseline's"), measured


def test_cpu_ratios_come_from_the_windows_and_follow_a_slower_machine():
    # The same code on a machine twice as slow: both binaries take twice the CPU, the ratio does not move,
    # while the microseconds of the context row do.
    slow = _rep(1)
    for op in ("save", "get"):
        d = slow["cpu_pairs"][op]
        for p in d["pairs"]:
            for side in ("baseline", "rust"):
                p[side]["server_cpu_us_per_req"] *= 2
    slow["load"]["rust"]["save"] = [_point(c, 100, 9000, 9000, 300.0) for c in (1, 16)]
    rows = {r[0]: r for r in render.goals(_results([slow]))}
    goal = next(v for k, v in rows.items() if k.startswith(SAVE_CPU))
    context = next(v for k, v in rows.items() if k.startswith("context, not a goal: save_snippet server CPU"))
    assert goal[2] == "**PASS**" and goal[1].startswith("0.38x the baseline's"), goal
    assert context[1:] == ("300 us", "context")


def test_a_cpu_pair_at_more_than_half_the_baseline_in_most_pairs_is_a_miss():
    reps = [_rep(1), _rep(2)]
    for p in reps[0]["cpu_pairs"]["save"]["pairs"][1:]:
        p["rust"]["server_cpu_us_per_req"] = 260.0  # 0.65x in three of four pairs
    _, measured, result = _row(_results(reps), SAVE_CPU)
    assert result == "**MISS**" and "1/2 reps pass" in measured, measured


def test_without_a_baseline_binary_the_cpu_goals_are_not_measured_and_the_doc_says_why(tmp_path):
    reps = [_rep(1), _rep(2)]
    for r in reps:
        r["cpu_pairs"] = {}
    res = _results(reps)
    assert _row(res, SAVE_CPU)[1:] == ("not measured", "n/a")
    assert _row(res, GET_CPU)[1:] == ("not measured", "n/a")
    doc = tmp_path / "benchmarks.md"
    render.render(res, doc, tmp_path / "charts", with_charts=False)
    assert "Not measured: this run had no baseline binary" in doc.read_text()


def test_an_error_in_a_cpu_pair_window_misses_the_no_errors_goal():
    reps = [_rep(1), _rep(2)]
    reps[1]["cpu_pairs"]["get"]["pairs"][2]["baseline"]["errors"] = 1
    _, measured, result = _row(_results(reps), "no errors")
    assert result == "**MISS**", measured


def test_the_doc_shows_the_cpu_pairs(tmp_path):
    res = _results([_rep(1), _rep(2)])
    res["baseline_binary"] = {"commit": "b51bf226fa5177db0b9d88169e81cc0e678f2802"}
    doc = tmp_path / "benchmarks.md"
    render.render(res, doc, tmp_path / "charts", with_charts=False)
    text = doc.read_text()
    assert "### Paired windows: CPU per storage call" in text and "commit b51bf226fa" in text
    assert "| save_snippet | 2 | 0.38 0.38 0.38 0.38 | 0.375 | 400 [400-400] | 150 [150-400] |" not in text
    assert "| save_snippet | 2 | 0.38 0.38 0.38 0.38 | 0.375 | 400 [400-400] | 150 [150-150] |" in text


# ------------------------------------------------------------------ a stored results file, rendered

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_the_stored_results_file_renders_to_the_stored_doc_and_readme_block(tmp_path):
    """fixtures/results-synthetic.json (made-up figures reaching every section of the doc) renders to the doc and
    README block stored beside it, so a change of the renderer's output shows here. After an intended change,
    from bench/tests/fixtures: ../../harness/render.py results-synthetic.json --doc benchmarks-synthetic.md
    --no-charts --readme readme-synthetic.md"""
    res = json.loads((FIXTURES / "results-synthetic.json").read_text())
    doc, readme = tmp_path / "benchmarks.md", tmp_path / "README.md"
    render.render(res, doc, tmp_path / "charts", with_charts=False)
    assert doc.read_text() == (FIXTURES / "benchmarks-synthetic.md").read_text()
    readme.write_text(f"{render.README_BEGIN}\nstale\n{render.README_END}\n")
    render.write_readme(res, readme)
    assert readme.read_text() == (FIXTURES / "readme-synthetic.md").read_text()
