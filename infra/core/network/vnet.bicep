// Virtual network for the optional private deployment: one subnet delegated to
// the Flex Consumption app (VNet integration), one for private endpoints, and with
// apimIntegration a third one API Management (Standard v2) sends its outbound calls through.
param name string
param location string = resourceGroup().location
param tags object = {}
param addressPrefix string = '10.0.0.0/16'
param appSubnetPrefix string = '10.0.1.0/24'
param privateEndpointSubnetPrefix string = '10.0.2.0/24'

@description('Add the subnet of API Management\'s outbound VNet integration (private backend).')
param apimIntegration bool = false
// Microsoft's minimum for the integration subnet is /27, its recommendation /24 (room to scale out).
param apimSubnetPrefix string = '10.0.3.0/24'

var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'
var apimSubnetName = 'apim'

// The integration subnet: dedicated to one API Management instance, delegated to
// Microsoft.Web/serverFarms and with a network security group (no rules needed), as Standard v2
// VNet integration requires. The Microsoft.Web service endpoint makes the gateway's calls to the
// Function App arrive as traffic of this subnet, which is what the app's access rule admits.
var apimSubnet = {
  name: apimSubnetName
  properties: {
    addressPrefix: apimSubnetPrefix
    networkSecurityGroup: {
      id: nsg.id
    }
    delegations: [
      {
        name: 'api-management'
        properties: {
          serviceName: 'Microsoft.Web/serverFarms'
        }
      }
    ]
    serviceEndpoints: [
      {
        service: 'Microsoft.Web'
      }
    ]
    // The gateway still calls Entra ID and Application Insights on the internet; like the app
    // subnet it keeps default outbound access (network API 2025-07-01 made subnets private by default).
    defaultOutboundAccess: true
  }
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2025-09-01' = {
  name: '${name}-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2025-09-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: concat([
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
          privateEndpointNetworkPolicies: 'Disabled'
          privateLinkServiceNetworkPolicies: 'Enabled'
          // From network API 2025-07-01 on, a new subnet defaults to private (no default outbound
          // access). The app's calls to Entra ID and Application Insights may leave through this
          // subnet and there is no NAT gateway, so it keeps the outbound access it had under the
          // older API version.
          defaultOutboundAccess: true
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          privateEndpointNetworkPolicies: 'Disabled'
          privateLinkServiceNetworkPolicies: 'Enabled'
        }
      }
    ], apimIntegration ? [apimSubnet] : [])
  }
}

output id string = vnet.id
output name string = vnet.name
output appSubnetId string = '${vnet.id}/subnets/${appSubnetName}'
output privateEndpointSubnetId string = '${vnet.id}/subnets/${privateEndpointSubnetName}'
output apimSubnetId string = apimIntegration ? '${vnet.id}/subnets/${apimSubnetName}' : ''
