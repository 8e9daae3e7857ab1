//! How the agent reaches Vault: the `vault` stanza merged with the `VAULT_*` environment, as
//! `bao agent` merges them.
//!
//! `bao agent` (command/agent.go `applyConfigOverrides`) lets an environment variable override
//! the matching `vault` key (CLI flag > env > config file), and its API client reads the rest
//! (`VAULT_CACERT_BYTES`, `VAULT_CLIENT_TIMEOUT`, `VAULT_MAX_RETRIES`, `VAULT_NAMESPACE`) from
//! the environment only. Every variable is looked up as `BAO_<NAME>` first, then
//! `VAULT_<NAME>`, as OpenBao does. Each value remembers where it came from, so an error names
//! the key or variable the user actually set.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{GoDuration, VaultConnection};
use crate::schedule::agent_retries;

/// Vault's API client default request timeout (api/client.go `NewConfig`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Vault's API client default number of HTTP retries on 412/429/5xx (api/client.go).
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// A setting and the config key or environment variable it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub origin: &'static str,
}

/// Everything TLS: where the CAs and the client identity are, and how to verify the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub ca_cert: Option<Sourced<PathBuf>>,
    /// `VAULT_CACERT_BYTES`: PEM, as the injector puts it on the agent container.
    pub ca_cert_bytes: Option<Sourced<Vec<u8>>>,
    pub ca_path: Option<Sourced<PathBuf>>,
    pub client_cert: Option<Sourced<PathBuf>>,
    pub client_key: Option<Sourced<PathBuf>>,
    /// `VAULT_CLIENT_CERT_BYTES` / `VAULT_CLIENT_KEY_BYTES`: PEM; the files win when set.
    pub client_cert_bytes: Option<Sourced<Vec<u8>>>,
    pub client_key_bytes: Option<Sourced<Vec<u8>>>,
    pub server_name: Option<Sourced<String>>,
    pub skip_verify: bool,
}

/// The resolved connection: one value per setting, whatever its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    pub address: Sourced<String>,
    pub tls: TlsSettings,
    /// Bounds each request, retries included (Vault's client puts it on the request context).
    pub timeout: Duration,
    /// HTTP-level retries of template reads and lease calls; logins never retry here (the
    /// auth handler's own backoff does), as in `bao agent`.
    pub max_retries: u32,
    /// Retries of requests the API proxy forwards: bao agent's proxy client takes
    /// `VAULT_MAX_RETRIES` when set, else `vault.retry.num_retries` ([`agent_retries`]).
    pub proxy_max_retries: u32,
    /// The `X-Vault-Namespace` of every request.
    pub namespace: Option<Sourced<String>>,
}

/// An environment value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value:?} is not valid: expected {expected}")]
pub struct SettingsError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// The variables read, as (OpenBao name, Vault name) pairs.
mod var {
    pub const ADDR: (&str, &str) = ("BAO_ADDR", "VAULT_ADDR");
    pub const CACERT: (&str, &str) = ("BAO_CACERT", "VAULT_CACERT");
    pub const CACERT_BYTES: (&str, &str) = ("BAO_CACERT_BYTES", "VAULT_CACERT_BYTES");
    pub const CAPATH: (&str, &str) = ("BAO_CAPATH", "VAULT_CAPATH");
    pub const CLIENT_CERT: (&str, &str) = ("BAO_CLIENT_CERT", "VAULT_CLIENT_CERT");
    pub const CLIENT_KEY: (&str, &str) = ("BAO_CLIENT_KEY", "VAULT_CLIENT_KEY");
    pub const TLS_SERVER_NAME: (&str, &str) = ("BAO_TLS_SERVER_NAME", "VAULT_TLS_SERVER_NAME");
    pub const CLIENT_CERT_BYTES: (&str, &str) =
        ("BAO_CLIENT_CERT_BYTES", "VAULT_CLIENT_CERT_BYTES");
    pub const CLIENT_KEY_BYTES: (&str, &str) = ("BAO_CLIENT_KEY_BYTES", "VAULT_CLIENT_KEY_BYTES");
    pub const SKIP_VERIFY: (&str, &str) = ("BAO_SKIP_VERIFY", "VAULT_SKIP_VERIFY");
    pub const CLIENT_TIMEOUT: (&str, &str) = ("BAO_CLIENT_TIMEOUT", "VAULT_CLIENT_TIMEOUT");
    pub const MAX_RETRIES: (&str, &str) = ("BAO_MAX_RETRIES", "VAULT_MAX_RETRIES");
    pub const NAMESPACE: (&str, &str) = ("BAO_NAMESPACE", "VAULT_NAMESPACE");
}

impl ConnectionSettings {
    /// Merges the `vault` stanza, the auth method's `namespace` and the process environment.
    pub fn from_process_env(
        conn: &VaultConnection,
        method_namespace: Option<&str>,
    ) -> Result<Self, SettingsError> {
        Self::resolve(conn, method_namespace, |name| std::env::var(name).ok())
    }

    /// [`ConnectionSettings::from_process_env`] with an explicit environment (tests).
    pub fn resolve(
        conn: &VaultConnection,
        method_namespace: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        // The first of `BAO_<NAME>`, `VAULT_<NAME>` that is set, even to "": a set `BAO_` hides
        // the `VAULT_` one whatever its value (measured on bao agent 2.7.2).
        let lookup = |(bao, vault): (&'static str, &'static str)| {
            [bao, vault]
                .into_iter()
                .find_map(|name| env(name).map(|v| (name, v)))
        };
        // Variables read by the API client only: empty means unset.
        let lookup_nonempty = |pair| lookup(pair).filter(|(_, v): &(_, String)| !v.is_empty());
        // Variables that override a `vault` key (applyConfigOverrides): set but empty erases
        // the key, so the config value is not used either.
        let string = |pair, key: &'static str, config: Option<&str>| match lookup(pair) {
            Some((_, value)) if value.is_empty() => None,
            Some((origin, value)) => Some(Sourced { value, origin }),
            None => config
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| Sourced {
                    value: v.to_owned(),
                    origin: key,
                }),
        };
        let path = |pair, key, config: &Option<String>| {
            string(pair, key, config.as_deref()).map(|s| Sourced {
                value: PathBuf::from(s.value),
                origin: s.origin,
            })
        };
        let bytes = |pair| {
            lookup_nonempty(pair).map(|(origin, v): (&'static str, String)| Sourced {
                value: v.into_bytes(),
                origin,
            })
        };

        let address = string(var::ADDR, "vault.address", Some(&conn.address)).unwrap_or(Sourced {
            // bao agent's own default when neither is set.
            value: "https://127.0.0.1:8200".to_owned(),
            origin: "default",
        });
        let skip_verify = match lookup(var::SKIP_VERIFY) {
            Some((_, value)) if value.is_empty() => false,
            Some((name, value)) => parse_go_bool(&value).ok_or(SettingsError {
                name,
                value,
                expected: "a boolean (true, false, 1, 0, t, f)",
            })?,
            None => conn.tls_skip_verify,
        };
        let tls = TlsSettings {
            ca_cert: path(var::CACERT, "vault.ca_cert", &conn.ca_cert),
            ca_cert_bytes: bytes(var::CACERT_BYTES),
            ca_path: path(var::CAPATH, "vault.ca_path", &conn.ca_path),
            client_cert: path(var::CLIENT_CERT, "vault.client_cert", &conn.client_cert),
            client_key: path(var::CLIENT_KEY, "vault.client_key", &conn.client_key),
            client_cert_bytes: bytes(var::CLIENT_CERT_BYTES),
            client_key_bytes: bytes(var::CLIENT_KEY_BYTES),
            server_name: string(
                var::TLS_SERVER_NAME,
                "vault.tls_server_name",
                conn.tls_server_name.as_deref(),
            ),
            skip_verify,
        };
        let timeout = match lookup_nonempty(var::CLIENT_TIMEOUT) {
            // parseutil.ParseDurationSecond: a bare number is seconds, else a Go duration; an
            // explicit 0 keeps the default.
            Some((name, value)) => match GoDuration::parse(value.trim()) {
                Ok(GoDuration(d)) if d.is_zero() => DEFAULT_TIMEOUT,
                Ok(GoDuration(d)) => d,
                Err(_) => {
                    return Err(SettingsError {
                        name,
                        value,
                        expected: "a duration such as 30s, 2m or a number of seconds",
                    });
                }
            },
            None => DEFAULT_TIMEOUT,
        };
        let env_max_retries = match lookup_nonempty(var::MAX_RETRIES) {
            Some((name, value)) => {
                Some(value.trim().parse::<u32>().map_err(|_| SettingsError {
                    name,
                    value,
                    expected: "a whole number of retries, 0 or more",
                })?)
            }
            None => None,
        };
        let max_retries = env_max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
        let proxy_max_retries = env_max_retries
            .unwrap_or_else(|| agent_retries(conn.retry.as_ref().and_then(|r| r.num_retries)));
        // bao agent: the auth method's namespace applies only when the client has none from
        // the environment; then every request (login, templates, renewals) carries it.
        // An empty VAULT_NAMESPACE is no namespace from the environment: the method's applies.
        let namespace = lookup_nonempty(var::NAMESPACE)
            .map(|(origin, value)| Sourced { value, origin })
            .or_else(|| {
                method_namespace
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| Sourced {
                        value: v.to_owned(),
                        origin: "auto_auth.method.namespace",
                    })
            })
            .map(|ns| Sourced {
                value: ns.value.trim_matches('/').to_owned(),
                origin: ns.origin,
            })
            .filter(|ns| !ns.value.is_empty());
        Ok(ConnectionSettings {
            address,
            tls,
            timeout,
            max_retries,
            proxy_max_retries,
            namespace,
        })
    }
}

impl ConnectionSettings {
    /// The variables bao agent adds to a template command's environment (consul-template's
    /// `childEnv`, `BAO_` names in OpenBao's fork): the address always; the TLS files and the
    /// server name when set; `BAO_SKIP_VERIFY=true` when verification is off. bao agent hands
    /// consul-template its TLS settings only for an `https` address or a `ca_cert`
    /// (command/agent/template), and without them consul-template counts verification as
    /// off: a plain-HTTP agent passes `BAO_SKIP_VERIFY=true` and no TLS files (measured).
    /// Namespace, timeout and retries are not passed on.
    pub fn command_env(&self) -> Vec<(&'static str, String)> {
        let tls = &self.tls;
        let https = self
            .address
            .value
            .trim()
            .to_ascii_lowercase()
            .starts_with("https://");
        let ssl = https || tls.ca_cert.is_some();
        let mut env = vec![("BAO_ADDR", self.address.value.clone())];
        if !ssl {
            env.push(("BAO_SKIP_VERIFY", "true".to_owned()));
            return env;
        }
        let shown =
            |p: &Option<Sourced<PathBuf>>| p.as_ref().map(|p| p.value.display().to_string());
        let optional = [
            ("BAO_CACERT", shown(&tls.ca_cert)),
            ("BAO_CAPATH", shown(&tls.ca_path)),
            ("BAO_CLIENT_CERT", shown(&tls.client_cert)),
            ("BAO_CLIENT_KEY", shown(&tls.client_key)),
            (
                "BAO_TLS_SERVER_NAME",
                tls.server_name.as_ref().map(|n| n.value.clone()),
            ),
            (
                "BAO_SKIP_VERIFY",
                tls.skip_verify.then(|| "true".to_owned()),
            ),
        ];
        env.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?))),
        );
        env
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(
        conn: &VaultConnection,
        ns: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<ConnectionSettings, SettingsError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ConnectionSettings::resolve(conn, ns, |name| env.get(name).cloned())
    }

    fn conn() -> VaultConnection {
        VaultConnection {
            address: "https://vault.example:8200".into(),
            ca_cert: Some("/config/ca.pem".into()),
            tls_server_name: Some("from-config".into()),
            ..VaultConnection::default()
        }
    }

    #[test]
    fn environment_overrides_the_vault_stanza_as_bao_agent_does() {
        let s = resolve(
            &conn(),
            None,
            &[
                ("VAULT_CACERT", "/env/ca.pem"),
                ("VAULT_ADDR", "https://other:8200"),
            ],
        )
        .unwrap();
        assert_eq!(s.tls.ca_cert.as_ref().unwrap().origin, "VAULT_CACERT");
        assert_eq!(s.tls.ca_cert.unwrap().value, PathBuf::from("/env/ca.pem"));
        assert_eq!(s.address.value, "https://other:8200");
        assert_eq!(s.tls.server_name.unwrap().origin, "vault.tls_server_name");
        // BAO_ wins over VAULT_.
        let s = resolve(
            &conn(),
            None,
            &[("VAULT_CACERT", "/v"), ("BAO_CACERT", "/b")],
        )
        .unwrap();
        assert_eq!(s.tls.ca_cert.unwrap().origin, "BAO_CACERT");
    }

    #[test]
    fn defaults_are_the_vault_api_clients() {
        let s = resolve(&conn(), None, &[]).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(60));
        assert_eq!(s.max_retries, 2);
        assert_eq!(s.namespace, None);
        let s = resolve(
            &conn(),
            None,
            &[("VAULT_CLIENT_TIMEOUT", "5"), ("VAULT_MAX_RETRIES", "0")],
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.max_retries, 0);
        let s = resolve(&conn(), None, &[("VAULT_CLIENT_TIMEOUT", "1m30s")]).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(90));
    }

    #[test]
    fn num_retries_maps_as_bao_agent_and_the_environment_wins() {
        let with = |num_retries| VaultConnection {
            retry: Some(crate::config::Retry { num_retries }),
            ..conn()
        };
        let proxy = |c: &VaultConnection, env: &[(&str, &str)]| {
            resolve(c, None, env).unwrap().proxy_max_retries
        };
        assert_eq!(proxy(&conn(), &[]), 12);
        assert_eq!(proxy(&with(Some(0)), &[]), 12);
        assert_eq!(proxy(&with(Some(-1)), &[]), 0);
        assert_eq!(proxy(&with(Some(-5)), &[]), 0);
        assert_eq!(proxy(&with(Some(3)), &[]), 3);
        assert_eq!(proxy(&with(Some(3)), &[("VAULT_MAX_RETRIES", "0")]), 0);
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        for (name, value) in [
            ("VAULT_CLIENT_TIMEOUT", "soon"),
            ("VAULT_MAX_RETRIES", "-1"),
            ("VAULT_SKIP_VERIFY", "yes"),
        ] {
            let err = resolve(&conn(), None, &[(name, value)]).unwrap_err();
            assert_eq!(err.name, name);
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn namespace_from_env_wins_over_the_methods() {
        let s = resolve(&conn(), Some("team"), &[]).unwrap();
        assert_eq!(s.namespace.unwrap().value, "team");
        let s = resolve(&conn(), Some("team"), &[("VAULT_NAMESPACE", "admin/team/")]).unwrap();
        let ns = s.namespace.unwrap();
        assert_eq!(
            (ns.value.as_str(), ns.origin),
            ("admin/team", "VAULT_NAMESPACE")
        );
    }

    #[test]
    fn skip_verify_parses_like_go() {
        let s = resolve(&conn(), None, &[("VAULT_SKIP_VERIFY", "false")]).unwrap();
        assert!(!s.tls.skip_verify);
        let s = resolve(&conn(), None, &[("VAULT_SKIP_VERIFY", "1")]).unwrap();
        assert!(s.tls.skip_verify);
    }

    /// A set but empty variable erases the `vault` key it overrides; for the variables only
    /// the API client reads, empty is unset. A set `BAO_` hides `VAULT_` even when empty.
    #[test]
    fn empty_variables_erase_the_keys_they_override() {
        let full = VaultConnection {
            ca_path: Some("/config/ca-dir".into()),
            client_cert: Some("/config/c.pem".into()),
            client_key: Some("/config/k.pem".into()),
            tls_skip_verify: true,
            ..conn()
        };
        let erased = [
            "VAULT_ADDR",
            "VAULT_CACERT",
            "VAULT_CAPATH",
            "VAULT_CLIENT_CERT",
            "VAULT_CLIENT_KEY",
            "VAULT_TLS_SERVER_NAME",
            "VAULT_SKIP_VERIFY",
        ];
        let env: Vec<(&str, &str)> = erased.iter().map(|n| (*n, "")).collect();
        let s = resolve(&full, None, &env).unwrap();
        assert_eq!(
            (s.address.value.as_str(), s.address.origin),
            ("https://127.0.0.1:8200", "default")
        );
        assert_eq!(s.tls.ca_cert, None);
        assert_eq!(s.tls.ca_path, None);
        assert_eq!(s.tls.client_cert, None);
        assert_eq!(s.tls.client_key, None);
        assert_eq!(s.tls.server_name, None);
        assert!(!s.tls.skip_verify);

        let unset = [
            ("VAULT_CACERT_BYTES", ""),
            ("VAULT_CLIENT_TIMEOUT", ""),
            ("VAULT_MAX_RETRIES", ""),
            ("VAULT_NAMESPACE", ""),
            ("VAULT_CLIENT_CERT_BYTES", ""),
        ];
        let s = resolve(&full, Some("team"), &unset).unwrap();
        assert_eq!(s.tls.ca_cert_bytes, None);
        assert_eq!(s.tls.client_cert_bytes, None);
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.max_retries, DEFAULT_MAX_RETRIES);
        assert_eq!(s.namespace.unwrap().value, "team");

        // BAO_ set, even empty, hides VAULT_.
        let s = resolve(
            &conn(),
            None,
            &[("BAO_CACERT", ""), ("VAULT_CACERT", "/env/ca.pem")],
        )
        .unwrap();
        assert_eq!(s.tls.ca_cert, None);
        let s = resolve(
            &conn(),
            None,
            &[("BAO_MAX_RETRIES", ""), ("VAULT_MAX_RETRIES", "7")],
        )
        .unwrap();
        assert_eq!(s.max_retries, DEFAULT_MAX_RETRIES);
    }

    #[test]
    fn client_identity_bytes_are_read() {
        let s = resolve(
            &conn(),
            None,
            &[
                ("BAO_CLIENT_CERT_BYTES", "cert"),
                ("VAULT_CLIENT_KEY_BYTES", "key"),
            ],
        )
        .unwrap();
        let cert = s.tls.client_cert_bytes.unwrap();
        assert_eq!(
            (cert.value.as_slice(), cert.origin),
            (&b"cert"[..], "BAO_CLIENT_CERT_BYTES")
        );
        assert_eq!(
            s.tls.client_key_bytes.unwrap().origin,
            "VAULT_CLIENT_KEY_BYTES"
        );
    }

    #[test]
    fn commands_get_the_address_always_and_tls_settings_when_set() {
        let names = |s: &ConnectionSettings| {
            s.command_env()
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        let plain = VaultConnection {
            address: "http://127.0.0.1:8200".into(),
            ..VaultConnection::default()
        };
        let s = resolve(&plain, Some("team"), &[("VAULT_CLIENT_TIMEOUT", "5")]).unwrap();
        assert_eq!(
            s.command_env(),
            vec![
                ("BAO_ADDR", "http://127.0.0.1:8200".to_owned()),
                ("BAO_SKIP_VERIFY", "true".to_owned())
            ]
        );
        let with_ca = VaultConnection {
            ca_cert: Some("/ca.pem".into()),
            ..plain
        };
        assert_eq!(
            names(&resolve(&with_ca, None, &[]).unwrap()),
            ["BAO_ADDR", "BAO_CACERT"]
        );
        let s = resolve(
            &conn(),
            None,
            &[("VAULT_SKIP_VERIFY", "true"), ("VAULT_CAPATH", "/ca")],
        )
        .unwrap();
        assert_eq!(
            names(&s),
            [
                "BAO_ADDR",
                "BAO_CACERT",
                "BAO_CAPATH",
                "BAO_TLS_SERVER_NAME",
                "BAO_SKIP_VERIFY"
            ]
        );
        assert!(
            s.command_env()
                .contains(&("BAO_SKIP_VERIFY", "true".to_owned()))
        );
    }
}
