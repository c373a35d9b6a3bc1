#!/usr/bin/env python3
"""Renders bench/results/<run>.json into docs/benchmarks.md, docs/benchmarks/*.png and README.md's headline.

Every figure is the median of the run's interleaved repetitions, shown with [min-max] where it matters; a goal
passes only when it passes in every repetition. Generated output: never edit the Markdown, the charts or the
README block between its markers by hand; run bench/run.sh (or this script on a results file) again.
Usage: render.py RESULTS.json [--doc docs/benchmarks.md] [--charts docs/benchmarks] [--readme README.md]
       [--no-readme] [--no-charts]   (a quick run leaves README.md alone unless --readme is given)
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

# Goals the Rust server is held to (the lead may adjust the constants; the doc and README quote them).
# save/get server CPU per call at concurrency 16 <= this x the baseline binary's (the commit before the performance
# work, bench/baseline.sh), per repetition the median over its paired windows (phase `pairs`, `cpu_pairs`)
CPU_VS_BASELINE_GOAL = 0.5
HELLO_CPU_VS_ECHO_GOAL = 2.0  # hello_mcp server CPU per request <= this x the axum echo limit's
STORAGE_P50_GOAL = 1.15  # save/get p50 at concurrency 16 <= this x the raw blob operation's (bearer tokens),
#                          per repetition the median over its paired windows (phase `pairs`)
# Instructions per call under callgrind (user space), measured on the commit before the performance work with
# glibc malloc by bench/profile/instructions.py; the goal is at most INSTR_GOAL_FRACTION of them.
SAVE_INSTR_BASELINE = 385_485
GET_INSTR_BASELINE = 411_262
HELLO_INSTR_BASELINE = 144_468
INSTR_GOAL_FRACTION = 0.5
SSE_KIB_GOAL = 10  # KiB of RSS per idle legacy SSE session
SSE_10K_MB_GOAL = 110  # RSS with 10,000 SSE sessions open, MB
COLD_START_MS_GOAL = 20
IDLE_RSS_MB_GOAL = 15
THROUGHPUT_GOALS = (("python", 10), ("ts", 3))  # hello_mcp req/s at concurrency 16 >= N x the peer's
P99_GOAL = 5  # hello_mcp p99 at concurrency 16 >= N x lower than each peer's

README_BEGIN = "<!-- bench:begin -->"
README_END = "<!-- bench:end -->"

ROOT = Path(__file__).resolve().parent.parent.parent
PEERS = ["python", "ts"]
ORDER = ["rust", "python", "ts"]
SHORT = {"rust": "Rust (snippets-mcp)", "python": "Python SDK", "ts": "TypeScript SDK",
         "echo": "axum echo (limit)", "raw": "raw blob (limit)", "baseline": "baseline binary"}
COLORS = {"rust": "#b7410e", "python": "#3572a5", "ts": "#2f9e44", "echo": "#888888", "raw": "#888888"}
MB = 1e6
GOAL_CONC = 16
# Counters add up over repetitions (an error in any repetition shows); every other number is a median.
SUMMED = {"errors", "bad", "err_connect", "err_read", "err_write", "err_status", "err_timeout"}


# ------------------------------------------------------------------------------------------ repetitions


class Spread(float):
    """A median that remembers the repetitions it came from (`lo`, `hi`, `vals`); arithmetic gives floats."""

    def __new__(cls, vals):
        obj = super().__new__(cls, statistics.median(vals))
        obj.vals, obj.lo, obj.hi = list(vals), min(vals), max(vals)
        return obj


def reps_of(res) -> list[dict]:
    """The repetitions of a run; a results file from before repetitions is one repetition."""
    return res.get("reps") or [{"rep": 1, **{k: res.get(k, {}) for k in ("cold_start", "load", "sse", "limits")}}]


def merge(objs, key=None):
    """Merges the same structure from every repetition: numbers -> Spread (or a sum for counters), dicts by
    key, load series by concurrency; anything else is taken from the first repetition."""
    objs = [o for o in objs if o is not None]
    if not objs:
        return None
    first = objs[0]
    if isinstance(first, bool) or not isinstance(first, (int, float, dict, list)):
        return first
    if isinstance(first, (int, float)):
        nums = [o for o in objs if isinstance(o, (int, float)) and not isinstance(o, bool)]
        return sum(nums) if key in SUMMED else Spread(nums)
    if isinstance(first, dict):
        keys = list(dict.fromkeys(k for o in objs if isinstance(o, dict) for k in o))
        return {k: merge([o.get(k) for o in objs if isinstance(o, dict)], k) for k in keys}
    if first and all(isinstance(x, dict) and "concurrency" in x for x in first):
        concs = list(dict.fromkeys(x["concurrency"] for o in objs for x in o))
        return [merge([point(o, c) for o in objs], None) for c in concs]
    return first


def median_run(res) -> dict:
    """The run as one result (the old single-run shape), every figure the median over repetitions."""
    reps = reps_of(res)
    return {k: merge([r.get(k) for r in reps]) or {} for k in ("cold_start", "load", "sse", "limits")}


# ------------------------------------------------------------------------------------------ formatting


def fmt(x, nd=1):
    if x is None:
        return "n/a"
    if isinstance(x, float) and x >= 1000:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}" if isinstance(x, float) else f"{x:,}"


def span(x, nd=1, scale=1.0):
    """`median [min-max]` for a Spread of several repetitions, else the plain number."""
    if x is None:
        return "n/a"
    med = fmt(float(x) * scale, nd)
    if isinstance(x, Spread) and len(x.vals) > 1:
        sep = " to " if x.lo < 0 else "-"  # "[-9 to 71]", not "[-9-71]"
        return f"{med} [{fmt(x.lo * scale, nd)}{sep}{fmt(x.hi * scale, nd)}]"
    return med


def excess(q):
    """A ratio as percent above 1 (1.26 -> +26), keeping the repetitions' spread."""
    if isinstance(q, Spread):
        return Spread([(x - 1) * 100 for x in q.vals])
    return (q - 1) * 100


def ms(us):
    return None if us is None else us / 1000


def ratio(a, b, nd=1):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.{nd}f}x"


def point(series, c):
    for r in series or []:
        if r and r["concurrency"] == c:
            return r
    return None


def verdict(ok):
    return "n/a" if ok is None else ("**PASS**" if ok else "**MISS**")


# ------------------------------------------------------------------------------------------ goals


def _at(rep, server, op, key, c=GOAL_CONC):
    src = rep.get("limits", {}).get("echo") if server == "echo" else rep.get("load", {}).get(server)
    p = point((src or {}).get(op), c)
    return None if p is None else p.get(key)


def _div(a, b):
    return None if a is None or not b else a / b


def p50_vs_raw(rep, op, raw_op):
    """Rust's p50 / the raw blob operation's p50 at concurrency 16 in one repetition."""
    raw = point(rep.get("limits", {}).get("blob", {}).get(raw_op), GOAL_CONC) or {}
    return _div(_at(rep, "rust", op, "p50_us"), raw.get("p50_us"))


def pair_ratios(rep, op):
    """The p50 ratios (MCP / raw) of a repetition's paired windows for `op`, from the windows themselves."""
    pairs = (rep.get("pairs") or {}).get(op, {}).get("pairs") or []
    return [p["mcp"]["p50_us"] / p["raw"]["p50_us"] for p in pairs
            if p.get("raw", {}).get("p50_us") and p.get("mcp", {}).get("p50_us") is not None]


def paired_p50_ratio(rep, op):
    """A repetition's storage-bound figure: the median of its pair ratios (None when it has no pairs)."""
    ratios = pair_ratios(rep, op)
    return statistics.median(ratios) if ratios else None


# What each hello_mcp comparison reads from a pair of windows (Rust, other side): the goal's value per pair.
HELLO_PAIR_VALUES = {
    "cpu": lambda rust, other: _div(rust.get("server_cpu_us_per_req"), other.get("server_cpu_us_per_req")),
    "p99": lambda rust, other: _div(other.get("p99_us"), rust.get("p99_us")),
    "rps": lambda rust, other: _div(rust.get("ok_rps"), other.get("ok_rps")),
}


def hello_pair_ratios(rep, side, key):
    """Per pair of a repetition's hello_mcp windows against `side` (echo, python, ts), from the windows
    themselves: `cpu` = Rust / side server CPU per request, `p99` = side / Rust p99, `rps` = Rust / side req/s."""
    pairs = ((rep.get("hello_pairs") or {}).get(side) or {}).get("pairs") or []
    vals = [HELLO_PAIR_VALUES[key](p["rust"], p[side]) for p in pairs if "rust" in p and side in p]
    return [v for v in vals if v is not None]


def paired_hello(rep, side, key):
    """A repetition's hello_mcp figure against `side`: the median of its pair values (None without pairs)."""
    vals = hello_pair_ratios(rep, side, key)
    return statistics.median(vals) if vals else None


def cpu_pair_ratios(rep, op):
    """Per pair of a repetition's CPU windows for `op`: server CPU per call of the binary under test / the
    baseline binary's, from the windows themselves."""
    pairs = ((rep.get("cpu_pairs") or {}).get(op) or {}).get("pairs") or []
    vals = [_div(p["rust"].get("server_cpu_us_per_req"), p["baseline"].get("server_cpu_us_per_req"))
            for p in pairs if "rust" in p and "baseline" in p]
    return [v for v in vals if v is not None]


def paired_cpu_vs_baseline(rep, op):
    """A repetition's CPU-per-call figure for `op`: the median of its pair ratios (None without pairs)."""
    vals = cpu_pair_ratios(rep, op)
    return statistics.median(vals) if vals else None


def instruction_runs(res) -> list[dict]:
    return (res.get("instructions") or {}).get("runs") or []


def instr_per_call(run, server, op):
    return ((run or {}).get(server) or {}).get(op, {}).get("per_call")


def evaluate(reps, per_rep, ok):
    """A goal over repetitions: (Spread of the measured value or None, passing reps, reps). Missing in a
    repetition counts as not passing, so PASS means measured and passing in every one."""
    vals = [per_rep(r) for r in reps]
    got = [v for v in vals if v is not None]
    passes = sum(1 for v in got if ok(v))
    return (Spread(got) if got else None), passes, len(reps)


def goal_row(name, reps, per_rep, ok, show):
    value, passes, n = evaluate(reps, per_rep, ok)
    if value is None:
        return (name, "not measured", "n/a")
    result = verdict(passes == n)
    return (name, f"{show(value)}; {passes}/{n} reps pass", result)


def goals(res):
    reps = reps_of(res)
    quick = res.get("mode") == "quick"
    rows = []
    paired = " (per rep the median of its paired windows)"

    def hello_row(name, side, key, unpaired, ok, show):
        rows.append(goal_row(name + paired, reps, lambda r: paired_hello(r, side, key), ok, show))
        value, _, _ = evaluate(reps, unpaired, lambda v: True)
        rows.append((f"context, not a goal: {name}, unpaired (the load tables, measured minutes apart)",
                     "not measured" if value is None else show(value), "context"))

    for peer, target in THROUGHPUT_GOALS:
        hello_row(f"hello_mcp throughput at concurrency 16 >= {target}x {SHORT[peer]}", peer, "rps",
                  lambda r, p=peer: _div(_at(r, "rust", "hello", "ok_rps"), _at(r, p, "hello", "ok_rps")),
                  lambda v, t=target: v >= t, lambda v: f"{span(v, 1)}x")
    for peer in PEERS:
        hello_row(f"hello_mcp p99 at concurrency 16 >= {P99_GOAL}x lower than {SHORT[peer]}", peer, "p99",
                  lambda r, p=peer: _div(_at(r, p, "hello", "p99_us"), _at(r, "rust", "hello", "p99_us")),
                  lambda v: v >= P99_GOAL, lambda v: f"{span(v, 1)}x lower")
    hello_row(f"hello_mcp server CPU per request at concurrency 16 <= {HELLO_CPU_VS_ECHO_GOAL:g}x the axum echo "
              "limit's", "echo", "cpu",
              lambda r: _div(_at(r, "rust", "hello", "cpu_us_per_req"), _at(r, "echo", "hello", "cpu_us_per_req")),
              lambda v: v <= HELLO_CPU_VS_ECHO_GOAL, lambda v: f"{span(v, 2)}x the echo's")
    for op in ("save", "get"):
        rows.append(goal_row(
            f"{op}_snippet server CPU per call at concurrency 16 <= {CPU_VS_BASELINE_GOAL:g}x the baseline "
            "binary's (bearer tokens; per rep the median of its paired windows)", reps,
            lambda r, o=op: paired_cpu_vs_baseline(r, o), lambda v: v <= CPU_VS_BASELINE_GOAL,
            lambda v: f"{span(v, 2)}x the baseline's"))
        value, _, _ = evaluate(reps, lambda r, o=op: _at(r, "rust", o, "cpu_us_per_req"), lambda v: True)
        rows.append((f"context, not a goal: {op}_snippet server CPU per call at concurrency 16 (the load table)",
                     "not measured" if value is None else f"{span(value, 0)} us", "context"))
    vs_raw = lambda v: f"{'+' if v >= 1 else ''}{span(excess(v), 0)}% vs raw"  # noqa: E731
    for op, raw_op, label in (("save", "put", "save_snippet vs raw PUT"), ("get", "get", "get_snippet vs raw GET")):
        rows.append(goal_row(
            f"{label}: p50 at concurrency 16 within {(STORAGE_P50_GOAL - 1) * 100:.0f}% of the raw operation "
            "(bearer tokens; per rep the median of its paired windows)", reps,
            lambda r, o=op: paired_p50_ratio(r, o),
            lambda v: v <= STORAGE_P50_GOAL, vs_raw))
        value, _, _ = evaluate(reps, lambda r, o=op, ro=raw_op: p50_vs_raw(r, o, ro), lambda v: True)
        rows.append((f"context, not a goal: {label} unpaired (the load table against the raw limit, measured "
                     "minutes apart on another Azurite)", "not measured" if value is None else vs_raw(value),
                     "context"))
    rows.append(instruction_goal(res))
    rows.append(goal_row(
        f"cold start (spawn to first tools/list, median per rep) <= {COLD_START_MS_GOAL} ms", reps,
        lambda r: r.get("cold_start", {}).get("rust", {}).get("median_ms"), lambda v: v <= COLD_START_MS_GOAL,
        lambda v: f"{span(v, 1)} ms"))
    rows.append(goal_row(
        f"idle RSS (after start + one call) <= {IDLE_RSS_MB_GOAL} MB", reps,
        lambda r: (lambda k: None if k is None else k * 1024 / MB)(r.get("load", {}).get("rust", {}).get(
            "idle_rss_kib")), lambda v: v <= IDLE_RSS_MB_GOAL, lambda v: f"{span(v, 1)} MB"))
    rows.append(goal_row(
        f"legacy SSE: RSS per idle session <= {SSE_KIB_GOAL} KiB", reps,
        lambda r: r.get("sse", {}).get("rust", {}).get("per_session_kib"), lambda v: v <= SSE_KIB_GOAL,
        lambda v: f"{span(v, 1)} KiB"))
    rows.append(goal_row(
        "no errors: every reply of every load point correct (all servers and limits, both storage tables, the "
        "paired windows)", reps,
        rep_errors, lambda v: v == 0, lambda v: f"{span(v, 0)} errors per rep"))
    name = f"legacy SSE: 10,000 concurrent sessions under {SSE_10K_MB_GOAL} MB"
    if quick:
        proj = [(lambda d: None if not d or d.get("per_session_kib") is None else
                 (d["base_rss_kib"] + d["per_session_kib"] * 10000) * 1024 / MB)(r.get("sse", {}).get("rust"))
                for r in reps]
        proj = [p for p in proj if p is not None]
        rows.append((name, f"quick run: 10,000 projected at {span(Spread(proj), 0)} MB" if proj else "not measured",
                     "not evaluated (quick)"))
    else:
        def sse_10k(r):
            d = r.get("sse", {}).get("rust")
            if not d:
                return None
            return d["rss_kib"] * 1024 / MB if d["opened"] >= 10000 else float("inf")
        rows.append(goal_row(name, reps, sse_10k, lambda v: v < SSE_10K_MB_GOAL, lambda v: f"{span(v, 1)} MB"))
    return rows


def instruction_goal(res):
    """save and get instructions per call <= INSTR_GOAL_FRACTION x their baselines, in every callgrind run."""
    runs = instruction_runs(res)
    name = (f"save_snippet / get_snippet instructions per call (callgrind) <= {INSTR_GOAL_FRACTION:g}x the "
            f"baseline ({SAVE_INSTR_BASELINE:,} / {GET_INSTR_BASELINE:,})")
    fractions = [[_div(instr_per_call(r, "rust", op), base) for op, base in
                  (("save", SAVE_INSTR_BASELINE), ("get", GET_INSTR_BASELINE))] for r in runs]
    got = [f for f in fractions if None not in f]
    if not got:
        return (name, "not measured", "n/a")
    passes = sum(1 for f in got if max(f) <= INSTR_GOAL_FRACTION)
    shown = "; ".join(
        f"{op} {span(Spread([instr_per_call(r, 'rust', op) for r in runs if instr_per_call(r, 'rust', op)]), 0)} "
        f"({span(Spread([f[i] for f in got]), 2)}x)" for i, op in enumerate(("save", "get")))
    return (name, f"{shown}; {passes}/{len(runs)} callgrind run{'s' if len(runs) != 1 else ''} pass",
            verdict(passes == len(runs)))


def rep_errors(rep) -> int | None:
    """Errors over every load point and paired window of a repetition (None when it measured no load at all)."""
    sources = list(rep.get("load", {}).values()) + list(rep.get("limits", {}).values())
    points = [p for src in sources for v in src.values() if isinstance(v, list) for p in v if isinstance(p, dict)]
    points += pair_windows(rep)
    return sum(p.get("errors", 0) for p in points) if points else None


def pair_windows(rep) -> list[dict]:
    """Every window of a repetition's paired phases (storage and hello_mcp), warm-up windows included."""
    out = []
    phases = [((rep.get("pairs") or {}).get(op) or {}, ("raw", "mcp")) for op in ("save", "get")]
    phases += [((rep.get("hello_pairs") or {}).get(side) or {}, ("rust", side)) for side in ("echo", *PEERS)]
    phases += [((rep.get("cpu_pairs") or {}).get(op) or {}, ("baseline", "rust")) for op in ("save", "get")]
    for d, sides in phases:
        out += [w for w in (d.get("warmup") or {}).values() if isinstance(w, dict)]
        out += [p[side] for p in d.get("pairs") or [] for side in sides if isinstance(p.get(side), dict)]
    return out


def goal_verdicts(res) -> dict[str, str]:
    """goal name -> PASS / MISS / n/a, for the README headline and tests."""
    return {name: result.strip("*") for name, _, result in goals(res)}


# ------------------------------------------------------------------------------------------ charts


def bar_groups(ax, groups, series, values, ylabel, log=False):
    n = len(series)
    w = 0.8 / n
    if log:
        ax.set_yscale("log")
    for i, s in enumerate(series):
        xs = [g + (i - (n - 1) / 2) * w for g in range(len(groups))]
        vals = [values.get((s, g)) or 0 for g in groups]
        bars = ax.bar(xs, vals, w, label=SHORT.get(s, s), color=COLORS.get(s), alpha=0.55 if s in ("echo", "raw")
                      else 1.0, hatch="//" if s in ("echo", "raw") else None)
        for b, v in zip(bars, vals):
            if v:
                ax.annotate(f"{v:,.0f}" if v >= 10 else f"{v:.2f}", (b.get_x() + b.get_width() / 2, v),
                            ha="center", va="bottom", fontsize=7, rotation=90 if n > 3 else 0)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * (4 if log else 1.2))  # room for the value labels
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([str(g) for g in groups])
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax.grid(axis="y", alpha=0.3)


def charts(res, outdir: Path, quick: bool):
    """The three PNG charts from the medians; none (an empty list) where matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    outdir.mkdir(parents=True, exist_ok=True)
    tag = " (QUICK, noisy)" if quick else ""
    L = res["load"]
    conc = res["concurrency"]
    made = []
    servers = [s for s in ORDER if s in L]
    echo = res["limits"].get("echo", {})
    blob = res["limits"].get("blob", {})

    # hello throughput + p99
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    vals, lat = {}, {}
    series = servers + (["echo"] if echo else [])
    for s in series:
        src = echo if s == "echo" else L[s]
        for c in conc:
            p = point(src.get("hello"), c)
            if p:
                vals[(s, c)] = p["ok_rps"]
                lat[(s, c)] = p["p99_us"] / 1000
    bar_groups(axes[0], conc, series, vals, "requests/s (log)", log=True)
    axes[0].set_title("hello_mcp throughput by concurrency" + tag)
    axes[0].set_xlabel("concurrent connections")
    bar_groups(axes[1], conc, series, lat, "p99 latency, ms (log)", log=True)
    axes[1].set_title("hello_mcp p99 latency by concurrency" + tag)
    axes[1].set_xlabel("concurrent connections")
    fig.tight_layout()
    fig.savefig(outdir / "hello.png", dpi=110)
    plt.close(fig)
    made.append("hello.png")

    # storage-bound p50 at each concurrency
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, op, raw_op, title in ((axes[0], "save", "put", "save_snippet vs raw PUT"),
                                  (axes[1], "get", "get", "get_snippet vs raw GET")):
        vals = {}
        series = servers + (["raw"] if blob else [])
        for s in series:
            src = blob.get(raw_op) if s == "raw" else L[s].get(op)
            for c in conc:
                p = point(src, c)
                if p:
                    vals[(s, c)] = p["p50_us"] / 1000
        bar_groups(ax, conc, series, vals, "p50 latency, ms (log)", log=True)
        ax.set_title(f"{title}: p50 latency, bearer tokens{tag}", fontsize=10)
        ax.set_xlabel("concurrent connections")
    fig.tight_layout()
    fig.savefig(outdir / "storage.png", dpi=110)
    plt.close(fig)
    made.append("storage.png")

    # memory + cold start
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    names = [s for s in ORDER if s in L or s in res["cold_start"]]
    idle = [L.get(s, {}).get("idle_rss_kib", 0) * 1024 / MB for s in names]
    peak = [L.get(s, {}).get("peak_rss_kib", 0) * 1024 / MB for s in names]
    x = range(len(names))
    axes[0].bar([i - 0.2 for i in x], idle, 0.4, label="idle", color=[COLORS[s] for s in names])
    axes[0].bar([i + 0.2 for i in x], peak, 0.4, label="peak under load", color=[COLORS[s] for s in names],
                alpha=0.5, hatch="..")
    for i, (a, b) in enumerate(zip(idle, peak)):
        axes[0].annotate(f"{a:.1f}", (i - 0.2, a), ha="center", va="bottom", fontsize=8)
        axes[0].annotate(f"{b:.1f}", (i + 0.2, b), ha="center", va="bottom", fontsize=8)
    axes[0].set_xticks(list(x))
    axes[0].set_xticklabels([SHORT[s] for s in names], fontsize=8)
    axes[0].set_ylabel("RSS, MB")
    axes[0].set_title("memory: idle / peak" + tag)
    axes[0].legend(fontsize=8)
    cs = [res["cold_start"].get(s, {}).get("median_ms", 0) for s in names]
    axes[1].bar(list(x), cs, color=[COLORS[s] for s in names])
    for i, v in enumerate(cs):
        axes[1].annotate(f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms", (i, v), ha="center", va="bottom", fontsize=8)
    axes[1].set_yscale("log")
    axes[1].set_xticks(list(x))
    axes[1].set_xticklabels([SHORT[s] for s in names], fontsize=8)
    axes[1].set_ylabel("ms (log)")
    axes[1].set_title("cold start to first tools/list" + tag)
    sse = res["sse"]
    sn = [s for s in ORDER if s in sse]
    per = [(sse[s]["per_session_kib"] or 0) for s in sn]
    axes[2].bar(range(len(sn)), per, color=[COLORS[s] for s in sn])
    for i, s in enumerate(sn):
        axes[2].annotate(f"{per[i]:.1f} KiB\n{sse[s]['opened']:,} open", (i, per[i]), ha="center", va="bottom",
                         fontsize=8)
    axes[2].set_xticks(range(len(sn)))
    axes[2].set_xticklabels([SHORT[s] for s in sn], fontsize=8)
    axes[2].set_ylabel("RSS per open SSE session, KiB")
    axes[2].set_title("SSE sessions" + tag)
    axes[0].set_ylim(0, max(peak + idle + [1]) * 1.2)
    axes[1].set_ylim(top=max(cs + [1]) * 4)
    axes[2].set_ylim(0, max(per + [1]) * 1.3)
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(outdir / "memory-coldstart-sse.png", dpi=110)
    plt.close(fig)
    made.append("memory-coldstart-sse.png")
    return made


# ------------------------------------------------------------------------------------------ markdown


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def noise_lines(res, view) -> list[str]:
    """How quiet the machine was: load average around each repetition, and how much the echo limit moved."""
    reps = reps_of(res)
    la = ", ".join(f"rep {r['rep']}: {r['loadavg_start']:.2f} -> {r['loadavg_end']:.2f}" for r in reps
                   if "loadavg_start" in r and "loadavg_end" in r)
    out = [f"Noise: 1-minute load average at the start -> end of each repetition: {la or 'n/a'}."]
    e = point(view["limits"].get("echo", {}).get("hello"), GOAL_CONC)
    if e:
        out[0] += (f" The axum echo limit at concurrency 16 over the repetitions: {span(e['ok_rps'], 0)} req/s, "
                   f"{span(e.get('cpu_us_per_req'), 1)} server CPU us/req (median [min-max]; a wide spread means "
                   "a busy machine).")
    last = reps[-1] if reps else {}
    if "tokens_issued" in last:
        out[0] += (f" The managed identity endpoint issued {last['tokens_issued']} tokens over the run and refused "
                   f"{len(last.get('tokens_refused', []))} requests.")
    return out


def storage_rows(view, conc, ops, raw_label):
    L, blob = view["load"], view["limits"].get("blob", {})
    rows = []
    for op, raw_op in ops:
        op_key = op.split("_")[0]
        for c in conc:
            raw = point(blob.get(raw_op), c)
            r = point(L.get("rust", {}).get(op), c)
            for s in ORDER + ["raw"]:
                p = raw if s == "raw" else point(L.get(s, {}).get(op), c)
                if not p:
                    continue
                if s == "raw":
                    vs = ""
                else:
                    vs = f"p50 {ratio(p['p50_us'], raw['p50_us'], 2)} raw" if raw else ""
                    if s != "rust" and r:
                        vs += f"; Rust {ratio(r['ok_rps'], p['ok_rps'])} the throughput"
                verb = "PUT" if raw_op.startswith("put") else "GET"
                name = f"raw {verb} ({raw_label})" if s == "raw" else SHORT[s]
                rows.append((f"{op_key}_snippet" if s != "raw" else verb, c, name, span(p["ok_rps"], 0),
                             span(ms(p["p50_us"]), 2) if not isinstance(p["p50_us"], Spread) else
                             span(Spread([v / 1000 for v in p["p50_us"].vals]), 2),
                             f"{ms(p['p99_us']):.2f}",
                             span(p.get("cpu_us_per_req"), 0) if s != "raw" else "-", p["errors"], vs))
    return rows


def us_to_ms(x):
    return Spread([v / 1000 for v in x.vals]) if isinstance(x, Spread) else ms(x)


def readme_block(res, view) -> str:
    """The README headline: four rows and two lines, medians of this run, between the README markers."""
    L, C, S = view["load"], view["cold_start"], view["sse"]
    n = len(reps_of(res))
    hello = {s: point(L.get(s, {}).get("hello"), GOAL_CONC) for s in ORDER}
    r = hello.get("rust")

    def cell_hello(s):
        p = hello.get(s)
        if not p:
            return "n/a"
        more = "" if s == "rust" or not r else f" ({r['ok_rps'] / p['ok_rps']:.1f}x fewer)"
        return f"{p['ok_rps']:,.0f} req/s{more}, p99 {ms(p['p99_us']):,.1f} ms"

    def cell(s, value, unit, nd):
        base = value("rust")
        v = value(s)
        if v is None:
            return "n/a"
        rel = "" if s == "rust" or not base else f" ({v / base:.1f}x)"
        return f"{v:,.{nd}f} {unit}{rel}"

    cold = lambda s: C.get(s, {}).get("median_ms")  # noqa: E731
    idle = lambda s: None if s not in L else L[s]["idle_rss_kib"] * 1024 / MB  # noqa: E731

    def sse_cell(s):
        d = S.get(s)
        if not d:
            return "n/a"
        return f"{d['rss_kib'] * 1024 / MB:,.1f} MB ({d['per_session_kib']:.1f} KiB each, {d['opened']:,.0f} open)"

    rows = [
        ("`hello_mcp` at concurrency 16", *[cell_hello(s) for s in ORDER]),
        ("cold start (spawn to first `tools/list`, median)", *[cell(s, cold, "ms", 0 if (cold(s) or 0) >= 100 else 1)
                                                                for s in ORDER]),
        ("idle RSS", *[cell(s, idle, "MB", 1) for s in ORDER]),
        (f"{res['config']['sse_sessions']:,} open SSE sessions", *[sse_cell(s) for s in ORDER]),
    ]
    v = goal_verdicts(res)
    pick = lambda prefix: next((r for k, r in v.items() if k.startswith(prefix)), "n/a")  # noqa: E731
    parts = []
    for op, raw_op in (("save", "put"), ("get", "get")):
        m = point(L.get("rust", {}).get(op), GOAL_CONC)
        q, _, _ = evaluate(reps_of(res), lambda r, o=op: paired_p50_ratio(r, o), lambda v: True)
        c, _, _ = evaluate(reps_of(res), lambda r, o=op: paired_cpu_vs_baseline(r, o), lambda v: True)
        if m and q is not None:  # medians of the per-repetition paired figures, as in the goals table
            vs = "" if c is None else f" ({c:.2f}x the baseline's)"
            parts.append(f"{op} {(q - 1) * 100:+.0f}% p50 vs raw, {m['cpu_us_per_req']:.0f} us CPU{vs}")
    sse = S.get("rust")
    mode = "quick" if res.get("mode") == "quick" else "full"
    return "\n".join([
        f"Medians of {n} interleaved repetition{'s' if n != 1 else ''} ({mode} run of commit "
        f"{res.get('git', {}).get('commit', '?')}, "
        f"{res['started_utc'][:10]}; same tools, same Azurite, same machine; `bench/run.sh`):", "",
        "| | snippets-mcp (Rust) | Python SDK | TypeScript SDK |", "|---|---|---|---|",
        *["| " + " | ".join(row) + " |" for row in rows], "",
        "Storage-bound calls (bearer tokens from a managed identity endpoint, as on Flex Consumption) are "
        f"dominated by Azurite: at concurrency 16 {'; '.join(parts) or 'not measured'} (goals: within 15% "
        f"{pick('save_snippet vs raw')}/{pick('get_snippet vs raw')}, CPU <= {CPU_VS_BASELINE_GOAL:g}x the commit "
        f"before the performance work {pick('save_snippet server CPU')}/{pick('get_snippet server CPU')}; ratios from "
        "paired windows). Legacy SSE: "
        f"{'n/a' if not sse or sse.get('per_session_kib') is None else format(sse['per_session_kib'], '.1f')} "
        f"KiB per idle session (goal <= {SSE_KIB_GOAL}: {pick('legacy SSE: RSS per idle')}). Every goal and "
        "its spread: [docs/benchmarks.md](docs/benchmarks.md).",
    ])


def rewrite_between(text: str, block: str, begin: str = README_BEGIN, end: str = README_END) -> str:
    """Replaces what lies between the markers (exactly once each, in order) and nothing else."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"expected one {begin} before one {end}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}\n{end}{tail}"


def render(res, doc: Path, chart_dir: Path, with_charts: bool = True):
    quick = res["mode"] == "quick"
    view = {**res, **median_run(res)}
    made = charts(view, chart_dir, quick) if with_charts else []
    try:
        rel = chart_dir.resolve().relative_to(doc.resolve().parent)
    except ValueError:  # charts outside the doc's folder: link them by absolute path
        rel = chart_dir.resolve()
    m = res["machine"]
    cfg = res["config"]
    L, echo = view["load"], view["limits"].get("echo", {})
    conc = res["concurrency"]
    reps = reps_of(res)
    lines = ["# Benchmarks", "",
             "<!-- Generated by bench/run.sh (bench/harness/render.py) from bench/results/*.json. Do not edit. -->", ""]
    warm = f"after {cfg['warmup']} s warm-up" if cfg.get("warmup") else "no warm-up"
    per_point = (f"{cfg['duration']} s per load point ({warm}), {cfg['cold_runs']} cold "
                 f"starts and {cfg['sse_sessions']:,} SSE sessions per repetition, {len(reps)} interleaved "
                 f"repetition{'s' if len(reps) != 1 else ''}")
    if quick:
        lines += [f"> **QUICK RUN: numbers are indicative only.** `--quick` uses {per_point}, and this run may have "
                  "shared the machine with other work. Run `bench/run.sh` (full mode) on a quiet machine for "
                  "numbers to quote.", ""]
    else:
        lines += [f"> Full run: {per_point}. Every figure is the median of the repetitions, [min-max] where shown; "
                  "a goal passes only if it passes in every repetition.", ""]
    lines += [
        f"Run {res['started_utc']} to {res.get('finished_utc', '?')} (UTC) with `{res['command']}`, on "
        f"{m['nproc']} CPU ({m['cpu_model']}), {m['mem_total_gib']} GiB RAM, Linux {m['kernel']}, {m['os']}. "
        f"Rust binary: commit {res.get('git', {}).get('commit', '?')}"
        f"{' with uncommitted changes in src/' if res.get('git', {}).get('src_dirty') else ''}, built "
        f"{res.get('rust_binary', {}).get('built_utc', '?')}, {res.get('rust_binary', {}).get('bytes', 0) / MB:.1f} MB.",
        "", *noise_lines(res, view), "",
        "Why Rust: Flex Consumption bills memory x time and scales from zero, so start-up time, memory per "
        "instance and work per CPU-second are the costs. These numbers compare the same three tools "
        "(`hello_mcp`, `save_snippet`, `get_snippet`) on the same Azurite, served by this repository's Rust "
        "binary and by small servers on the official Python and TypeScript MCP SDKs. What was profiled and "
        "changed to get here: [performance.md](performance.md).", "",
    ]
    if res["failures"]:
        lines += ["**Phases that failed in this run:**", ""] + [f"- `{f}`" for f in res["failures"]] + [""]

    shared = res["cpus"]["azurite"] == res["cpus"]["load"]
    lines += ["## Goals", "",
              "Each measured value is the median [min-max] over the repetitions (ratios are taken per repetition); "
              "PASS only when the goal holds in every repetition.", "",
              table(["goal", "measured", "result"], goals(res)), "",
              "Storage-bound goals are read at concurrency 16, where Azurite (one Node process) is saturated and "
              "every path queues on it, so they mostly compare how hard each request pattern works Azurite"
              + (" (here Azurite also shares its CPU with the load generator)" if shared else "") +
              ". The concurrency-1 rows of the storage table show the per-call overhead of the MCP path itself. "
              "One known difference in what the calls cost Azurite: `azure_storage_blob` 1.x always downloads "
              "through its partitioned path, so every get is a ranged read (`Range: bytes=0-4194303`) where the "
              "raw limit is a plain GET. Against Azure Storage, which scales per partition, this is not expected "
              "to matter; it has not been measured there. Where the load generator sits moves these ratios: a "
              "client on Azurite's CPU hands it requests in batches, which the MCP side's storage client, on the "
              "server's CPU, cannot; with Azurite alone on its CPU in both kinds of window an MCP get costs Azurite "
              "the same as the raw GET ([performance.md](performance.md), \"Storage latency\"). The paired "
              "windows below keep the load generator off Azurite's CPU for that reason.", "",
              *pairs_note(res), "",
              "Server CPU per storage call counts the cost of waking the server twice per call (once for the "
              "client's request, once for storage's answer), and on a virtual machine that cost can be far larger "
              "than the work itself: `bench/profile/wakeups.py` measures `hello_mcp` and the axum echo limit busy "
              "and with idle gaps between requests. [performance.md](performance.md) has those figures and says "
              "why the CPU-per-call goals are read together with the instruction counts, which only the code "
              "moves.", ""]

    # cold start
    C = view["cold_start"]
    rows = []
    for s in ORDER:
        if s in C:
            c = C[s]
            rows.append((SHORT[s], span(c["median_ms"], 1), fmt(float(c["min_ms"]), 1), fmt(float(c["max_ms"]), 1),
                         f"{len(c['runs_ms'])} x {len(reps)}",
                         "1.0x" if s == "rust" else ratio(c["median_ms"], C.get("rust", {}).get("median_ms"))))
    lines += ["## Cold start", "",
              "Process spawn to the first successful `tools/list` over HTTP (the client polls every 0.5 ms; the "
              "first spawn of each repetition warms the page cache and is not counted). Median column: the median "
              "of the repetitions' medians [min-max]; min/max columns: medians over the repetitions of each "
              "repetition's min/max.", "",
              table(["server", "median ms", "min ms", "max ms", "runs x reps", "vs Rust"], rows), ""]

    # memory
    rows = []
    for s in ORDER + ["echo"]:
        d = echo if s == "echo" else L.get(s)
        if d:
            r_idle = L.get("rust", {}).get("idle_rss_kib")
            r_peak = L.get("rust", {}).get("peak_rss_kib")
            rows.append((SHORT[s], span(d["idle_rss_kib"], 1, 1024 / MB), span(d["peak_rss_kib"], 1, 1024 / MB),
                         ratio(d["idle_rss_kib"], r_idle), ratio(d["peak_rss_kib"], r_peak)))
    lines += ["## Memory", "",
              "RSS of the server process (`VmRSS`) after start-up and one `hello_mcp` call, and its high-water mark "
              "(`VmHWM`) after every load point of the bearer-token table below. MB = 10^6 bytes.", "",
              table(["server", "idle RSS MB", "peak RSS MB", "idle vs Rust", "peak vs Rust"], rows), ""]

    # hello
    rows = []
    for c in conc:
        e = point(echo.get("hello"), c)
        r = point(L.get("rust", {}).get("hello"), c)
        for s in ORDER + ["echo"]:
            p = e if s == "echo" else point(L.get(s, {}).get("hello"), c)
            if not p:
                continue
            vs = ("-" if s == "rust" else
                  f"Rust: {ratio(r['ok_rps'], p['ok_rps'])} the throughput; peer p99 / Rust p99 = "
                  f"{ratio(p['p99_us'], r['p99_us'])}" if s != "echo" and r else
                  f"Rust reaches {r['ok_rps'] / p['ok_rps'] * 100:.0f}% of it" if r and p["ok_rps"] else "")
            rows.append((c, SHORT[s], span(p["ok_rps"], 0), f"{ms(p['p50_us']):.2f}", f"{ms(p['p95_us']):.2f}",
                         span(us_to_ms(p["p99_us"]), 2), span(p.get("cpu_us_per_req"), 0), p["errors"], vs))
    lines += ["## Protocol-bound: `hello_mcp`", "",
              "`tools/call hello_mcp` over stateless Streamable HTTP (JSON response, no `initialize`), closed loop "
              "with N keep-alive connections (wrk + `bench/lua/mcp.lua`, which checks every reply). "
              "Throughput counts only correct replies; errors are summed over the repetitions. Server CPU us/req = "
              "the server process's user + system CPU time during the point (`/proc/<pid>/stat`, 10 ms ticks) / "
              "requests: the cost per call, and the figure least disturbed by a busy machine.", "",
              table(["conc.", "server", "req/s", "p50 ms", "p95 ms", "p99 ms", "server CPU us/req", "errors",
                     "comparison"], rows), ""]
    if made:
        lines += [f"![hello_mcp throughput and p99]({rel}/hello.png)", ""]
    lines += hello_pairs_section(res)

    # storage: bearer tokens first (the production path), then the connection string
    header = ["op", "conc.", "server", "req/s", "p50 ms", "p99 ms", "server CPU us/req", "errors", "comparison"]
    lines += ["## Storage-bound: `save_snippet`, `get_snippet`", "",
              "`save_snippet` writes a new blob per call (unique names, 1,032-byte snippet); `get_snippet` reads one "
              "of 256 seeded blobs. The limit is the same blob operation sent by the same load tool straight to "
              "Azurite (no MCP, no server in between). Azurite (Node, one process, HTTPS) is part of every number "
              "here.", "",
              "### With bearer tokens (managed identity, the production path)", "",
              "Every server gets its token from the same managed identity endpoint (see Method) and sends "
              "`Authorization: Bearer`; the raw limit sends a token from that endpoint too.", "",
              table(header, storage_rows(view, conc, (("save", "put"), ("get", "get")), "bearer")), ""]
    if made:
        lines += [f"![storage-bound latency]({rel}/storage.png)", ""]
    lines += pairs_section(res)
    lines += cpu_pairs_section(res)
    lines += ["### With the connection string (account key)", "",
              "Each server with the credential its SDK derives from a connection string: snippets-mcp mints an "
              "account SAS, the Python and Node SDKs sign each request with Shared Key; the raw limit uses an "
              "account SAS.", "",
              table(header, storage_rows(view, cfg.get("key_concurrency", conc),
                                         (("save_key", "put_sas"), ("get_key", "get_sas")), "SAS")), ""]

    lines += instructions_section(res)

    # SSE
    S = view["sse"]
    rows = []
    for s in ORDER:
        if s in S:
            d = S[s]
            counts: dict[str, int] = {}  # summed over repetitions, like the load tables' errors
            for r in reps:
                for k, v in r.get("sse", {}).get(s, {}).get("errors", {}).items():
                    counts[k] = counts.get(k, 0) + v
            err = "; ".join(f"{k} x{v}" for k, v in counts.items()) or "none"
            rows.append((SHORT[s], f"{d['opened']:,.0f} / {d['target']:,.0f}", f"{d['open_seconds']:.1f}",
                         f"{d['base_rss_kib'] * 1024 / MB:.1f}", span(d["rss_kib"], 1, 1024 / MB),
                         span(d["per_session_kib"], 1), err))
    lines += ["## Legacy SSE sessions", "",
              "N clients open `GET /sse` (128 opening at a time) and each waits for its `endpoint` event; with all "
              "of them open, the server's RSS is read. Per session = (RSS with N open - RSS before) / N. "
              "snippets-mcp's cross-instance SSE relay is off here (no queue endpoint is configured), as the "
              "peers have none. Errors are summed over the repetitions.", "",
              table(["server", "open / target", "seconds to open", "RSS before MB", "RSS with all open MB",
                     "KiB per session", "errors"], rows), ""]

    # packages
    P = res["package"]
    rows = []
    for s in ORDER:
        if s in P:
            d = P[s]
            rows.append((SHORT[s], d["how"], f"{d['zipped'] / MB:.1f}", f"{d['unzipped'] / MB:.1f}",
                         "1.0x" if s == "rust" else ratio(d["zipped"], P.get("rust", {}).get("zipped"))))
    lines += ["## Deployment package", "",
              "Each deployable folder zipped the same way (deflate, level 6), once per run.", "",
              table(["server", "contents", "zipped MB", "unzipped MB", "zipped vs Rust"], rows), ""]
    if made:
        lines += [f"![memory, cold start and SSE]({rel}/memory-coldstart-sse.png)", ""]

    # method
    cpus = res["cpus"]
    lines += ["## Method and fairness", "",
              f"- Repetitions: {len(reps)}, interleaved: each repetition measures every server in turn (Rust, "
              "Python, TypeScript, then the raw blob and echo limits, then the paired storage windows), so drift "
              "on the machine hits them alike. "
              "Every server and limit gets a fresh in-memory Azurite in every repetition. Tables show medians over "
              "the repetitions ([min-max] where shown); goals are evaluated per repetition.",
              f"- One server process at a time, pinned to CPU {cpus['server']} (`taskset`); "
              f"wrk, the harness and the SSE client on CPU {cpus['load']}; Azurite on CPU {cpus['azurite']}. "
              "So every server gets the same single CPU, about what one Flex Consumption instance of 2,048 MB has; "
              "Rust gains nothing from extra cores here (tokio sizes its pool from the affinity mask).",
              "- Peers: `bench/servers/python/server.py` (official `mcp` SDK `MCPServer`, stateless Streamable HTTP "
              "with JSON responses + SSE app, one uvicorn worker with uvloop and httptools, access log off, "
              "`azure-storage-blob` aio client, `azure-identity` aio `ManagedIdentityCredential`) and "
              "`bench/servers/ts/server.mjs` (official `@modelcontextprotocol/sdk`: a new `McpServer` + stateless "
              "`StreamableHTTPServerTransport` per request with JSON responses, `SSEServerTransport` for SSE, plain "
              "`node:http`, `NODE_ENV=production`, `@azure/storage-blob`, `@azure/identity` "
              "`ManagedIdentityCredential`). Same tool names, reply text, container and blob layout.",
              "- Azurite runs over HTTPS with `--oauth basic` (it checks a bearer token's issuer, audience and "
              "lifetime, not its signature, and still accepts Shared Key and SAS), `--skipApiVersionCheck "
              "--inMemoryPersistence`. Its certificate for 127.0.0.1 is signed by a CA made with `openssl` for "
              "each run in a temporary directory; servers trust it through `SSL_CERT_FILE` (Rust's "
              "rustls-platform-verifier reads it via rustls-native-certs; Python's `ssl`), `REQUESTS_CA_BUNDLE` "
              "and `NODE_EXTRA_CA_CERTS`.",
              "- Bearer tokens come the way Azure Functions hands them out: a managed identity endpoint in the "
              "harness (`bench/harness/credentials.py`, the App Service protocol: `GET ?resource=...&api-version="
              "2019-08-01` with the secret in `X-IDENTITY-HEADER`, answering `access_token`, `expires_on`, "
              "`resource`, `token_type`), named to every server by `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, with "
              "`AzureWebJobsStorage__blobServiceUri` + `AzureWebJobsStorage__credential=managedidentity` for the "
              "Rust server and the same blob URI for the peers. Tokens are valid for an hour, so each SDK fetches "
              "one and caches it; the count issued per run is in the results JSON. The second storage table "
              "uses the connection string (`AzureWebJobsStorage`) instead.",
              "- Storage-bound goals: paired windows (phase `pairs`, see the storage section), not the load "
              "table, because Azurite's own speed drifts between repetitions and between its instances by more than "
              "the 15% the goal resolves; the pairs put both sides of each ratio on one Azurite seconds apart.",
              "- Instructions per call: `bench/profile/instructions.py`, once per run (counts barely move between "
              "runs; with `--instr-runs N` the table shows their spread), on the same copied binary the load "
              "phases measure.",
              "- The Node SDK sends its own (newer) `x-ms-version`; the others pin 2025-01-05.",
              "- Load: wrk 4.x, closed loop, keep-alive, fixed duration per point (after a discarded warm-up in "
              "full runs), loopback only. "
              "Every response body is checked; a non-2xx status or an `isError` tool result is an error and is "
              "excluded from throughput (so a refused token shows as errors, not as fast replies). wrk checks "
              "each body in Lua on one CPU, so the echo limit's highest figures may be wrk's own ceiling.",
              "- Memory is `/proc/<pid>/status` of the server process itself (taskset execs it). Servers start "
              "with a clean environment (PATH, HOME, LANG, the storage settings, the CA): no RUST_BACKTRACE, "
              "NODE_OPTIONS or PYTHON* flags from the caller's shell.",
              f"- Open-file limit for this run: {res['nofile_limit']:,}.",
              "", "## Versions", "",
              table(["component", "version"], [(k, v) for k, v in m["versions"].items()]), "",
              "Raw results: `bench/results/` (JSON, not committed)." +
              (" Charts: " + ", ".join(f"`docs/benchmarks/{c}`" for c in made) + "." if made else ""), ""]
    doc.write_text("\n".join(lines))
    return view


def first_paired(res, phase="pairs") -> dict | None:
    """The `phase` entry ("pairs" (storage latency), "hello_pairs" or "cpu_pairs") of the first repetition that
    ran it: its set-up is the same in every repetition."""
    return next((d for d in ((r.get(phase) or {}) for r in reps_of(res)) if d.get("pairs")), None)


def pairs_config(res, phase="pairs"):
    """(pairs, window s, warm-up s) of the run's paired windows in `phase`, None if it did not run."""
    d = first_paired(res, phase)
    return (d["pairs"], d["window_s"], d["warmup_s"]) if d else None


def pairs_note(res) -> list[str]:
    cfg = pairs_config(res)
    if not cfg:
        return ["The storage-bound goals need the paired phase (`pairs`), which this run did not measure."]
    k, window, warm = cfg
    client = first_paired(res).get("client_cpus")
    where = (f" wrk runs on CPU {client} in both kinds of window, never on Azurite's ({res['cpus']['azurite']}): "
             "Azure Storage runs on machines of its own, and a load generator on Azurite's CPU changes what "
             "Azurite costs per request differently for the two sides." if client else "")
    return [f"The two storage-bound p50 goals come from paired windows, not from the tables below: per repetition, "
            f"one fresh Azurite and one Rust server (bearer tokens), then {k} pairs of adjacent {window:g} s windows "
            f"at concurrency 16 (raw operation, MCP call; after a {warm:g} s warm-up window of each), the order "
            "alternating from pair to pair (ABBA) so a trend cancels. A pair's ratio is MCP p50 / raw p50 of its "
            "two windows; a repetition's figure is the median of its pair ratios." + where + " The unpaired "
            "context rows compare the load table with the raw limit measured minutes later on another Azurite (wrk "
            "beside Azurite), as the goal once did. The CPU-per-call goals are paired too: the binary under test "
            "against the baseline binary (the commit before the performance work), see \"Paired windows: CPU per "
            "storage call\"."]



def hello_pairs_section(res) -> list[str]:
    """Per repetition and comparison server: the hello_mcp goals' pair values and the windows' figures."""
    rows = []
    for side in ("echo", *PEERS):
        for r in reps_of(res):
            pairs = ((r.get("hello_pairs") or {}).get(side) or {}).get("pairs") or []
            if not pairs:
                continue
            col = lambda who, key, scale=1.0, nd=0: span(Spread([p[who][key] / scale for p in pairs]), nd)  # noqa: E731
            values = " / ".join(" ".join(f"{v:.2f}" for v in hello_pair_ratios(r, side, key))
                                for key in ("cpu", "p99", "rps"))
            errors = sum(p[w].get("errors", 0) for p in pairs for w in ("rust", side))
            rows.append((SHORT[side], r["rep"], values, f"{col('rust', 'ok_rps')} / {col(side, 'ok_rps')}",
                         f"{col('rust', 'p99_us', 1000, 2)} / {col(side, 'p99_us', 1000, 2)}",
                         f"{col('rust', 'server_cpu_us_per_req', 1, 1)} / {col(side, 'server_cpu_us_per_req', 1, 1)}",
                         errors))
    if not rows:
        return []
    k, window, warm = pairs_config(res, "hello_pairs")
    return ["### Paired windows: the `hello_mcp` goals' measurement", "",
            f"Per repetition, the Rust server and each comparison server run side by side (both pinned to the "
            f"server CPUs, each idle but for its own windows): {k} pairs of adjacent {window:g} s windows at "
            f"concurrency 16 after a {warm:g} s warm-up window of each, the order alternating (ABBA). The goals' "
            "figures are the median over a repetition's pairs, so a stall of the machine during one window moves "
            "one pair, not the repetition. Pair values in the order measured: CPU = Rust / other server CPU per "
            "request, p99 = other p99 / Rust p99, req/s = Rust / other; the other columns are Rust / other, median "
            "[min-max] over the pairs.", "",
            table(["vs", "rep", "pair values: CPU / p99 / req/s", "req/s", "p99 ms", "server CPU us/req",
                   "errors"], rows), ""]


def pairs_section(res) -> list[str]:
    """Per repetition and operation: the pair ratios and the windows' figures (every window is in the JSON)."""
    rows = []
    for op, verb in (("save", "PUT"), ("get", "GET")):
        for r in reps_of(res):
            d = (r.get("pairs") or {}).get(op) or {}
            pairs = d.get("pairs") or []
            if not pairs:
                continue
            ratios = pair_ratios(r, op)
            raw_p50 = Spread([p["raw"]["p50_us"] / 1000 for p in pairs])
            mcp_p50 = Spread([p["mcp"]["p50_us"] / 1000 for p in pairs])
            cpu = Spread([p["mcp"].get("server_cpu_us_per_req") or 0 for p in pairs])
            az_raw = Spread([p["raw"].get("azurite_cpu_us_per_req") or 0 for p in pairs])
            az_mcp = Spread([p["mcp"].get("azurite_cpu_us_per_req") or 0 for p in pairs])
            errors = sum(w.get("errors", 0) for p in pairs for w in (p["raw"], p["mcp"]))
            rows.append((f"{op}_snippet vs raw {verb}", r["rep"], " ".join(f"{q:.2f}" for q in ratios),
                         f"{statistics.median(ratios):.3f}" if ratios else "n/a", span(raw_p50, 2),
                         span(mcp_p50, 2), span(cpu, 0), f"{span(az_raw, 0)} / {span(az_mcp, 0)}", errors))
    if not rows:
        return []
    k, window, warm = pairs_config(res)
    return ["### Paired windows: the storage-bound goals' measurement", "",
            f"{k} pairs per operation and repetition, {window:g} s windows at concurrency 16 after a {warm:g} s "
            "warm-up window of each side, one Azurite and one Rust server per repetition (bearer tokens). Ratios "
            "in the order measured (even pairs raw first, odd pairs MCP first); p50 and CPU columns: median "
            "[min-max] over the pairs. Azurite CPU per request shows how hard each side works Azurite (the MCP "
            "get is a ranged read).", "",
            table(["op", "rep", "pair ratios (MCP p50 / raw p50)", "median", "raw p50 ms", "MCP p50 ms",
                   "server CPU us/call", "Azurite CPU us/req raw / MCP", "errors"], rows), ""]


def cpu_pairs_section(res) -> list[str]:
    """Per repetition and operation: test / baseline CPU per call of each pair and the windows' figures."""
    rows = []
    for op in ("save", "get"):
        for r in reps_of(res):
            pairs = ((r.get("cpu_pairs") or {}).get(op) or {}).get("pairs") or []
            if not pairs:
                continue
            ratios = cpu_pair_ratios(r, op)
            col = lambda who, key, scale=1.0, nd=0: span(Spread([p[who][key] / scale for p in pairs]), nd)  # noqa: E731
            errors = sum(p[w].get("errors", 0) for p in pairs for w in ("baseline", "rust"))
            rows.append((f"{op}_snippet", r["rep"], " ".join(f"{q:.2f}" for q in ratios),
                         f"{statistics.median(ratios):.3f}" if ratios else "n/a",
                         col("baseline", "server_cpu_us_per_req"), col("rust", "server_cpu_us_per_req"),
                         f"{col('baseline', 'ok_rps')} / {col('rust', 'ok_rps')}", errors))
    if not rows:
        return ["### Paired windows: CPU per storage call", "",
                "Not measured: this run had no baseline binary (`bench/baseline.sh` needs the repository's history).",
                ""]
    k, window, warm = pairs_config(res, "cpu_pairs")
    commit = (res.get("baseline_binary") or {}).get("commit", "?")
    return ["### Paired windows: CPU per storage call", "",
            f"The binary under test and the baseline binary (commit {commit[:10]}, the last before the performance "
            "work, built by `bench/baseline.sh`) side by side on the server CPUs, bearer tokens, one seeded Azurite "
            f"per repetition: {k} pairs of adjacent {window:g} s windows at concurrency 16 after a {warm:g} s warm-up "
            "window of each, ABBA, wrk on the load CPUs as in the load tables. A pair's ratio is the server CPU per "
            "call (user + system, `/proc/<pid>/stat`) under test / baseline; a repetition's figure is the median "
            "of its pair ratios. Measured in the same run, the figure does not move with the machine's speed, "
            "which the microseconds do.", "",
            table(["op", "rep", "pair ratios (test / baseline CPU)", "median", "baseline CPU us/call",
                   "test CPU us/call", "req/s baseline / test", "errors"], rows), ""]


def instructions_section(res) -> list[str]:
    runs = instruction_runs(res)
    if not runs:
        return []
    baselines = {"hello": HELLO_INSTR_BASELINE, "save": SAVE_INSTR_BASELINE, "get": GET_INSTR_BASELINE}
    info = res.get("instructions") or {}
    echo = [instr_per_call(r, "echo", "hello") for r in runs]
    echo = Spread([e for e in echo if e]) if any(echo) else None
    rows = []
    for server, op in (("rust", "hello"), ("rust", "save"), ("rust", "get"), ("echo", "hello"),
                       ("baseline", "hello"), ("baseline", "save"), ("baseline", "get")):
        vals = [v for v in (instr_per_call(r, server, op) for r in runs) if v]
        if not vals:
            continue
        v = Spread(vals)
        base = baselines[op] if server in ("rust", "baseline") else None
        note = (f"{float(v) / float(echo):.2f}x the echo's" if server == "rust" and op == "hello" and echo else "")
        n = ((runs[0].get(server) or {}).get(op) or {}).get("calls")
        rows.append((f"`{'hello_mcp' if op == 'hello' else op + '_snippet'}`", SHORT[server],
                     f"{n:,}" if isinstance(n, int) else "?", span(v, 0), f"{base:,}" if base else "-",
                     f"{float(v) / base:.2f}x" if base else "-", note))
    return ["## Instructions per call (callgrind, user space)", "",
            "Each server binary under `valgrind --tool=callgrind --instr-atstart=no` beside an in-memory Azurite "
            "(plain HTTP connection string, so the Rust server mints an account SAS), driven by "
            "`bench/profile/instructions.py`: warm-up calls, then collection on for N calls on one keep-alive "
            "connection (saves write new names, gets read 50 saved names with the 1,032-byte snippet); "
            "instructions per call = the dump's total / N, every thread, user space only (no kernel). The "
            f"server runs on {'CPUs ' + runs[0]['cpus'] if runs[0].get('cpus') else 'every CPU'} (not the one "
            "pinned CPU of the load phases), as the baselines were measured: tokio's worker count follows the "
            "CPUs it sees and moves the counts by 1-3%. Counted "
            f"once per run ({len(runs)} callgrind run{'s' if len(runs) != 1 else ''} here, [min-max] when several): "
            "the counts barely move between runs, unlike CPU time. Baseline: the commit before the performance "
            "work, with glibc malloc, measured the same way; when the run has the baseline binary "
            "(`bench/baseline.sh`), its rows count it again here, on this machine. "
            f"{info.get('valgrind', '')}.", "",
            table(["call", "server", "calls counted", "instructions per call", "baseline", "vs baseline", "note"],
                  rows), ""]


def write_readme(res, readme: Path) -> None:
    view = {**res, **median_run(res)}
    readme.write_text(rewrite_between(readme.read_text(), readme_block(res, view)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--charts", default=str(ROOT / "docs" / "benchmarks"))
    ap.add_argument("--readme", help="rewrite this README's bench block (default: README.md, full runs only)")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--no-charts", action="store_true")
    a = ap.parse_args()
    res = json.loads(Path(a.results).read_text())
    render(res, Path(a.doc), Path(a.charts), with_charts=not a.no_charts)
    print(f"wrote {a.doc}" + ("" if a.no_charts else f" and charts in {a.charts}"))
    readme = a.readme or (str(ROOT / "README.md") if res["mode"] == "full" else None)
    if readme and not a.no_readme:
        write_readme(res, Path(readme))
        print(f"rewrote the bench block of {readme}")


if __name__ == "__main__":
    main()
