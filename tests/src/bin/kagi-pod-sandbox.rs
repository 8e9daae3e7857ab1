//! The pod sandbox (what the kubelet's "pause" container is): it holds the pod's network, IPC,
//! UTS (and, with `shareProcessNamespace`, PID) namespaces that the pod's containers join, and
//! relays loopback traffic between the pod and the host through Unix sockets in a
//! bind-mounted directory (the runner holds the host ends):
//!
//! kagi-pod-sandbox [--forward PORT=SOCKET]... [--expose PORT=SOCKET]...
//!
//! `--forward`: listen on 127.0.0.1:PORT in the pod, relay to SOCKET (a host service).
//! `--expose`: listen on SOCKET, relay to 127.0.0.1:PORT in the pod (a pod's server).
//! No traffic leaves loopback on either side.
#![forbid(unsafe_code)]

use std::net::TcpListener;
use std::path::PathBuf;

use kagi_tests::relay::{Listener, Relay, Target};

fn fail(message: String) -> ! {
    eprintln!("kagi-pod-sandbox: {message}");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut relays = Vec::new();
    while let Some(flag) = args.next() {
        let spec = args.next().unwrap_or_default();
        let Some((port, socket)) = spec
            .split_once('=')
            .and_then(|(p, s)| Some((p.parse::<u16>().ok()?, PathBuf::from(s))))
        else {
            fail(format!("{flag} needs PORT=SOCKET, got {spec:?}"));
        };
        let relay = match flag.as_str() {
            "--forward" => TcpListener::bind(("127.0.0.1", port))
                .and_then(|l| Relay::start(Listener::Tcp(l), Target::Socket(socket))),
            "--expose" => {
                Listener::unix(&socket).and_then(|l| Relay::start(l, Target::Loopback(port)))
            }
            other => fail(format!("unknown argument {other}")),
        };
        match relay {
            Ok(relay) => relays.push(relay),
            Err(e) => fail(format!("{flag} {spec}: {e}")),
        }
    }
    println!("sandbox ready");
    // Holds the namespaces until the runner kills it (SIGKILL: as PID 1 it ignores SIGTERM).
    loop {
        std::thread::park();
    }
}
