//! `kagi-webhook gen-certs`: a CA and a serving certificate written to a directory, for
//! people who manage the webhook's TLS themselves.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::CertError;
use crate::generate::{CertificateAuthority, Validity, service_hosts};

/// Default lifetime of `gen-certs` output.
pub const DEFAULT_GEN_DAYS: u32 = 365;

/// What `gen-certs` is asked to produce.
#[derive(Clone, Debug)]
pub struct GenCertsRequest {
    pub service: String,
    pub namespace: String,
    /// More DNS names or IP addresses for the serving certificate.
    pub extra_hosts: Vec<String>,
    pub days: u32,
}

/// The files written by [`write_bundle`].
#[derive(Clone, Debug)]
pub struct WrittenBundle {
    pub ca_cert: PathBuf,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// The names in the serving certificate.
    pub hosts: Vec<String>,
}

/// Creates `out` if needed and writes `ca.crt`, `tls.crt` and `tls.key` (mode 0600) into it.
/// The CA key is not kept: whoever needs a new certificate runs `gen-certs` again.
pub fn write_bundle(out: &Path, request: &GenCertsRequest) -> Result<WrittenBundle, CertError> {
    if request.days == 0 {
        return Err(CertError::InvalidName {
            name: "--days 0".into(),
            reason: "a certificate must be valid for at least one day".into(),
        });
    }
    let hosts = service_hosts(&request.service, &request.namespace, &request.extra_hosts);
    let validity = Validity::starting_now(Duration::from_secs(u64::from(request.days) * 86_400));
    let ca = CertificateAuthority::generate(
        &format!(
            "kagi webhook CA ({}.{})",
            request.service, request.namespace
        ),
        validity,
    )?;
    let serving = ca.issue_serving(&hosts, validity)?;

    std::fs::create_dir_all(out).map_err(|source| CertError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let bundle = WrittenBundle {
        ca_cert: out.join("ca.crt"),
        tls_cert: out.join("tls.crt"),
        tls_key: out.join("tls.key"),
        hosts,
    };
    write_file(&bundle.ca_cert, ca.cert_pem().as_bytes(), 0o644)?;
    write_file(&bundle.tls_cert, serving.cert_pem.as_bytes(), 0o644)?;
    write_file(&bundle.tls_key, serving.key_pem.as_bytes(), 0o600)?;
    Ok(bundle)
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), CertError> {
    let err = |source| CertError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    // `mode` applies only to a new file; an existing key file must be narrowed too.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(err)?;
    file.write_all(contents).map_err(err)?;
    file.sync_all().map_err(err)
}
