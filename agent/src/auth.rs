//! Auto-auth login methods: `kubernetes`, `jwt`, `approle` and `token_file`.
//!
//! Credentials are read from their files on every login (projected service-account tokens
//! rotate). A denied login says which role, mount and service account it tried, which `bao
//! agent` does not.

use std::path::PathBuf;

use base64::Engine;
use serde_json::Value;

use crate::config::AuthMethod;
use crate::vault::{Token, Vault, VaultError};

/// The service-account token path inside a pod.
pub const DEFAULT_SA_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// A configured login method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Kubernetes {
        mount: String,
        role: String,
        token_path: PathBuf,
    },
    Jwt {
        mount: String,
        role: String,
        path: PathBuf,
    },
    AppRole {
        mount: String,
        role_id_file: PathBuf,
        secret_id_file: Option<PathBuf>,
    },
    TokenFile {
        path: PathBuf,
    },
}

/// A method config that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MethodError {
    #[error("auto_auth.method.type {0:?} is not supported (kubernetes, jwt, approle, token_file)")]
    Unsupported(String),
    #[error("auto_auth.method.config.{0} is required for this method")]
    Missing(&'static str),
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("cannot read {what} from {path}: {source}")]
    Credentials {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{what} at {path} is empty")]
    EmptyCredentials { what: &'static str, path: String },
    #[error(
        "login denied: {method} login at auth/{mount}{namespace} with role {role:?}{account} was refused ({source})"
    )]
    Denied {
        method: &'static str,
        mount: String,
        /// `" in namespace admin/team"` when the login carries one.
        namespace: String,
        role: String,
        /// `" for service account ns/name"` when the JWT names one.
        account: String,
        source: Box<VaultError>,
    },
    #[error("{method} login at auth/{mount}{namespace} failed: {source}")]
    Vault {
        method: &'static str,
        mount: String,
        namespace: String,
        source: Box<VaultError>,
    },
}

impl Method {
    pub fn from_config(method: &AuthMethod) -> Result<Self, MethodError> {
        let mount = method.mount().to_owned();
        let required = |key: &'static str| {
            method
                .config_str(key)
                .filter(|v| !v.trim().is_empty())
                .map(str::to_owned)
                .ok_or(MethodError::Missing(key))
        };
        match method.kind.as_str() {
            "kubernetes" => Ok(Method::Kubernetes {
                mount,
                role: required("role")?,
                token_path: method
                    .config_str("token_path")
                    .filter(|p| !p.is_empty())
                    .unwrap_or(DEFAULT_SA_TOKEN_PATH)
                    .into(),
            }),
            "jwt" => Ok(Method::Jwt {
                mount,
                role: required("role")?,
                path: required("path")?.into(),
            }),
            "approle" => Ok(Method::AppRole {
                mount,
                role_id_file: required("role_id_file_path")?.into(),
                secret_id_file: method
                    .config_str("secret_id_file_path")
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from),
            }),
            "token_file" => Ok(Method::TokenFile {
                path: required("token_file_path")?.into(),
            }),
            other => Err(MethodError::Unsupported(other.to_owned())),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Method::Kubernetes { .. } => "kubernetes",
            Method::Jwt { .. } => "jwt",
            Method::AppRole { .. } => "approle",
            Method::TokenFile { .. } => "token_file",
        }
    }

    /// The auth mount (without `auth/`) the login goes to; `token` for `token_file`.
    pub fn mount(&self) -> &str {
        match self {
            Method::Kubernetes { mount, .. }
            | Method::Jwt { mount, .. }
            | Method::AppRole { mount, .. } => mount,
            Method::TokenFile { .. } => "token",
        }
    }

    /// Logs in once (no retries: the caller owns the backoff).
    pub async fn login(&self, vault: &Vault) -> Result<Token, LoginError> {
        let anonymous = vault.with_token("");
        match self {
            Method::Kubernetes {
                mount,
                role,
                token_path,
            } => {
                let jwt = read_credential("service account token", token_path)?;
                anonymous
                    .login_kubernetes(mount, role, &jwt)
                    .await
                    .map_err(|e| self.classify(vault, role, Some(&jwt), e))
            }
            Method::Jwt { mount, role, path } => {
                let jwt = read_credential("JWT", path)?;
                anonymous
                    .login_jwt(mount, role, &jwt)
                    .await
                    .map_err(|e| self.classify(vault, role, Some(&jwt), e))
            }
            Method::AppRole {
                mount,
                role_id_file,
                secret_id_file,
            } => {
                let role_id = read_credential("role_id", role_id_file)?;
                let secret_id = match secret_id_file {
                    Some(path) => read_credential("secret_id", path)?,
                    None => String::new(),
                };
                anonymous
                    .login_approle(mount, &role_id, &secret_id)
                    .await
                    .map_err(|e| self.classify(vault, "(approle role_id)", None, e))
            }
            Method::TokenFile { path } => {
                let token = read_credential("token", path)?;
                vault
                    .with_token(&token)
                    .without_retries()
                    .lookup_self(&token)
                    .await
                    .map_err(|e| self.classify(vault, "", None, e))
            }
        }
    }

    fn classify(
        &self,
        vault: &Vault,
        role: &str,
        jwt: Option<&str>,
        source: VaultError,
    ) -> LoginError {
        let namespace = vault
            .namespace()
            .map(|ns| format!(" in namespace {ns}"))
            .unwrap_or_default();
        if source.is_denied() {
            LoginError::Denied {
                method: self.kind(),
                mount: self.mount().to_owned(),
                namespace,
                role: role.to_owned(),
                account: jwt
                    .and_then(service_account_of)
                    .map(|sa| format!(" for service account {sa}"))
                    .unwrap_or_default(),
                source: Box::new(source),
            }
        } else {
            LoginError::Vault {
                method: self.kind(),
                mount: self.mount().to_owned(),
                namespace,
                source: Box::new(source),
            }
        }
    }
}

fn read_credential(what: &'static str, path: &std::path::Path) -> Result<String, LoginError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoginError::Credentials {
        what,
        path: path.display().to_string(),
        source,
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(LoginError::EmptyCredentials {
            what,
            path: path.display().to_string(),
        });
    }
    Ok(text.to_owned())
}

/// `namespace/name` from a Kubernetes service-account JWT's claims (not verified: only used to
/// explain a refusal).
pub fn service_account_of(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    if let Some(sub) = claims.get("sub").and_then(Value::as_str)
        && let Some(rest) = sub.strip_prefix("system:serviceaccount:")
        && let Some((ns, name)) = rest.split_once(':')
    {
        return Some(format!("{ns}/{name}"));
    }
    let k8s = claims.get("kubernetes.io")?;
    let ns = k8s.get("namespace")?.as_str()?;
    let name = k8s.get("serviceaccount")?.get("name")?.as_str()?;
    Some(format!("{ns}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn method(kind: &str, config: &[(&str, &str)]) -> AuthMethod {
        AuthMethod {
            kind: kind.into(),
            mount_path: None,
            namespace: None,
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect::<BTreeMap<_, _>>(),
            min_backoff: None,
            max_backoff: None,
            exit_on_err: false,
        }
    }

    #[test]
    fn kubernetes_defaults_token_path_and_mount() {
        let m = Method::from_config(&method("kubernetes", &[("role", "app")])).unwrap();
        assert_eq!(
            m,
            Method::Kubernetes {
                mount: "kubernetes".into(),
                role: "app".into(),
                token_path: DEFAULT_SA_TOKEN_PATH.into()
            }
        );
        assert_eq!(
            Method::from_config(&method("kubernetes", &[])),
            Err(MethodError::Missing("role"))
        );
        assert!(matches!(
            Method::from_config(&method("gcp", &[])),
            Err(MethodError::Unsupported(_))
        ));
    }

    #[test]
    fn service_account_is_read_from_jwt_claims() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            enc("{}"),
            enc(r#"{"sub":"system:serviceaccount:shop:web"}"#)
        );
        assert_eq!(service_account_of(&jwt).as_deref(), Some("shop/web"));
        let projected = format!(
            "{}.{}.sig",
            enc("{}"),
            enc(r#"{"sub":"x","kubernetes.io":{"namespace":"ns","serviceaccount":{"name":"sa"}}}"#)
        );
        assert_eq!(service_account_of(&projected).as_deref(), Some("ns/sa"));
        assert_eq!(service_account_of("not-a-jwt"), None);
    }
}
