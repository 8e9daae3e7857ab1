//! Byte relays between TCP and Unix-socket connections: how a pod's network namespace (which
//! has only loopback) and the host's loopback reach each other through a socket file in a
//! bind-mounted directory. Used by the runner on the host and by `kagi-pod-sandbox` inside
//! the pod; std only.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// A connection that can be split into a reading and a writing half and half-closed.
pub trait Stream: Read + Write + Send + Sized + 'static {
    fn split(&self) -> std::io::Result<Self>;
    fn close_write(&self);
}

impl Stream for TcpStream {
    fn split(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
    fn close_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl Stream for UnixStream {
    fn split(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
    fn close_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

/// Copies both ways until both sides have closed.
pub fn splice<A: Stream, B: Stream>(a: A, b: B) {
    let (Ok(mut a_in), Ok(mut b_in)) = (a.split(), b.split()) else {
        return;
    };
    let (mut a_out, mut b_out) = (a, b);
    let forward = thread::spawn(move || {
        let _ = std::io::copy(&mut a_in, &mut b_out);
        b_out.close_write();
    });
    let _ = std::io::copy(&mut b_in, &mut a_out);
    a_out.close_write();
    let _ = forward.join();
}

/// Where a relay connects for each accepted connection.
#[derive(Debug, Clone)]
pub enum Target {
    /// `127.0.0.1:PORT` in the relay's network namespace.
    Loopback(u16),
    Socket(PathBuf),
}

fn connect_and_splice<A: Stream>(accepted: A, target: &Target) {
    match target {
        Target::Loopback(port) => {
            if let Ok(tcp) = TcpStream::connect(("127.0.0.1", *port)) {
                splice(accepted, tcp);
            }
        }
        Target::Socket(path) => {
            if let Ok(unix) = UnixStream::connect(path) {
                splice(accepted, unix);
            }
        }
    }
}

/// Where a relay accepts connections.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// A Unix socket at `path`, connectable by any user (the sandbox runs as 65532).
    pub fn unix(path: &Path) -> std::io::Result<Listener> {
        use std::os::unix::fs::PermissionsExt;
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
        Ok(Listener::Unix(listener))
    }
}

/// A relay accepting on a thread of its own until dropped.
pub struct Relay {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Relay {
    pub fn start(listener: Listener, target: Target) -> std::io::Result<Relay> {
        match &listener {
            Listener::Tcp(l) => l.set_nonblocking(true)?,
            Listener::Unix(l) => l.set_nonblocking(true)?,
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::Builder::new()
            .name("kagi-relay".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    let target = target.clone();
                    let accepted = match &listener {
                        Listener::Tcp(l) => l.accept().map(|(s, _)| {
                            let _ = s.set_nonblocking(false);
                            thread::spawn(move || connect_and_splice(s, &target));
                        }),
                        Listener::Unix(l) => l.accept().map(|(s, _)| {
                            let _ = s.set_nonblocking(false);
                            thread::spawn(move || connect_and_splice(s, &target));
                        }),
                    };
                    if accepted.is_err() {
                        thread::sleep(Duration::from_millis(10));
                    }
                }
            })?;
        Ok(Relay {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unix_socket_relay_reaches_a_loopback_server() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf.map(|b| b.to_ascii_uppercase())).unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("r.sock");
        let _relay =
            Relay::start(Listener::unix(&socket).unwrap(), Target::Loopback(port)).unwrap();
        let mut client = UnixStream::connect(&socket).unwrap();
        client.write_all(b"kagi").unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "KAGI");
    }
}
