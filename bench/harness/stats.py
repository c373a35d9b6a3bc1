"""The statistics of a results file: every figure the median of the interleaved repetitions with their spread,
pair ratios taken per repetition from the windows themselves, and the goals of goals.toml evaluated per repetition
(PASS only when a goal holds in every one)."""

from __future__ import annotations

import operator
import statistics
import tomllib
from pathlib import Path

GOALS = tomllib.loads(Path(__file__).with_name("goals.toml").read_text())
INSTR_BASELINES = GOALS["baselines"]["instructions"]
GOAL_CONC = 16
PEERS = ["python", "ts"]
MB = 1e6
# Counters add up over repetitions (an error in any repetition shows); every other number is a median.
SUMMED = {"errors", "bad", "err_connect", "err_read", "err_write", "err_status", "err_timeout"}
OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, "==": operator.eq}


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
    """The same structure from every repetition as one: numbers -> Spread (or a sum for counters), dicts by key,
    load series by concurrency; anything else is taken from the first repetition."""
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
    """The run as one result (the single-run shape), every figure the median over the repetitions."""
    reps = reps_of(res)
    return {k: merge([r.get(k) for r in reps]) or {} for k in ("cold_start", "load", "sse", "limits")}


def point(series, c):
    return next((r for r in series or [] if r and r["concurrency"] == c), None)


def div(a, b):
    return None if a is None or not b else a / b


def at(rep, server, op, key, c=GOAL_CONC):
    """A figure of one load-table point (the limits "echo" and "blob" included) of a repetition."""
    src = rep.get("limits", {}).get(server) if server in ("echo", "blob") else rep.get("load", {}).get(server)
    p = point((src or {}).get(op), c)
    return None if p is None else p.get(key)


def pairs_of(rep, phase, group) -> list[dict]:
    """A repetition's window pairs in `phase` (pairs, hello_pairs, cpu_pairs) for `group` (the operation, or the
    server compared with)."""
    return ((rep.get(phase) or {}).get(group) or {}).get("pairs") or []


def pair_ratios(rep, phase, group, num, den, key) -> list[float]:
    """Per pair, figure `key` of side `num` / side `den`, from the windows themselves."""
    vals = [div(p[num].get(key), p[den].get(key)) for p in pairs_of(rep, phase, group) if num in p and den in p]
    return [v for v in vals if v is not None]


def paired(rep, phase, group, ratio, of):
    """A repetition's paired figure: the median of its pair ratios (None without pairs)."""
    vals = pair_ratios(rep, phase, group, *ratio, of)
    return statistics.median(vals) if vals else None


def pair_windows(rep) -> list[dict]:
    """Every window of a repetition's paired phases, warm-up windows included."""
    out = []
    for phase, groups, sides in (("pairs", ("save", "get"), ("raw", "mcp")), ("hello_pairs", ("echo", *PEERS), None),
                                 ("cpu_pairs", ("save", "get"), ("baseline", "rust"))):
        for g in groups:
            d = (rep.get(phase) or {}).get(g) or {}
            out += [w for w in (d.get("warmup") or {}).values() if isinstance(w, dict)]
            out += [p[s] for p in d.get("pairs") or [] for s in sides or ("rust", g) if isinstance(p.get(s), dict)]
    return out


def rep_errors(rep) -> int | None:
    """Errors over every load point and paired window of a repetition (None when it measured no load at all)."""
    sources = list(rep.get("load", {}).values()) + list(rep.get("limits", {}).values())
    points = [p for src in sources for v in src.values() if isinstance(v, list) for p in v if isinstance(p, dict)]
    points += pair_windows(rep)
    return sum(p.get("errors", 0) for p in points) if points else None


def first_paired(res, phase="pairs") -> dict | None:
    """The `phase` entry of the first repetition that ran it: its set-up is the same in every repetition."""
    return next((d for d in ((r.get(phase) or {}) for r in reps_of(res)) if d.get("pairs")), None)


def pairs_config(res, phase="pairs"):
    """(pairs, window s, warm-up s) of the run's paired windows in `phase`, None if it did not run."""
    d = first_paired(res, phase)
    return (d["pairs"], d["window_s"], d["warmup_s"]) if d else None


def instruction_runs(res) -> list[dict]:
    return (res.get("instructions") or {}).get("runs") or []


def instr_per_call(run, server, op):
    return ((run or {}).get(server) or {}).get(op, {}).get("per_call")


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
    return Spread([(x - 1) * 100 for x in q.vals]) if isinstance(q, Spread) else (q - 1) * 100


# ------------------------------------------------------------------------------------------ goals


def figure(spec, rep, quick=False):
    """What one repetition measured for a goal (goals.toml's `figure`), None if it did not."""
    if spec == "errors":
        return rep_errors(rep)
    if spec == "sse_10k":  # a quick run opens fewer sessions: projected from its per-session figure
        d = rep.get("sse", {}).get("rust")
        if quick:
            return None if not d or d.get("per_session_kib") is None else (
                (d["base_rss_kib"] + d["per_session_kib"] * 10000) * 1024 / MB)
        return None if not d else d["rss_kib"] * 1024 / MB if d["opened"] >= 10000 else float("inf")
    if "paired" in spec:
        return paired(rep, spec["paired"], spec["group"], spec["ratio"], spec["of"])
    if "unpaired" in spec:
        (a, a_op), (b, b_op) = spec["unpaired"]
        return div(at(rep, a, a_op, spec["of"]), at(rep, b, b_op, spec["of"]))
    if "at" in spec:
        return at(rep, *spec["at"], spec["of"])
    v = rep
    for k in spec["path"]:
        v = v.get(k) if isinstance(v, dict) else None
    return v * 1024 / MB if v is not None and spec.get("kib_to_mb") else v


def evaluate(reps, per_rep, ok=lambda v: True):
    """A goal over repetitions: (Spread of the measured value or None, passing reps, reps). Missing in a repetition
    counts as not passing, so PASS means measured and passing in every one."""
    got = [v for v in map(per_rep, reps) if v is not None]
    return (Spread(got) if got else None), sum(1 for v in got if ok(v)), len(reps)


def verdict(ok):
    return "n/a" if ok is None else ("**PASS**" if ok else "**MISS**")


def show(g, v) -> str:
    if g.get("excess"):
        return f"{'+' if v >= 1 else ''}" + g["show"].format(span(excess(v), g["digits"]))
    return g["show"].format(span(v, g["digits"]))


def goal_name(g) -> str:
    return g["name"].format(goal=g["goal"], excess=(g["goal"] - 1) * 100, **INSTR_BASELINES)


def goals(res) -> list[tuple[str, str, str]]:
    """(goal, measured, result) rows of the goal table; context rows say "context" instead of a verdict."""
    reps, quick, rows = reps_of(res), res.get("mode") == "quick", []
    for g in GOALS["goal"]:
        name = goal_name(g)
        if g["figure"] == "instructions":
            rows.append(instruction_goal(res, name, g["goal"]))
        elif g["figure"] == "sse_10k" and quick:
            value, _, _ = evaluate(reps, lambda r: figure("sse_10k", r, quick=True))
            rows.append((name, "not measured" if value is None else
                         f"quick run: 10,000 projected at {span(value, 0)} MB", "not evaluated (quick)"))
        else:
            ok = OPS[g["ok"]]
            value, passes, n = evaluate(reps, lambda r: figure(g["figure"], r), lambda v: ok(v, g["goal"]))
            rows.append((name, "not measured", "n/a") if value is None else
                        (name, f"{show(g, value)}; {passes}/{n} reps pass", verdict(passes == n)))
        if "context" in g:
            c = {**g, **g["context"]}
            value, _, _ = evaluate(reps, lambda r: figure(c["figure"], r))
            rows.append((goal_name(c), "not measured" if value is None else show(c, value), "context"))
    return rows


def instruction_goal(res, name, fraction):
    """save and get instructions per call <= `fraction` of their baselines, in every callgrind run."""
    runs = instruction_runs(res)
    ops = ("save", "get")
    fractions = [[div(instr_per_call(r, "rust", op), INSTR_BASELINES[op]) for op in ops] for r in runs]
    got = [f for f in fractions if None not in f]
    if not got:
        return (name, "not measured", "n/a")
    passes = sum(1 for f in got if max(f) <= fraction)
    shown = "; ".join(
        f"{op} {span(Spread([instr_per_call(r, 'rust', op) for r in runs if instr_per_call(r, 'rust', op)]), 0)} "
        f"({span(Spread([f[i] for f in got]), 2)}x)" for i, op in enumerate(ops))
    return (name, f"{shown}; {passes}/{len(runs)} callgrind run{'s' if len(runs) != 1 else ''} pass",
            verdict(passes == len(runs)))


def goal_verdicts(res) -> dict[str, str]:
    """goal name -> PASS / MISS / n/a / context, for the README headline and tests."""
    return {name: result.strip("*") for name, _, result in goals(res)}


def goal(key: str) -> dict:
    """The goals.toml entry whose name starts with `key`, for the figures the doc and README quote."""
    return next(g for g in GOALS["goal"] if g["name"].startswith(key))
