// Role assignments on the storage account and on single blob containers.
param storageAccountName string

@description('Principal of the Function App identity.')
param functionPrincipalId string

@description('Principal of the API Management user-assigned identity.')
param apimPrincipalId string

@description('Container that API Management may read and write (client registrations).')
param registrationsContainerName string

@description('Optional: object id of the developer running azd, granted data access for debugging. Empty to skip.')
param developerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param developerPrincipalType string = 'User'

// Built-in role definition ids.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-04-01' existing = {
  parent: storage
  name: 'default'
}

resource registrationsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = {
  parent: blobService
  name: registrationsContainerName
}

// Flex Consumption pulls its deployment package and keeps host state
// (keys, leases) in blob storage: Storage Blob Data Owner is what it needs.
resource functionBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// SSE relay between instances.
resource functionQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// API Management persists OAuth client registrations: that container only.
resource apimRegistrations 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registrationsContainer.id, apimPrincipalId, storageBlobDataContributor)
  scope: registrationsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: apimPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource developerBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(developerPrincipalId)) {
  name: guid(storage.id, developerPrincipalId, storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}
