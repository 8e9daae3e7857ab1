//! The one error type of this crate: each variant names the step that failed and the file or
//! object involved, so an operator reading a log line knows what to fix.

use std::path::PathBuf;

/// Everything that can go wrong while generating, loading or publishing webhook certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {what} file {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{what} is not valid PEM: {reason}")]
    Pem { what: &'static str, reason: String },

    #[error("{what} holds no {expected} (found no PEM block of that kind)")]
    Empty {
        what: &'static str,
        expected: &'static str,
    },

    #[error("certificate is not valid X.509: {0}")]
    X509(String),

    #[error("private key is not usable for TLS: {0}")]
    UnusableKey(String),

    #[error("private key does not match the certificate's public key")]
    KeyMismatch,

    #[error("certificate expired at {not_after} (unix seconds); now is {now}")]
    Expired { not_after: i64, now: i64 },

    #[error("certificate is not valid before {not_before} (unix seconds); now is {now}")]
    NotYetValid { not_before: i64, now: i64 },

    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),

    #[error("invalid subject alternative name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    #[error("cannot watch {path}: {source}")]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },

    #[error("Kubernetes API call failed while {doing}: {source}")]
    Kube {
        doing: &'static str,
        #[source]
        source: Box<kube::Error>,
    },

    #[error("cannot build the caBundle patch: {0}")]
    Patch(#[source] serde_json::Error),

    #[error("gave up writing {what} after {attempts} conflicting writes by others")]
    Contended { what: String, attempts: usize },
}

impl CertError {
    pub(crate) fn kube(doing: &'static str, source: kube::Error) -> Self {
        Self::Kube {
            doing,
            source: Box::new(source),
        }
    }
}
