//! The Vault HTTP client: vaultrs for the typed calls it has, rustify endpoints for the rest.
//!
//! Template reads need the whole response envelope (`lease_id`, `lease_duration`, `renewable`,
//! `data`, `auth`, ...), which vaultrs's typed helpers strip, so logical read/write/list and the
//! `sys/leases` calls are declared here as rustify endpoints answering raw JSON.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustify::endpoint::Endpoint;
use rustify_derive::Endpoint;
use serde_json::Value;
use vaultrs::client::{Client, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use crate::config::VaultConnection;
use crate::connection::ConnectionSettings;
pub use crate::http_retry::HttpRetry;
use crate::http_retry::Observed;
use crate::tls::LoadedTls;

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
    retry: HttpRetry,
    /// The API proxy's forwarder retries with its own count (see
    /// [`ConnectionSettings::proxy_max_retries`]).
    proxy_retry: HttpRetry,
    command_env: CommandEnv,
    /// (URL requests go to, the configured address) when `tls_server_name` redirects them.
    redirected: Option<Arc<(String, String)>>,
}

/// What template commands get added to their environment ([`ConnectionSettings::command_env`]).
pub type CommandEnv = Arc<[(&'static str, String)]>;

/// A client carrying one token. Cheap to create from a [`Vault`].
pub struct Session {
    client: VaultClient,
    retry: HttpRetry,
    command_env: CommandEnv,
    redirected: Option<Arc<(String, String)>>,
}

impl Vault {
    /// Builds the HTTP client from the `vault` stanza, the auth method's namespace and the
    /// `VAULT_*` environment, merged as `bao agent` merges them ([`ConnectionSettings`]).
    pub fn new(conn: &VaultConnection, namespace: Option<&str>) -> Result<Self, VaultError> {
        let settings = ConnectionSettings::from_process_env(conn, namespace)
            .map_err(|e| VaultError::Setup(e.to_string()))?;
        Vault::from_settings(&settings)
    }

    /// Builds the HTTP client from resolved settings. Every TLS file is checked here.
    pub fn from_settings(settings: &ConnectionSettings) -> Result<Self, VaultError> {
        let address = settings.address.value.trim();
        let url = url_of(address).ok_or_else(|| {
            VaultError::Setup(format!(
                "{} {address:?} is not an http:// or https:// URL",
                settings.address.origin
            ))
        })?;
        let parsed = reqwest::Url::parse(&url).map_err(|e| {
            VaultError::Setup(format!("{} {address:?}: {e}", settings.address.origin))
        })?;
        let tls = LoadedTls::load(&settings.tls).map_err(|e| VaultError::Setup(e.to_string()))?;
        let https = url.to_ascii_lowercase().starts_with("https://");
        let mut http = reqwest::Client::builder().timeout(settings.timeout);
        http = if https && tls.is_custom() {
            let config = tls
                .client_config()
                .map_err(|e| VaultError::Setup(e.to_string()))?;
            http.use_preconfigured_tls(config)
        } else if https {
            http.tls_backend_rustls()
        } else {
            // Plain HTTP: no root store to load (a scratch image has none).
            http.tls_backend_rustls().tls_certs_only(Vec::new())
        };
        // tls_server_name as the SNI (bao agent's behaviour): requests go to the server name,
        // resolved to the address's host.
        let redirect = crate::sni::plan(
            &parsed,
            settings.tls.server_name.as_ref().map(|n| n.value.as_str()),
            |var| std::env::var(var).ok(),
        );
        if let Some(redirect) = &redirect {
            http = redirect.apply(http);
        }
        let redirected = redirect
            .as_ref()
            .map(|r| Arc::new((r.url.clone(), url.clone())));
        if let Some(r) = &redirect {
            tracing::info!(address = %url, tls_server_name = %r.name, "sending tls_server_name as the TLS SNI; connecting to the address's host");
        }
        let url = redirect.map_or(url, |r| r.url);
        let http = http
            .build()
            .map_err(|e| VaultError::Setup(error_chain(&e)))?;
        let namespace = settings.namespace.as_ref().map(|ns| ns.value.clone());
        let vault_settings = VaultClientSettingsBuilder::default()
            .address(&url)
            .token("")
            .ca_certs(Vec::new())
            .identity(None)
            .verify(!settings.tls.skip_verify)
            .timeout(Some(settings.timeout))
            .namespace(namespace.clone())
            .build()
            .map_err(|e| VaultError::Setup(e.to_string()))?;
        let base = VaultClient {
            http: rustify::clients::reqwest::Client::new(vault_settings.address.as_str(), http),
            middle: vaultrs::api::EndpointMiddleware {
                token: String::new(),
                version: format!("v{}", vault_settings.version),
                wrap: None,
                namespace,
            },
            settings: vault_settings,
        };
        Ok(Vault {
            base,
            retry: HttpRetry {
                max_retries: settings.max_retries,
                timeout: settings.timeout,
            },
            proxy_retry: HttpRetry {
                max_retries: settings.proxy_max_retries,
                timeout: settings.timeout,
            },
            command_env: settings.command_env().into(),
            redirected,
        })
    }

    /// How the API proxy retries the requests it forwards.
    pub fn proxy_retry(&self) -> HttpRetry {
        self.proxy_retry
    }

    /// The `X-Vault-Namespace` every request carries, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.base.middle.namespace.as_deref()
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
        Session {
            client,
            retry: self.retry,
            command_env: self.command_env.clone(),
            redirected: self.redirected.clone(),
        }
    }
}

impl Session {
    /// A transport error names the configured address, not the `tls_server_name` URL the
    /// client sends to ([`crate::sni`]).
    fn located(&self, err: VaultError) -> VaultError {
        match (err, self.redirected.as_deref()) {
            (
                VaultError::Transport {
                    method,
                    path,
                    message,
                },
                Some((sent, configured)),
            ) => VaultError::Transport {
                method,
                path,
                message: message.replace(sent.as_str(), configured),
            },
            (err, _) => err,
        }
    }

    /// The variables template commands get from this connection, as bao agent sets them.
    pub fn command_env(&self) -> CommandEnv {
        self.command_env.clone()
    }

    /// The same client without HTTP-level retries: logins, whose retries belong to the auth
    /// handler's backoff (bao agent sets the auth client's `MaxRetries` to 0).
    pub fn without_retries(mut self) -> Session {
        self.retry.max_retries = 0;
        self
    }

    /// Sends the endpoint, retrying as Vault's client does ([`HttpRetry`]).
    async fn exec<E: Endpoint<Response = Value>>(
        &self,
        method: &'static str,
        path: &str,
        endpoint: E,
    ) -> Result<Option<Value>, VaultError> {
        let endpoint = endpoint.with_middleware(self.client.middle());
        let attempts = async {
            let mut attempt = 0;
            loop {
                let observed = Observed {
                    inner: self.client.http(),
                    retry_after: Mutex::new(None),
                };
                let result = endpoint.exec(&observed).await.map_err(|e| {
                    self.located(VaultError::from_client(method, path, ClientError::from(e)))
                });
                match result {
                    Err(err) if attempt < self.retry.max_retries && retryable(&err) => {
                        attempt += 1;
                        let retry_after = observed.retry_after.lock().expect("not poisoned").take();
                        let wait = HttpRetry::wait(attempt, retry_after, fastrand::f64());
                        tracing::debug!(%method, %path, error = %err, retry = attempt, ?wait, "request failed; retrying");
                        tokio::time::sleep(wait).await;
                    }
                    other => return other,
                }
            }
        };
        let response = tokio::time::timeout(self.retry.timeout, attempts)
            .await
            .map_err(|_| VaultError::Transport {
                method,
                path: path.to_owned(),
                message: format!(
                    "no answer within {:?} (VAULT_CLIENT_TIMEOUT)",
                    self.retry.timeout
                ),
            })??;
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
            .map_err(|e| self.located(VaultError::from_client("PUT", "sys/leases/revoke", e)))
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
            .map_err(|e| {
                self.located(VaultError::from_client(
                    "PUT",
                    &format!("auth/{mount}/login"),
                    e,
                ))
            })
    }

    /// `PUT auth/<mount>/login` through vaultrs's typed JWT login.
    pub async fn login_jwt(&self, mount: &str, role: &str, jwt: &str) -> Result<Token, VaultError> {
        vaultrs::auth::oidc::login(&self.client, mount, jwt, Some(role.to_owned()))
            .await
            .map(Token::from_auth)
            .map_err(|e| {
                self.located(VaultError::from_client(
                    "PUT",
                    &format!("auth/{mount}/login"),
                    e,
                ))
            })
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
            .map_err(|e| {
                self.located(VaultError::from_client(
                    "PUT",
                    &format!("auth/{mount}/login"),
                    e,
                ))
            })
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

    /// `PUT auth/token/renew-self` (no increment: the token's own TTL). Returns the new TTL.
    /// Sent through [`Session::exec`] so a renewal is retried (and honours `Retry-After`) as
    /// bao agent's client retries it.
    pub async fn renew_self(&self) -> Result<Token, VaultError> {
        let path = "auth/token/renew-self";
        let decode = |message: &str| VaultError::Decode {
            method: "PUT",
            path: path.into(),
            message: message.into(),
        };
        let envelope = self
            .write(path, &serde_json::json!({}))
            .await?
            .ok_or_else(|| decode("empty body"))?;
        let auth = envelope
            .get("auth")
            .cloned()
            .ok_or_else(|| decode("no auth in the answer"))?;
        serde_json::from_value::<vaultrs::api::AuthInfo>(auth)
            .map(Token::from_auth)
            .map_err(|e| decode(&e.to_string()))
    }

    /// `PUT auth/token/revoke-self`: also revokes every lease the token created.
    pub async fn revoke_self(&self) -> Result<(), VaultError> {
        vaultrs::token::revoke_self(&self.client)
            .await
            .map_err(|e| self.located(VaultError::from_client("PUT", "auth/token/revoke-self", e)))
    }
}

/// Whether the client sends a failed request again ([`HttpRetry`]).
fn retryable(err: &VaultError) -> bool {
    match err {
        VaultError::Api { code, .. } => HttpRetry::retryable_status(*code),
        // A certificate Vault's client would reject again is not worth retrying.
        VaultError::Transport { message, .. } => !message.contains("certificate"),
        _ => false,
    }
}

/// The address with a trailing slash stripped, if it is an HTTP(S) URL.
fn url_of(address: &str) -> Option<String> {
    let lower = address.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        .then(|| address.trim_end_matches('/').to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// With `tls_server_name` the client sends to that name, but errors name the address.
    #[tokio::test]
    async fn errors_name_the_configured_address_not_the_server_name() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let conn = VaultConnection {
            address: format!("https://127.0.0.1:{port}"),
            tls_server_name: Some("vault.example".into()),
            tls_skip_verify: true,
            ..VaultConnection::default()
        };
        let settings = ConnectionSettings::resolve(&conn, None, |_| None).unwrap();
        let vault = Vault::from_settings(&settings).unwrap();
        let err = vault
            .with_token("t")
            .without_retries()
            .read("secret/data/app", None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(!err.contains("vault.example"), "{err}");
    }
}
