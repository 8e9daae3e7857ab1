//! Helpers of the client differential tests (agent_keys_client.rs): a scripted stand-in Vault
//! that records when each request came, and the KV answers it serves.

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};

/// An answer: status, extra headers, JSON body.
pub type Reply = (u16, Vec<(String, String)>, String);

/// What the stand-in answers: given the request path (no query) and how many requests that
/// path had before this one.
pub type Script = Arc<dyn Fn(&str, usize) -> Reply + Send + Sync>;

/// A stand-in Vault over plain HTTP that answers from a [`Script`], and logs every request.
pub struct StandIn {
    pub addr: String,
    pub log: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl StandIn {
    pub fn start(script: Script) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let log: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let seen = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (seen, script) = (seen.clone(), script.clone());
                std::thread::spawn(move || serve(stream, &seen, &*script));
            }
        });
        StandIn { addr, log }
    }

    /// When each request to `path` arrived.
    pub fn times(&self, path: &str) -> Vec<Instant> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(p, _)| p == path)
            .map(|(_, t)| *t)
            .collect()
    }

    pub fn count(&self, path: &str) -> usize {
        self.times(path).len()
    }
}

fn serve(
    stream: std::net::TcpStream,
    seen: &Mutex<Vec<(String, Instant)>>,
    script: &(dyn Fn(&str, usize) -> Reply + Send + Sync),
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    while let Some(path) = super::read_request(&mut reader) {
        let before = {
            let mut log = seen.lock().unwrap();
            let before = log.iter().filter(|(p, _)| *p == path).count();
            log.push((path.clone(), Instant::now()));
            before
        };
        let (code, headers, body) = common_reply(&path).unwrap_or_else(|| script(&path, before));
        let mut reply = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            reply.push_str(&format!("{k}: {v}\r\n"));
        }
        reply.push_str("\r\n");
        reply.push_str(&body);
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// The token lookup and health answers every stand-in gives.
fn common_reply(path: &str) -> Option<Reply> {
    if path.ends_with("/auth/token/lookup-self") {
        return Some(ok(
            json!({ "data": { "id": "t", "accessor": "a", "ttl": 3600,
            "renewable": false, "type": "service", "policies": ["root"] } }),
        ));
    }
    if path.ends_with("/sys/health") {
        return Some(ok(
            json!({ "initialized": true, "sealed": false, "version": "2.7.2" }),
        ));
    }
    None
}

pub fn ok(body: Value) -> Reply {
    (200, Vec::new(), body.to_string())
}

pub fn failure(code: u16, headers: &[(&str, String)]) -> Reply {
    (
        code,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        json!({ "errors": ["stand-in failure"] }).to_string(),
    )
}

/// The preflight answer for a KV v2 mount at `secret/`.
pub fn kv2_mount() -> Reply {
    ok(
        json!({ "data": { "type": "kv", "path": "secret/", "options": { "version": "2" },
        "accessor": "kv_1", "config": {}, "description": "", "local": false, "seal_wrap": false,
        "external_entropy_access": false, "uuid": "u" } }),
    )
}

/// A KV v2 read of `{user: <user>}`.
pub fn kv2_secret(user: &str) -> Reply {
    ok(
        json!({ "request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0,
        "data": { "data": { "user": user }, "metadata": { "created_time": "2026-01-01T00:00:00Z",
        "deletion_time": "", "destroyed": false, "version": 1, "custom_metadata": null } },
        "wrap_info": null, "warnings": null, "auth": null }),
    )
}

/// An HTTP date (RFC 1123, GMT) `secs` seconds from now.
pub fn http_date_in(secs: u64) -> String {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let days = at / 86_400;
    let rem = at % 86_400;
    // civil_from_days (Howard Hinnant).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A TCP relay to `127.0.0.1:<target>` that records the SNI of each TLS ClientHello passing
/// through (`None`: the client sent none), so a test sees what an agent sent on the wire.
pub struct SniRelay {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl SniRelay {
    pub fn start(target: u16) -> SniRelay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let record = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let record = record.clone();
                std::thread::spawn(move || relay(client, target, &record));
            }
        });
        SniRelay { port, seen }
    }

    /// The distinct SNI values seen.
    pub fn names(&self) -> std::collections::BTreeSet<Option<String>> {
        self.seen.lock().unwrap().iter().cloned().collect()
    }
}

fn relay(mut client: std::net::TcpStream, target: u16, seen: &Mutex<Vec<Option<String>>>) {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut hello = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let n = match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        hello.extend_from_slice(&chunk[..n]);
        if acceptor.read_tls(&mut &chunk[..n]).is_err() {
            return;
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let name = accepted.client_hello().server_name().map(str::to_owned);
                seen.lock().unwrap().push(name);
                break;
            }
            Ok(None) => continue,
            Err(_) => return,
        }
    }
    let Ok(mut upstream) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
        return;
    };
    if upstream.write_all(&hello).is_err() {
        return;
    }
    let (mut up_read, mut down_write) =
        (upstream.try_clone().unwrap(), client.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut down_write);
        let _ = down_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut client, &mut upstream);
    let _ = upstream.shutdown(std::net::Shutdown::Write);
}
