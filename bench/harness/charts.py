"""The three PNG charts of docs/benchmarks.md, drawn from the median run (matplotlib, when it is installed)."""

from __future__ import annotations

from pathlib import Path

from stats import MB, point

ORDER = ["rust", "python", "ts"]
SHORT = {"rust": "Rust (snippets-mcp)", "python": "Python SDK", "ts": "TypeScript SDK",
         "echo": "axum echo (limit)", "raw": "raw blob (limit)", "baseline": "baseline binary"}
COLORS = {"rust": "#b7410e", "python": "#3572a5", "ts": "#2f9e44", "echo": "#888888", "raw": "#888888"}
LIMITS = ("echo", "raw")


def bar_groups(ax, groups, series, values, ylabel, log=False):
    n, w = len(series), 0.8 / len(series)
    if log:
        ax.set_yscale("log")
    for i, s in enumerate(series):
        xs = [g + (i - (n - 1) / 2) * w for g in range(len(groups))]
        vals = [values.get((s, g)) or 0 for g in groups]
        bars = ax.bar(xs, vals, w, label=SHORT.get(s, s), color=COLORS.get(s), alpha=0.55 if s in LIMITS else 1.0,
                      hatch="//" if s in LIMITS else None)
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


def _by_concurrency(ax, conc, series, source, key, per, ylabel, title, **title_style):
    """One panel: `key` / `per` of each series' point at each concurrency (`source(s)` is its load series)."""
    vals = {(s, c): p[key] / per for s in series for c in conc if (p := point(source(s), c))}
    bar_groups(ax, conc, series, vals, ylabel, log=True)
    ax.set_title(title, **title_style)
    ax.set_xlabel("concurrent connections")


def charts(res, outdir: Path, quick: bool) -> list[str]:
    """hello.png, storage.png and memory-coldstart-sse.png; none (an empty list) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    outdir.mkdir(parents=True, exist_ok=True)
    tag = " (QUICK, noisy)" if quick else ""
    L, conc, echo, blob = res["load"], res["concurrency"], res["limits"].get("echo", {}), res["limits"].get("blob", {})
    servers = [s for s in ORDER if s in L]

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(outdir / name, dpi=110)
        plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    hello = lambda s: (echo if s == "echo" else L[s]).get("hello")  # noqa: E731
    series = servers + (["echo"] if echo else [])
    _by_concurrency(axes[0], conc, series, hello, "ok_rps", 1, "requests/s (log)",
                    "hello_mcp throughput by concurrency" + tag)
    _by_concurrency(axes[1], conc, series, hello, "p99_us", 1000, "p99 latency, ms (log)",
                    "hello_mcp p99 latency by concurrency" + tag)
    save(fig, "hello.png")

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, op, raw_op, title in ((axes[0], "save", "put", "save_snippet vs raw PUT"),
                                  (axes[1], "get", "get", "get_snippet vs raw GET")):
        _by_concurrency(ax, conc, servers + (["raw"] if blob else []),
                        lambda s, op=op, raw_op=raw_op: blob.get(raw_op) if s == "raw" else L[s].get(op), "p50_us",
                        1000, "p50 latency, ms (log)", f"{title}: p50 latency, bearer tokens{tag}", fontsize=10)
    save(fig, "storage.png")

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    names = [s for s in ORDER if s in L or s in res["cold_start"]]
    sse_names = [s for s in ORDER if s in res["sse"]]
    idle, peak = ([L.get(s, {}).get(k, 0) * 1024 / MB for s in names] for k in ("idle_rss_kib", "peak_rss_kib"))
    cs = [res["cold_start"].get(s, {}).get("median_ms", 0) for s in names]
    per = [(res["sse"][s]["per_session_kib"] or 0) for s in sse_names]
    x, colors = range(len(names)), [COLORS[s] for s in names]
    axes[0].bar([i - 0.2 for i in x], idle, 0.4, label="idle", color=colors)
    axes[0].bar([i + 0.2 for i in x], peak, 0.4, label="peak under load", color=colors, alpha=0.5, hatch="..")
    for i, (a, b) in enumerate(zip(idle, peak)):
        axes[0].annotate(f"{a:.1f}", (i - 0.2, a), ha="center", va="bottom", fontsize=8)
        axes[0].annotate(f"{b:.1f}", (i + 0.2, b), ha="center", va="bottom", fontsize=8)
    axes[0].legend(fontsize=8)
    axes[1].bar(list(x), cs, color=colors)
    for i, v in enumerate(cs):
        axes[1].annotate(f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms", (i, v), ha="center", va="bottom", fontsize=8)
    axes[1].set_yscale("log")
    axes[2].bar(range(len(sse_names)), per, color=[COLORS[s] for s in sse_names])
    for i, s in enumerate(sse_names):
        axes[2].annotate(f"{per[i]:.1f} KiB\n{res['sse'][s]['opened']:,} open", (i, per[i]), ha="center",
                         va="bottom", fontsize=8)
    for ax, shown, ylabel, title in ((axes[0], names, "RSS, MB", "memory: idle / peak"),
                                     (axes[1], names, "ms (log)", "cold start to first tools/list"),
                                     (axes[2], sse_names, "RSS per open SSE session, KiB", "SSE sessions")):
        ax.set_xticks(list(range(len(shown))))
        ax.set_xticklabels([SHORT[s] for s in shown], fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title + tag)
    axes[0].set_ylim(0, max(peak + idle + [1]) * 1.2)
    axes[1].set_ylim(top=max(cs + [1]) * 4)
    axes[2].set_ylim(0, max(per + [1]) * 1.3)
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    save(fig, "memory-coldstart-sse.png")
    return ["hello.png", "storage.png", "memory-coldstart-sse.png"]
