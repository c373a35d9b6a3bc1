// Log Analytics workspace + workspace-based Application Insights.
// Local (instrumentation-key) authentication is disabled: the Function App and
// API Management publish telemetry with their managed identities
// (Monitoring Metrics Publisher on the component).
param logAnalyticsName string
param applicationInsightsName string
param location string = resourceGroup().location
param tags object = {}
@minValue(30)
param retentionInDays int = 30

// A safety net against a runaway client or a logging loop, not a budget: when the cap is hit the
// workspace stops ingesting until its daily reset, and every alert that reads it goes blind
// (docs/operations.md, "Daily cap"). The type index types dailyQuotaGb as an integer (bicep-types-az
// generated/operationalinsights/microsoft.operationalinsights/2026-03-01/types.md:612, WorkspaceCapping).
@minValue(-1)
@maxValue(1000)
@description('Daily ingestion cap of the workspace in GB (-1: no cap). Every table counts: App Insights, gateway and Function App logs.')
param dailyCapGb int = 1

// Workspace-based Application Insights is capped by the smaller of its own cap and the workspace's,
// so the workspace cap alone bounds it; 0 leaves the component's own cap as the service sets it.
@minValue(0)
@maxValue(1000)
@description('Application Insights\' own daily cap in GB; 0 leaves it unset (the workspace cap still applies).')
param applicationInsightsDailyCapGb int = 0

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2026-03-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    retentionInDays: retentionInDays
    sku: {
      name: 'PerGB2018'
    }
    workspaceCapping: {
      dailyQuotaGb: dailyCapGb
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// The component's own cap lives in its pricing plan (the portal's "Daily cap"); the only name is 'current'.
resource applicationInsightsCap 'microsoft.insights/components/pricingPlans@2017-10-01' = if (applicationInsightsDailyCapGb > 0) {
  parent: applicationInsights
  name: 'current'
  properties: {
    planType: 'Basic'
    cap: applicationInsightsDailyCapGb
    stopSendNotificationWhenHitCap: false
  }
}

output logAnalyticsId string = logAnalytics.id
output logAnalyticsName string = logAnalytics.name
output applicationInsightsId string = applicationInsights.id
output applicationInsightsName string = applicationInsights.name
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
