//! The description of everything Bicep creates in APIM: APIs, operations, fragments, named values.
//! It is the single table the renderer walks, and is itself rendered to `manifest.json`.

use std::collections::BTreeMap;

use serde::Serialize;
use session_token::{
    NAMED_VALUE_ENC_KEY, NAMED_VALUE_MAC_KEY, NAMED_VALUE_PREVIOUS_ENC_KEY,
    NAMED_VALUE_PREVIOUS_MAC_KEY, NAMED_VALUE_PREVIOUS_UNTIL,
};

use crate::names::*;
use crate::templates::path;
use crate::throttling;

/// A named value Bicep declares; secrets come from azd environment secrets.
#[derive(Debug, Clone, Serialize)]
pub struct NamedValue {
    /// Name as used in policies: `{{name}}`.
    pub name: &'static str,
    /// Whether APIM stores it as a secret.
    pub secret: bool,
    /// What it holds.
    pub description: &'static str,
    /// Deployed default of a setting (the throttling limits), which Bicep's parameter repeats and
    /// local tools use when given no value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<u32>,
    /// Least value APIM accepts for a numeric setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// Greatest value APIM accepts for a numeric setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

/// A policy fragment and the rendered file holding it.
#[derive(Debug, Clone, Serialize)]
pub struct Fragment {
    /// Fragment id used by `include-fragment`.
    pub id: &'static str,
    /// Rendered file, relative to `infra/policies/`.
    pub file: String,
}

/// One APIM operation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// Operation resource name.
    pub name: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// URL template relative to the API path.
    pub url_template: &'static str,
    /// Template parameters (none of ours use any).
    pub template_parameters: Vec<&'static str>,
    /// Rendered policy file relative to `infra/policies/`, if the operation has its own policy.
    pub policy: Option<&'static str>,
}

/// One APIM API.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Api {
    /// API resource name.
    pub name: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// Path below the gateway root (empty for the root).
    pub path: &'static str,
    /// Always false: callers authenticate with OAuth, not subscription keys.
    pub subscription_required: bool,
    /// Rendered API-level policy file.
    pub policy: &'static str,
    /// Operations.
    pub operations: Vec<Operation>,
}

/// An APIM backend Bicep creates.
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    /// Backend id referenced by `set-backend-service`.
    pub id: &'static str,
}

/// The whole manifest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Provenance note.
    pub generated_by: &'static str,
    /// Named values.
    pub named_values: Vec<NamedValue>,
    /// Policy fragments, in an order where a fragment only includes earlier ones.
    pub fragments: Vec<Fragment>,
    /// APIs.
    pub apis: Vec<Api>,
    /// Backends.
    pub backends: Vec<Backend>,
    /// Fragments that use a policy API Management's v2 tiers do not offer, by id: the fragment
    /// XML Bicep deploys under that id on a v2 tier instead of the rendered file.
    pub v2_tier_fragments: BTreeMap<&'static str, &'static str>,
    /// Protocol constants the policies use, for tools that must agree with them (the local runner).
    pub constants: Constants,
}

/// Protocol constants of `names.rs` that consumers of the manifest need.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Constants {
    /// Audience of the managed identity's federation assertion.
    pub federation_audience: &'static str,
    /// `x-ms-version` of the gateway's Blob Storage calls ([`GATEWAY_STORAGE_API_VERSION`]).
    pub storage_api_version: &'static str,
    /// Entra ID authority the policies call.
    pub entra_authority: &'static str,
}

const fn op(
    name: &'static str,
    display_name: &'static str,
    method: &'static str,
    url_template: &'static str,
    policy: Option<&'static str>,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
) {
    (name, display_name, method, url_template, policy)
}

fn ops(
    list: &[(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    )],
) -> Vec<Operation> {
    list.iter()
        .map(
            |&(name, display_name, method, url_template, policy)| Operation {
                name,
                display_name,
                method,
                url_template,
                template_parameters: Vec::new(),
                policy,
            },
        )
        .collect()
}

/// Fragment ids in dependency order.
pub const FRAGMENT_IDS: &[&str] = &[
    FRAGMENT_OAUTH_ERROR,
    FRAGMENT_REDIRECT_ERROR,
    FRAGMENT_ENTRA_LOGIN,
    FRAGMENT_ENTRA_TOKEN,
    FRAGMENT_PARSE_FORM,
    FRAGMENT_LOAD_CLIENT,
    FRAGMENT_SESSION_TOKEN_SEAL,
    FRAGMENT_SESSION_TOKEN_OPEN,
    throttling::FRAGMENT_MCP_USER_QUOTA,
];

/// The manifest of this repository's APIM configuration.
pub fn manifest() -> Manifest {
    let nv = |name, secret, description| NamedValue {
        name,
        secret,
        description,
        default: None,
        min: None,
        max: None,
    };
    let limits = throttling::LIMITS.iter().map(|limit| NamedValue {
        name: limit.name,
        secret: false,
        description: limit.description,
        default: Some(limit.default),
        min: Some(limit.min),
        max: Some(limit.max),
    });
    Manifest {
        generated_by: crate::GENERATED_BY,
        named_values: vec![
            nv(
                NV_MCP_ENTRA_CLIENT_ID,
                false,
                "Client id of the Entra app registration APIM signs users in with",
            ),
            nv(NV_ENTRA_TENANT_ID, false, "Entra tenant id"),
            nv(
                NV_APIM_IDENTITY_CLIENT_ID,
                false,
                "Client id of APIM's user-assigned managed identity (federated credential subject, storage access)",
            ),
            nv(
                NV_APIM_GATEWAY_URL,
                false,
                "APIM gateway URL, https://<name>.azure-api.net, no trailing slash",
            ),
            nv(
                NV_OAUTH_SCOPES,
                false,
                "Space-separated scopes requested from Entra, e.g. openid profile offline_access User.Read",
            ),
            nv(
                NAMED_VALUE_ENC_KEY,
                true,
                "Session token AES-256 key, standard base64 of 32 random bytes",
            ),
            nv(
                NAMED_VALUE_MAC_KEY,
                true,
                "Session token HMAC-SHA256 key, standard base64 of 32 random bytes",
            ),
            nv(
                NAMED_VALUE_PREVIOUS_ENC_KEY,
                true,
                "Session token AES-256 key a rotation replaced (accepted until SessionTokenPreviousUntil), or none",
            ),
            nv(
                NAMED_VALUE_PREVIOUS_MAC_KEY,
                true,
                "Session token HMAC-SHA256 key a rotation replaced (accepted until SessionTokenPreviousUntil), or none",
            ),
            nv(
                NAMED_VALUE_PREVIOUS_UNTIL,
                true,
                "Unix seconds until which the previous session token keys are accepted, or 0",
            ),
            nv(
                NV_MCP_FUNCTION_KEY,
                true,
                "Function key of the Function App, sent as x-functions-key",
            ),
            nv(
                NV_REGISTRATION_STORE_URL,
                false,
                "Blob container URL for client registrations and refresh-token families, https://<account>.blob.core.windows.net/registrations",
            ),
        ]
        .into_iter()
        .chain(limits)
        .collect(),
        fragments: FRAGMENT_IDS
            .iter()
            .map(|&id| Fragment {
                id,
                file: format!("fragments/{id}.xml"),
            })
            .collect(),
        apis: vec![
            Api {
                name: "oauth",
                display_name: "OAuth authorization server",
                path: "",
                subscription_required: false,
                policy: path::OAUTH_API,
                operations: ops(&[
                    op(
                        "protected-resource-metadata",
                        "Protected resource metadata (RFC 9728)",
                        "GET",
                        "/.well-known/oauth-protected-resource",
                        Some(path::PROTECTED_RESOURCE_METADATA),
                    ),
                    op(
                        "protected-resource-metadata-mcp",
                        "Protected resource metadata for /mcp (RFC 9728)",
                        "GET",
                        "/.well-known/oauth-protected-resource/mcp",
                        Some(path::PROTECTED_RESOURCE_METADATA),
                    ),
                    op(
                        "authorization-server-metadata",
                        "Authorization server metadata (RFC 8414)",
                        "GET",
                        "/.well-known/oauth-authorization-server",
                        Some(path::AUTHORIZATION_SERVER_METADATA),
                    ),
                    op(
                        "authorization-server-metadata-mcp",
                        "Authorization server metadata, path-inserted for /mcp (RFC 8414)",
                        "GET",
                        "/.well-known/oauth-authorization-server/mcp",
                        Some(path::AUTHORIZATION_SERVER_METADATA),
                    ),
                    op(
                        "register",
                        "Dynamic client registration (RFC 7591)",
                        "POST",
                        "/register",
                        Some(path::REGISTER),
                    ),
                    op(
                        "authorize",
                        "Authorization endpoint",
                        "GET",
                        "/authorize",
                        Some(path::AUTHORIZE),
                    ),
                    op(
                        "consent-get",
                        "Consent page",
                        "GET",
                        "/consent",
                        Some(path::CONSENT_GET),
                    ),
                    op(
                        "consent-post",
                        "Consent decision",
                        "POST",
                        "/consent",
                        Some(path::CONSENT_POST),
                    ),
                    op(
                        "oauth-callback",
                        "Entra ID redirect target",
                        "GET",
                        "/oauth-callback",
                        Some(path::OAUTH_CALLBACK),
                    ),
                    op(
                        "token",
                        "Token endpoint",
                        "POST",
                        "/token",
                        Some(path::TOKEN),
                    ),
                    op(
                        "revoke",
                        "Token revocation (RFC 7009)",
                        "POST",
                        "/revoke",
                        Some(path::REVOKE),
                    ),
                ]),
            },
            Api {
                name: "mcp",
                display_name: "MCP server",
                path: "mcp",
                subscription_required: false,
                policy: path::MCP_API,
                operations: ops(&[
                    op(
                        "sse",
                        "SSE stream (legacy HTTP+SSE transport)",
                        "GET",
                        "/sse",
                        None,
                    ),
                    op(
                        "message",
                        "SSE message post (legacy HTTP+SSE transport)",
                        "POST",
                        "/message",
                        None,
                    ),
                    op(
                        "streamable-post",
                        "Streamable HTTP",
                        "POST",
                        "/",
                        Some(path::MCP_STREAMABLE),
                    ),
                    op(
                        "streamable-get",
                        "Streamable HTTP (GET)",
                        "GET",
                        "/",
                        Some(path::MCP_STREAMABLE),
                    ),
                    op(
                        "streamable-delete",
                        "Streamable HTTP (DELETE)",
                        "DELETE",
                        "/",
                        Some(path::MCP_STREAMABLE),
                    ),
                ]),
            },
        ],
        backends: vec![Backend { id: BACKEND_ID }],
        v2_tier_fragments: BTreeMap::from([(
            throttling::FRAGMENT_MCP_USER_QUOTA,
            throttling::QUOTA_V2_STAND_IN,
        )]),
        constants: Constants {
            federation_audience: FEDERATION_AUDIENCE,
            storage_api_version: GATEWAY_STORAGE_API_VERSION,
            entra_authority: ENTRA_AUTHORITY,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn ids_and_routes_are_unique() {
        let m = manifest();
        let fragments: BTreeSet<_> = m.fragments.iter().map(|f| f.id).collect();
        assert_eq!(fragments.len(), m.fragments.len());
        let named: BTreeSet<_> = m.named_values.iter().map(|nv| nv.name).collect();
        assert_eq!(named.len(), m.named_values.len());
        for api in &m.apis {
            let names: BTreeSet<_> = api.operations.iter().map(|op| op.name).collect();
            assert_eq!(
                names.len(),
                api.operations.len(),
                "operation names in {}",
                api.name
            );
            let routes: BTreeSet<_> = api
                .operations
                .iter()
                .map(|op| (op.method, op.url_template))
                .collect();
            assert_eq!(routes.len(), api.operations.len(), "routes in {}", api.name);
        }
    }

    #[test]
    fn serializes_with_the_field_names_bicep_reads() {
        let json = serde_json::to_value(manifest()).unwrap();
        let op = &json["apis"][0]["operations"][0];
        for key in [
            "name",
            "displayName",
            "method",
            "urlTemplate",
            "templateParameters",
            "policy",
        ] {
            assert!(op.get(key).is_some(), "operation lacks {key}");
        }
        for key in [
            "name",
            "displayName",
            "path",
            "subscriptionRequired",
            "policy",
            "operations",
        ] {
            assert!(json["apis"][0].get(key).is_some(), "api lacks {key}");
        }
        assert_eq!(json["backends"][0]["id"], BACKEND_ID);
        assert!(json["namedValues"][0].get("secret").is_some());
        assert!(
            json["fragments"][0]["file"]
                .as_str()
                .unwrap()
                .starts_with("fragments/")
        );
        assert!(json["generatedBy"].is_string());
        assert!(json["namedValues"][0].get("default").is_none());
    }

    #[test]
    fn throttling_named_values_carry_their_defaults_and_v2_tiers_get_a_stand_in() {
        let m = manifest();
        for limit in throttling::LIMITS {
            let nv = m
                .named_values
                .iter()
                .find(|nv| nv.name == limit.name)
                .unwrap();
            assert!(!nv.secret);
            assert_eq!(
                (nv.default, nv.min, nv.max),
                (Some(limit.default), Some(limit.min), Some(limit.max))
            );
        }
        let ids: BTreeSet<_> = m.fragments.iter().map(|f| f.id).collect();
        for id in m.v2_tier_fragments.keys() {
            assert!(ids.contains(id), "{id} is not a fragment");
        }
    }
}
