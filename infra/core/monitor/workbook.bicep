// The operator's workbook: calls per tool, error rates, p50/p95 latency, active users, throttled
// calls and storage failures, all read from the Log Analytics workspace (the workspace-based
// Application Insights tables and the gateway log). The workbook itself is the committed
// workbook.json (edit it in the portal's Advanced Editor, paste it back); every query in it is
// checked by tests/infra (test_infra_monitoring.py) against the tables it reads.
param location string = resourceGroup().location
param tags object = {}

@description('Resource id of the Log Analytics workspace the queries run against.')
param logAnalyticsId string

param displayName string = 'Snippets MCP operations'

// The JSON names its workspace with a placeholder: a Bicep file cannot put an expression into a
// loaded file, and the placeholder keeps the file a plain, portal-exported workbook otherwise.
var serializedData = replace(loadTextContent('workbook.json'), '__WORKSPACE_ID__', logAnalyticsId)

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name must be a GUID; this one is stable per workspace, so a redeploy updates it.
  name: guid(logAnalyticsId, 'snippets-mcp-operations-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    version: 'Notebook/1.0'
    sourceId: logAnalyticsId
    serializedData: serializedData
  }
}

output id string = workbook.id
