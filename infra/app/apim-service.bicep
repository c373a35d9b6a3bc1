// The API Management instance: the security perimeter in front of the MCP
// server. v2 tiers hold long-lived HTTP connections (SSE); the Consumption
// tier does not, so it is not offered here.
param name string
param location string = resourceGroup().location
param tags object = {}

@allowed([
  'BasicV2'
  'StandardV2'
  'Developer'
  'Basic'
  'Standard'
  'Premium'
])
@description('API Management SKU. Consumption is excluded: it cannot hold SSE streams open.')
param skuName string = 'BasicV2'

@minValue(1)
param skuCapacity int = 1

param publisherEmail string = 'noreply@example.com'
param publisherName string = 'Snippets MCP'

@description('Resource id of the user-assigned identity of API Management.')
param identityId string

@description('Subnet API Management sends its outbound calls through (VNet integration: Standard v2, a subnet delegated to Microsoft.Web/serverFarms). Empty: none, the gateway calls its backends from public addresses.')
param virtualNetworkSubnetId string = ''

resource apim 'Microsoft.ApiManagement/service@2024-05-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    capacity: skuCapacity
  }
  identity: {
    type: 'SystemAssigned, UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    publisherEmail: publisherEmail
    publisherName: publisherName
    // Outbound VNet integration (private backend). On the v2 tiers 'External' with a subnet is
    // integration, not injection: the gateway keeps its public endpoint for MCP clients and sends
    // its own calls (to the Function App, storage) into the subnet. Unset (null) otherwise.
    virtualNetworkType: empty(virtualNetworkSubnetId) ? null : 'External'
    virtualNetworkConfiguration: empty(virtualNetworkSubnetId) ? null : {
      subnetResourceId: virtualNetworkSubnetId
    }
    // No customProperties: the v2 tiers do not support changing the default
    // protocol and cipher configuration, and the settings this template used to
    // pass (SSL 3.0, TLS 1.0/1.1 off on both sides) are the defaults of every
    // service created since April 2018, classic tiers included.
  }
}

output name string = apim.name
output id string = apim.id
output gatewayUrl string = apim.properties.gatewayUrl
output systemAssignedPrincipalId string = apim.identity.principalId
