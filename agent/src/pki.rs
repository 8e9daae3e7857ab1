//! `pkiCert`: a PKI certificate cached in the template's own destination file.
//!
//! The agent re-issues only when the cached leaf is missing, expired, or close to the end of
//! its life, so restarts and re-logins do not mint a new certificate each time (unlike
//! `secret "pki/issue/..."`, which issues on every read).

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use x509_parser::pem::Pem;

/// The PEM blocks of a certificate bundle, sorted into their roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    pub cert: String,
    pub key: String,
    pub ca: String,
    pub chain: Vec<String>,
    /// Leaf validity as Unix seconds (`not_before`, `not_after`).
    pub validity: Option<(i64, i64)>,
}

impl Bundle {
    /// Splits PEM text: keys by label, certificates by their CA flag. Unparseable blocks are
    /// skipped (a half-written file then simply counts as "no certificate").
    pub fn from_pem(text: &str) -> Self {
        let mut bundle = Bundle::default();
        for block in Pem::iter_from_buffer(text.as_bytes()).map_while(Result::ok) {
            let encoded = encode(&block.label, &block.contents);
            if block.label.ends_with("PRIVATE KEY") {
                bundle.key = encoded;
                continue;
            }
            if block.label != "CERTIFICATE" {
                continue;
            }
            let Ok(cert) = block.parse_x509() else {
                continue;
            };
            if cert.is_ca() {
                bundle.ca = encoded.clone();
                bundle.chain.push(encoded);
            } else {
                let validity = cert.validity();
                bundle.validity = Some((
                    validity.not_before.timestamp(),
                    validity.not_after.timestamp(),
                ));
                bundle.cert = encoded;
            }
        }
        bundle
    }

    /// Builds a bundle from a `pki/issue` response: every string in `data` plus `ca_chain`.
    pub fn from_issue(envelope: &Value) -> Self {
        let mut text = String::new();
        if let Some(data) = envelope.get("data").and_then(Value::as_object) {
            for value in data.values() {
                match value {
                    Value::String(s) => {
                        text.push_str(s);
                        text.push('\n');
                    }
                    Value::Array(items) => {
                        for s in items.iter().filter_map(Value::as_str) {
                            text.push_str(s);
                            text.push('\n');
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut bundle = Bundle::from_pem(&text);
        bundle.chain.dedup();
        bundle
    }

    /// True when a new certificate must be issued at Unix time `now`.
    pub fn needs_issue(&self, now: f64) -> bool {
        match self.validity {
            None => true,
            Some((not_before, not_after)) => {
                let (not_before, not_after) = (not_before as f64, not_after as f64);
                now >= not_after || 0.9 * (not_after - now) <= 0.1 * (not_after - not_before)
            }
        }
    }

    /// When to look again: after 90 % of the remaining validity.
    pub fn next_check(&self, now: f64) -> Duration {
        match self.validity {
            Some((_, not_after)) if not_after as f64 > now => {
                Duration::from_secs_f64(0.9 * (not_after as f64 - now))
            }
            _ => Duration::from_secs(1),
        }
    }

    /// What the template sees (`.Cert`, `.Key`, `.CA`, `.CAChain`).
    pub fn answer(&self) -> Value {
        json!({ "Cert": self.cert, "Key": self.key, "CA": self.ca, "CAChain": self.chain })
    }
}

/// Standard PEM: 64-column base64 and a trailing newline.
fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(not_before: i64, not_after: i64) -> Bundle {
        Bundle {
            validity: Some((not_before, not_after)),
            ..Bundle::default()
        }
    }

    #[test]
    fn reissues_when_missing_expired_or_near_the_end() {
        assert!(Bundle::default().needs_issue(0.0));
        let b = bundle_with(0, 100);
        assert!(!b.needs_issue(10.0));
        assert!(!b.needs_issue(88.0));
        assert!(b.needs_issue(90.0));
        assert!(b.needs_issue(150.0));
        assert_eq!(b.next_check(0.0), Duration::from_secs(90));
    }

    #[test]
    fn garbage_is_no_certificate() {
        let b = Bundle::from_pem("not pem at all");
        assert_eq!(b, Bundle::default());
        assert_eq!(
            b.answer(),
            json!({"Cert": "", "Key": "", "CA": "", "CAChain": []})
        );
    }

    #[test]
    fn pem_is_reencoded_at_64_columns() {
        let pem = encode("TEST", &[0u8; 60]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN TEST-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END TEST-----"));
    }
}
