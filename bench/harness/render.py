#!/usr/bin/env python3
"""Renders a results file into docs/benchmarks.md, docs/benchmarks/*.png (charts.py) and README.md's bench block:
the Markdown tables here, the prose in template.md, the figures and goals from stats.py. Generated output: edit
these files, not the doc, and render again.

Usage: render.py RESULTS.json [--doc docs/benchmarks.md] [--charts docs/benchmarks] [--readme README.md]
       [--no-readme] [--no-charts]   (a quick run leaves README.md alone unless --readme is given)
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from charts import ORDER, SHORT, charts
from stats import (GOAL_CONC, INSTR_BASELINES, MB, PEERS, Spread, evaluate, first_paired, fmt, goal, goal_verdicts,
                   goals, instr_per_call, instruction_runs, median_run, pair_ratios, paired, pairs_config, pairs_of,
                   point, reps_of, span)

ROOT = Path(__file__).resolve().parents[2]
README_BEGIN, README_END = "<!-- bench:begin -->", "<!-- bench:end -->"
_BLOCKS = re.split(r"^<!-- block: (\S+) -->\n", Path(__file__).with_name("template.md").read_text(), flags=re.M)
BLOCKS = dict(zip(_BLOCKS[1::2], (b.strip() for b in _BLOCKS[2::2])))
HELLO_RATIOS = (("rust", None, "server_cpu_us_per_req"), (None, "rust", "p99_us"), ("rust", None, "ok_rps"))


def t(block: str, **fields) -> str:
    """A block of template.md with its fields filled in."""
    return BLOCKS[block].format(**fields)


def table(header, rows) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
                      *("| " + " | ".join(str(c) for c in r) + " |" for r in rows)])


def ms(us):
    return None if us is None else us / 1000


def us_to_ms(x):
    """Microseconds in milliseconds, a Spread keeping its repetitions."""
    return Spread([v / 1000 for v in x.vals]) if isinstance(x, Spread) else ms(x)


def ratio(a, b, nd=1):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.{nd}f}x"


def col(pairs, who, key, scale=1.0, nd=0):
    """A window figure over a repetition's pairs, median [min-max]."""
    return span(Spread([p[who][key] / scale for p in pairs]), nd)


def noise(res, view) -> str:
    """How quiet the machine was: load average around each repetition, and how much the echo limit moved."""
    reps = reps_of(res)
    la = ", ".join(f"rep {r['rep']}: {r['loadavg_start']:.2f} -> {r['loadavg_end']:.2f}" for r in reps
                   if "loadavg_start" in r and "loadavg_end" in r)
    out = [t("noise", loadavg=la or "n/a")]
    e = point(view["limits"].get("echo", {}).get("hello"), GOAL_CONC)
    if e:
        out.append(t("noise_echo", rps=span(e["ok_rps"], 0), cpu=span(e.get("cpu_us_per_req"), 1)))
    last = reps[-1] if reps else {}
    if "tokens_issued" in last:
        out.append(t("noise_tokens", issued=last["tokens_issued"], refused=len(last.get("tokens_refused", []))))
    return " ".join(out)


def pairs_note(res) -> str:
    cfg = pairs_config(res)
    if not cfg:
        return t("no_pairs_note")
    client = first_paired(res).get("client_cpus")
    where = " " + t("pairs_where", client=client, azurite=res["cpus"]["azurite"]) if client else ""
    return t("pairs_note", k=cfg[0], window=cfg[1], warm=cfg[2], where=where)


def storage_rows(view, conc, ops, raw_label):
    L, blob = view["load"], view["limits"].get("blob", {})
    rows = []
    for op, raw_op in ops:
        verb = "PUT" if raw_op.startswith("put") else "GET"
        for c in conc:
            raw, r = point(blob.get(raw_op), c), point(L.get("rust", {}).get(op), c)
            for s in ORDER + ["raw"]:
                p = raw if s == "raw" else point(L.get(s, {}).get(op), c)
                if not p:
                    continue
                vs = "" if s == "raw" or not raw else f"p50 {ratio(p['p50_us'], raw['p50_us'], 2)} raw"
                if s not in ("raw", "rust") and r:
                    vs += f"; Rust {ratio(r['ok_rps'], p['ok_rps'])} the throughput"
                rows.append((verb if s == "raw" else f"{op.split('_')[0]}_snippet", c,
                             f"raw {verb} ({raw_label})" if s == "raw" else SHORT[s], span(p["ok_rps"], 0),
                             span(us_to_ms(p["p50_us"]), 2), f"{ms(p['p99_us']):.2f}",
                             "-" if s == "raw" else span(p.get("cpu_us_per_req"), 0), p["errors"], vs))
    return rows


def hello_rows(view, conc):
    L, echo = view["load"], view["limits"].get("echo", {})
    rows = []
    for c in conc:
        r = point(L.get("rust", {}).get("hello"), c)
        for s in ORDER + ["echo"]:
            p = point((echo if s == "echo" else L.get(s, {})).get("hello"), c)
            if not p:
                continue
            vs = ("-" if s == "rust" else
                  f"Rust: {ratio(r['ok_rps'], p['ok_rps'])} the throughput; peer p99 / Rust p99 = "
                  f"{ratio(p['p99_us'], r['p99_us'])}" if s != "echo" and r else
                  f"Rust reaches {r['ok_rps'] / p['ok_rps'] * 100:.0f}% of it" if r and p["ok_rps"] else "")
            rows.append((c, SHORT[s], span(p["ok_rps"], 0), f"{ms(p['p50_us']):.2f}", f"{ms(p['p95_us']):.2f}",
                         span(us_to_ms(p["p99_us"]), 2), span(p.get("cpu_us_per_req"), 0), p["errors"], vs))
    return rows


def pair_sections(res) -> list[str]:
    """Per repetition: the hello_mcp goals' pair values, the storage pair ratios, the CPU pair ratios, each with
    the windows' figures (every window is in the results JSON)."""
    def per_rep(phase, groups, row):  # one row per group and repetition that has pairs
        return [row(g, r, pairs) for g in groups for r in reps_of(res) if (pairs := pairs_of(r, phase, g))]

    def errors(pairs, *sides):
        return sum(p[w].get("errors", 0) for p in pairs for w in sides)

    def ratios(q):
        return " ".join(f"{x:.2f}" for x in q), f"{statistics.median(q):.3f}" if q else "n/a"

    hello = per_rep("hello_pairs", ("echo", *PEERS), lambda side, r, pairs: (
        SHORT[side], r["rep"], " / ".join(" ".join(f"{v:.2f}" for v in pair_ratios(
            r, "hello_pairs", side, num or side, den or side, key)) for num, den, key in HELLO_RATIOS),
        f"{col(pairs, 'rust', 'ok_rps')} / {col(pairs, side, 'ok_rps')}",
        f"{col(pairs, 'rust', 'p99_us', 1000, 2)} / {col(pairs, side, 'p99_us', 1000, 2)}",
        f"{col(pairs, 'rust', 'server_cpu_us_per_req', 1, 1)} / {col(pairs, side, 'server_cpu_us_per_req', 1, 1)}",
        errors(pairs, "rust", side)))
    storage = per_rep("pairs", ("save", "get"), lambda op, r, pairs: (
        f"{op}_snippet vs raw {'PUT' if op == 'save' else 'GET'}", r["rep"],
        *ratios(pair_ratios(r, "pairs", op, "mcp", "raw", "p50_us")),
        col(pairs, "raw", "p50_us", 1000, 2), col(pairs, "mcp", "p50_us", 1000, 2),
        span(Spread([p["mcp"].get("server_cpu_us_per_req") or 0 for p in pairs]), 0),
        " / ".join(span(Spread([p[side].get("azurite_cpu_us_per_req") or 0 for p in pairs]), 0)
                   for side in ("raw", "mcp")), errors(pairs, "raw", "mcp")))
    cpu = per_rep("cpu_pairs", ("save", "get"), lambda op, r, pairs: (
        f"{op}_snippet", r["rep"],
        *ratios(pair_ratios(r, "cpu_pairs", op, "rust", "baseline", "server_cpu_us_per_req")),
        col(pairs, "baseline", "server_cpu_us_per_req"), col(pairs, "rust", "server_cpu_us_per_req"),
        f"{col(pairs, 'baseline', 'ok_rps')} / {col(pairs, 'rust', 'ok_rps')}", errors(pairs, "baseline", "rust")))
    cfg = {phase: dict(zip(("k", "window", "warm"), pairs_config(res, phase) or ()))
           for phase in ("hello_pairs", "pairs", "cpu_pairs")}
    commit = (res.get("baseline_binary") or {}).get("commit", "?")[:10]
    return [
        t("hello_pairs", **cfg["hello_pairs"], table=table(
            ["vs", "rep", "pair values: CPU / p99 / req/s", "req/s", "p99 ms", "server CPU us/req", "errors"], hello))
        if hello else "",
        t("pairs", **cfg["pairs"], table=table(
            ["op", "rep", "pair ratios (MCP p50 / raw p50)", "median", "raw p50 ms", "MCP p50 ms", "server CPU us/call",
             "Azurite CPU us/req raw / MCP", "errors"], storage)) if storage else "",
        t("cpu_pairs", **cfg["cpu_pairs"], commit=commit, table=table(
            ["op", "rep", "pair ratios (test / baseline CPU)", "median", "baseline CPU us/call", "test CPU us/call",
             "req/s baseline / test", "errors"], cpu)) if cpu else t("no_cpu_pairs")]


def instructions_section(res) -> str:
    runs = instruction_runs(res)
    if not runs:
        return ""
    echo = [instr_per_call(r, "echo", "hello") for r in runs]
    echo = Spread([e for e in echo if e]) if any(echo) else None
    rows = []
    for server, op in (("rust", "hello"), ("rust", "save"), ("rust", "get"), ("echo", "hello"),
                       ("baseline", "hello"), ("baseline", "save"), ("baseline", "get")):
        vals = [v for v in (instr_per_call(r, server, op) for r in runs) if v]
        if not vals:
            continue
        v = Spread(vals)
        base = INSTR_BASELINES[op] if server in ("rust", "baseline") else None
        note = f"{float(v) / float(echo):.2f}x the echo's" if server == "rust" and op == "hello" and echo else ""
        n = ((runs[0].get(server) or {}).get(op) or {}).get("calls")
        rows.append((f"`{'hello_mcp' if op == 'hello' else op + '_snippet'}`", SHORT[server],
                     f"{n:,}" if isinstance(n, int) else "?", span(v, 0), f"{base:,}" if base else "-",
                     f"{float(v) / base:.2f}x" if base else "-", note))
    return t("instructions", cpus="CPUs " + runs[0]["cpus"] if runs[0].get("cpus") else "every CPU", runs=len(runs),
             s="s" if len(runs) != 1 else "", valgrind=(res.get("instructions") or {}).get("valgrind", ""),
             table=table(["call", "server", "calls counted", "instructions per call", "baseline", "vs baseline",
                          "note"], rows))


def render(res, doc: Path, chart_dir: Path, with_charts: bool = True):
    quick = res["mode"] == "quick"
    view = {**res, **median_run(res)}
    made = charts(view, chart_dir, quick) if with_charts else []
    try:
        rel = chart_dir.resolve().relative_to(doc.resolve().parent)
    except ValueError:  # charts outside the doc's folder: link them by absolute path
        rel = chart_dir.resolve()
    m, cfg, reps, conc = res["machine"], res["config"], reps_of(res), res["concurrency"]
    L, C, S, P = view["load"], view["cold_start"], view["sse"], res["package"]
    echo = view["limits"].get("echo", {})
    n = len(reps)
    per_point = t("per_point", **cfg, warm=f"after {cfg['warmup']} s warm-up" if cfg.get("warmup") else "no warm-up",
                  reps=n, s="s" if n != 1 else "")
    git, binary = res.get("git", {}), res.get("rust_binary", {})
    out = [t("head"), t("quick" if quick else "full", per_point=per_point),
           t("intro", **{**res, **m, "finished_utc": res.get("finished_utc", "?"), "commit": git.get("commit", "?"),
                         "dirty": " with uncommitted changes in src/" if git.get("src_dirty") else "",
                         "built_utc": binary.get("built_utc", "?"), "binary_mb": binary.get("bytes", 0) / MB,
                         "noise": noise(res, view)})]
    if res["failures"]:
        out.append(t("failures", failures="\n".join(f"- `{f}`" for f in res["failures"])))
    shared = res["cpus"]["azurite"] == res["cpus"]["load"]
    out.append(t("goals", table=table(["goal", "measured", "result"], goals(res)), pairs_note=pairs_note(res),
                 shared=" " + t("shared") if shared else ""))
    rust_cold = C.get("rust", {}).get("median_ms")
    out.append(t("cold", table=table(["server", "median ms", "min ms", "max ms", "runs x reps", "vs Rust"], [
        (SHORT[s], span(c["median_ms"], 1), fmt(float(c["min_ms"]), 1), fmt(float(c["max_ms"]), 1),
         f"{len(c['runs_ms'])} x {n}", "1.0x" if s == "rust" else ratio(c["median_ms"], rust_cold))
        for s, c in ((s, C[s]) for s in ORDER if s in C)])))
    rust = L.get("rust", {})
    out.append(t("memory", table=table(["server", "idle RSS MB", "peak RSS MB", "idle vs Rust", "peak vs Rust"], [
        (SHORT[s], span(d["idle_rss_kib"], 1, 1024 / MB), span(d["peak_rss_kib"], 1, 1024 / MB),
         ratio(d["idle_rss_kib"], rust.get("idle_rss_kib")), ratio(d["peak_rss_kib"], rust.get("peak_rss_kib")))
        for s, d in ((s, echo if s == "echo" else L.get(s)) for s in ORDER + ["echo"]) if d])))
    header = ["op", "conc.", "server", "req/s", "p50 ms", "p99 ms", "server CPU us/req", "errors", "comparison"]
    hello_pairs, storage_pairs, cpu_pairs = pair_sections(res)
    out += [t("hello", table=table(["conc.", "server", "req/s", "p50 ms", "p95 ms", "p99 ms", "server CPU us/req",
                                    "errors", "comparison"], hello_rows(view, conc))),
            t("hello_chart", rel=rel) if made else "", hello_pairs,
            t("storage", table=table(header, storage_rows(view, conc, (("save", "put"), ("get", "get")), "bearer"))),
            t("storage_chart", rel=rel) if made else "", storage_pairs, cpu_pairs,
            t("key", table=table(header, storage_rows(view, cfg.get("key_concurrency", conc),
                                                       (("save_key", "put_sas"), ("get_key", "get_sas")), "SAS"))),
            instructions_section(res)]
    sse_rows = []
    for s in (s for s in ORDER if s in S):
        d, counts = S[s], {}  # errors summed over repetitions, like the load tables' errors
        for r in reps:
            for k, v in r.get("sse", {}).get(s, {}).get("errors", {}).items():
                counts[k] = counts.get(k, 0) + v
        sse_rows.append((SHORT[s], f"{d['opened']:,.0f} / {d['target']:,.0f}", f"{d['open_seconds']:.1f}",
                         f"{d['base_rss_kib'] * 1024 / MB:.1f}", span(d["rss_kib"], 1, 1024 / MB),
                         span(d["per_session_kib"], 1), "; ".join(f"{k} x{v}" for k, v in counts.items()) or "none"))
    out.append(t("sse", table=table(["server", "open / target", "seconds to open", "RSS before MB",
                                     "RSS with all open MB", "KiB per session", "errors"], sse_rows)))
    out.append(t("package", table=table(["server", "contents", "zipped MB", "unzipped MB", "zipped vs Rust"], [
        (SHORT[s], P[s]["how"], f"{P[s]['zipped'] / MB:.1f}", f"{P[s]['unzipped'] / MB:.1f}",
         "1.0x" if s == "rust" else ratio(P[s]["zipped"], P.get("rust", {}).get("zipped"))) for s in ORDER if s in P])))
    out += [t("memory_chart", rel=rel) if made else "",
            t("method", reps=n, **res["cpus"], nofile_limit=res["nofile_limit"],
              versions=table(["component", "version"], m["versions"].items()),
              charts=" Charts: " + ", ".join(f"`docs/benchmarks/{c}`" for c in made) + "." if made else "")]
    doc.write_text("\n\n".join(b for b in out if b) + "\n")
    return view


def readme_block(res, view) -> str:
    """The README headline: four rows and two lines, medians of this run, between the README markers."""
    L, C, S = view["load"], view["cold_start"], view["sse"]
    reps = reps_of(res)
    hello = {s: point(L.get(s, {}).get("hello"), GOAL_CONC) for s in ORDER}
    r = hello.get("rust")

    def cell_hello(s):
        p = hello.get(s)
        if not p:
            return "n/a"
        more = "" if s == "rust" or not r else f" ({r['ok_rps'] / p['ok_rps']:.1f}x fewer)"
        return f"{p['ok_rps']:,.0f} req/s{more}, p99 {ms(p['p99_us']):,.1f} ms"

    def cell(s, value, unit, nd):
        base, v = value("rust"), value(s)
        if v is None:
            return "n/a"
        return f"{v:,.{nd}f} {unit}" + ("" if s == "rust" or not base else f" ({v / base:.1f}x)")

    cold = lambda s: C.get(s, {}).get("median_ms")  # noqa: E731
    idle = lambda s: None if s not in L else L[s]["idle_rss_kib"] * 1024 / MB  # noqa: E731

    def sse_cell(s):
        d = S.get(s)
        return "n/a" if not d else (f"{d['rss_kib'] * 1024 / MB:,.1f} MB ({d['per_session_kib']:.1f} KiB each, "
                                    f"{d['opened']:,.0f} open)")

    rows = [("`hello_mcp` at concurrency 16", *map(cell_hello, ORDER)),
            ("cold start (spawn to first `tools/list`, median)",
             *[cell(s, cold, "ms", 0 if (cold(s) or 0) >= 100 else 1) for s in ORDER]),
            ("idle RSS", *[cell(s, idle, "MB", 1) for s in ORDER]),
            (f"{res['config']['sse_sessions']:,} open SSE sessions", *map(sse_cell, ORDER))]
    v = goal_verdicts(res)
    pick = lambda prefix: next((r for k, r in v.items() if k.startswith(prefix)), "n/a")  # noqa: E731
    parts = []
    for op in ("save", "get"):
        m = point(L.get("rust", {}).get(op), GOAL_CONC)
        q, _, _ = evaluate(reps, lambda r, o=op: paired(r, "pairs", o, ("mcp", "raw"), "p50_us"))
        c, _, _ = evaluate(reps, lambda r, o=op: paired(r, "cpu_pairs", o, ("rust", "baseline"),
                                                        "server_cpu_us_per_req"))
        if m and q is not None:  # medians of the per-repetition paired figures, as in the goals table
            vs = "" if c is None else f" ({c:.2f}x the baseline's)"
            parts.append(f"{op} {(q - 1) * 100:+.0f}% p50 vs raw, {m['cpu_us_per_req']:.0f} us CPU{vs}")
    sse = S.get("rust")
    return t("readme", reps=len(reps), s="s" if len(reps) != 1 else "",
             mode="quick" if res.get("mode") == "quick" else "full", commit=res.get("git", {}).get("commit", "?"),
             date=res["started_utc"][:10], storage="; ".join(parts) or "not measured",
             table="\n".join(["| | snippets-mcp (Rust) | Python SDK | TypeScript SDK |", "|---|---|---|---|",
                              *("| " + " | ".join(row) + " |" for row in rows)]),
             within=(goal("save_snippet vs raw")["goal"] - 1) * 100, save_p50=pick("save_snippet vs raw"),
             get_p50=pick("get_snippet vs raw"), cpu_goal=goal("save_snippet server CPU")["goal"],
             save_cpu=pick("save_snippet server CPU"), get_cpu=pick("get_snippet server CPU"),
             sse="n/a" if not sse or sse.get("per_session_kib") is None else format(sse["per_session_kib"], ".1f"),
             sse_goal=goal("legacy SSE: RSS per idle")["goal"], sse_verdict=pick("legacy SSE: RSS per idle"))


def rewrite_between(text: str, block: str, begin: str = README_BEGIN, end: str = README_END) -> str:
    """Replaces what lies between the markers (exactly once each, in order) and nothing else."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"expected one {begin} before one {end}")
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{block}\n{end}{rest.split(end, 1)[1]}"


def write_readme(res, readme: Path) -> None:
    readme.write_text(rewrite_between(readme.read_text(), readme_block(res, {**res, **median_run(res)})))


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
