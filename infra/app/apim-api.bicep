// One API of infra/policies/manifest.json: the API, its policy, its
// operations and their policies, and its Application Insights diagnostics.
param apimName string

@description('One entry of manifest.apis: {name, displayName, path, subscriptionRequired, policy, operations[]}.')
param api object

@description('Id of the Application Insights logger of API Management.')
param loggerId string

// Policy XML by manifest path. loadTextContent() needs constant paths, so the
// list is spelled out, generated from the manifest by
// infra/hooks/sync-policy-files.py (run by the preprovision hook; tests/infra
// fails when it is stale).
var policyXml = {
  // BEGIN policy-files policyXml (infra/hooks/sync-policy-files.py writes this block)
  'oauth/api.xml': loadTextContent('../policies/oauth/api.xml')
  'oauth/protected-resource-metadata.xml': loadTextContent('../policies/oauth/protected-resource-metadata.xml')
  'oauth/authorization-server-metadata.xml': loadTextContent('../policies/oauth/authorization-server-metadata.xml')
  'oauth/register.xml': loadTextContent('../policies/oauth/register.xml')
  'oauth/authorize.xml': loadTextContent('../policies/oauth/authorize.xml')
  'oauth/consent-get.xml': loadTextContent('../policies/oauth/consent-get.xml')
  'oauth/consent-post.xml': loadTextContent('../policies/oauth/consent-post.xml')
  'oauth/oauth-callback.xml': loadTextContent('../policies/oauth/oauth-callback.xml')
  'oauth/token.xml': loadTextContent('../policies/oauth/token.xml')
  'oauth/revoke.xml': loadTextContent('../policies/oauth/revoke.xml')
  'mcp/api.xml': loadTextContent('../policies/mcp/api.xml')
  'mcp/streamable.xml': loadTextContent('../policies/mcp/streamable.xml')
  // END policy-files
}

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

resource apiResource 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  parent: apim
  name: api.name
  properties: {
    displayName: api.displayName
    path: api.path
    protocols: [
      'https'
    ]
    subscriptionRequired: api.subscriptionRequired
    apiType: 'http'
  }
}

resource apiPolicy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = if (api.policy != null) {
  parent: apiResource
  name: 'policy'
  properties: {
    format: 'xml'
    value: policyXml[api.policy]
  }
}

resource operations 'Microsoft.ApiManagement/service/apis/operations@2024-05-01' = [
  for op in api.operations: {
    parent: apiResource
    name: op.name
    properties: {
      displayName: op.displayName
      method: op.method
      urlTemplate: op.urlTemplate
      templateParameters: [
        for tp in op.templateParameters: {
          name: tp
          required: true
          type: 'string'
        }
      ]
      responses: []
    }
  }
]

@batchSize(1)
resource operationPolicies 'Microsoft.ApiManagement/service/apis/operations/policies@2024-05-01' = [
  for (op, i) in api.operations: if (op.policy != null) {
    parent: operations[i]
    name: 'policy'
    properties: {
      format: 'xml'
      value: policyXml[op.policy]
    }
    dependsOn: [
      apiPolicy
    ]
  }
]

// Per-API diagnostics: nothing of requests or responses (headers, bodies) is
// logged. Body logging buffers responses, which would stall SSE streams.
resource apiDiagnostics 'Microsoft.ApiManagement/service/apis/diagnostics@2024-05-01' = {
  parent: apiResource
  name: 'applicationinsights'
  properties: {
    loggerId: loggerId
    alwaysLog: 'allErrors'
    logClientIp: false
    httpCorrelationProtocol: 'W3C'
    verbosity: 'information'
    sampling: {
      samplingType: 'fixed'
      percentage: 100
    }
    frontend: {
      request: {
        headers: []
        body: {
          bytes: 0
        }
      }
      response: {
        headers: []
        body: {
          bytes: 0
        }
      }
    }
    backend: {
      request: {
        headers: []
        body: {
          bytes: 0
        }
      }
      response: {
        headers: []
        body: {
          bytes: 0
        }
      }
    }
  }
}

output name string = apiResource.name
