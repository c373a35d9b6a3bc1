// The Key Vault alone, deployed by the preprovision hook (infra/hooks/ensure-key-vault.*) before
// azd deploys main.bicep: API Management fetches a Key Vault named value's secret when the named
// value is created, and a role assignment scoped to a secret needs the secret, so the secrets must
// exist before main.bicep runs, and they can only be written into an existing vault. The resource
// group, the vault's name and its properties are main.bicep's (same formulas, same module; checked
// by tests/infra), so main.bicep's deployment finds it as declared.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
param environmentName string

@minLength(1)
param location string

param resourceGroupName string = ''

param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var keyVaultName = '${abbrs.keyVaultVaults}${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

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

output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
