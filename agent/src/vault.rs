//! The Vault HTTP client: vaultrs for the typed calls it has, rustify endpoints for the rest.
//!
//! Template reads need the whole response envelope (`lease_id`, `lease_duration`, `renewable`,
//! `data`, `auth`, ...), which vaultrs's typed helpers strip, so logical read/write/list and the
//! `sys/leases` calls are declared here as rustify endpoints answering raw JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use rustify::endpoint::Endpoint;
use rustify_derive::Endpoint;
use serde_json::Value;
use vaultrs::client::{Client, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use crate::config::VaultConnection;

/// A Vault call that failed. Never carries a token or secret value.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("Vault answered {code} to {method} {path}: {errors}")]
    Api {
        code: u16,
        method: &'static str,
        path: String,
        errors: String,
    },
    #[error("{method} {path} failed: {message}")]
    Transport {
        method: &'static str,
        path: String,
        message: String,
    },
    #[error("{method} {path}: unexpected response: {message}")]
    Decode {
        method: &'static str,
        path: String,
        message: String,
    },
    #[error("cannot set up the Vault client: {0}")]
    Setup(String),
}

impl VaultError {
    pub fn status(&self) -> Option<u16> {
        match self {
            VaultError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A 403 naming an invalid token: the token was revoked or expired, so log in again.
    pub fn is_invalid_token(&self) -> bool {
        matches!(self, VaultError::Api { code: 403, errors, .. } if errors.contains("invalid token"))
    }

    /// 400/403 on a login: the credentials or role are wrong; retrying soon will not help.
    pub fn is_denied(&self) -> bool {
        matches!(self.status(), Some(400 | 401 | 403))
    }

    fn from_client(method: &'static str, path: &str, err: ClientError) -> Self {
        let path = path.to_owned();
        match err {
            ClientError::APIError { code, errors } => VaultError::Api {
                code,
                method,
                path,
                errors: errors.join("; "),
            },
            ClientError::RestClientError {
                source: rustify::errors::ClientError::ServerResponseError { code, content },
            } => VaultError::Api {
                code,
                method,
                path,
                errors: content
                    .as_deref()
                    .and_then(|c| serde_json::from_str::<Value>(c).ok())
                    .and_then(|v| v.get("errors").cloned())
                    .and_then(|e| serde_json::from_value::<Vec<String>>(e).ok())
                    .map(|e| e.join("; "))
                    .unwrap_or_default(),
            },
            ClientError::RestClientError {
                source: rustify::errors::ClientError::ResponseParseError { .. },
            }
            | ClientError::JsonParseError { .. }
            | ClientError::ResponseEmptyError
            | ClientError::ResponseDataEmptyError => VaultError::Decode {
                method,
                path,
                message: error_chain(&err),
            },
            other => VaultError::Transport {
                method,
                path,
                message: error_chain(&other),
            },
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Debug, Endpoint)]
#[endpoint(path = "{self.path}", method = "GET", response = "Value")]
struct LogicalRead {
    #[endpoint(skip)]
    path: String,
    #[endpoint(query)]
    version: Option<String>,
}

#[derive(Debug, Endpoint)]
#[endpoint(path = "{self.path}", method = "PUT", response = "Value")]
struct LogicalWrite {
    #[endpoint(skip)]
    path: String,
    #[endpoint(raw)]
    body: Vec<u8>,
}

#[derive(Debug, Endpoint)]
#[endpoint(path = "{self.path}", method = "LIST", response = "Value")]
struct LogicalList {
    #[endpoint(skip)]
    path: String,
}

#[derive(Debug, Endpoint)]
#[endpoint(path = "sys/leases/renew", method = "PUT", response = "Value")]
struct RenewLease {
    lease_id: String,
    increment: u64,
}

#[derive(Debug, Endpoint)]
#[endpoint(path = "sys/leases/revoke", method = "PUT")]
struct RevokeLease {
    lease_id: String,
}

/// A Vault connection; [`Vault::with_token`] makes per-token clients sharing one HTTP pool.
pub struct Vault {
    base: VaultClient,
}

/// A client carrying one token. Cheap to create from a [`Vault`].
pub struct Session {
    client: VaultClient,
}

impl Vault {
    /// Builds the HTTP client from the `vault` stanza. Every setting is explicit, so the
    /// process's `VAULT_*` variables do not leak in behind the config's back.
    pub fn new(conn: &VaultConnection, namespace: Option<&str>) -> Result<Self, VaultError> {
        let mut settings = VaultClientSettingsBuilder::default();
        settings
            .address(conn.address.trim())
            .token("")
            .verify(!conn.tls_skip_verify)
            .timeout(Some(Duration::from_secs(30)))
            .namespace(namespace.filter(|n| !n.is_empty()).map(str::to_owned));
        let mut ca_certs = Vec::new();
        if let Some(ca) = conn.ca_cert.as_ref().filter(|c| !c.is_empty()) {
            ca_certs.push(ca.clone());
        }
        if let Some(dir) = conn.ca_path.as_ref().filter(|c| !c.is_empty()) {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| VaultError::Setup(format!("ca_path {dir}: {e}")))?;
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    ca_certs.push(entry.path().to_string_lossy().into_owned());
                }
            }
        }
        settings.ca_certs(ca_certs);
        if let (Some(cert), Some(key)) = (&conn.client_cert, &conn.client_key) {
            let mut pem = std::fs::read(cert)
                .map_err(|e| VaultError::Setup(format!("client_cert {cert}: {e}")))?;
            pem.extend(
                std::fs::read(key)
                    .map_err(|e| VaultError::Setup(format!("client_key {key}: {e}")))?,
            );
            let identity = vaultrs::client::Identity::from_pem(&pem)
                .map_err(|e| VaultError::Setup(format!("client certificate: {e}")))?;
            settings.identity(Some(identity));
        }
        let settings = settings
            .build()
            .map_err(|e| VaultError::Setup(e.to_string()))?;
        let base = VaultClient::new(settings).map_err(|e| VaultError::Setup(error_chain(&e)))?;
        Ok(Vault { base })
    }

    /// A client that sends `token` (empty: no token header, for logins).
    pub fn with_token(&self, token: &str) -> Session {
        let mut client = VaultClient {
            http: rustify::clients::reqwest::Client {
                http: self.base.http.http.clone(),
                base: self.base.http.base.clone(),
            },
            middle: self.base.middle.clone(),
            settings: self.base.settings.clone(),
        };
        client.set_token(token);
        Session { client }
    }
}

impl Session {
    async fn exec<E: Endpoint<Response = Value>>(
        &self,
        method: &'static str,
        path: &str,
        endpoint: E,
    ) -> Result<Option<Value>, VaultError> {
        let response = endpoint
            .with_middleware(self.client.middle())
            .exec(self.client.http())
            .await
            .map_err(|e| VaultError::from_client(method, path, ClientError::from(e)))?;
        let raw = response.raw();
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| VaultError::Decode {
                method,
                path: path.to_owned(),
                message: e.to_string(),
            })
    }

    /// `GET /v1/<path>`: the whole response envelope. 404 → `Ok(None)`.
    pub async fn read(
        &self,
        path: &str,
        version: Option<&str>,
    ) -> Result<Option<Value>, VaultError> {
        let endpoint = LogicalRead {
            path: path.to_owned(),
            version: version.map(str::to_owned),
        };
        not_found_is_none(self.exec("GET", path, endpoint).await)
    }

    /// `PUT /v1/<path>` with a JSON body. A 204 answer is `Ok(None)`.
    pub async fn write(&self, path: &str, body: &Value) -> Result<Option<Value>, VaultError> {
        let endpoint = LogicalWrite {
            path: path.to_owned(),
            body: serde_json::to_vec(body).expect("JSON values serialize"),
        };
        self.exec("PUT", path, endpoint).await
    }

    /// `LIST /v1/<path>`. 404 (nothing under the path) → `Ok(None)`.
    pub async fn list(&self, path: &str) -> Result<Option<Value>, VaultError> {
        let endpoint = LogicalList {
            path: path.to_owned(),
        };
        not_found_is_none(self.exec("LIST", path, endpoint).await)
    }

    /// `PUT sys/leases/renew`; returns the renewal envelope (new `lease_duration`).
    pub async fn renew_lease(&self, lease_id: &str) -> Result<Value, VaultError> {
        let endpoint = RenewLease {
            lease_id: lease_id.to_owned(),
            increment: 0,
        };
        self.exec("PUT", "sys/leases/renew", endpoint)
            .await?
            .ok_or_else(|| VaultError::Decode {
                method: "PUT",
                path: "sys/leases/renew".into(),
                message: "empty body".into(),
            })
    }

    /// `PUT sys/leases/revoke`.
    pub async fn revoke_lease(&self, lease_id: &str) -> Result<(), VaultError> {
        let endpoint = RevokeLease {
            lease_id: lease_id.to_owned(),
        };
        vaultrs::api::exec_with_empty(&self.client, endpoint)
            .await
            .map_err(|e| VaultError::from_client("PUT", "sys/leases/revoke", e))
    }

    /// `PUT auth/<mount>/login` through vaultrs's typed Kubernetes login.
    pub async fn login_kubernetes(
        &self,
        mount: &str,
        role: &str,
        jwt: &str,
    ) -> Result<Token, VaultError> {
        vaultrs::auth::kubernetes::login(&self.client, mount, role, jwt)
            .await
            .map(Token::from_auth)
            .map_err(|e| VaultError::from_client("PUT", &format!("auth/{mount}/login"), e))
    }

    /// `PUT auth/<mount>/login` through vaultrs's typed JWT login.
    pub async fn login_jwt(&self, mount: &str, role: &str, jwt: &str) -> Result<Token, VaultError> {
        vaultrs::auth::oidc::login(&self.client, mount, jwt, Some(role.to_owned()))
            .await
            .map(Token::from_auth)
            .map_err(|e| VaultError::from_client("PUT", &format!("auth/{mount}/login"), e))
    }

    /// `PUT auth/<mount>/login` through vaultrs's typed AppRole login.
    pub async fn login_approle(
        &self,
        mount: &str,
        role_id: &str,
        secret_id: &str,
    ) -> Result<Token, VaultError> {
        vaultrs::auth::approle::login(&self.client, mount, role_id, secret_id)
            .await
            .map(Token::from_auth)
            .map_err(|e| VaultError::from_client("PUT", &format!("auth/{mount}/login"), e))
    }

    /// `GET auth/token/lookup-self` with this session's token.
    pub async fn lookup_self(&self, token: &str) -> Result<Token, VaultError> {
        let path = "auth/token/lookup-self";
        let envelope = self
            .read(path, None)
            .await?
            .ok_or_else(|| VaultError::Api {
                code: 404,
                method: "GET",
                path: path.into(),
                errors: "no token information".into(),
            })?;
        let data = envelope.get("data").cloned().unwrap_or(Value::Null);
        Ok(Token {
            client_token: token.to_owned(),
            accessor: data
                .get("accessor")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            lease_duration: Duration::from_secs(
                data.get("ttl").and_then(Value::as_u64).unwrap_or(0),
            ),
            renewable: data
                .get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// Whether this session's token still exists: `Some(false)` when Vault refuses to look it
    /// up (OpenBao answers a plain "permission denied" for unknown tokens, so a 403 on a read
    /// alone cannot tell a bad policy from a dead token), `None` when Vault is unreachable.
    pub async fn token_is_valid(&self) -> Option<bool> {
        match self.read("auth/token/lookup-self", None).await {
            Ok(Some(_)) => Some(true),
            Ok(None) => Some(false),
            Err(VaultError::Api {
                code: 403 | 400 | 401,
                ..
            }) => Some(false),
            Err(_) => None,
        }
    }

    /// `PUT auth/token/renew-self` (increment 0: the token's own TTL). Returns the new TTL.
    pub async fn renew_self(&self) -> Result<Token, VaultError> {
        vaultrs::token::renew_self(&self.client, None)
            .await
            .map(Token::from_auth)
            .map_err(|e| VaultError::from_client("PUT", "auth/token/renew-self", e))
    }

    /// `PUT auth/token/revoke-self`: also revokes every lease the token created.
    pub async fn revoke_self(&self) -> Result<(), VaultError> {
        vaultrs::token::revoke_self(&self.client)
            .await
            .map_err(|e| VaultError::from_client("PUT", "auth/token/revoke-self", e))
    }
}

fn not_found_is_none(
    result: Result<Option<Value>, VaultError>,
) -> Result<Option<Value>, VaultError> {
    match result {
        Err(VaultError::Api {
            code: 404, errors, ..
        }) if errors.is_empty() => Ok(None),
        other => other,
    }
}

/// A Vault token and what is known of its lease.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Token {
    pub client_token: String,
    pub accessor: String,
    #[serde(with = "secs")]
    pub lease_duration: Duration,
    pub renewable: bool,
}

impl std::fmt::Debug for Token {
    /// Never prints the token itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("accessor", &self.accessor)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .finish_non_exhaustive()
    }
}

impl Token {
    fn from_auth(auth: vaultrs::api::AuthInfo) -> Self {
        Token {
            client_token: auth.client_token,
            accessor: auth.accessor,
            lease_duration: Duration::from_secs(auth.lease_duration),
            renewable: auth.renewable,
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Sorted string keys of a LIST response (`data.keys`); empty when absent.
pub fn list_keys(envelope: Option<&Value>) -> Vec<String> {
    let mut keys: Vec<String> = envelope
        .and_then(|e| e.get("data"))
        .and_then(|d| d.get("keys"))
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Query parameters other than `version` are not sent; say so once per path.
pub fn unsupported_query(query: &BTreeMap<String, String>) -> Vec<&str> {
    query
        .keys()
        .filter(|k| k.as_str() != "version")
        .map(String::as_str)
        .collect()
}

impl Vault {
    /// The HTTP client (with this connection's TLS settings and timeout) and the Vault
    /// address, for the API proxy's forwarder.
    pub fn http(&self) -> (&reqwest::Client, &reqwest::Url) {
        (&self.base.http.http, &self.base.settings.address)
    }
}
