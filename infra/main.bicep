// Secure remote MCP server (Rust, Azure Functions Flex Consumption custom
// handler) behind Azure API Management acting as the OAuth authorization
// server in front of Microsoft Entra ID. Deployed by `azd up`.
targetScope = 'subscription'

import { functionSecretNames, apimSecretNames } from 'core/security/key-vault-secrets.bicep'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to derive resource names.')
param environmentName string

@minLength(1)
@description('Primary location for all resources (must offer Flex Consumption and API Management v2).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the principal running azd (AZURE_PRINCIPAL_ID): writes the Key Vault secrets; gets the writer app role if a user, and data access when deployerDataAccess. Empty to skip.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Type of principalId (AZURE_PRINCIPAL_TYPE, which azd sets: ServicePrincipal when signed in with a client id, as CI is). Every role assignment to principalId carries it.')
param principalType string = 'User'

@description('Give principalId read/write access to the snippets and registrations containers for debugging (DEPLOYER_DATA_ACCESS). Off by default: set it in development environments only (docs/deploy.md, "Least privilege").')
param deployerDataAccess bool = false

@description('Only users assigned an app role (Snippets.Read or Snippets.Write) may sign in (ENTRA_ASSIGNMENT_REQUIRED).')
param entraAssignmentRequired bool = true

@description('Resource group name; default rg-<environmentName>.')
param resourceGroupName string = ''

@allowed([
  'BasicV2'
  'StandardV2'
  'Developer'
  'Basic'
  'Standard'
  'Premium'
])
@description('API Management SKU. Not Consumption: it cannot hold SSE streams open.')
param apimSku string = 'BasicV2'

@description('Publisher e-mail of API Management (receives service notifications).')
param apimPublisherEmail string = 'noreply@example.com'

@description('Scopes API Management requests from Entra ID.')
param oauthScopes string = 'openid profile offline_access User.Read'

// Throttling (docs/policies.md, "Throttling"): limits API Management applies, as named values.
// Defaults and bounds equal infra/policies/manifest.json's (checked by tests/infra).
@minValue(1)
@maxValue(1000000)
@description('MCP API: calls one user (the session token\'s subject) may make per mcpRateLimitPeriodSeconds.')
param mcpRateLimitCalls int = 120

@minValue(1)
@maxValue(1000000)
@description('MCP API: calls all users of one client application may make per mcpRateLimitPeriodSeconds.')
param mcpClientRateLimitCalls int = 600

@minValue(1)
@maxValue(300)
@description('MCP API: rate-limit period in seconds (rate-limit-by-key allows at most 300).')
param mcpRateLimitPeriodSeconds int = 60

@minValue(1)
@maxValue(100000000)
@description('MCP API: calls one user may make per mcpQuotaPeriodSeconds. Applies on the classic tiers only: the v2 tiers have no quota-by-key.')
param mcpQuotaCalls int = 10000

@minValue(300)
@maxValue(31536000)
@description('MCP API: quota period in seconds, counted from 0001-01-01T00:00:00Z (86400: UTC days; quota-by-key allows at least 300).')
param mcpQuotaPeriodSeconds int = 86400

@minValue(1)
@maxValue(1000000)
@description('OAuth API: requests one client IP address may make per oauthRateLimitPeriodSeconds; sized for many users behind one NAT address.')
param oauthRateLimitCalls int = 600

@minValue(1)
@maxValue(300)
@description('OAuth API: rate-limit period in seconds (rate-limit-by-key allows at most 300).')
param oauthRateLimitPeriodSeconds int = 60

@minValue(1)
@maxValue(1000000)
@description('OAuth API: grants /token answers per client application per oauthRateLimitPeriodSeconds, counted once the code or refresh token is verified.')
param oauthTokenClientRateLimitCalls int = 300

@description('Put storage behind private endpoints and integrate the Function App with a VNet.')
param vnetEnabled bool = false

// The private option (docs/deploy.md, "Networking"). vnetEnabled alone keeps the Function App
// public and the storage account's public endpoint on for API Management BasicV2, which cannot join
// a VNet. privateBackend closes both: API Management (StandardV2) sends its calls through a subnet
// of the VNet, the Function App admits only that subnet, storage takes no public traffic.
@description('Private backend (PRIVATE_BACKEND): API Management StandardV2 with outbound VNet integration, the Function App reachable only from its subnet, storage public network access disabled. Implies the VNet; needs apimSku StandardV2.')
param privateBackend bool = false

// Function App sizing (docs/deploy.md, "What the Function App costs"). Flex Consumption bills
// instance memory for as long as an instance executes, and an open SSE stream keeps its instance
// executing: the memory size is the cost per held instance, the concurrency how many streams share one.
@allowed([
  512
  2048
  4096
])
@description('Memory of one Flex Consumption instance in MB (FUNCTION_INSTANCE_MEMORY_MB). The server idles at about 11 MB.')
param functionInstanceMemoryMB int = 512

@minValue(1)
@maxValue(1000)
@description('Concurrent HTTP requests, open SSE streams included, one instance takes before the platform adds another (FUNCTION_HTTP_CONCURRENCY).')
param functionHttpPerInstanceConcurrency int = 100

@minValue(1)
@maxValue(1000)
@description('Most instances the Function App scales out to, the ceiling of its cost (FUNCTION_MAX_INSTANCES).')
param functionMaximumInstanceCount int = 100

@description('Generation of the Entra app registration (ENTRA_APP_GENERATION): empty at first; the postdown hook raises it when it could not purge the deleted app, whose unique name stays taken for 30 days.')
param entraAppGeneration string = ''

// Operations (docs/operations.md): the workspace's daily ingestion cap and where alerts go.
@minValue(-1)
@maxValue(1000)
@description('Daily ingestion cap of the Log Analytics workspace in GB (LOG_DAILY_CAP_GB; -1: no cap). Every table counts: App Insights, gateway and Function App logs.')
param logDailyCapGb int = 1

@minValue(0)
@maxValue(1000)
@description('Application Insights\' own daily cap in GB (APPINSIGHTS_DAILY_CAP_GB); 0 leaves it unset, the workspace cap still applies.')
param appInsightsDailyCapGb int = 0

@description('E-mail address the alerts notify through a new action group (ALERT_EMAIL). Empty, with no alertActionGroupId: alerts notify nobody.')
param alertEmail string = ''

@description('Resource id of an existing action group the alerts notify (ALERT_ACTION_GROUP_ID); wins over alertEmail.')
param alertActionGroupId string = ''

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}snippets-${resourceToken}'
var apimName = '${abbrs.apiManagementService}${resourceToken}'
var storageAccountName = '${abbrs.storageStorageAccounts}${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'
var snippetsContainerName = 'snippets'
var registrationsContainerName = 'registrations'
// The SSE relay's overflow blobs (OVERFLOW_CONTAINER in src/mcp/sse/relay/mod.rs). Created here so
// the server's role can be scoped to it; the server's own create-if-missing then finds it.
var relayContainerName = 'mcp-sse-relay'
// The Functions host's containers under AzureWebJobsStorage: leases (azure-webjobs-hosts) and host
// keys (azure-webjobs-secrets). Created here so the role can be scoped to them.
var hostContainerNames = [
  'azure-webjobs-hosts'
  'azure-webjobs-secrets'
]
// Same formula as infra/key-vault.bicep, which the preprovision hook deploys first.
var keyVaultName = '${abbrs.keyVaultVaults}${resourceToken}'
// The VNet, the storage private endpoints and the app's VNet integration: either option wants them.
var networked = vnetEnabled || privateBackend

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module functionIdentity 'core/identity/user-assigned-identity.bicep' = {
  name: 'function-identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}func-${resourceToken}'
    location: location
    tags: tags
  }
}

module apimIdentity 'core/identity/user-assigned-identity.bicep' = {
  name: 'apim-identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}apim-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    dailyCapGb: logDailyCapGb
    applicationInsightsDailyCapGb: appInsightsDailyCapGb
  }
}

// A private backend needs StandardV2: this stops any other SKU before the VNet or API Management is created.
module privateBackendSku 'core/network/vnet-integration-sku.bicep' = if (privateBackend) {
  name: 'private-backend-sku'
  scope: rg
  params: {
    apimSku: apimSku
  }
}

module apimService 'app/apim-service.bicep' = {
  name: 'apim-service'
  scope: rg
  params: {
    name: apimName
    location: location
    tags: tags
    skuName: apimSku
    publisherEmail: apimPublisherEmail
    identityId: apimIdentity.outputs.id
    virtualNetworkSubnetId: privateBackend ? vnet!.outputs.apimSubnetId : ''
  }
  dependsOn: [
    privateBackendSku
  ]
}

// With vnetEnabled alone, API Management (no VNet integration on BasicV2) still
// reaches the registrations container through a resource instance rule. A private
// backend's gateway comes through the private endpoints instead and needs none.
var storageResourceAccessRules = [
  {
    tenantId: tenant().tenantId
    resourceId: resourceId(subscription().subscriptionId, rg.name, 'Microsoft.ApiManagement/service', apimName)
  }
]

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: storageAccountName
    location: location
    tags: tags
    containers: [
      deploymentContainerName
      snippetsContainerName
      registrationsContainerName
      relayContainerName
      hostContainerNames[0]
      hostContainerNames[1]
    ]
    // The SSE relay creates its per-instance queues (mcp-sse-<instance>) at
    // run time with the Function identity (Storage Queue Data Contributor).
    queues: []
    vnetEnabled: networked
    resourceAccessRules: vnetEnabled && !privateBackend ? storageResourceAccessRules : []
  }
}

module vnet 'core/network/vnet.bicep' = if (networked) {
  name: 'vnet'
  scope: rg
  params: {
    name: '${abbrs.networkVirtualNetworks}${resourceToken}'
    location: location
    tags: tags
    apimIntegration: privateBackend
  }
  dependsOn: [
    privateBackendSku
  ]
}

module storagePrivateEndpoints 'core/network/storage-private-endpoints.bicep' = if (networked) {
  name: 'storage-private-endpoints'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    virtualNetworkId: networked ? vnet!.outputs.id : ''
    subnetId: networked ? vnet!.outputs.privateEndpointSubnetId : ''
    location: location
    tags: tags
  }
}

module storageRoles 'core/rbac/storage-roles.bicep' = {
  name: 'storage-roles'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    functionPrincipalId: functionIdentity.outputs.principalId
    hostContainerNames: hostContainerNames
    functionContainerNames: [
      deploymentContainerName
      snippetsContainerName
      relayContainerName
    ]
    apimPrincipalId: apimIdentity.outputs.principalId
    registrationsContainerName: registrationsContainerName
    developerPrincipalId: deployerDataAccess ? principalId : ''
    developerPrincipalType: principalType
    developerContainerNames: [
      snippetsContainerName
      registrationsContainerName
    ]
  }
}

// The system of record of the shared keys. The preprovision hook deployed it already (with the
// same module, infra/key-vault.bicep) and wrote the secrets it lacked; this keeps it as declared.
module keyVault 'core/security/key-vault.bicep' = {
  name: 'key-vault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: tags
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module keyVaultRoles 'core/rbac/key-vault-roles.bicep' = {
  name: 'key-vault-roles'
  scope: rg
  params: {
    keyVaultName: keyVault.outputs.name
    functionPrincipalId: functionIdentity.outputs.principalId
    functionSecretNames: functionSecretNames
    apimPrincipalId: apimIdentity.outputs.principalId
    apimSecretNames: apimSecretNames
  }
}

module monitoringRoles 'core/rbac/monitoring-roles.bicep' = {
  name: 'monitoring-roles'
  scope: rg
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    principalIds: [
      functionIdentity.outputs.principalId
      apimIdentity.outputs.principalId
    ]
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    storageAccountName: storage.outputs.name
    deploymentStorageContainerName: deploymentContainerName
    identityId: functionIdentity.outputs.id
    identityClientId: functionIdentity.outputs.clientId
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    virtualNetworkSubnetId: networked ? vnet!.outputs.appSubnetId : ''
    allowedInboundSubnetId: privateBackend ? vnet!.outputs.apimSubnetId : ''
    keyVaultUri: keyVault.outputs.uri
    instanceMemoryMB: functionInstanceMemoryMB
    httpPerInstanceConcurrency: functionHttpPerInstanceConcurrency
    maximumInstanceCount: functionMaximumInstanceCount
    appSettings: {
      SNIPPETS_CONTAINER: snippetsContainerName
      // Audience the session tokens must name (checked again by the server).
      MCP_RESOURCE_URL: '${apimService.outputs.gatewayUrl}/mcp'
      LOG_FORMAT: 'json'
    }
  }
  dependsOn: [
    storageRoles
    monitoringRoles
    keyVaultRoles
    storagePrivateEndpoints
  ]
}

module entraApp 'app/entra-app.bicep' = {
  name: 'entra-app'
  scope: rg
  params: {
    // A deleted app registration keeps its unique name for 30 days: a new generation gets a new one.
    uniqueName: empty(entraAppGeneration) ? 'snippets-mcp-${resourceToken}' : 'snippets-mcp-${resourceToken}-g${entraAppGeneration}'
    displayName: 'Snippets MCP (${environmentName})'
    redirectUri: '${apimService.outputs.gatewayUrl}/oauth-callback'
    apimIdentityPrincipalId: apimIdentity.outputs.principalId
    assignmentRequired: entraAssignmentRequired
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module apimConfig 'app/apim-config.bicep' = {
  name: 'apim-config'
  scope: rg
  params: {
    apimName: apimService.outputs.name
    entraAppClientId: entraApp.outputs.appId
    entraTenantId: entraApp.outputs.tenantId
    apimIdentityClientId: apimIdentity.outputs.clientId
    apimGatewayUrl: apimService.outputs.gatewayUrl
    oauthScopes: oauthScopes
    apimSku: apimSku
    mcpRateLimitCalls: mcpRateLimitCalls
    mcpClientRateLimitCalls: mcpClientRateLimitCalls
    mcpRateLimitPeriodSeconds: mcpRateLimitPeriodSeconds
    mcpQuotaCalls: mcpQuotaCalls
    mcpQuotaPeriodSeconds: mcpQuotaPeriodSeconds
    oauthRateLimitCalls: oauthRateLimitCalls
    oauthRateLimitPeriodSeconds: oauthRateLimitPeriodSeconds
    oauthTokenClientRateLimitCalls: oauthTokenClientRateLimitCalls
    functionAppName: functionApp.outputs.name
    keyVaultUri: keyVault.outputs.uri
    storageBlobEndpoint: storage.outputs.blobEndpoint
    registrationsContainerName: registrationsContainerName
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
  }
  // API Management reads the Key Vault named values with its identity when it creates them.
  dependsOn: [
    monitoringRoles
    keyVaultRoles
  ]
}

// Operations (docs/operations.md): the gateway's and the Function App's logs in the workspace,
// the alert rules and the operator's workbook.
module monitoringDiagnostics 'core/monitor/diagnostics.bicep' = {
  name: 'monitoring-diagnostics'
  scope: rg
  params: {
    apimName: apimService.outputs.name
    functionAppName: functionApp.outputs.name
    logAnalyticsId: monitoring.outputs.logAnalyticsId
  }
  // One writer at a time on API Management: its logger and diagnostic come after apim-config's.
  dependsOn: [
    apimConfig
  ]
}

module monitoringAlerts 'core/monitor/alerts.bicep' = {
  name: 'monitoring-alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    namePrefix: 'snippets-mcp-${resourceToken}'
    alertEmail: alertEmail
    alertActionGroupId: alertActionGroupId
  }
}

module monitoringWorkbook 'core/monitor/workbook.bicep' = {
  name: 'monitoring-workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsId: monitoring.outputs.logAnalyticsId
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_APIM_NAME string = apimService.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
// Names only: no output carries a secret.
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output ENTRA_APP_CLIENT_ID string = entraApp.outputs.appId
output APIM_GATEWAY_URL string = apimService.outputs.gatewayUrl
output MCP_SSE_URL string = '${apimService.outputs.gatewayUrl}/mcp/sse'
output MCP_STREAMABLE_URL string = '${apimService.outputs.gatewayUrl}/mcp'
// Read back by `azd env refresh` on another machine, so its next provision keeps the app's name.
output ENTRA_APP_GENERATION string = entraAppGeneration
