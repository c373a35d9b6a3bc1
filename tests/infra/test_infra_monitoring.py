"""Operations (infra/core/monitor/, docs/operations.md): the gateway's and the Function App's logs
reach the workspace, the workspace has a daily cap, the alert rules exist with documented
thresholds, the workbook covers what an operator asks first, and every KQL query in the alerts,
the workbook and docs/operations.md parses and reads only existing tables and columns. The
resource types, API versions and property names are checked against an excerpt of
Azure/bicep-types-az (tests/infra/fixtures/bicep-types-monitoring.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infra_helpers import INFRA, REPO_ROOT, bicep_files, module_params, parse_bicep, rel, strip_comments
from kql_check import SCHEMA, analyze, markdown_queries, numeric_lets

MONITOR = INFRA / "core" / "monitor"
MONITORING = MONITOR / "monitoring.bicep"
DIAGNOSTICS = MONITOR / "diagnostics.bicep"
ALERTS = MONITOR / "alerts.bicep"
WORKBOOK = MONITOR / "workbook.bicep"
WORKBOOK_JSON = MONITOR / "workbook.json"
MAIN = INFRA / "main.bicep"
PARAMETERS = INFRA / "main.parameters.json"
OPERATIONS_DOC = REPO_ROOT / "docs" / "operations.md"
TYPES = Path(__file__).parent / "fixtures" / "bicep-types-monitoring.json"
WORKSPACE_PLACEHOLDER = "__WORKSPACE_ID__"

# The alert rules, each with the table its query must read.
ALERT_TABLES = {
    "gateway-5xx-rate": {"ApiManagementGatewayLogs"},
    "gateway-401-spike": {"ApiManagementGatewayLogs"},
    "gateway-429": {"ApiManagementGatewayLogs"},
    "backend-storage-failures": {"AppDependencies", "AppEvents", "ApiManagementGatewayLogs"},
    "daily-cap-reached": {"_LogOperation"},
}


def config_of(resource: dict) -> dict:
    """A resource's body, under any condition or loop pycep wraps it in."""
    config = resource["config"]
    while "properties" not in config and isinstance(config.get("config"), dict):
        config = config["config"]
    return config


def expr(value) -> object:
    """A pycep expression as Bicep text where it is a plain reference (`a.b.c`); other values as they are."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        return f"{expr(operands['operand_1'])}.{expr(operands['operand_2'])}"
    return value


def resources_of(path: Path, type_: str) -> dict[str, dict]:
    return {n: r for n, r in (parse_bicep(path).get("resources") or {}).items() if r["type"] == type_ and not r["existing"]}


def alert_rules() -> list[dict]:
    return parse_bicep(ALERTS)["variables"]["rules"]["value"]


def loaded_file(value: dict) -> str:
    func = value["function"]
    assert func["type"] == "load_text_content", value
    return func["parameters"]["file_path"]


def doc_section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


# --- diagnostic settings ------------------------------------------------------------------


def test_gateway_and_function_app_logs_go_to_the_workspace():
    settings = resources_of(DIAGNOSTICS, "Microsoft.Insights/diagnosticSettings")
    tree = parse_bicep(DIAGNOSTICS)
    existing = {n: r["type"] for n, r in tree["resources"].items() if r["existing"]}
    by_scope = {}
    for name, resource in settings.items():
        config = config_of(resource)
        by_scope[existing.get(config["scope"])] = config
    assert set(by_scope) == {"Microsoft.ApiManagement/service", "Microsoft.Web/sites"}, by_scope.keys()
    for type_, category in (("Microsoft.ApiManagement/service", "GatewayLogs"), ("Microsoft.Web/sites", "FunctionAppLogs")):
        props = by_scope[type_]["properties"]
        assert props["workspaceId"] == "logAnalyticsId", props
        # Dedicated: the resource-specific tables (ApiManagementGatewayLogs) the queries read.
        assert props["logAnalyticsDestinationType"] == "Dedicated", props
        assert props["logs"] == [{"category": category, "enabled": True}], props["logs"]


def test_main_wires_the_diagnostics_to_the_deployed_apim_and_function_app():
    modules = parse_bicep(MAIN)["modules"]
    module = modules["monitoringDiagnostics"]
    assert module["detail"]["path"] == "core/monitor/diagnostics.bicep"
    params = module_params(module)
    assert expr(params["apimName"]) == "apimService.outputs.name"
    assert expr(params["functionAppName"]) == "functionApp.outputs.name"
    assert expr(params["logAnalyticsId"]) == "monitoring.outputs.logAnalyticsId"
    text = strip_comments(MAIN.read_text(encoding="utf-8"))
    block = text[text.index("module monitoringDiagnostics") :]
    block = block[: block.index("\n}\n")]
    assert re.search(r"dependsOn:\s*\[\s*apimConfig\s*\]", block), "API Management takes one writer at a time"


def test_gateway_log_diagnostic_logs_no_headers_no_bodies_and_admits_audit_traces():
    loggers = resources_of(DIAGNOSTICS, "Microsoft.ApiManagement/service/loggers")
    assert [config_of(r)["properties"]["loggerType"] for r in loggers.values()] == ["azureMonitor"]
    (logger_name,) = loggers
    assert config_of(loggers[logger_name])["name"] == "azuremonitor"
    diagnostics = resources_of(DIAGNOSTICS, "Microsoft.ApiManagement/service/diagnostics")
    (diagnostic,) = diagnostics.values()
    config = config_of(diagnostic)
    assert config["name"] == "azuremonitor", "the gateway log's diagnostic has the Azure Monitor logger's name"
    props = config["properties"]
    assert expr(props["loggerId"]) == f"{logger_name}.id"
    assert props["logClientIp"] is False
    # The MCP API policy's mcp-audit trace is severity information: the diagnostic must admit it.
    assert props["verbosity"] == "information"
    text = strip_comments(DIAGNOSTICS.read_text(encoding="utf-8"))
    assert re.findall(r"bytes:\s*(\S+)", text) == ["0"], "no body logging (it would buffer SSE streams)"
    assert re.findall(r"headers:\s*\[([^\]]*)\]", text) == [""], "no header logging"
    for side in ("frontend", "backend"):
        assert props[side] == {"request": "noPayload", "response": "noPayload"}, props[side]


@pytest.mark.parametrize("path", bicep_files(), ids=rel)
def test_no_diagnostic_anywhere_logs_a_credential_header(path: Path):
    # The session token rides in Authorization, the consent CSRF pair in cookies, the function key in
    # x-functions-key: a diagnostic that names one of them would copy secrets into the logs.
    text = strip_comments(path.read_text(encoding="utf-8"))
    for listed in re.findall(r"\bheaders:\s*\[([^\]]*)\]", text):
        names = {n.strip().strip("'").lower() for n in re.split(r"[\s,]+", listed) if n.strip()}
        secret = names & {"authorization", "cookie", "set-cookie", "x-functions-key", "ocp-apim-subscription-key"}
        assert not secret, f"{rel(path)} logs {secret}"


# --- daily cap ------------------------------------------------------------------------------


def test_workspace_has_a_daily_cap_parameter_with_a_documented_default():
    tree = parse_bicep(MONITORING)
    param = tree["parameters"]["dailyCapGb"]
    assert param["type"] == "int" and param["default"] == 1, param
    decorators = {d["type"]: d["argument"] for d in param["decorators"]}
    assert decorators["min_value"] == -1, "-1 is Log Analytics' 'no cap'"
    workspace = config_of(tree["resources"]["logAnalytics"])
    assert workspace["properties"]["workspaceCapping"] == {"dailyQuotaGb": "dailyCapGb"}
    main = parse_bicep(MAIN)
    assert main["parameters"]["logDailyCapGb"]["default"] == 1
    assert module_params(main["modules"]["monitoring"])["dailyCapGb"] == "logDailyCapGb"
    values = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    assert values["logDailyCapGb"]["value"] == "${LOG_DAILY_CAP_GB=1}"
    doc = OPERATIONS_DOC.read_text(encoding="utf-8")
    assert "LOG_DAILY_CAP_GB" in doc and "1 GB/day" in doc
    assert "azd env set LOG_DAILY_CAP_GB" in doc


def test_application_insights_cap_is_deployed_only_when_asked():
    tree = parse_bicep(MONITORING)
    cap = tree["resources"]["applicationInsightsCap"]
    assert cap["type"].lower() == "microsoft.insights/components/pricingplans"
    condition = cap["config"]["condition"]["operator"]
    assert condition["type"] == "greater_than" and condition["operands"]["operand_1"] == "applicationInsightsDailyCapGb"
    assert config_of(cap)["properties"]["cap"] == "applicationInsightsDailyCapGb"
    assert tree["parameters"]["applicationInsightsDailyCapGb"]["default"] == 0
    main = parse_bicep(MAIN)
    assert module_params(main["modules"]["monitoring"])["applicationInsightsDailyCapGb"] == "appInsightsDailyCapGb"
    values = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    assert values["appInsightsDailyCapGb"]["value"] == "${APPINSIGHTS_DAILY_CAP_GB=0}"


# --- alerts ---------------------------------------------------------------------------------


def test_every_alert_rule_exists_and_reads_its_query_file():
    rules = alert_rules()
    assert [r["name"] for r in rules] == list(ALERT_TABLES), [r["name"] for r in rules]
    for rule in rules:
        path = loaded_file(rule["query"])
        assert path == f"alerts/{rule['name']}.kql", path
        assert (MONITOR / path).is_file(), path
        assert 0 <= rule["severity"] <= 4
        assert rule["displayName"] and rule["description"]
    (resource,) = resources_of(ALERTS, "Microsoft.Insights/scheduledQueryRules").values()
    assert resource["api_version"] == "2026-03-01"
    assert resource["config"]["loop_type"]["detail"]["array_name"] == "rules"
    props = config_of(resource)["properties"]
    assert props["scopes"] == ["logAnalyticsId"]
    assert props["enabled"] is True
    assert props["evaluationFrequency"] == "PT5M" and props["windowSize"] == "PT15M"
    # The resource-specific tables exist only once they have rows: validating at creation would fail.
    assert props["skipQueryValidation"] is True
    (condition,) = props["criteria"]["allOf"]
    assert (condition["timeAggregation"], condition["operator"], condition["threshold"]) == ("Count", "GreaterThan", 0)
    module = parse_bicep(MAIN)["modules"]["monitoringAlerts"]
    assert module["detail"]["path"] == "core/monitor/alerts.bicep"
    assert expr(module_params(module)["logAnalyticsId"]) == "monitoring.outputs.logAnalyticsId"


@pytest.mark.parametrize("name", list(ALERT_TABLES))
def test_alert_query_reads_its_tables(name: str):
    text = (MONITOR / "alerts" / f"{name}.kql").read_text(encoding="utf-8")
    analysis = analyze(text)
    assert not analysis.problems, analysis.problems
    assert analysis.tables == ALERT_TABLES[name], analysis.tables


def test_gateway_alerts_count_the_status_they_are_named_for():
    def code(name):
        return strip_comments_kql((MONITOR / "alerts" / f"{name}.kql").read_text(encoding="utf-8"))

    assert "ResponseCode >= 500" in code("gateway-5xx-rate")
    assert "ResponseCode == 401" in code("gateway-401-spike")
    assert "ResponseCode == 429" in code("gateway-429")
    storage = code("backend-storage-failures")
    assert 'DependencyType in ("Azure blob", "Azure queue")' in storage
    assert 'tostring(Properties.outcome) == "failed"' in storage
    assert 'Detail contains "OverQuota"' in code("daily-cap-reached")


def strip_comments_kql(text: str) -> str:
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["name"])
def test_alert_is_documented_with_its_threshold(rule: dict):
    doc = OPERATIONS_DOC.read_text(encoding="utf-8")
    heading = f"### {rule['displayName']}"
    assert heading in doc, f"docs/operations.md has no section {heading!r}"
    section = doc_section(doc, heading)
    path = loaded_file(rule["query"])
    assert path in section, f"the section should name {path}"
    severity = f"Severity {rule['severity']}."
    assert severity in section, f"{heading}: {severity}"
    assert "**What to do**" in section and "**Why" in section
    for name, value in numeric_lets((MONITOR / path).read_text(encoding="utf-8")).items():
        shown = f"{value:g}"
        assert re.search(rf"(?<![\d.]){re.escape(shown)}(?![\d.])", section), f"{heading}: threshold {name} = {shown} not in the doc"


def test_notifications_only_when_an_address_or_a_group_is_given():
    tree = parse_bicep(ALERTS)
    params = tree["parameters"]
    assert params["alertEmail"]["default"] == "" and params["alertActionGroupId"]["default"] == ""
    (name, group) = next(iter(resources_of(ALERTS, "Microsoft.Insights/actionGroups").items()))
    assert group["config"]["condition"] == "createActionGroup", "the group exists only for an e-mail address"
    text = strip_comments(ALERTS.read_text(encoding="utf-8"))
    assert "var createActionGroup = empty(alertActionGroupId) && !empty(alertEmail)" in text
    assert re.search(r"var actionGroupIds = !empty\(alertActionGroupId\) \? \[alertActionGroupId\] : \(createActionGroup \? \[[^\]]+\] : \[\]\)", text)
    props = config_of(next(iter(resources_of(ALERTS, "Microsoft.Insights/scheduledQueryRules").values())))["properties"]
    assert props["actions"] == {"actionGroups": "actionGroupIds"}
    receivers = config_of(group)["properties"]["emailReceivers"]
    assert [r["emailAddress"] for r in receivers] == ["alertEmail"]
    main = module_params(parse_bicep(MAIN)["modules"]["monitoringAlerts"])
    assert main["alertEmail"] == "alertEmail" and main["alertActionGroupId"] == "alertActionGroupId"
    values = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    assert values["alertEmail"]["value"] == "${ALERT_EMAIL=}"
    assert values["alertActionGroupId"]["value"] == "${ALERT_ACTION_GROUP_ID=}"


# --- workbook -------------------------------------------------------------------------------


def workbook() -> dict:
    return json.loads(WORKBOOK_JSON.read_text(encoding="utf-8"))


def workbook_queries() -> list[tuple[str, str]]:
    return [(i["name"], i["content"]["query"]) for i in workbook()["items"] if i["type"] == 3]


def test_workbook_is_deployed_from_the_committed_json_against_the_workspace():
    (resource,) = resources_of(WORKBOOK, "Microsoft.Insights/workbooks").values()
    props = config_of(resource)["properties"]
    assert props["sourceId"] == "logAnalyticsId" and props["version"] == "Notebook/1.0"
    text = strip_comments(WORKBOOK.read_text(encoding="utf-8"))
    assert f"replace(loadTextContent('workbook.json'), '{WORKSPACE_PLACEHOLDER}', logAnalyticsId)" in text
    module = parse_bicep(MAIN)["modules"]["monitoringWorkbook"]
    assert expr(module_params(module)["logAnalyticsId"]) == "monitoring.outputs.logAnalyticsId"
    data = workbook()
    assert data["version"] == "Notebook/1.0"
    assert data["fallbackResourceIds"] == [WORKSPACE_PLACEHOLDER]
    parameters = [p for i in data["items"] if i["type"] == 9 for p in i["content"]["parameters"]]
    assert [p["name"] for p in parameters] == ["TimeRange"]
    for item in data["items"]:
        if item["type"] == 3:
            content = item["content"]
            assert content["timeContextFromParameter"] == "TimeRange", item["name"]
            assert content["resourceType"] == "microsoft.operationalinsights/workspaces", item["name"]
            assert content["crossComponentResources"] == [WORKSPACE_PLACEHOLDER], item["name"]
    names = [i["name"] for i in data["items"]]
    assert len(names) == len(set(names)), "item names are unique"


def test_workbook_answers_the_operators_questions():
    queries = "\n".join(q for _, q in workbook_queries())
    assert 'Name == "McpToolCall"' in queries and "by tool" in queries, "calls per tool"
    assert "failedPercent" in queries and "serverErrorPercent" in queries, "error rates"
    assert re.search(r"percentile\([^)]*, 50\)", queries) and re.search(r"percentile\([^)]*, 95\)", queries), "p50/p95"
    assert "dcount(userId)" in queries, "active users"
    assert "ResponseCode == 429" in queries, "throttled calls"


@pytest.mark.parametrize("name,query", workbook_queries(), ids=[n for n, _ in workbook_queries()])
def test_workbook_query_is_valid_kql_over_existing_tables(name: str, query: str):
    analysis = analyze(query)
    assert not analysis.problems, f"{name}: {analysis.problems}"
    # Workbooks pass their time range themselves; a {Parameter} placeholder would not parse.
    assert "{" not in query, name


# --- docs/operations.md -----------------------------------------------------------------------


def doc_queries() -> list[str]:
    return markdown_queries(OPERATIONS_DOC.read_text(encoding="utf-8"))


def test_operations_doc_has_the_first_hour_queries():
    doc = OPERATIONS_DOC.read_text(encoding="utf-8")
    for heading in (
        "## The first hour",
        "### Who touched snippet X",
        "### Calls per user per day",
        "### Errors by tool",
        "### Throttled calls",
        "## Log levels",
        "## Who made a request at the gateway",
    ):
        assert heading in doc, heading
    assert len(doc_queries()) >= 8
    assert "server.md" in doc_section(doc, "## Log levels")


@pytest.mark.parametrize("index", range(len(doc_queries())))
def test_operations_doc_query_is_valid_kql_over_existing_tables(index: int):
    query = doc_queries()[index]
    analysis = analyze(query)
    assert not analysis.problems, f"query {index + 1}:\n{query}\n{analysis.problems}"


def test_audit_trace_contract_matches_the_queries():
    # What the MCP API policy must emit (docs/operations.md) and what the queries read agree.
    doc = OPERATIONS_DOC.read_text(encoding="utf-8")
    contract = doc_section(doc, "## Who made a request at the gateway")
    assert '<trace source="mcp-audit" severity="information">' in contract
    assert '{"sub":"<subject>","cid":"<client id>"}' in contract
    for text in [q for _, q in workbook_queries()] + doc_queries():
        if "TraceRecords" in text:
            assert 'tostring(record.source) == "mcp-audit"' in text, text
            assert "parse_json(tostring(record.message))" in text and "audit.sub" in text and "audit.cid" in text, text


def test_readme_links_the_operations_doc():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "[docs/operations.md](docs/operations.md)" in readme


# --- the KQL checker itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,problem",
    [
        ("AppEvents | where Name == 'x' | summarize by (", "syntax"),
        ("AppEvents | where | count", "syntax"),
        ("AppEvent | count", "reads none"),
        ("AppDependencies | where DependencyTypes == 'x'", "unknown table or column 'DependencyTypes'"),
        ("ApiManagementGatewayLogs | where StatusCode == 500", "unknown table or column 'StatusCode'"),
        ("AppEvents | extend t = tostring(Properties.tool) | summarize by tool", "unknown table or column 'tool'"),
    ],
)
def test_kql_checker_refuses_broken_queries(query: str, problem: str):
    problems = analyze(query).problems
    assert any(problem in p for p in problems), problems


def test_kql_checker_accepts_declared_names():
    query = "let n = 5;\nAppEvents\n| extend tool = tostring(Properties.tool)\n| summarize calls = count() by tool\n| where calls > n"
    assert analyze(query).problems == []
    assert set(SCHEMA) >= {"ApiManagementGatewayLogs", "AppEvents", "AppRequests", "AppDependencies"}


# --- resource types, API versions and properties against bicep-types-az ----------------------------


def monitor_resources():
    for path in sorted(MONITOR.glob("*.bicep")):
        for name, resource in (parse_bicep(path).get("resources") or {}).items():
            if not resource["existing"]:
                yield path, name, resource


def type_entry(resource: dict) -> dict:
    types = {k.lower(): v for k, v in json.loads(TYPES.read_text(encoding="utf-8"))["types"].items()}
    key = f"{resource['type']}@{resource['api_version']}".lower()
    assert key in types, f"{key} is not in {rel(TYPES)} (add it from Azure/bicep-types-az after checking it there)"
    return types[key]


@pytest.mark.parametrize("path,name,resource", list(monitor_resources()), ids=lambda v: v if isinstance(v, str) else None)
def test_resource_type_and_properties_exist_in_bicep_types(path: Path, name: str, resource: dict):
    entry = type_entry(resource)
    config = config_of(resource)
    bicep_only = {"parent", "scope", "dependsOn"}
    unknown = set(config) - bicep_only - set(entry["resourceProperties"])
    assert not unknown, f"{rel(path)} {name}: {sorted(unknown)} are not properties of {resource['type']}"
    unknown = set(config.get("properties") or {}) - set(entry["properties"])
    assert not unknown, f"{rel(path)} {name}: {sorted(unknown)} are not in {entry['propertiesType']} ({entry['file']})"


def test_type_excerpt_is_pinned():
    data = json.loads(TYPES.read_text(encoding="utf-8"))
    assert data["repository"] == "Azure/bicep-types-az"
    assert re.fullmatch(r"[0-9a-f]{40}", data["commit"])
    used = {f"{r['type']}@{r['api_version']}".lower() for _, _, r in monitor_resources()}
    assert used == {k.lower() for k in data["types"]}, "the excerpt lists exactly the types in use"
