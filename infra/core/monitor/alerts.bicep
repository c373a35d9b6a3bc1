// Log search alert rules over the Log Analytics workspace, and where they notify.
//
// Each rule's query is a committed .kql file (alerts/), run every 5 minutes over the last 15; the
// query itself holds the threshold, with the reason beside it, and returns a row only when the
// threshold is crossed, so every rule fires on "more than 0 rows". docs/operations.md says what
// each alert means and what to do; tests/infra checks every query against the tables it reads.
param location string = resourceGroup().location
param tags object = {}

@description('Resource id of the Log Analytics workspace the rules query.')
param logAnalyticsId string

@description('Prefix of the rule names, e.g. the azd environment\'s resource token.')
param namePrefix string

@description('E-mail address that receives the alerts (a new action group is created for it). Empty: no e-mail.')
param alertEmail string = ''

@description('Resource id of an existing action group to notify instead. Empty: none (or the e-mail\'s group).')
param alertActionGroupId string = ''

var actionGroupName = 'ag-${namePrefix}'
// An existing group wins over an e-mail address; with neither, the rules fire (and show in the
// portal's Alerts view) but notify nobody.
var createActionGroup = empty(alertActionGroupId) && !empty(alertEmail)
var actionGroupIds = !empty(alertActionGroupId) ? [alertActionGroupId] : (createActionGroup ? [resourceId('Microsoft.Insights/actionGroups', actionGroupName)] : [])

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (createActionGroup) {
  name: actionGroupName
  // Action groups are global resources.
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'snippets-mcp'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// severity: 0 critical .. 4 verbose. timeRange overrides the 15 minute query range when a query
// needs a longer look back (the 401 spike compares with the day before).
var rules = [
  {
    name: 'gateway-5xx-rate'
    displayName: 'MCP gateway: 5xx rate'
    description: 'At least 5 % of at least 20 gateway requests in 15 minutes answered 5xx.'
    severity: 1
    query: loadTextContent('alerts/gateway-5xx-rate.kql')
    timeRange: ''
  }
  {
    name: 'gateway-401-spike'
    displayName: 'MCP gateway: spike of 401s'
    description: 'At least 50 401s in 15 minutes and five times the 15-minute average of the day before.'
    severity: 2
    query: loadTextContent('alerts/gateway-401-spike.kql')
    timeRange: 'P1D'
  }
  {
    name: 'gateway-429'
    displayName: 'MCP gateway: throttled calls'
    description: 'At least 30 calls answered 429 (rate limit or quota) in 15 minutes.'
    severity: 3
    query: loadTextContent('alerts/gateway-429.kql')
    timeRange: ''
  }
  {
    name: 'backend-storage-failures'
    displayName: 'MCP server: backend or storage failures'
    description: 'At least 5 failed storage calls, failed tool calls or failed Function App answers in 15 minutes.'
    severity: 1
    query: loadTextContent('alerts/backend-storage-failures.kql')
    timeRange: ''
  }
  {
    name: 'daily-cap-reached'
    displayName: 'Monitoring: daily ingestion cap reached'
    description: 'The Log Analytics workspace reached its daily cap and takes no more logs until its daily reset.'
    severity: 2
    query: loadTextContent('alerts/daily-cap-reached.kql')
    timeRange: ''
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = [
  for rule in rules: {
    name: '${namePrefix}-${rule.name}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: rule.displayName
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [
        logAnalyticsId
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      overrideQueryTimeRange: empty(rule.timeRange) ? null : rule.timeRange
      // The resource-specific tables (ApiManagementGatewayLogs, AppEvents, ...) appear only with
      // their first rows; validating the queries at creation would fail every first deployment.
      skipQueryValidation: true
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: actionGroupIds
      }
    }
    dependsOn: [
      actionGroup
    ]
  }
]

output ruleNames array = [for (rule, i) in rules: alertRules[i].name]
output actionGroupIds array = actionGroupIds
