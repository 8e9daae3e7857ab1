//! What a template may ask of the world outside the engine: Vault data
//! ([`Dependency`]), the process environment and files ([`Environment`]), and
//! the `writeToFile` side effects it leaves for the caller ([`FileWrite`]).

use std::collections::BTreeMap;

/// A thing the template asked Vault for.
///
/// `path` is the path as written or computed in the template, trimmed of
/// whitespace and of `/` at both ends (consul-template does the same, so
/// `secret "/kv/a"` and `secret "kv/a"` are one dependency). It may carry a
/// query string (`kv/app?version=1`). KV v2 rewriting (`kv/app` →
/// `kv/data/app`, `kv/metadata/` for lists, wrapping a write body in
/// `{"data": ...}`) is the caller's job.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dependency {
    /// `secret "p"` (a read) or `secret "p" "k=v"...` (a write whose body is
    /// `write`: keys and values trimmed, values always strings, empty
    /// arguments skipped). `lookup` answers with the Vault response envelope.
    Secret {
        path: String,
        write: Option<BTreeMap<String, String>>,
    },
    /// `secrets "p"` (a LIST). `lookup` answers with the response envelope whose
    /// `data.keys` holds the names; the engine sorts them. A 404 should be
    /// answered with `{}` (an empty list), not `None`.
    List { path: String },
    /// `pkiCert "p" "k=v"...`: a PKI issue whose result is cached in the
    /// template's destination file.
    ///
    /// What the runtime must do to answer `lookup` for it (consul-template's
    /// `VaultPKIQuery`):
    /// 1. Read the template's destination file. If it is readable and not
    ///    empty, split it into PEM blocks: a block whose type ends in
    ///    `PRIVATE KEY` is the key; a certificate with the CA flag is the CA
    ///    (the last such wins) and is appended to the chain; any other
    ///    certificate is the leaf.
    /// 2. If there was no leaf, or the leaf has expired, or less than 10 % of
    ///    its lifetime would remain after waiting 90 % of what remains (i.e.
    ///    `0.9 × (not_after − now) ≤ 0.1 × (not_after − not_before)`), issue a
    ///    new one: `PUT <path>` with `params` as the body, then take every
    ///    string value of `data` (each followed by `\n`) plus the `ca_chain`
    ///    entries and split them as in step 1.
    /// 3. Answer `{"Cert": ..., "Key": ..., "CA": ...}`, each PEM block
    ///    re-encoded in standard form (64-column base64, a trailing newline),
    ///    missing parts as `""`. (OpenBao's consul-template has no `CAChain`
    ///    field; the template sees `.Cert`, `.Key`, `.CA` and `.Data.*` of them.)
    ///    As a fallback the engine also accepts the raw `pki/issue` response
    ///    envelope (`data.certificate`, `data.private_key`, `data.ca_chain`,
    ///    `data.issuing_ca`), which gives the same fields but no caching.
    /// 4. Schedule the next check at about 90 % of the remaining validity.
    ///
    /// The destination must contain the certificate (and the key, if it is to
    /// be recovered on restart), which is why templates render `.Cert` and
    /// `.Key` into it; `writeToFile` may copy parts elsewhere.
    PkiCert {
        path: String,
        params: BTreeMap<String, String>,
    },
}

/// What the engine may ask of the outside world.
pub trait Environment {
    /// The Vault HTTP response body for `dep` as Vault returns it (envelope with
    /// `request_id`, `lease_id`, `lease_duration`, `renewable`, `data`,
    /// `warnings`, `auth`, ...), or `None` when it has not been fetched yet.
    /// For `List`: the response whose `data.keys` is the list. For `PkiCert`:
    /// see [`Dependency::PkiCert`].
    fn lookup(&self, dep: &Dependency) -> Option<serde_json::Value>;
    /// An environment variable of the agent process.
    fn env(&self, name: &str) -> Option<String>;
    /// The contents of a file (`file` function), once the engine has checked
    /// `sandbox_path`.
    fn read_file(&self, path: &str) -> std::io::Result<String>;
    /// `path` with symbolic links resolved, for the `sandbox_path` check
    /// (Go's `filepath.EvalSymlinks`). Only asked when a sandbox is set.
    fn resolve_path(&self, path: &str) -> std::io::Result<String> {
        Ok(path.to_string())
    }
    /// Debug output of `spew_dump`/`spew_printf` (Vault Agent writes it to its
    /// standard output). Dropped unless the caller wants it.
    fn debug_output(&self, text: &[u8]) {
        let _ = text;
    }
    /// Runs `program` with `args` (the `plugin` function): its standard
    /// output once it exits 0. A program still running after `timeout` must
    /// be killed and reported as [`PluginError::TimedOut`].
    fn run_plugin(
        &self,
        program: &str,
        args: &[String],
        timeout: std::time::Duration,
    ) -> Result<Vec<u8>, PluginError> {
        let _ = (args, timeout);
        Err(PluginError::Start(format!(
            "exec: {program:?}: running programs is not available here"
        )))
    }

    /// The addresses `name` resolves to (Go's `net.LookupHost`, for Sprig's
    /// `getHostByName`); none when it does not resolve or the caller offers
    /// no name resolution.
    fn lookup_host(&self, name: &str) -> Vec<String> {
        let _ = name;
        Vec::new()
    }
    /// The TZif data of the IANA zone `name` (`Europe/Berlin`), for Sprig's
    /// `dateInZone`; `None` when unknown or unavailable (the engine then
    /// shows UTC, as Sprig does for a zone Go cannot load).
    fn zoneinfo(&self, name: &str) -> Option<Vec<u8>> {
        let _ = name;
        None
    }

    /// The host's network interfaces with their IP addresses, in index order
    /// (Go's `net.Interfaces` and `Interface.Addrs`), for `sockaddr`. None
    /// when the caller offers no view of the host.
    fn network_interfaces(&self) -> Vec<NetInterface> {
        Vec::new()
    }
    /// The name of the interface holding the IPv4 default route via a
    /// gateway (what go-sockaddr reads from `ip route`), for `sockaddr`.
    fn default_route_interface(&self) -> Option<String> {
        None
    }
}

/// A `writeToFile PATH USER GROUP PERMS [FLAGS] CONTENT` side effect, for the
/// caller to perform once the render is complete (nothing missing).
/// consul-template writes at once, creating parent directories (0777 before
/// umask) unless appending, chowning only when `user` or `group` is set
/// (names or numeric ids), then chmodding to `mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub path: String,
    pub user: String,
    pub group: String,
    /// Permission bits parsed from the octal string given in the template.
    pub mode: u32,
    /// FLAGS contained "append": open for appending instead of truncating.
    pub append: bool,
    /// FLAGS contained "newline": write `\n` after the contents.
    pub newline: bool,
    pub contents: String,
}

/// Why a `plugin` program gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// It could not be started (Go's `exec` error text, e.g. `exec: "x":
    /// executable file not found in $PATH`).
    Start(String),
    /// It exited unsuccessfully: `status` as Go prints it (`exit status 3`,
    /// `signal: killed`), with what it wrote.
    Failed {
        status: String,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    /// It ran past the timeout and was killed.
    TimedOut,
}

/// A network interface as Go's `net.Interface` describes it, with its
/// addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInterface {
    pub index: u32,
    pub mtu: u32,
    pub name: String,
    /// The hardware address as Go prints it (`02:fc:00:00:00:01`), empty when
    /// the interface has none or it is all zeros.
    pub hardware_addr: String,
    /// Go's `net.Flags` bits: [`NetInterface::UP`], ...
    pub flags: u32,
    /// IP addresses with their prefix lengths, in the kernel's order.
    pub addrs: Vec<(std::net::IpAddr, u8)>,
}

impl NetInterface {
    pub const UP: u32 = 1 << 0;
    pub const BROADCAST: u32 = 1 << 1;
    pub const LOOPBACK: u32 = 1 << 2;
    pub const POINT_TO_POINT: u32 = 1 << 3;
    pub const MULTICAST: u32 = 1 << 4;
    pub const RUNNING: u32 = 1 << 5;
}
