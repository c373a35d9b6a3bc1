// Private endpoints (blob, queue) for the storage account, with their private
// DNS zones linked to the virtual network.
param storageAccountName string
param virtualNetworkId string
param subnetId string
param location string = resourceGroup().location
param tags object = {}

@description('Storage sub-resources that get a private endpoint.')
param groupIds array = [
  'blob'
  'queue'
]

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' existing = {
  name: storageAccountName
}

resource dnsZones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for groupId in groupIds: {
    name: 'privatelink.${groupId}.${environment().suffixes.storage}'
    location: 'global'
    tags: tags
  }
]

resource dnsLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (groupId, i) in groupIds: {
    parent: dnsZones[i]
    name: '${groupId}-link'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: virtualNetworkId
      }
    }
  }
]

resource endpoints 'Microsoft.Network/privateEndpoints@2025-09-01' = [
  for groupId in groupIds: {
    name: 'pe-${storageAccountName}-${groupId}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: subnetId
      }
      privateLinkServiceConnections: [
        {
          name: '${groupId}-connection'
          properties: {
            privateLinkServiceId: storage.id
            groupIds: [
              groupId
            ]
          }
        }
      ]
    }
  }
]

resource dnsGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2025-09-01' = [
  for (groupId, i) in groupIds: {
    parent: endpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: groupId
          properties: {
            privateDnsZoneId: dnsZones[i].id
          }
        }
      ]
    }
  }
]
