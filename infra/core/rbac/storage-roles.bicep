// Role assignments on single blob containers, and the one on the account that must stay there.
// Each identity gets a data role on exactly the containers it uses (docs/deploy.md, "Least
// privilege", gives the source for each).
param storageAccountName string

@description('Principal of the Function App identity.')
param functionPrincipalId string

@description('Containers the Functions host itself writes (AzureWebJobsStorage: leases, host keys).')
param hostContainerNames array

@description('Containers the server reads and writes (snippets, SSE relay overflow) and the Flex deployment package container.')
param functionContainerNames array

@description('Principal of the API Management user-assigned identity.')
param apimPrincipalId string

@description('Container that API Management may read and write (client registrations).')
param registrationsContainerName string

@description('Object id of the principal running azd. Empty to skip.')
param developerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('Type of developerPrincipalId (AZURE_PRINCIPAL_TYPE, set by azd).')
param developerPrincipalType string = 'User'

@description('Containers the developer may read and write for debugging (DEPLOYER_DATA_ACCESS); empty: none.')
param developerContainerNames array = []

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

resource hostContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = [
  for container in hostContainerNames: {
    parent: blobService
    name: container
  }
]

resource functionContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = [
  for container in functionContainerNames: {
    parent: blobService
    name: container
  }
]

resource registrationsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = {
  parent: blobService
  name: registrationsContainerName
}

resource developerContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = [
  for container in developerContainerNames: {
    parent: blobService
    name: container
  }
]

// The Functions host keeps its leases in azure-webjobs-hosts and its keys in azure-webjobs-secrets
// (Storage Blob Data Owner is the role the Functions documentation names for AzureWebJobsStorage).
resource functionHostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (container, i) in hostContainerNames: {
    name: guid(hostContainers[i].id, functionPrincipalId, storageBlobDataOwner)
    scope: hostContainers[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
      principalId: functionPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// The server's own containers and the Flex Consumption deployment package.
resource functionBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (container, i) in functionContainerNames: {
    name: guid(functionContainers[i].id, functionPrincipalId, storageBlobDataContributor)
    scope: functionContainers[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
      principalId: functionPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// SSE relay between instances: each instance creates its own queue (mcp-sse-<instance id>) when it
// starts, so no queue exists to scope the role to beforehand. The account holds no other queues.
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

// Opt-in (DEPLOYER_DATA_ACCESS): the developer reads and writes the data containers for debugging.
resource developerBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (container, i) in (empty(developerPrincipalId) ? [] : developerContainerNames): {
    name: guid(developerContainers[i].id, developerPrincipalId, storageBlobDataContributor)
    scope: developerContainers[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
      principalId: developerPrincipalId
      principalType: developerPrincipalType
    }
  }
]
