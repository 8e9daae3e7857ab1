//! A real PostgreSQL cluster in a temp dir on a free loopback port, run as user `postgres`.

use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::procs;

/// The superuser the database secrets engine connects as.
pub const SUPERUSER: &str = "postgres";
/// Its password (password auth over TCP, as a real deployment would use).
pub const SUPERUSER_PASSWORD: &str = "kagi-harness-pw";

const OS_USER: &str = "postgres";
const MISSING_PG: &str = "PostgreSQL server binaries (initdb, postgres) were not found on PATH or in \
     /usr/lib/postgresql/*/bin; `make test-deps` installs them";

/// A running PostgreSQL server; stopped (fast shutdown) on drop.
pub struct Postgres {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl Postgres {
    pub fn start() -> anyhow::Result<Postgres> {
        let bin_dir = find_bin_dir()?;
        let (uid, gid) = os_user_ids(OS_USER)?;
        let dir = procs::scratch_dir("kagi-postgres-")?;
        chown(dir.path(), Some(uid), Some(gid))
            .with_context(|| format!("chown {} to {OS_USER}", dir.path().display()))?;
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD)?;
        chown(&pwfile, Some(uid), Some(gid))?;
        let data = dir.path().join("data");

        let initdb = procs::server_command(&bin_dir.join("initdb"), "KILL", Some(OS_USER))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "--no-instructions",
                "-E",
                "UTF8",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .context("running initdb")?;
        if !initdb.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&initdb.stderr).trim()
            );
        }

        let mut last_error = None;
        for _ in 0..3 {
            let port = procs::free_port();
            match spawn_postmaster(&bin_dir, dir.path(), &data, port) {
                Ok(child) => {
                    return Ok(Postgres {
                        dir,
                        port,
                        child: Some(child),
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgresql://postgres:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable`
    pub fn connection_url(&self) -> String {
        self.url_for(SUPERUSER, SUPERUSER_PASSWORD)
    }

    /// A connection URL for any user (e.g. credentials issued by the database secrets engine).
    pub fn url_for(&self, user: &str, password: &str) -> String {
        format!(
            "postgresql://{user}:{password}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Runs SQL as the superuser over TCP with password auth; returns psql's unaligned output.
    pub fn psql(&self, sql: &str) -> anyhow::Result<String> {
        self.psql_as(SUPERUSER, SUPERUSER_PASSWORD, sql)
    }

    /// Runs SQL as any user (proves that issued credentials really log in).
    pub fn psql_as(&self, user: &str, password: &str, sql: &str) -> anyhow::Result<String> {
        let output = Command::new(psql_bin())
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args(["-p", &self.port.to_string(), "-U", user, "-d", "postgres"])
            .args(["-c", sql])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .context("running psql")?;
        if !output.status.success() {
            bail!(
                "psql as {user} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Login roles that exist right now, sorted (includes `postgres`).
    pub fn roles(&self) -> Vec<String> {
        self.psql("SELECT rolname FROM pg_roles WHERE rolcanlogin ORDER BY rolname")
            .map(|out| out.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Server log (for failure messages).
    pub fn server_log(&self) -> String {
        procs::log_tail(&self.dir.path().join("postgres.log"), 20_000)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT is PostgreSQL's "fast shutdown": disconnect clients, then exit.
            let _ = procs::signal(child.id(), "INT");
            let _ = procs::wait_for("postgres exit", Duration::from_secs(10), || {
                child.try_wait().ok().flatten()
            });
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_postmaster(bin_dir: &Path, dir: &Path, data: &Path, port: u16) -> anyhow::Result<Child> {
    let log_path = dir.join("postgres.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let mut command = procs::server_command(&bin_dir.join("postgres"), "INT", Some(OS_USER));
    command
        .arg("-D")
        .arg(data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .args(["-c", "full_page_writes=off", "-c", "max_connections=50"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let mut child = procs::spawn_server(command).context("starting postgres")?;
    let ready = procs::wait_for(
        "PostgreSQL to accept connections",
        Duration::from_secs(30),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(status));
            }
            let ok = Command::new(psql_bin())
                .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-p", &port.to_string()])
                .args(["-U", SUPERUSER, "-d", "postgres", "-c", "SELECT 1"])
                .env("PGPASSWORD", SUPERUSER_PASSWORD)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            ok.then_some(Ok(()))
        },
    );
    match ready {
        Ok(Ok(())) => Ok(child),
        Ok(Err(status)) => bail!(
            "postgres exited ({status}):\n{}",
            procs::log_tail(&log_path, 2000)
        ),
        Err(e) => {
            procs::terminate(&mut child, Duration::from_secs(2));
            bail!("{e}:\n{}", procs::log_tail(&log_path, 2000))
        }
    }
}

fn psql_bin() -> PathBuf {
    procs::which("psql").unwrap_or_else(|| PathBuf::from("/usr/bin/psql"))
}

fn find_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = procs::which("initdb")
        .as_deref()
        .and_then(Path::parent)
        .filter(|d| d.join("postgres").is_file())
    {
        return Ok(dir.to_path_buf());
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .collect()
        })
        .unwrap_or_default();
    // Highest major version first.
    candidates.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    candidates
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!(MISSING_PG))
}

fn os_user_ids(user: &str) -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&user) && fields.len() > 3)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no OS user `{user}` to run PostgreSQL as (installing PostgreSQL creates it; see `make test-deps`)"
            )
        })
}
