//! Forwarding one request to Vault and carrying its answer back.

use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use tracing::{debug, warn};

use super::TOKEN_HEADER;
use crate::vault::HttpRetry;

/// Headers that describe one hop, never forwarded either way (RFC 9110 §7.6.1), plus the ones
/// the client library sets itself. `accept-encoding` is dropped so Vault answers uncompressed,
/// as Vault Agent does, and cached bodies can be parsed.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "accept-encoding",
];

fn forwarded(name: &HeaderName) -> bool {
    !NOT_FORWARDED.contains(&name.as_str())
}

/// A request on its way to Vault: the client's request with the chosen token.
pub struct Outgoing {
    pub method: Method,
    /// Path and query as the client sent them (`/v1/...?...`).
    pub target: String,
    /// The client's headers, without hop-by-hop ones and without its token.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The token sent (empty: none).
    pub token: String,
}

impl Outgoing {
    pub fn new(
        method: Method,
        target: &str,
        client_headers: &HeaderMap,
        body: Bytes,
        token: String,
    ) -> Self {
        let mut headers = HeaderMap::with_capacity(client_headers.len());
        for (name, value) in client_headers {
            if forwarded(name) && name.as_str() != TOKEN_HEADER {
                headers.append(name.clone(), value.clone());
            }
        }
        Outgoing {
            method,
            target: target.to_owned(),
            headers,
            body,
            token,
        }
    }

    /// The path without its query.
    pub fn api_path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The namespace the client asked for (`X-Vault-Namespace`), `root/` when none.
    pub fn namespace(&self) -> String {
        self.headers
            .get("x-vault-namespace")
            .and_then(|v| v.to_str().ok())
            .filter(|n| !n.is_empty())
            .unwrap_or("root/")
            .to_owned()
    }

    /// A top-level field of the JSON body, if the body is a JSON object.
    pub fn json_field(&self, key: &str) -> Option<Value> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(mut map)) => map.remove(key),
            _ => None,
        }
    }
}

/// Vault's answer (or the proxy's own), fully buffered.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A JSON answer of the proxy itself.
    pub fn json(status: StatusCode, body: &Value) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Reply {
            status,
            headers,
            body: Bytes::from(serde_json::to_vec(body).expect("JSON values serialize")),
        }
    }

    /// An error in Vault's shape, `{"errors": [...]}`.
    pub fn error(status: StatusCode, message: &str) -> Reply {
        Reply::json(status, &serde_json::json!({ "errors": [message] }))
    }

    pub fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    pub fn is_json(&self) -> bool {
        self.headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == b"application/json")
    }
}

/// A 429/503's `Retry-After` (seconds or a date), which go-retryablehttp waits instead of its
/// backoff; read by the same rule as the agent's own client.
fn retry_after(reply: &Reply) -> Option<Duration> {
    let header = reply.headers.get(header::RETRY_AFTER)?.to_str().ok();
    HttpRetry::retry_after(reply.status.as_u16(), header, std::time::SystemTime::now())
}

/// Transport errors worth another try: not a bad URL, a redirect loop or a certificate the
/// server will present again.
fn retryable_error(err: &reqwest::Error) -> bool {
    let chain = format!("{err:?}");
    !(err.is_builder() || err.is_redirect() || chain.to_ascii_lowercase().contains("certificate"))
}

/// Where proxied requests go: the agent's Vault connection.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    base: String,
    user_agent: String,
    /// Vault's client retry rule with the proxy's count (retry `n` waits `n ×` 1–1.5 s, or a
    /// 429/503's `Retry-After`, body re-sent whatever the method). When the client timeout runs
    /// out the client gets bao agent's 500 "context deadline exceeded"; when retries run out,
    /// Vault's last answer.
    retries: HttpRetry,
    /// The agent's namespace, for its own checks of the auto-auth token.
    namespace: Option<String>,
}

impl Upstream {
    /// The forwarder on the agent's own Vault client (TLS, CA, client certificate and timeout
    /// of the `vault` stanza).
    pub fn from_vault(vault: &crate::vault::Vault) -> Upstream {
        let (client, address) = vault.http();
        let mut upstream = Upstream::new(client.clone(), address.as_str());
        upstream.retries = vault.proxy_retry();
        upstream.namespace = vault.namespace().map(str::to_owned);
        upstream
    }

    /// A forwarder that does not retry.
    pub fn new(client: reqwest::Client, address: &str) -> Upstream {
        Upstream {
            client,
            base: address.trim_end_matches('/').to_owned(),
            user_agent: format!("kagi-agent API proxy/{}", env!("CARGO_PKG_VERSION")),
            retries: HttpRetry {
                max_retries: 0,
                timeout: crate::connection::DEFAULT_TIMEOUT,
            },
            namespace: None,
        }
    }

    /// Sends `request`, retrying as [`HttpRetry`] says; a transport failure becomes a 500 in
    /// Vault's error shape, as Vault Agent answers it.
    pub async fn send(&self, request: &Outgoing) -> Reply {
        let deadline = tokio::time::Instant::now() + self.retries.timeout;
        let mut retry = 0;
        loop {
            let outcome = match tokio::time::timeout_at(deadline, self.try_send(request)).await {
                Ok(outcome) => outcome,
                Err(_) => return out_of_time(request),
            };
            let wait = match &outcome {
                Ok(reply) if HttpRetry::retryable_status(reply.status.as_u16()) => {
                    HttpRetry::wait(retry + 1, retry_after(reply), fastrand::f64())
                }
                Err(err) if retryable_error(err) => {
                    HttpRetry::wait(retry + 1, None, fastrand::f64())
                }
                _ => return finish(request, outcome),
            };
            if retry >= self.retries.max_retries {
                return finish(request, outcome);
            }
            if tokio::time::Instant::now() + wait >= deadline {
                // The Vault client would sleep into its deadline and fail; answer that now.
                return out_of_time(request);
            }
            retry += 1;
            let status = outcome.as_ref().map(|r| r.status.as_u16()).ok();
            debug!(method = %request.method, path = request.api_path(), ?status, retry, ?wait, "retrying proxied request");
            tokio::time::sleep(wait).await;
        }
    }

    /// Whether Vault refuses `token` itself (`lookup-self` denied), not just one path.
    pub async fn token_rejected(&self, token: &str) -> bool {
        let mut request = self
            .client
            .get(format!("{}/v1/auth/token/lookup-self", self.base))
            .header(TOKEN_HEADER, token)
            .header(header::USER_AGENT, &self.user_agent);
        if let Some(ns) = &self.namespace {
            request = request.header("x-vault-namespace", ns);
        }
        match request.send().await {
            Ok(response) => response.status() == StatusCode::FORBIDDEN,
            Err(_) => false,
        }
    }

    async fn try_send(&self, request: &Outgoing) -> Result<Reply, reqwest::Error> {
        debug!(method = %request.method, path = request.api_path(), "forwarding request to Vault");
        let mut headers = request.headers.clone();
        let agent = match headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            Some(theirs) => format!("{}; {theirs}", self.user_agent),
            None => self.user_agent.clone(),
        };
        if let Ok(agent) = HeaderValue::from_str(&agent) {
            headers.insert(header::USER_AGENT, agent);
        }
        if !request.token.is_empty()
            && let Ok(token) = HeaderValue::from_str(&request.token)
        {
            headers.insert(TOKEN_HEADER, token);
        }
        let url = format!("{}{}", self.base, request.target);
        let response = self
            .client
            .request(request.method.clone(), url)
            .headers(headers)
            .body(request.body.clone())
            .send()
            .await?;
        let status = response.status();
        let mut headers = HeaderMap::with_capacity(response.headers().len());
        for (name, value) in response.headers() {
            if forwarded(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        let body = response.bytes().await?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// `PUT <path>` with a JSON body and `token`, for the cache's renewals.
    pub async fn put_json(
        &self,
        path: &str,
        token: &str,
        namespace: Option<&str>,
        body: &Value,
    ) -> Result<Value, RenewError> {
        let mut request = self
            .client
            .put(format!("{}/v1/{path}", self.base))
            .header(TOKEN_HEADER, token)
            .header(header::USER_AGENT, &self.user_agent)
            .timeout(Duration::from_secs(30))
            .body(serde_json::to_vec(body).expect("JSON values serialize"));
        if let Some(ns) = namespace.filter(|n| *n != "root/") {
            request = request.header("x-vault-namespace", ns);
        }
        let transport = |e: reqwest::Error| RenewError {
            status: None,
            message: e.to_string(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(RenewError {
                status: Some(status),
                message: format!(
                    "Vault answered {status}: {}",
                    String::from_utf8_lossy(&bytes)
                ),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| RenewError {
            status: Some(status),
            message: e.to_string(),
        })
    }
}

/// The 500 bao agent answers when the client's timeout ran out during retries.
fn out_of_time(request: &Outgoing) -> Reply {
    warn!(method = %request.method, path = request.api_path(), "proxied request gave up: client timeout reached while retrying");
    Reply::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "failed to get the response: context deadline exceeded",
    )
}

fn finish(request: &Outgoing, outcome: Result<Reply, reqwest::Error>) -> Reply {
    outcome.unwrap_or_else(|err| {
        warn!(method = %request.method, path = request.api_path(), error = %err, "proxied request failed");
        Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("failed to get the response: {err}"),
        )
    })
}

/// A failed renewal by the cache.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RenewError {
    /// Vault's status; none when Vault could not be reached.
    pub status: Option<StatusCode>,
    pub message: String,
}

impl RenewError {
    /// An outage that may pass (no answer, 412, 429, 5xx but 501), not a refusal.
    pub fn is_transient(&self) -> bool {
        self.status
            .is_none_or(|s| HttpRetry::retryable_status(s.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_on_what_the_vault_client_retries() {
        for code in [412, 429, 500, 502, 503, 504] {
            assert!(HttpRetry::retryable_status(code), "{code}");
        }
        for code in [200, 204, 400, 403, 404, 501] {
            assert!(!HttpRetry::retryable_status(code), "{code}");
        }
    }

    #[test]
    fn waits_grow_linearly_with_jitter_or_follow_retry_after() {
        assert_eq!(HttpRetry::wait(1, None, 0.0), Duration::from_millis(1000));
        assert_eq!(HttpRetry::wait(3, None, 1.0), Duration::from_millis(4500));
        let mut reply = Reply::empty(StatusCode::SERVICE_UNAVAILABLE);
        reply
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&reply), Some(Duration::from_secs(2)));
        reply.headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2099 07:28:00 GMT"),
        );
        let wait = retry_after(&reply).expect("an HTTP date is a Retry-After too");
        assert!(wait > Duration::from_secs(365 * 86_400), "{wait:?}");
        reply.status = StatusCode::BAD_GATEWAY;
        assert_eq!(retry_after(&reply), None, "only 429 and 503 carry it");
    }
}
