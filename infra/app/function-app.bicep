// Flex Consumption plan + Function App running the Rust binary `snippets-mcp`
// as a custom handler (host.json "configurationProfile": "mcp-custom-handler").
import { functionSecretSettings } from '../core/security/key-vault-secrets.bicep'

param name string
param planName string
param location string = resourceGroup().location
param tags object = {}

@description('azd service name; azd finds the app to deploy to by this tag.')
param serviceName string = 'api'

param storageAccountName string
param deploymentStorageContainerName string

@description('Resource id of the user-assigned identity of the Function App.')
param identityId string
@description('Client id of the user-assigned identity of the Function App.')
param identityClientId string

param applicationInsightsName string

@description('Flex Consumption runtime stack. Custom handlers use "custom".')
param runtimeName string = 'custom'
@description('Runtime version for the custom stack (not verified against a live subscription here; see docs/troubleshooting.md).')
param runtimeVersion string = '1.0'

// Sizing. The ARM type index types all three as plain integers (bicep-types-az
// generated/web/microsoft.web/2025-03-01/types.md:2752-2765, FunctionsScaleAndConcurrency and
// FunctionsScaleAndConcurrencyTriggersHttp); the bounds below are the documented ones
// (docs/deploy.md, "What the Function App costs", says where).
// Memory: billed per second while the instance executes, and an open SSE stream keeps
// it executing. The server idles at about 11 MB and holds about 4 KiB per idle SSE
// session (docs/benchmarks.md), so the smallest size is the default.
@allowed([
  512
  2048
  4096
])
@description('Memory of one instance in MB; CPU and network bandwidth scale with it.')
param instanceMemoryMB int = 512
// Each open SSE stream counts as one in-flight request for as long as it is open:
// with a low value every few streams would hold (and bill) one more instance.
@minValue(1)
@maxValue(1000)
@description('Concurrent HTTP requests, open SSE streams included, one instance takes before the platform adds another.')
param httpPerInstanceConcurrency int = 100
// The preview's lowest allowed value was 40; the platform now accepts 1 (docs/deploy.md).
@minValue(1)
@maxValue(1000)
@description('Upper bound of Flex Consumption scale-out: the ceiling of the Function App\'s cost.')
param maximumInstanceCount int = 100

@description('Subnet for VNet integration; empty to run without.')
param virtualNetworkSubnetId string = ''

@description('The only subnet whose traffic reaches the app (API Management\'s integration subnet, with a Microsoft.Web service endpoint). Empty: the app takes requests from anywhere, the function key still guards it.')
param allowedInboundSubnetId string = ''

@description('URI of the Key Vault holding the session-token keys (https://<vault>.vault.azure.net/).')
param keyVaultUri string

@allowed([
  'user'
  'shared'
])
@description('Snippet namespaces: `user` (each signed-in user sees only their own) or `shared` (the reference sample\'s layout, for taking over its data).')
param snippetsNamespace string = 'user'

@description('Extra app settings.')
param appSettings object = {}

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

var baseAppSettings = {
  // Identity-based host storage (shared keys are disabled on the account).
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Self-hosted MCP server profile of the Functions host.
  AzureWebJobsFeatureFlags: 'EnableMcpCustomHandlerPreview'
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  SNIPPETS_NAMESPACE: snippetsNamespace
  // Session-token keys: versionless Key Vault references, resolved with keyVaultReferenceIdentity.
  // The platform reads a secret's current version again within a day of a change, and at once on
  // any configuration change (docs/deploy.md, "Rotating keys").
  SESSION_TOKEN_ENC_KEY: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${functionSecretSettings.SESSION_TOKEN_ENC_KEY})'
  SESSION_TOKEN_MAC_KEY: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${functionSecretSettings.SESSION_TOKEN_MAC_KEY})'
  SESSION_TOKEN_PREVIOUS_ENC_KEY: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${functionSecretSettings.SESSION_TOKEN_PREVIOUS_ENC_KEY})'
  SESSION_TOKEN_PREVIOUS_MAC_KEY: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${functionSecretSettings.SESSION_TOKEN_PREVIOUS_MAC_KEY})'
  SESSION_TOKEN_PREVIOUS_UNTIL: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${functionSecretSettings.SESSION_TOKEN_PREVIOUS_UNTIL})'
}

resource functionApp 'Microsoft.Web/sites@2025-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    // References resolve with the app's user-assigned identity (the default is a system-assigned one, which this app has none of).
    keyVaultReferenceIdentity: identityId
    httpsOnly: true
    clientCertMode: 'Optional'
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Private backend: the app answers API Management's subnet and nobody else (403 from the
      // platform's front ends, before the Functions host). Unset (null) otherwise.
      ipSecurityRestrictions: empty(allowedInboundSubnetId) ? null : [
        {
          name: 'api-management'
          description: 'API Management gateway (outbound VNet integration subnet)'
          action: 'Allow'
          priority: 100
          vnetSubnetResourceId: allowedInboundSubnetId
        }
      ]
      ipSecurityRestrictionsDefaultAction: empty(allowedInboundSubnetId) ? null : 'Deny'
      // The deployment endpoint (scm) keeps rules of its own and stays reachable: azd deploys the
      // package through it from the developer's machine. It takes Entra ID tokens only (basic
      // publishing credentials are off below).
      scmIpSecurityRestrictionsUseMain: empty(allowedInboundSubnetId) ? null : false
      scmIpSecurityRestrictionsDefaultAction: empty(allowedInboundSubnetId) ? null : 'Allow'
      appSettings: [
        for setting in items(union(appSettings, baseAppSettings)): {
          name: setting.key
          value: setting.value
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentStorageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: runtimeName
        version: runtimeVersion
      }
    }
  }
}

resource basicPublishingFtp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource basicPublishingScm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName
output url string = 'https://${functionApp.properties.defaultHostName}'
