#!/usr/bin/env python3
"""Renders bench/results/<run>.json into docs/benchmarks.md and docs/benchmarks/*.png.

Generated output: never edit the Markdown or the charts by hand; run bench/run.sh (or this script on a
results file) again.   Usage: render.py RESULTS.json [--doc docs/benchmarks.md] [--charts docs/benchmarks]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent
PEERS = ["python", "ts"]
ORDER = ["rust", "python", "ts"]
SHORT = {"rust": "Rust (snippets-mcp)", "python": "Python SDK", "ts": "TypeScript SDK",
         "echo": "axum echo (limit)", "raw": "raw blob (limit)"}
COLORS = {"rust": "#b7410e", "python": "#3572a5", "ts": "#2f9e44", "echo": "#888888", "raw": "#888888"}
MB = 1e6


def fmt(x, nd=1):
    if x is None:
        return "n/a"
    if isinstance(x, float) and x >= 1000:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}" if isinstance(x, float) else f"{x:,}"


def ms(us):
    return None if us is None else us / 1000


def ratio(a, b, nd=1):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.{nd}f}x"


def point(series, c):
    for r in series or []:
        if r["concurrency"] == c:
            return r
    return None


def verdict(ok):
    return "n/a" if ok is None else ("**PASS**" if ok else "**MISS**")


def goals(res):
    L, C, S = res["load"], res["cold_start"], res["sse"]
    blob = res["limits"].get("blob", {})
    rows = []

    def hello(s, key):
        p = point(L.get(s, {}).get("hello"), 16)
        return p[key] if p else None

    r_rps = hello("rust", "ok_rps")
    for peer, target in (("python", 10), ("ts", 3)):
        p_rps = hello(peer, "ok_rps")
        ok = None if r_rps is None or not p_rps else r_rps / p_rps >= target
        rows.append((f"hello_mcp throughput at concurrency 16 >= {target}x {SHORT[peer]}",
                     f"{fmt(r_rps)} vs {fmt(p_rps)} req/s = {ratio(r_rps, p_rps)}", verdict(ok)))
    r_p99 = hello("rust", "p99_us")
    for peer in PEERS:
        p_p99 = hello(peer, "p99_us")
        ok = None if not r_p99 or p_p99 is None else p_p99 / r_p99 >= 5
        rows.append((f"hello_mcp p99 at concurrency 16 >= 5x lower than {SHORT[peer]}",
                     f"{fmt(ms(r_p99), 2)} vs {fmt(ms(p_p99), 2)} ms = {ratio(p_p99, r_p99)} lower", verdict(ok)))
    cs = C.get("rust", {}).get("median_ms")
    rows.append(("cold start (spawn to first tools/list, median) <= 20 ms", f"{fmt(cs, 1)} ms",
                 verdict(None if cs is None else cs <= 20)))
    idle = L.get("rust", {}).get("idle_rss_kib")
    idle_mb = None if idle is None else idle * 1024 / MB
    rows.append(("idle RSS (after start + one call) <= 15 MB", f"{fmt(idle_mb, 1)} MB",
                 verdict(None if idle_mb is None else idle_mb <= 15)))
    sse = S.get("rust")
    if sse:
        rss_mb = sse["rss_kib"] * 1024 / MB
        if sse["target"] >= 10000:
            ok = sse["opened"] >= 10000 and rss_mb < 300
            rows.append((">= 10,000 concurrent SSE sessions under 300 MB",
                         f"{sse['opened']:,} open, RSS {rss_mb:.1f} MB", verdict(ok)))
        else:
            proj = (sse["base_rss_kib"] + (sse["per_session_kib"] or 0) * 10000) * 1024 / MB
            rows.append((">= 10,000 concurrent SSE sessions under 300 MB",
                         f"quick run: {sse['opened']:,}/{sse['target']:,} open, RSS {rss_mb:.1f} MB; "
                         f"10,000 projected at {proj:.0f} MB", "not evaluated (quick)"))
    else:
        rows.append((">= 10,000 concurrent SSE sessions under 300 MB", "not measured", "n/a"))
    for op, raw_op, label in (("save", "put", "save_snippet vs raw PUT"), ("get", "get", "get_snippet vs raw GET")):
        m = point(L.get("rust", {}).get(op), 16)
        r = point(blob.get(raw_op), 16)
        if m and r:
            q = m["p50_us"] / r["p50_us"]
            rows.append((f"{label}: p50 latency at concurrency 16 within 15% of the raw operation",
                         f"{ms(m['p50_us']):.2f} vs {ms(r['p50_us']):.2f} ms = {(q - 1) * 100:+.0f}%",
                         verdict(q <= 1.15)))
        else:
            rows.append((f"{label}: within 15% at concurrency 16", "not measured", "n/a"))
    return rows


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
        ax.set_title(f"{title}: p50 latency{tag}")
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


def render(res, doc: Path, chart_dir: Path):
    quick = res["mode"] == "quick"
    made = charts(res, chart_dir, quick)
    rel = chart_dir.relative_to(doc.parent)
    m = res["machine"]
    cfg = res["config"]
    L, blob, echo = res["load"], res["limits"].get("blob", {}), res["limits"].get("echo", {})
    conc = res["concurrency"]
    lines = ["# Benchmarks", "",
             "<!-- Generated by bench/run.sh (bench/harness/render.py) from bench/results/*.json. Do not edit. -->", ""]
    if quick:
        lines += ["> **QUICK RUN: numbers are indicative only.** `--quick` uses "
                  f"{cfg['duration']} s per load point, {cfg['cold_runs']} cold starts and "
                  f"{cfg['sse_sessions']:,} SSE sessions, and this run may have shared the machine with other "
                  "work. Run `bench/run.sh` (full mode) on a quiet machine for numbers to quote.", ""]
    else:
        lines += [f"> Full run: {cfg['duration']} s per load point (after {cfg['warmup']} s warm-up), "
                  f"{cfg['cold_runs']} cold starts, {cfg['sse_sessions']:,} SSE sessions.", ""]
    la = m.get("loadavg_start", [0])[0]
    lines += [
        f"Run {res['started_utc']} to {res['finished_utc']} (UTC) with `{res['command']}`, on "
        f"{m['nproc']} CPU ({m['cpu_model']}), {m['mem_total_gib']} GiB RAM, Linux {m['kernel']}, {m['os']}; "
        f"1-minute load average at start {la:.2f}. Rust binary: commit {res.get('git', {}).get('commit', '?')}"
        f"{' with uncommitted changes in src/' if res.get('git', {}).get('src_dirty') else ''}, built "
        f"{res.get('rust_binary', {}).get('built_utc', '?')}, {res.get('rust_binary', {}).get('bytes', 0) / MB:.1f} MB.",
        "",
        "Why Rust: Flex Consumption bills memory x time and scales from zero, so start-up time, memory per "
        "instance and work per CPU-second are the costs. These numbers compare the same three tools "
        "(`hello_mcp`, `save_snippet`, `get_snippet`) on the same Azurite, served by this repository's Rust "
        "binary and by small servers on the official Python and TypeScript MCP SDKs.", "",
    ]
    if res["failures"]:
        lines += ["**Phases that failed in this run:**", ""] + [f"- `{f}`" for f in res["failures"]] + [""]

    shared = res["cpus"]["azurite"] == res["cpus"]["load"]
    lines += ["## Goals", "", table(["goal", "measured", "result"], goals(res)), "",
              "Storage-bound goals are read at concurrency 16, where Azurite (one Node process) is saturated and "
              "every path queues on it, so they mostly compare how hard each request pattern works Azurite"
              + (" (here Azurite also shares its CPU with the load generator)" if shared else "") +
              ". The concurrency-1 rows of the storage table show the per-call overhead of the MCP path itself.",
              "",
              "Why snippets-mcp's storage-bound calls trail the raw operation under load (observed, not yet "
              "fixed): its blob requests differ from the raw ones in what they cost Azurite, not in server CPU "
              "(snippets-mcp spends ~300 us of CPU per call and never saturates its core). `azure_storage_blob` "
              "1.x always downloads through its partitioned path, so every get is a ranged read "
              "(`Range: bytes=0-4194303`) where the raw limit is a plain GET; and the peers authenticate with "
              "Shared Key while snippets-mcp and the raw limit use an account SAS, which Azurite validates at "
              "higher cost; that is why the peers' saves can even out-run the raw SAS PUT. Against Azure "
              "Storage, which scales per partition, neither effect is expected to matter; it has not been "
              "measured there.",
              ""]

    # cold start
    C = res["cold_start"]
    rows = []
    for s in ORDER:
        if s in C:
            c = C[s]
            rows.append((SHORT[s], f"{c['median_ms']:.1f}", f"{c['min_ms']:.1f}", f"{c['max_ms']:.1f}",
                         len(c["runs_ms"]), "1.0x" if s == "rust" else ratio(c["median_ms"], C.get("rust", {}).get(
                             "median_ms"))))
    lines += ["## Cold start", "",
              "Process spawn to the first successful `tools/list` over HTTP (the client polls every 0.5 ms; the "
              "first spawn warms the page cache and is not counted).", "",
              table(["server", "median ms", "min ms", "max ms", "runs", "vs Rust"], rows), ""]

    # memory
    rows = []
    for s in ORDER + ["echo"]:
        d = echo if s == "echo" else L.get(s)
        if d:
            r_idle = L.get("rust", {}).get("idle_rss_kib")
            r_peak = L.get("rust", {}).get("peak_rss_kib")
            rows.append((SHORT[s], f"{d['idle_rss_kib'] * 1024 / MB:.1f}", f"{d['peak_rss_kib'] * 1024 / MB:.1f}",
                         ratio(d["idle_rss_kib"], r_idle), ratio(d["peak_rss_kib"], r_peak)))
    lines += ["## Memory", "",
              "RSS of the server process (`VmRSS`) after start-up and one `hello_mcp` call, and its high-water mark "
              "(`VmHWM`) after every load point below. MB = 10^6 bytes.", "",
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
                  f"Rust: {ratio(r['ok_rps'], p['ok_rps'])} the throughput; peer p99 / Rust p99 = {ratio(p['p99_us'], r['p99_us'])}"
                  if s != "echo" and r else
                  f"Rust reaches {r['ok_rps'] / p['ok_rps'] * 100:.0f}% of it" if r and p["ok_rps"] else "")
            rows.append((c, SHORT[s], fmt(p["ok_rps"], 0), f"{ms(p['p50_us']):.2f}", f"{ms(p['p95_us']):.2f}",
                         f"{ms(p['p99_us']):.2f}", fmt(p.get("cpu_us_per_req"), 0), p["errors"], vs))
    lines += ["## Protocol-bound: `hello_mcp`", "",
              "`tools/call hello_mcp` over stateless Streamable HTTP (JSON response, no `initialize`), closed loop "
              "with N keep-alive connections (wrk + `bench/lua/mcp.lua`, which checks every reply). "
              "Throughput counts only correct replies. Server CPU us/req = the server process's user + system CPU "
              "time during the point (`/proc/<pid>/stat`, 10 ms ticks) / requests: the cost per call, and the "
              "figure least disturbed by a busy machine.", "",
              table(["conc.", "server", "req/s", "p50 ms", "p95 ms", "p99 ms", "server CPU us/req", "errors",
                     "comparison"], rows), "",
              f"![hello_mcp throughput and p99]({rel}/hello.png)", ""]

    # storage
    rows = []
    for op, raw_op in (("save", "put"), ("get", "get")):
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
                name = f"raw {'PUT' if raw_op == 'put' else 'GET'} (limit)" if s == "raw" else SHORT[s]
                rows.append((f"{op}_snippet" if s != "raw" else f"{raw_op}", c, name, fmt(p["ok_rps"], 0),
                             f"{ms(p['p50_us']):.2f}", f"{ms(p['p95_us']):.2f}", f"{ms(p['p99_us']):.2f}",
                             fmt(p.get("cpu_us_per_req"), 0) if s != "raw" else "-", p["errors"], vs))
    lines += ["## Storage-bound: `save_snippet`, `get_snippet`", "",
              "`save_snippet` writes a new blob per call (unique names, 1,032-byte snippet); `get_snippet` reads one "
              f"of {256} seeded blobs. The limit is the same blob operation sent by the same load tool straight to "
              "Azurite with an account SAS like the one snippets-mcp mints (no MCP, no server in between). Azurite (Node, one process) is part of "
              "every number here.", "",
              table(["op", "conc.", "server", "req/s", "p50 ms", "p95 ms", "p99 ms", "server CPU us/req", "errors",
                     "comparison"], rows),
              "", f"![storage-bound latency]({rel}/storage.png)", ""]

    # SSE
    S = res["sse"]
    rows = []
    for s in ORDER:
        if s in S:
            d = S[s]
            err = "; ".join(f"{k} x{v}" for k, v in d["errors"].items()) or "none"
            rows.append((SHORT[s], f"{d['opened']:,} / {d['target']:,}", f"{d['open_seconds']:.1f}",
                         f"{d['base_rss_kib'] * 1024 / MB:.1f}", f"{d['rss_kib'] * 1024 / MB:.1f}",
                         fmt(d["per_session_kib"], 1), err))
    lines += ["## Legacy SSE sessions", "",
              "N clients open `GET /sse` (128 opening at a time) and each waits for its `endpoint` event; with all "
              "of them open, the server's RSS is read. Per session = (RSS with N open - RSS before) / N. "
              "snippets-mcp's cross-instance SSE relay is off here (the connection string names no queue "
              "endpoint), as the peers have none.", "",
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
              "Each deployable folder zipped the same way (deflate, level 6).", "",
              table(["server", "contents", "zipped MB", "unzipped MB", "zipped vs Rust"], rows), "",
              f"![memory, cold start and SSE]({rel}/memory-coldstart-sse.png)", ""]

    # method
    cpus = res["cpus"]
    lines += ["## Method and fairness", "",
              f"- One server process at a time (no other benchmark process running), pinned to CPU {cpus['server']} (`taskset`); "
              f"wrk, the harness and the SSE client on CPU {cpus['load']}; Azurite on CPU {cpus['azurite']}. "
              "So every server gets the same single CPU, about what one Flex Consumption instance of 2,048 MB has; "
              "Rust gains nothing from extra cores here (tokio sizes its pool from the affinity mask).",
              "- Peers: `bench/servers/python/server.py` (official `mcp` SDK `MCPServer`, stateless Streamable HTTP "
              "with JSON responses + SSE app, one uvicorn worker with uvloop and httptools, access log off, "
              "`azure-storage-blob` aio client) and `bench/servers/ts/server.mjs` (official "
              "`@modelcontextprotocol/sdk`: a new `McpServer` + stateless `StreamableHTTPServerTransport` per request "
              "with JSON responses, `SSEServerTransport` for SSE, plain `node:http`, `NODE_ENV=production`, "
              "`@azure/storage-blob`). Same tool names, reply text, container and blob layout.",
              "- Authorisation to Azurite differs by SDK as it would in production: snippets-mcp signs with an "
              "account SAS it mints itself, the Python and Node SDKs sign each request with Shared Key; the raw "
              "limit uses an account SAS too. The Node SDK sends its own (newer) `x-ms-version`; the others pin "
              "2025-01-05; Azurite runs with `--skipApiVersionCheck --inMemoryPersistence`, fresh for every "
              "server.",
              "- Load: wrk 4.x, closed loop, keep-alive, fixed duration per point after a warm-up, loopback only. "
              "Every response body is checked; failures are counted as errors and excluded from throughput. "
              "wrk checks each body in Lua on one CPU, so the echo limit's highest figures may be wrk's own ceiling.",
              "- Memory is `/proc/<pid>/status` of the server process itself (taskset execs it). Servers start "
              "with a clean environment (PATH, HOME, LANG, the connection string): no RUST_BACKTRACE, "
              "NODE_OPTIONS or PYTHON* flags from the caller's shell.",
              f"- Open-file limit for this run: {res['nofile_limit']:,}.",
              "", "## Versions", "",
              table(["component", "version"], [(k, v) for k, v in m["versions"].items()]), "",
              "Raw results: `bench/results/` (JSON, not committed). Charts: " +
              ", ".join(f"`docs/benchmarks/{c}`" for c in made) + ".", ""]
    doc.write_text("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--charts", default=str(ROOT / "docs" / "benchmarks"))
    a = ap.parse_args()
    res = json.loads(Path(a.results).read_text())
    render(res, Path(a.doc), Path(a.charts))
    print(f"wrote {a.doc} and charts in {a.charts}")


if __name__ == "__main__":
    main()
