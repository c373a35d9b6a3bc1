"""Offline checks of KQL queries: syntax with Microsoft's grammar, names against the tables' schemas.

Syntax: the PyPI package kusto-query-language-parser is Microsoft's ANTLR grammar for KQL
(microsoft/Kusto-Query-Language, grammar/Kql.g4 and grammar/KqlTokens.g4, identical byte for byte)
generated for Python; a query with any syntax error is refused.

Names: every name a query references (a table, a column, a `let`) must be one of the tables below,
a column of a table the query reads, or a name the query itself declares (`let x =`, `x = ...` in
extend, summarize, project, print, mv-expand). Columns are checked against the union of the tables
the query reads, not stage by stage: a misspelt or invented column or table fails, a column used
on the wrong side of a union does not. Members of dynamic columns (`Properties.tool`) are not names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_COMMON = {"TimeGenerated", "Type", "_ResourceId", "TenantId", "_SubscriptionId", "_BilledSize", "_IsBillable"}
_APP_COMMON = _COMMON | {
    "AppRoleInstance", "AppRoleName", "AppVersion", "ClientBrowser", "ClientCity", "ClientCountryOrRegion",
    "ClientIP", "ClientModel", "ClientOS", "ClientStateOrProvince", "ClientType", "IKey", "ItemCount",
    "Measurements", "OperationId", "OperationName", "ParentId", "Properties", "ResourceGUID", "SDKVersion",
    "SessionId", "SourceSystem", "SyntheticSource", "UserAccountId", "UserAuthenticatedId", "UserId",
}

# Columns of the workspace tables the queries read, as Azure Monitor's table reference lists them
# (learn.microsoft.com/azure/azure-monitor/reference/tables/<table>), and for the gateway log the API
# Management gateway log schema (MicrosoftDocs/azure-docs, articles/api-management/gateway-log-schema-reference.md).
SCHEMA: dict[str, set[str]] = {
    "ApiManagementGatewayLogs": _COMMON | {
        "ApiId", "ApimSubscriptionId", "ApiRevision", "BackendId", "BackendMethod", "BackendProtocol",
        "BackendRequestBody", "BackendRequestHeaders", "BackendResponseBody", "BackendResponseCode",
        "BackendResponseHeaders", "BackendTime", "BackendUrl", "Cache", "CacheTime", "CallerIpAddress", "Category",
        "ClientProtocol", "ClientTime", "ClientTlsVersion", "CorrelationId", "Errors", "IsMasterTrace",
        "IsRequestSuccess", "IsTraceAllowed", "IsTraceExpired", "IsTraceRequested", "LastErrorElapsed",
        "LastErrorMessage", "LastErrorReason", "LastErrorScope", "LastErrorSection", "LastErrorSource", "Method",
        "OperationId", "ProductId", "Region", "RequestBody", "RequestHeaders", "RequestSize", "ResponseBody",
        "ResponseCode", "ResponseHeaders", "ResponseSize", "TotalTime", "TraceRecords", "Url", "UserId",
    },
    "AppRequests": _APP_COMMON | {"DurationMs", "Id", "Name", "PerformanceBucket", "ResultCode", "Source", "Success", "Url"},
    "AppDependencies": _APP_COMMON | {
        "Data", "DependencyType", "DurationMs", "Id", "Name", "PerformanceBucket", "ReferencedItemId",
        "ReferencedType", "ResultCode", "Success", "Target",
    },
    "AppEvents": _APP_COMMON | {"Name"},
    "AppTraces": _APP_COMMON | {"Message", "SeverityLevel"},
    "AppMetrics": _APP_COMMON | {"Max", "Min", "Name", "Sum"},
    "FunctionAppLogs": _COMMON | {
        "ActivityId", "AppName", "Category", "EventId", "EventName", "ExceptionDetails", "ExceptionMessage",
        "ExceptionType", "FunctionInvocationId", "FunctionName", "HostInstanceId", "HostVersion", "Level", "LevelId",
        "Location", "Message", "ProcessId", "RoleInstance", "SourceSystem",
    },
    "Usage": _COMMON | {
        "DataType", "EndTime", "IsBillable", "MeterId", "Quantity", "QuantityUnit", "Solution", "SourceSystem",
        "StartTime",
    },
    # A function over the workspace's Operation table; Azure Monitor's daily-cap page queries its
    # Category and Detail for OverQuota events.
    "_LogOperation": _COMMON | {"Category", "Operation", "Level", "Detail"},
}

FENCE_RE = re.compile(r"^```(kusto|kql)\s*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
# `let name = <number>;` constants (not timespans), the thresholds of the alert queries.
NUMERIC_LET_RE = re.compile(r"^let\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\d+(?:\.\d+)?)\s*;", re.MULTILINE)


@dataclass
class Analysis:
    syntax_errors: list[str] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)
    unknown_names: set[str] = field(default_factory=set)

    @property
    def problems(self) -> list[str]:
        out = [f"syntax: {e}" for e in self.syntax_errors]
        if not self.syntax_errors and not self.tables:
            out.append(f"reads none of the known tables {sorted(SCHEMA)}")
        out += [f"unknown table or column {n!r}" for n in sorted(self.unknown_names)]
        return out


def _parse(text: str):
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.error.ErrorListener import ErrorListener
    from kusto_query_language_parser.parse_tools.KqlLexer import KqlLexer
    from kusto_query_language_parser.parse_tools.KqlParser import KqlParser

    class Collect(ErrorListener):
        def __init__(self):
            self.errors: list[str] = []

        def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802 (ANTLR's name)
            self.errors.append(f"line {line}:{column} {msg}")

    errors = Collect()
    lexer = KqlLexer(InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(errors)
    parser = KqlParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(errors)
    return parser.top(), errors.errors, KqlParser.ruleNames


def _contexts(tree):
    from antlr4 import ParserRuleContext

    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ParserRuleContext):
            yield node
            stack.extend(node.getChildren())


def analyze(text: str) -> Analysis:
    tree, errors, rule_names = _parse(text)
    result = Analysis(syntax_errors=errors)
    if errors:
        return result
    referenced, declared = set(), set()
    for ctx in _contexts(tree):
        rule = rule_names[ctx.getRuleIndex()]
        if rule in ("nameReferenceWithDataScope", "entityNameReference"):
            referenced.add(ctx.getText())
        elif rule == "letVariableDeclaration":
            declared.add(ctx.Name.getText())
        elif rule == "namedExpressionNameClause":
            declared.update(n for n in re.split(r"[(),=\s]+", ctx.getText()) if n)
    result.tables = {n for n in referenced if n in SCHEMA}
    columns = set().union(*(SCHEMA[t] for t in result.tables)) if result.tables else set()
    result.unknown_names = referenced - result.tables - columns - declared
    return result


def markdown_queries(text: str) -> list[str]:
    """The ```kusto (or ```kql) fenced blocks of a Markdown text."""
    return [m.group(2) for m in FENCE_RE.finditer(text)]


def numeric_lets(text: str) -> dict[str, float]:
    return {name: float(value) for name, value in NUMERIC_LET_RE.findall(text)}
