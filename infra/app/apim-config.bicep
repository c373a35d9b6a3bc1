// Everything API Management serves, created from infra/policies/manifest.json
// (rendered by `cargo run -p policies --bin render-policies`):
// named values, policy fragments, the Function App backend, the two APIs and
// their operations and policies, and Application Insights diagnostics.
param apimName string

@description('Client id of the Entra app registration (McpEntraClientId).')
param entraAppClientId string

@description('Tenant of the Entra app registration (EntraTenantId).')
param entraTenantId string

@description('Client id of the API Management user-assigned identity (ApimIdentityClientId).')
param apimIdentityClientId string

@description('Gateway URL of API Management, no trailing slash (ApimGatewayUrl).')
param apimGatewayUrl string

@description('Scopes requested from Entra ID (OAuthScopes).')
param oauthScopes string = 'openid profile offline_access User.Read'

@secure()
param sessionTokenEncKey string
@secure()
param sessionTokenMacKey string

@description('Name of the Function App behind the MCP API.')
param functionAppName string

@description('Name of the dedicated function key API Management sends as x-functions-key.')
param functionKeyName string

@description('Blob endpoint of the storage account (https://<acct>.blob.<suffix>/).')
param storageBlobEndpoint string

@description('Container holding OAuth client registrations.')
param registrationsContainerName string = 'registrations'

@description('Resource id of Application Insights (API Management logs requests there, without headers or bodies).')
param applicationInsightsId string
param applicationInsightsConnectionString string

var manifest = loadJsonContent('../policies/manifest.json')

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// Values of the named values the manifest declares, by name. A test
// (tests/infra) checks this map and the manifest list the same names.
var namedValueValues = {
  McpEntraClientId: entraAppClientId
  EntraTenantId: entraTenantId
  ApimIdentityClientId: apimIdentityClientId
  ApimGatewayUrl: apimGatewayUrl
  OAuthScopes: oauthScopes
  SessionTokenEncKey: sessionTokenEncKey
  SessionTokenMacKey: sessionTokenMacKey
  McpFunctionKey: listKeys('${functionApp.id}/host/default', '2024-04-01').functionKeys[functionKeyName]
  RegistrationStoreUrl: '${storageBlobEndpoint}${registrationsContainerName}'
}

resource namedValues 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = [
  for nv in manifest.namedValues: {
    parent: apim
    name: nv.name
    properties: {
      displayName: nv.name
      secret: nv.secret
      value: namedValueValues[nv.name]
    }
  }
]

// Backend URLs by backend id (manifest.backends).
var backendUrls = {
  'mcp-function-backend': 'https://${functionApp.properties.defaultHostName}'
}

resource backends 'Microsoft.ApiManagement/service/backends@2024-05-01' = [
  for backend in manifest.backends: {
    parent: apim
    name: backend.id
    properties: {
      description: 'Function App ${functionAppName} (custom handler snippets-mcp)'
      protocol: 'http'
      url: backendUrls[backend.id]
      tls: {
        validateCertificateChain: true
        validateCertificateName: true
      }
    }
  }
]

// Policy fragment XML by manifest path. loadTextContent() needs constant
// paths, so the list is spelled out, generated from the manifest by
// infra/hooks/sync-policy-files.py (run by the preprovision hook; tests/infra
// fails when it is stale).
var fragmentXml = {
  // BEGIN policy-files fragmentXml (infra/hooks/sync-policy-files.py writes this block)
  'fragments/oauth-error.xml': loadTextContent('../policies/fragments/oauth-error.xml')
  'fragments/redirect-error.xml': loadTextContent('../policies/fragments/redirect-error.xml')
  'fragments/entra-login.xml': loadTextContent('../policies/fragments/entra-login.xml')
  'fragments/entra-token.xml': loadTextContent('../policies/fragments/entra-token.xml')
  'fragments/parse-form.xml': loadTextContent('../policies/fragments/parse-form.xml')
  'fragments/load-client.xml': loadTextContent('../policies/fragments/load-client.xml')
  'fragments/session-token-seal.xml': loadTextContent('../policies/fragments/session-token-seal.xml')
  'fragments/session-token-open.xml': loadTextContent('../policies/fragments/session-token-open.xml')
  // END policy-files
}

@batchSize(1)
resource fragments 'Microsoft.ApiManagement/service/policyFragments@2024-05-01' = [
  for fragment in manifest.fragments: {
    parent: apim
    name: fragment.id
    properties: {
      format: 'xml'
      value: fragmentXml[fragment.file]
    }
    dependsOn: [
      namedValues
    ]
  }
]

resource logger 'Microsoft.ApiManagement/service/loggers@2024-05-01' = {
  parent: apim
  name: 'appinsights'
  properties: {
    loggerType: 'applicationInsights'
    resourceId: applicationInsightsId
    credentials: {
      connectionString: applicationInsightsConnectionString
      identityClientId: apimIdentityClientId
    }
    isBuffered: true
  }
}

// Diagnostics shared by every API: no headers (Authorization, cookies) and
// no bodies are logged. Logging bodies would also buffer the SSE stream.
var noPayloadLogging = {
  headers: []
  body: {
    bytes: 0
  }
}

resource serviceDiagnostics 'Microsoft.ApiManagement/service/diagnostics@2024-05-01' = {
  parent: apim
  name: 'applicationinsights'
  properties: {
    loggerId: logger.id
    alwaysLog: 'allErrors'
    logClientIp: false
    httpCorrelationProtocol: 'W3C'
    verbosity: 'information'
    sampling: {
      samplingType: 'fixed'
      percentage: 100
    }
    frontend: {
      request: noPayloadLogging
      response: noPayloadLogging
    }
    backend: {
      request: noPayloadLogging
      response: noPayloadLogging
    }
  }
}

module apis 'apim-api.bicep' = [
  for api in manifest.apis: {
    name: 'apim-api-${api.name}'
    params: {
      apimName: apim.name
      api: api
      loggerId: logger.id
    }
    dependsOn: [
      namedValues
      backends
      fragments
    ]
  }
]

output apiNames array = [for (api, i) in manifest.apis: apis[i].outputs.name]
