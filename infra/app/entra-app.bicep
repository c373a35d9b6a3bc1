// Microsoft Entra app registration used by API Management to sign users in
// (authorization code + PKCE towards Entra ID). It has no client secret: its
// only credential is a federated identity credential that trusts API
// Management's user-assigned managed identity (the identity's token is the
// client assertion).
extension microsoftGraphV1

@description('Unique name (idempotency key) of the app registration.')
param uniqueName string

param displayName string

@description('OAuth callback of the API Management gateway: <gateway>/oauth-callback.')
param redirectUri string

@description('Principal (object) id of the API Management user-assigned identity.')
param apimIdentityPrincipalId string

param tenantId string = tenant().tenantId

@description('Only users (or groups) holding one of the app roles may sign in (ENTRA_ASSIGNMENT_REQUIRED).')
param assignmentRequired bool = true

@description('Object id of the principal running azd; a user is given the writer role so the first sign-in works. Empty to skip.')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('Type of deployerPrincipalId (AZURE_PRINCIPAL_TYPE). The roles are for users, so a service principal (CI) gets none.')
param deployerPrincipalType string = 'User'

// App roles (docs/deploy.md, "Who can sign in"). The values are ROLE_READ and ROLE_WRITE of
// crates/policies/src/names.rs: the gateway reads them from the ID token's `roles` claim. The ids
// derive from the app's unique name, so every provision writes the same ones (an app role's id
// cannot change while it is enabled, and assignments refer to it).
var roleRead = 'Snippets.Read'
var roleWrite = 'Snippets.Write'
var roleReadId = guid(uniqueName, roleRead)
var roleWriteId = guid(uniqueName, roleWrite)

var issuer = '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'
// Delegated Microsoft Graph permissions: User.Read, openid, profile, offline_access.
var graphUserRead = 'e1fe6dd8-ba31-4d61-89e7-88639da4683d'
var graphOpenId = '37f7f235-527c-4136-accd-4a02d197296e'
var graphProfile = '14dad69e-099b-42c9-810b-d002981feec1'
var graphOfflineAccess = '7427e0e9-2fba-42fe-b0c0-848c9e6a8182'

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  appRoles: [
    {
      id: roleReadId
      value: roleRead
      displayName: 'Snippets reader'
      description: 'May use hello_mcp, list_snippets and get_snippet.'
      allowedMemberTypes: [
        'User'
      ]
      isEnabled: true
    }
    {
      id: roleWriteId
      value: roleWrite
      displayName: 'Snippets writer'
      description: 'May read (hello_mcp, list_snippets, get_snippet) and write (save_snippet, delete_snippet) snippets.'
      allowedMemberTypes: [
        'User'
      ]
      isEnabled: true
    }
  ]
  web: {
    redirectUris: [
      redirectUri
    ]
    implicitGrantSettings: {
      enableAccessTokenIssuance: false
      enableIdTokenIssuance: false
    }
  }
  requiredResourceAccess: [
    {
      resourceAppId: microsoftGraphAppId
      resourceAccess: [
        {
          id: graphUserRead
          type: 'Scope'
        }
        {
          id: graphOpenId
          type: 'Scope'
        }
        {
          id: graphProfile
          type: 'Scope'
        }
        {
          id: graphOfflineAccess
          type: 'Scope'
        }
      ]
    }
  ]

  resource apimCredential 'federatedIdentityCredentials@v1.0' = {
    name: '${app.uniqueName}/apim-managed-identity'
    description: 'API Management user-assigned identity, used as the client credential of this app'
    audiences: [
      'api://AzureADTokenExchange'
    ]
    issuer: issuer
    subject: apimIdentityPrincipalId
  }
}

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
  // Entra issues tokens for the app only to users (and members of groups) assigned one of its roles.
  appRoleAssignmentRequired: assignmentRequired
}

// The deployer can sign in at once. A role allowed for users only cannot go to a service
// principal, so a CI deployment assigns none.
resource deployerWriter 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (!empty(deployerPrincipalId) && deployerPrincipalType == 'User') {
  appRoleId: roleWriteId
  principalId: deployerPrincipalId
  resourceId: servicePrincipal.id
}

output appId string = app.appId
output tenantId string = tenantId
output servicePrincipalId string = servicePrincipal.id
output roleReadId string = roleReadId
output roleWriteId string = roleWriteId
