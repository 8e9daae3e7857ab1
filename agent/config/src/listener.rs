//! `listener[]`, `api_proxy` and `cache`: the agent's local API proxy.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::is_false;

/// `listener[]`: where the agent serves the Vault API proxy and its own `/agent/v1/*` API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    /// `tcp` or `unix`.
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
    /// Vault's default is TLS on: a `tcp` listener without `tls_disable` needs
    /// `tls_cert_file` and `tls_key_file`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_disable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<String>,
    /// Demand `X-Vault-Request: true` on proxied requests (SSRF protection); 412 otherwise.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_request_header: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_api: Option<AgentApi>,
    /// `default` (or empty) or `metrics_only`: a listener that serves only
    /// `/agent/v1/metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Unix listeners: the socket file's mode, an octal string such as `"0660"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_mode: Option<String>,
    /// Unix listeners: the socket file's owner, a user id or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_user: Option<String>,
    /// Unix listeners: the socket file's group, a group id or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_group: Option<String>,
}

impl Listener {
    /// True for `role = "metrics_only"`. Any other role but `default` is refused at startup.
    pub fn metrics_only(&self) -> bool {
        self.role.as_deref() == Some("metrics_only")
    }
}

/// `listener[].agent_api`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentApi {
    #[serde(default)]
    pub enable_quit: bool,
}

/// `api_proxy`: how proxied requests get a token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiProxy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_auto_auth_token: Option<UseAutoAuthToken>,
}

/// `cache`: present (even empty) turns on the lease cache of the proxy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cache {
    /// The older place of `api_proxy.use_auto_auth_token`; vault-k8s writes it here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_auto_auth_token: Option<UseAutoAuthToken>,
    /// Vault Agent's persistent cache. kagi hands token and leases from init container to
    /// sidecar through `kagi.state_dir` instead; kept for round-trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist: Option<Value>,
}

/// What `use_auto_auth_token` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenUse {
    /// Forward requests with the client's token only.
    #[default]
    ClientOnly,
    /// Add the auto-auth token when the client sent none.
    WhenMissing,
    /// Always replace the client's token with the auto-auth token.
    Force,
}

/// `use_auto_auth_token`: `true`/`false` (bool or Go-style boolean string) or `"force"`. The
/// value is kept as written so a config round-trips byte for byte.
#[derive(Debug, Clone, PartialEq)]
pub struct UseAutoAuthToken {
    raw: Value,
    pub mode: TokenUse,
}

impl UseAutoAuthToken {
    pub fn parse(raw: Value) -> Result<Self, String> {
        let mode = match &raw {
            Value::Bool(true) => TokenUse::WhenMissing,
            Value::Bool(false) => TokenUse::ClientOnly,
            Value::String(s) => match s.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => TokenUse::WhenMissing,
                "0" | "f" | "F" | "false" | "FALSE" | "False" => TokenUse::ClientOnly,
                other if other.eq_ignore_ascii_case("force") => TokenUse::Force,
                other => {
                    return Err(format!(
                        "use_auto_auth_token must be true, false or \"force\", not {other:?}"
                    ));
                }
            },
            other => {
                return Err(format!(
                    "use_auto_auth_token must be true, false or \"force\", not {other}"
                ));
            }
        };
        Ok(UseAutoAuthToken { raw, mode })
    }
}

impl Serialize for UseAutoAuthToken {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for UseAutoAuthToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        UseAutoAuthToken::parse(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Resolves where the auto-auth token setting comes from, as Vault Agent does: `api_proxy`
/// wins; `cache.use_auto_auth_token` applies when there is no `api_proxy`; with both present
/// and only `cache` setting it, only its `force` carries over. Both setting it is an error.
pub fn token_use(
    api_proxy: Option<&ApiProxy>,
    cache: Option<&Cache>,
) -> Result<TokenUse, &'static str> {
    let from_cache = cache.and_then(|c| c.use_auto_auth_token.as_ref());
    match (api_proxy, from_cache) {
        (Some(p), Some(_)) if p.use_auto_auth_token.is_some() => Err(
            "use_auto_auth_token is set in both `api_proxy` and `cache`; remove it from `cache`",
        ),
        (Some(_), Some(c)) if c.mode == TokenUse::Force => Ok(TokenUse::Force),
        (Some(p), _) => Ok(p
            .use_auto_auth_token
            .as_ref()
            .map_or(TokenUse::ClientOnly, |u| u.mode)),
        (None, Some(c)) => Ok(c.mode),
        (None, None) => Ok(TokenUse::ClientOnly),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cache(raw: Value) -> Cache {
        serde_json::from_value(json!({ "use_auto_auth_token": raw })).unwrap()
    }

    #[test]
    fn use_auto_auth_token_accepts_the_forms_vault_k8s_and_users_write() {
        for (raw, mode) in [
            (json!(true), TokenUse::WhenMissing),
            (json!("true"), TokenUse::WhenMissing),
            (json!("force"), TokenUse::Force),
            (json!("FORCE"), TokenUse::Force),
            (json!(false), TokenUse::ClientOnly),
            (json!("false"), TokenUse::ClientOnly),
        ] {
            let c = cache(raw.clone());
            assert_eq!(c.use_auto_auth_token.as_ref().unwrap().mode, mode, "{raw}");
            // Written back as it was read.
            assert_eq!(
                serde_json::to_value(&c).unwrap(),
                json!({ "use_auto_auth_token": raw })
            );
        }
        let err = serde_json::from_value::<Cache>(json!({ "use_auto_auth_token": "always" }))
            .unwrap_err();
        assert!(err.to_string().contains("\"always\""), "{err}");
    }

    #[test]
    fn api_proxy_wins_and_both_is_an_error() {
        let proxy_force = ApiProxy {
            use_auto_auth_token: Some(UseAutoAuthToken::parse(json!("force")).unwrap()),
        };
        let cache_true = cache(json!("true"));
        assert_eq!(
            token_use(None, Some(&cache_true)),
            Ok(TokenUse::WhenMissing)
        );
        assert_eq!(token_use(Some(&proxy_force), None), Ok(TokenUse::Force));
        assert!(token_use(Some(&proxy_force), Some(&cache_true)).is_err());
        assert_eq!(
            token_use(Some(&ApiProxy::default()), Some(&cache(json!("force")))),
            Ok(TokenUse::Force)
        );
        assert_eq!(
            token_use(None, Some(&Cache::default())),
            Ok(TokenUse::ClientOnly)
        );
    }
}
