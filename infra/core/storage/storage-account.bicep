// Storage account for the Function App host, its deployment package, the
// snippets data, the OAuth client registrations kept by API Management, and
// the queues of the SSE relay. Shared-key access is disabled: every caller
// authenticates with Microsoft Entra ID (managed identities).
param name string
param location string = resourceGroup().location
param tags object = {}

@description('Blob containers to create.')
param containers array = []

@description('Queues to create.')
param queues array = []

@description('When true, the account denies public traffic: the Function App reaches it through private endpoints, and only the resource instances in resourceAccessRules (API Management) pass the firewall; with no rules the public endpoint is off.')
param vnetEnabled bool = false

@description('Resource instance rules ({tenantId, resourceId}) allowed through the firewall when vnetEnabled. Empty: nobody needs the public endpoint (a private backend, whose gateway comes through the private endpoints).')
param resourceAccessRules array = []

var privateNetworkAcls = {
  defaultAction: 'Deny'
  bypass: 'None'
  resourceAccessRules: resourceAccessRules
}

var publicNetworkAcls = {
  defaultAction: 'Allow'
  bypass: 'AzureServices'
}

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    dnsEndpointType: 'Standard'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // API Management BasicV2 has no VNet integration, so with vnetEnabled alone the public endpoint
    // stays on but denies everything except the resource instances listed (the gateway's access to
    // the registrations container). A private backend lists none: its gateway (StandardV2, in the
    // VNet) reaches the private endpoints like the app does, and the public endpoint is disabled.
    publicNetworkAccess: vnetEnabled && empty(resourceAccessRules) ? 'Disabled' : 'Enabled'
    networkAcls: vnetEnabled ? privateNetworkAcls : publicNetworkAcls
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-04-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// Lifecycle rules. The SSE relay's overflow blobs (container mcp-sse-relay, OVERFLOW_CONTAINER in
// src/transport/sse_relay.rs) live seconds; one a crashed instance never read is
// deleted a day after it was written. Live instances also sweep them sooner.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2026-04-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          enabled: true
          name: 'expire-sse-relay-overflow'
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'mcp-sse-relay/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: 1
                }
              }
            }
          }
        }
        {
          // A refresh-token family (registrations/refresh-families/<family>.json, written by
          // the gateway's token policy) expires 30 days after its last rotation, which rewrites
          // the blob; one untouched for 31 days can never be used again.
          enabled: true
          name: 'expire-refresh-families'
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'registrations/refresh-families/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: 31
                }
              }
            }
          }
        }
      ]
    }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' = [
  for container in containers: {
    parent: blobService
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2026-04-01' = {
  parent: storage
  name: 'default'
}

resource storageQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2026-04-01' = [
  for queue in queues: {
    parent: queueService
    name: queue
  }
]

output id string = storage.id
output name string = storage.name
output primaryEndpoints object = storage.properties.primaryEndpoints
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
