// Key Vault Secrets User for each reader on exactly the secrets it reads: a role assignment
// whose scope is the secret (Microsoft.KeyVault/vaults/secrets), not the vault. The secrets
// exist before this deployment runs: the preprovision hook writes them (infra/hooks/ensure-key-vault.*).
param keyVaultName string

@description('Principal (object) id of the Function App identity.')
param functionPrincipalId string

@description('Secrets the Function App reads through Key Vault references.')
param functionSecretNames array

@description('Principal (object) id of the API Management identity.')
param apimPrincipalId string

@description('Secrets API Management reads through Key Vault named values.')
param apimSecretNames array

// Built-in role: Key Vault Secrets User (read a secret's value, nothing else).
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2026-02-01' existing = {
  name: keyVaultName
}

resource functionSecrets 'Microsoft.KeyVault/vaults/secrets@2026-02-01' existing = [
  for secretName in functionSecretNames: {
    parent: vault
    name: secretName
  }
]

resource apimSecrets 'Microsoft.KeyVault/vaults/secrets@2026-02-01' existing = [
  for secretName in apimSecretNames: {
    parent: vault
    name: secretName
  }
]

resource functionReads 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (secretName, i) in functionSecretNames: {
    name: guid(functionSecrets[i].id, functionPrincipalId, keyVaultSecretsUser)
    scope: functionSecrets[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
      principalId: functionPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource apimReads 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (secretName, i) in apimSecretNames: {
    name: guid(apimSecrets[i].id, apimPrincipalId, keyVaultSecretsUser)
    scope: apimSecrets[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
      principalId: apimPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]
