// The Key Vault that is the system of record of every key the deployment shares between the
// Function App and API Management: the session-token keys (current and, during a rotation,
// previous) and the host key API Management calls the Function App with. Nothing writes a
// secret value through a deployment: the preprovision hook (infra/hooks/ensure-key-vault.*)
// writes each secret once, when the vault lacks it, and the postdeploy hook the host key. So
// a provision from any machine, with any .azure/ folder, leaves the keys as they are.
param name string
param location string = resourceGroup().location
param tags object = {}

@minValue(7)
@maxValue(90)
@description('Days a deleted vault or secret is kept recoverable.')
param softDeleteRetentionInDays int = 7

@description('Object id of the principal running azd (writes the secrets). Empty to skip.')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('Type of deployerPrincipalId (AZURE_PRINCIPAL_TYPE, set by azd).')
param deployerPrincipalType string = 'User'

// Built-in role: Key Vault Secrets Officer (every action on secrets, none on keys, certificates
// or the vault's access configuration).
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2026-02-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    // Data access by Azure RBAC only: roles scoped to single secrets (core/rbac/key-vault-roles.bicep).
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Purge protection (irreversible; the property accepts only true): a deleted vault or secret
    // can be recovered, never purged, until the retention period ends.
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    // ARM never reads these secrets on a deployment's behalf.
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // API Management and the Function App resolve their references from Azure's own network;
      // every request still needs an Entra token and a role on the secret.
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// The deployer writes the secrets (preprovision and postdeploy hooks, rotation scripts).
resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
