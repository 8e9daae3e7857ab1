//! `sockaddr` against a fixed host: loopback, a private LAN interface with
//! IPv4, ULA and link-local IPv6, a public interface and one that is down.

use std::net::IpAddr;

use crate::world::{Dependency, Environment, NetInterface};

struct FakeHost;

fn iface(index: u32, name: &str, flags: u32, addrs: &[(&str, u8)]) -> NetInterface {
    NetInterface {
        index,
        mtu: if name == "lo" { 65536 } else { 1500 },
        name: name.to_string(),
        hardware_addr: if name == "lo" {
            String::new()
        } else {
            format!("02:00:00:00:00:0{index}")
        },
        flags,
        addrs: addrs
            .iter()
            .map(|(ip, bits)| (ip.parse::<IpAddr>().unwrap(), *bits))
            .collect(),
    }
}

impl Environment for FakeHost {
    fn lookup(&self, _dep: &Dependency) -> Option<serde_json::Value> {
        None
    }
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
    fn read_file(&self, _path: &str) -> std::io::Result<String> {
        Ok(String::new())
    }
    fn network_interfaces(&self) -> Vec<NetInterface> {
        const UP: u32 = NetInterface::UP | NetInterface::RUNNING;
        let lan = UP | NetInterface::BROADCAST | NetInterface::MULTICAST;
        vec![
            iface(
                1,
                "lo",
                UP | NetInterface::LOOPBACK,
                &[("127.0.0.1", 8), ("::1", 128)],
            ),
            iface(
                2,
                "eth0",
                lan,
                &[("10.1.2.3", 24), ("fd00::2", 64), ("fe80::1", 64)],
            ),
            iface(3, "eth1", lan, &[("203.0.114.9", 28), ("8.8.4.4", 16)]),
            iface(4, "dummy0", NetInterface::BROADCAST, &[("192.168.7.1", 24)]),
        ]
    }
    fn default_route_interface(&self) -> Option<String> {
        Some("eth0".into())
    }
}

fn run(args: &str) -> Result<String, String> {
    crate::testing::render_in(&FakeHost, &format!("{{{{ sockaddr {args} }}}}"))
}

fn ok(args: &str) -> String {
    run(args).unwrap_or_else(|e| panic!("{args}: {e}"))
}

#[test]
fn sources() {
    assert_eq!(ok(r#""GetPrivateIP""#), "10.1.2.3");
    assert_eq!(
        ok(r#""GetPrivateIPs""#),
        "10.1.2.3 192.168.7.1 fd00::2",
        "every private forwardable address, down interfaces included, IPv4 first"
    );
    assert_eq!(ok(r#""GetPublicIP""#), "8.8.4.4");
    assert_eq!(ok(r#""GetPublicIPs""#), "8.8.4.4 203.0.114.9");
    assert_eq!(ok(r#""GetInterfaceIP" "\"eth0\"""#), "10.1.2.3");
    assert_eq!(
        ok(r#""GetInterfaceIP \"lo\"""#),
        "",
        "loopback is not forwardable"
    );
    assert_eq!(
        ok(r#""GetInterfaceIPs `eth`""#),
        "8.8.4.4 10.1.2.3 203.0.114.9 fd00::2 fe80::1"
    );
    assert_eq!(
        ok(r#""GetDefaultInterfaces | join `address` `,`""#),
        "10.1.2.3,fd00::2,fe80::1"
    );
    assert_eq!(
        ok(r#""GetPrivateInterfaces | join `string` ` `""#),
        "10.1.2.3/24 fd00::2/64"
    );
    assert_eq!(
        ok(r#""GetPublicInterfaces | join `address` ` `""#),
        "8.8.4.4 203.0.114.9"
    );
}

#[test]
fn include_and_exclude_selectors() {
    let names = |filter: &str| {
        ok(&format!(
            "\"GetAllInterfaces | {filter} | join `string` ` `\""
        ))
    };
    assert_eq!(names("include `name` `^lo$`"), "127.0.0.1/8 ::1");
    assert_eq!(names("exclude `name` `eth|lo`"), "192.168.7.1/24");
    assert_eq!(
        names("include `type` `IPv6` | include `flag` `link-local unicast`"),
        "fe80::1/64"
    );
    assert_eq!(names("include `flags` `loopback`"), "127.0.0.1/8 ::1");
    assert_eq!(
        names("include `flags` `up|broadcast` | include `type` `ipv4`"),
        "10.1.2.3/24 203.0.114.9/28 8.8.4.4/16"
    );
    assert_eq!(names("include `address` `^10[.]`"), "10.1.2.3/24");
    assert_eq!(
        names("include `network` `10.0.0.0/8|fd00::/8`"),
        "10.1.2.3/24 fd00::2/64"
    );
    assert_eq!(names("include `rfc` `1918`"), "10.1.2.3/24 192.168.7.1/24");
    assert_eq!(names("include `size` `28`"), "203.0.114.9/28");
    assert_eq!(names("include `port` `^0$` | limit 2"), "127.0.0.1/8 ::1");
}

#[test]
fn sort_limit_offset_unique_attr_math() {
    let all = |rest: &str| ok(&format!("\"GetAllInterfaces | {rest}\""));
    assert_eq!(
        all("include `type` `ipv4` | sort `-address` | join `address` ` `"),
        "203.0.114.9 192.168.7.1 127.0.0.1 10.1.2.3 8.8.4.4"
    );
    assert_eq!(
        all("sort `name,-type` | unique `name` | join `name` ` `"),
        "dummy0 eth0 eth1 lo"
    );
    assert_eq!(all("offset -2 | join `address` ` `"), "8.8.4.4 192.168.7.1");
    assert_eq!(all("offset 6 | limit 1 | attr `name`"), "eth1");
    assert_eq!(
        all("include `name` `eth1` | attr `flags`"),
        "up|broadcast|multicast|running"
    );
    assert_eq!(
        all("include `name` `dummy0` | attr `network`"),
        "192.168.7.0"
    );
    assert_eq!(
        all("include `name` `dummy0` | attr `broadcast`"),
        "192.168.7.255"
    );
    assert_eq!(all("include `name` `dummy0` | attr `size`"), "256");
    assert_eq!(
        all("include `name` `dummy0` | attr `netmask`"),
        "255.255.255.0"
    );
    assert_eq!(
        all("include `name` `dummy0` | attr `last_usable`"),
        "192.168.7.254"
    );
    assert_eq!(all("include `name` `dummy0` | attr `hex`"), "c0a80701");
    assert_eq!(
        all("include `name` `dummy0` | math `address` `+5` | attr `string`"),
        "192.168.7.6/24"
    );
    assert_eq!(
        all("include `name` `dummy0` | math `network` `-1` | attr `address`"),
        "192.168.7.255"
    );
    assert_eq!(
        all("include `name` `dummy0` | math `mask` `16` | attr `string`"),
        "192.168.0.0/16"
    );
    assert_eq!(all("include `name` `nothing` | attr `address`"), "");
    assert_eq!(
        all("include `name` `lo` | limit 1"),
        "[127.0.0.1/8 {1 65536 lo  up|loopback|running}]"
    );
    assert_eq!(
        ok(r#""(GetAllInterfaces | limit 1 | attr `type`)""#),
        "IPv4"
    );
    assert_eq!(ok(r#""`a` }}-{{ . | limit 1 | attr `name`""#), "a-lo");
}

#[test]
fn errors_name_the_problem() {
    let err = |args: &str| run(args).expect_err(args);
    let e = err(r#""GetNothing""#);
    assert!(
        e.contains(r#"unable to parse template "{{ GetNothing }}": template: sockaddr.Parse:1: function "GetNothing" not defined"#),
        "{e}"
    );
    let e = err(r#""GetAllInterfaces | include `colour` `red`""#);
    assert!(
        e.contains(r#"error calling include: invalid include selector "colour""#),
        "{e}"
    );
    let e = err(r#""GetAllInterfaces | sort `speed`""#);
    assert!(e.contains(r#"unknown sort type: "speed""#), "{e}");
    let e = err(r#""GetAllInterfaces | include `flag` `shiny`""#);
    assert!(e.contains(r#"unknown interface flag: "shiny""#), "{e}");
    let e = err(r#""GetAllInterfaces | include `rfc` `42`""#);
    assert!(e.contains("unsupported RFC 42"), "{e}");
    let e = err(r#""GetAllInterfaces | offset 20""#);
    assert!(
        e.contains("offset (20) exceeds the number of interfaces (8)"),
        "{e}"
    );
    let e = err(r#""GetAllInterfaces | math `address` `5`""#);
    assert!(
        e.contains(r#"sign (+/-) is required for operation "address""#),
        "{e}"
    );
    let e = err(r#""GetPrivateIP | attr `name`""#);
    assert!(
        e.contains("unable to obtain attribute name from type string (10.1.2.3)"),
        "{e}"
    );
    let e = err(r#""GetPrivateIP | limit 1""#);
    assert!(
        e.contains("wrong type for value; expected sockaddr.IfAddrs; got string"),
        "{e}"
    );
    let e = err(r#""include `name` `lo`""#);
    assert!(
        e.contains("wrong number of args for include: want 3 got 2"),
        "{e}"
    );
    let e = err(r#""GetAllInterfaces | attr `colour`""#);
    assert!(e.contains(r#"unsupported attribute name "colour""#), "{e}");
    let e = err("1");
    assert!(e.contains("expected string; got int"), "{e}");
}

/// Fragments of the go-sockaddr language, glued in random order.
fn fragment() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let pieces = prop::sample::select(vec![
        "{{",
        "}}",
        "{{- ",
        " -}}",
        "{{/*",
        "*/}}",
        " ",
        "\n",
        ".",
        "|",
        "(",
        ")",
        "\"",
        "`",
        "\\",
        "-",
        "+",
        "0",
        "7",
        "-3",
        "99999999999999999999",
        "GetAllInterfaces",
        "GetPrivateIP",
        "GetInterfaceIPs",
        "GetDefaultInterfaces",
        "include",
        "exclude",
        "sort",
        "limit",
        "offset",
        "unique",
        "attr",
        "join",
        "math",
        "`name`",
        "`type`",
        "`flags`",
        "`network`",
        "`size`",
        "`rfc`",
        "`address`",
        "`port`",
        "`lo`",
        "`ipv6`",
        "`loopback|down`",
        "`10.0.0.0/8`",
        "`1918|6890`",
        "`128`",
        "`-size,+name`",
        "`mask`",
        "`+1`",
        "`-1`",
        "`string`",
        "`[`",
        "é",
    ]);
    prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

proptest::proptest! {
    #[test]
    fn any_input_renders_or_errors_without_panicking(text in fragment()) {
        let host = super::filters::Host::read(&FakeHost);
        let _ = super::lang::render(&text, &host);
    }
}
