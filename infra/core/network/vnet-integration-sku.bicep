// A guard with no resources. Of the API Management SKUs this template offers, only StandardV2 has
// outbound VNet integration (BasicV2 none; Developer, Premium and the classic tiers inject the
// whole gateway into a subnet instead, with other requirements). main.bicep deploys this module
// for a private backend and makes the VNet and API Management wait for it, so another SKU fails
// here, naming the parameter, before either is created.
@allowed([
  'StandardV2'
])
@description('API Management SKU of a private backend: PRIVATE_BACKEND=true needs APIM_SKU=StandardV2.')
param apimSku string

output apimSku string = apimSku
