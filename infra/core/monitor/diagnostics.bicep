// Resource logs of the gateway and the Function App, sent to the Log Analytics workspace, and what
// API Management writes into its gateway log.
//
// - API Management: GatewayLogs, one row per request, into the resource-specific table
//   ApiManagementGatewayLogs (logAnalyticsDestinationType 'Dedicated'; without it the rows land in
//   the shared AzureDiagnostics table with other column names).
// - Function App: FunctionAppLogs, the Functions host's log (its start-up, invocations, and the
//   custom handler's output lines at the level the host gives them).
//
// Who made an MCP request is not a header here: the session token is the only credential and it
// travels in Authorization, which no diagnostic may log. The MCP API policy writes the verified
// subject and client id with a `trace` policy (source 'mcp-audit') once the token is verified; a
// trace at or above the diagnostic's verbosity lands in ApiManagementGatewayLogs.TraceRecords and,
// through the Application Insights diagnostic, in AppTraces (docs/operations.md, "Who made a
// request at the gateway").
param apimName string
param functionAppName string

@description('Resource id of the Log Analytics workspace that receives the logs.')
param logAnalyticsId string

@description('Name of the diagnostic settings on both resources.')
param settingName string = 'to-log-analytics'

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

resource functionApp 'Microsoft.Web/sites@2025-03-01' existing = {
  name: functionAppName
}

resource apimLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: apim
  properties: {
    workspaceId: logAnalyticsId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'GatewayLogs'
        enabled: true
      }
    ]
  }
}

resource functionAppLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: functionApp
  properties: {
    workspaceId: logAnalyticsId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
  }
}

// The Azure Monitor logger is the gateway log's own channel; declaring it makes sure it exists
// before the diagnostic below names it (a PUT of an existing logger leaves it as it is).
resource azureMonitorLogger 'Microsoft.ApiManagement/service/loggers@2024-05-01' = {
  parent: apim
  name: 'azuremonitor'
  properties: {
    loggerType: 'azureMonitor'
    isBuffered: true
  }
}

// What the gateway log holds for every API: no headers (Authorization carries the session token,
// cookies the consent CSRF pair) and no bodies (a logged body is buffered, which would stall SSE
// streams). verbosity 'information' admits the mcp-audit trace records the MCP API policy emits.
var noPayload = {
  headers: []
  body: {
    bytes: 0
  }
}

resource gatewayLogDiagnostic 'Microsoft.ApiManagement/service/diagnostics@2024-05-01' = {
  parent: apim
  name: 'azuremonitor'
  properties: {
    loggerId: azureMonitorLogger.id
    alwaysLog: 'allErrors'
    logClientIp: false
    verbosity: 'information'
    sampling: {
      samplingType: 'fixed'
      percentage: 100
    }
    frontend: {
      request: noPayload
      response: noPayload
    }
    backend: {
      request: noPayload
      response: noPayload
    }
  }
}

output apimSettingName string = apimLogs.name
output functionAppSettingName string = functionAppLogs.name
