//! `tls_server_name` as the TLS SNI, as bao agent sends it.
//!
//! Go's client puts `tls_server_name` in `tls.Config.ServerName`, which is both the name the
//! certificate must carry and the SNI sent. reqwest takes the SNI from the URL host, so the
//! client is pointed at `https://<tls_server_name>:<port>`, a resolver maps that name to the
//! real host's addresses (looked up on every connection, as a Service name may move), and the
//! Host header keeps the real authority. An IP `tls_server_name` sends no SNI, as in Go; that
//! is set on the rustls config ([`crate::tls`]). Through an HTTPS proxy the CONNECT target must
//! stay the real host, so there the URL host is sent as SNI and a warning says so.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HOST, HeaderMap, HeaderValue};

/// How the client reaches Vault when `tls_server_name` names another host than the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The URL requests go to: the address with its host replaced by `tls_server_name`.
    pub url: String,
    /// `tls_server_name`, which the resolver maps to `real_host`.
    pub name: String,
    /// The address's own host (brackets stripped from an IPv6 literal).
    pub real_host: String,
    /// `host[:port]` of the address, for the Host header.
    pub authority: String,
}

/// The redirect for `url` (an `https://` address) and `server_name`, when one is needed: a
/// DNS `server_name` that differs from the URL host, and no proxy in the environment.
pub fn plan(
    url: &reqwest::Url,
    server_name: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Option<Redirect> {
    let name = server_name?.trim();
    if url.scheme() != "https" || name.is_empty() || name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let host = url.host_str()?;
    if host.eq_ignore_ascii_case(name) {
        return None;
    }
    let proxied = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|var| env(var).is_some_and(|v| !v.is_empty()));
    if proxied {
        tracing::warn!(
            tls_server_name = %name,
            host = %host,
            "an HTTPS proxy is set: the TLS SNI is the address's host, not tls_server_name (the certificate is still checked against tls_server_name)"
        );
        return None;
    }
    let mut redirected = url.clone();
    redirected.set_host(Some(name)).ok()?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Some(Redirect {
        url: redirected.as_str().trim_end_matches('/').to_owned(),
        name: name.to_ascii_lowercase(),
        real_host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        authority,
    })
}

impl Redirect {
    /// The client builder with the resolver and the Host header installed.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&self.authority) {
            headers.insert(HOST, value);
        }
        builder
            .dns_resolver(std::sync::Arc::new(ToRealHost {
                name: self.name.clone(),
                real_host: self.real_host.clone(),
            }))
            .default_headers(headers)
    }
}

/// Resolves `tls_server_name` to the real host's addresses; any other name as usual.
struct ToRealHost {
    name: String,
    real_host: String,
}

impl Resolve for ToRealHost {
    fn resolve(&self, name: Name) -> Resolving {
        let target = if name.as_str().eq_ignore_ascii_case(&self.name) {
            self.real_host.clone()
        } else {
            name.as_str().to_owned()
        };
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.as_str(), 0))
                .await?
                .collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn a_dns_server_name_redirects_https_only() {
        let none = |_: &str| None;
        let r = plan(&url("https://127.0.0.1:8200"), Some("vault.example"), none).unwrap();
        assert_eq!(r.url, "https://vault.example:8200");
        assert_eq!(r.real_host, "127.0.0.1");
        assert_eq!(r.authority, "127.0.0.1:8200");
        let r = plan(&url("https://[::1]:8200"), Some("Vault.Example"), none).unwrap();
        assert_eq!(
            (r.real_host.as_str(), r.name.as_str()),
            ("::1", "vault.example")
        );
        assert_eq!(
            plan(&url("http://127.0.0.1:8200"), Some("v.example"), none),
            None
        );
        assert_eq!(
            plan(&url("https://v.example:8200"), Some("V.example"), none),
            None
        );
        assert_eq!(
            plan(&url("https://v.example"), Some("10.0.0.1"), none),
            None
        );
        assert_eq!(plan(&url("https://v.example"), None, none), None);
        let proxy = |v: &str| (v == "HTTPS_PROXY").then(|| "http://proxy:3128".to_owned());
        assert_eq!(
            plan(&url("https://127.0.0.1:8200"), Some("v.example"), proxy),
            None
        );
    }
}
