// Names of the Key Vault secrets, shared by every Bicep file that reads them (compile-time
// imports). The hooks and scripts that write them (infra/hooks/ensure-key-vault.*,
// infra/hooks/bind-function-key.*, scripts/rotate-*) spell the same names; tests/infra checks
// that they do.

// Function App app setting -> secret it reads through a Key Vault reference.
@export()
var functionSecretSettings = {
  SESSION_TOKEN_ENC_KEY: 'session-token-enc-key'
  SESSION_TOKEN_MAC_KEY: 'session-token-mac-key'
  SESSION_TOKEN_PREVIOUS_ENC_KEY: 'session-token-previous-enc-key'
  SESSION_TOKEN_PREVIOUS_MAC_KEY: 'session-token-previous-mac-key'
  SESSION_TOKEN_PREVIOUS_UNTIL: 'session-token-previous-until'
}

// API Management named value -> secret it reads through a Key Vault named value.
@export()
var apimSecretNamedValues = {
  SessionTokenEncKey: 'session-token-enc-key'
  SessionTokenMacKey: 'session-token-mac-key'
  SessionTokenPreviousEncKey: 'session-token-previous-enc-key'
  SessionTokenPreviousMacKey: 'session-token-previous-mac-key'
  SessionTokenPreviousUntil: 'session-token-previous-until'
  McpFunctionKey: 'apim-function-key'
}

// The same secret names as lists (role assignments loop over them; tests/infra checks they equal
// the values above).
@export()
var functionSecretNames = [
  'session-token-enc-key'
  'session-token-mac-key'
  'session-token-previous-enc-key'
  'session-token-previous-mac-key'
  'session-token-previous-until'
]

@export()
var apimSecretNames = [
  'session-token-enc-key'
  'session-token-mac-key'
  'session-token-previous-enc-key'
  'session-token-previous-mac-key'
  'session-token-previous-until'
  'apim-function-key'
]
