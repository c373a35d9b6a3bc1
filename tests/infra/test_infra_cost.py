"""The Function App's cost knobs and the cost figures in docs/deploy.md.

Flex Consumption bills instance memory for as long as an instance executes, and an open SSE
stream keeps its instance executing (functionTimeout -1, a keep-alive every 15 s): the instance
memory and the per-instance HTTP concurrency are therefore Bicep parameters, and the figures the
cost section quotes for the server itself must be the measured ones in docs/benchmarks.md (a new
benchmark run that moves them fails this test until the cost section is updated)."""

from __future__ import annotations

import json
import re

import pytest

from infra_helpers import INFRA, REPO_ROOT, module_params, parse_bicep, strip_comments

FUNCTION_APP = INFRA / "app" / "function-app.bicep"
MAIN = INFRA / "main.bicep"
DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"
BENCHMARKS = REPO_ROOT / "docs" / "benchmarks.md"
PRICE_GB_S = 0.000026
FREE_GB_S = 100_000
MONTH_S = 30 * 24 * 3600


def cost_section() -> str:
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    start = doc.index("### What the Function App costs")
    return doc[start : doc.index("\n## ", start)]


def params_of(path) -> dict:
    return parse_bicep(path)["parameters"]


def test_instance_memory_and_concurrency_are_parameters():
    text = strip_comments(FUNCTION_APP.read_text(encoding="utf-8"))
    assert re.search(r"instanceMemoryMB:\s*instanceMemoryMB\b", text), "instance memory must come from the parameter"
    assert re.search(r"perInstanceConcurrency:\s*httpPerInstanceConcurrency\b", text)
    assert re.search(r"maximumInstanceCount:\s*maximumInstanceCount\b", text)
    raw = FUNCTION_APP.read_text(encoding="utf-8")
    memory = re.search(r"@allowed\(\[\s*([\d\s]+?)\s*\]\)\s*(?:@description\([^\n]*\)\s*)?param instanceMemoryMB int = (\d+)", raw)
    assert memory, "instanceMemoryMB needs @allowed sizes"
    assert [int(v) for v in memory.group(1).split()] == [512, 2048, 4096]
    assert memory.group(2) == "512", "the server idles at about 11 MB: the smallest size is the default"
    concurrency = re.search(r"@minValue\((\d+)\)\s*@maxValue\((\d+)\)\s*@description\([^\n]*\)\s*param httpPerInstanceConcurrency int = (\d+)", raw)
    assert concurrency and concurrency.groups() == ("1", "1000", "100")
    maximum = re.search(r"@minValue\((\d+)\)\s*@maxValue\((\d+)\)\s*@description\([^\n]*\)\s*param maximumInstanceCount int", raw)
    assert maximum and maximum.groups() == ("1", "1000"), "the platform's lowest maximum instance count is now 1, not 40"


def test_main_passes_the_sizing_through_azd_environment_values():
    main = (MAIN).read_text(encoding="utf-8")
    for param, default in (
        ("functionInstanceMemoryMB", "512"),
        ("functionHttpPerInstanceConcurrency", "100"),
        ("functionMaximumInstanceCount", "100"),
    ):
        assert re.search(rf"^param {param} int = {default}$", main, re.M), param
    params = module_params(parse_bicep(MAIN)["modules"]["functionApp"])
    wired = {k: v for k, v in params.items() if k in ("instanceMemoryMB", "httpPerInstanceConcurrency", "maximumInstanceCount")}
    assert len(wired) == 3, params.keys()
    values = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert values["functionInstanceMemoryMB"]["value"] == "${FUNCTION_INSTANCE_MEMORY_MB=512}"
    assert values["functionHttpPerInstanceConcurrency"]["value"] == "${FUNCTION_HTTP_CONCURRENCY=100}"
    assert values["functionMaximumInstanceCount"]["value"] == "${FUNCTION_MAX_INSTANCES=100}"
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    for name in ("FUNCTION_INSTANCE_MEMORY_MB", "FUNCTION_HTTP_CONCURRENCY", "FUNCTION_MAX_INSTANCES"):
        assert f"azd env set {name}" in doc, name


def benchmark_figures() -> dict[str, str]:
    text = BENCHMARKS.read_text(encoding="utf-8")
    memory = re.search(r"^\| Rust \(snippets-mcp\) \| ([\d.]+) \[[^\]]*\] \| [\d.]+ \[", text, re.M)
    sse = re.search(r"^\| Rust \(snippets-mcp\) \| [\d,]+ / [\d,]+ \| [\d.]+ \| [\d.]+ \| ([\d.]+) \[[^\]]*\] \| ([\d.]+) \[", text, re.M)
    hello = re.search(r"^\| 1 \| Rust \(snippets-mcp\) \|(?: [^|]+ \|){4} ([\d,]+) \[", text, re.M)
    # The bearer-token table (the production path) comes first.
    save = re.search(r"^\| save_snippet \| 1 \| Rust \(snippets-mcp\) \|(?: [^|]+ \|){3} ([\d,]+) \[", text, re.M)
    get = re.search(r"^\| get_snippet \| 1 \| Rust \(snippets-mcp\) \|(?: [^|]+ \|){3} ([\d,]+) \[", text, re.M)
    assert all((memory, sse, hello, save, get)), "docs/benchmarks.md changed shape: update this test's patterns"
    return {
        "idle RSS MB": memory.group(1),
        "RSS with 10,000 sessions MB": sse.group(1),
        "KiB per idle SSE session": sse.group(2),
        "hello_mcp us": hello.group(1),
        "save_snippet us": save.group(1),
        "get_snippet us": get.group(1),
    }


def test_cost_section_quotes_the_measured_figures():
    section = cost_section()
    figures = benchmark_figures()
    expected = {
        "idle RSS MB": f"idles at {figures['idle RSS MB']} MB",
        "RSS with 10,000 sessions MB": f"10,000 sessions: {figures['RSS with 10,000 sessions MB']} MB",
        "KiB per idle SSE session": f"{figures['KiB per idle SSE session']} KiB per idle SSE session",
        "hello_mcp us": f"`hello_mcp`\n  {figures['hello_mcp us']} us",
        "save_snippet us": f"`save_snippet` {figures['save_snippet us']} us",
        "get_snippet us": f"`get_snippet` {figures['get_snippet us']} us",
    }
    flat = re.sub(r"\s+", " ", section)
    for name, phrase in expected.items():
        assert re.sub(r"\s+", " ", phrase) in flat, f"{name}: docs/deploy.md should say {phrase!r} (docs/benchmarks.md)"


@pytest.mark.parametrize("memory_mb,gb", [(512, 0.5), (2048, 2), (4096, 4)])
def test_per_instance_month_arithmetic(memory_mb, gb):
    section = cost_section()
    gb_s = int(gb * MONTH_S)
    before = f"${gb_s * PRICE_GB_S:,.2f}"
    after = f"${(gb_s - FREE_GB_S) * PRICE_GB_S:,.2f}"
    row = next(line for line in section.splitlines() if line.startswith(f"| {memory_mb:,} MB"))
    assert f"{gb_s:,}" in row and before in row and after in row, (row, before, after)


def test_assumptions_are_stated_with_their_date_and_where_to_check():
    section = cost_section()
    for needle in ("$0.000026 per\nGB-s", "$0.40 per million", "100,000 GB-s and 250,000 executions", "in 2025",
                   "azure.microsoft.com/pricing/details/functions", "pricing calculator"):
        assert re.sub(r"\s+", " ", needle) in re.sub(r"\s+", " ", section), needle
    for use in ("**Idle**", "**Light**", "**Heavy**"):
        assert use in section
    assert "Streamable HTTP" in section and "legacy SSE" in section
    assert "~$0 to a few $" not in DEPLOY_DOC.read_text(encoding="utf-8"), "an SSE client held open costs far more"
