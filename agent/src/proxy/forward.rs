//! Forwarding one request to Vault and carrying its answer back.

use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use tracing::{debug, warn};

use super::TOKEN_HEADER;

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

/// Where proxied requests go: the agent's Vault connection.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    base: String,
    user_agent: String,
}

impl Upstream {
    /// The forwarder on the agent's own Vault client (TLS, CA, client certificate and timeout
    /// of the `vault` stanza).
    pub fn from_vault(vault: &crate::vault::Vault) -> Upstream {
        let (client, address) = vault.http();
        Upstream::new(client.clone(), address.as_str())
    }

    pub fn new(client: reqwest::Client, address: &str) -> Upstream {
        Upstream {
            client,
            base: address.trim_end_matches('/').to_owned(),
            user_agent: format!("kagi-agent API proxy/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Sends `request`; a transport failure becomes a 500 in Vault's error shape, as Vault
    /// Agent answers it.
    pub async fn send(&self, request: &Outgoing) -> Reply {
        match self.try_send(request).await {
            Ok(reply) => reply,
            Err(err) => {
                warn!(method = %request.method, path = request.api_path(), error = %err, "proxied request failed");
                Reply::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("failed to get the response: {err}"),
                )
            }
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
    ) -> Result<Value, String> {
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
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!(
                "Vault answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }
}
