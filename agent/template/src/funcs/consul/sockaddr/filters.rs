//! go-sockaddr's sources (`GetAllInterfaces`, `GetPrivateIP`, ...) and the
//! operations over lists of interface addresses (`include`, `sort`, `join`,
//! ...), with go-sockaddr's semantics, quirks included (`include "type"
//! "ipv4|ipv6"` lists an address once per type it matches, as go-sockaddr does).

use super::addr::{FORWARDING_BLACKLIST, IfAddr, Prefix, SortKey, go_sort, in_rfc, rfc_networks};
use crate::world::{Environment, NetInterface};

/// What the host offers: every interface address, and the default route's
/// interface.
pub(super) struct Host {
    pub all: Vec<IfAddr>,
    pub default_if: Option<String>,
}

impl Host {
    pub fn read(env: &dyn Environment) -> Host {
        let mut all = Vec::new();
        for iface in env.network_interfaces() {
            for (ip, bits) in &iface.addrs {
                let bare = NetInterface {
                    addrs: Vec::new(),
                    ..iface.clone()
                };
                all.push(IfAddr {
                    prefix: Prefix::from_ip(*ip, *bits),
                    iface: bare,
                });
            }
        }
        Host {
            all,
            default_if: env.default_route_interface(),
        }
    }

    /// `GetDefaultInterfaces` (go-sockaddr fails when `ip route` names none).
    pub fn default_interfaces(&self) -> Result<Vec<IfAddr>, String> {
        let name = self
            .default_if
            .as_deref()
            .ok_or("no default interface found")?;
        Ok(self
            .all
            .iter()
            .filter(|a| a.iface.name == name)
            .cloned()
            .collect())
    }

    /// `GetPrivateInterfaces` (`private`) or `GetPublicInterfaces`.
    pub fn scoped_interfaces(&self, private: bool) -> Vec<IfAddr> {
        let mut addrs = by_flag("forwardable", &self.all).expect("known flag").0;
        addrs = by_flag("up", &addrs).expect("known flag").0;
        let keys = [
            (SortKey::Default, false),
            (SortKey::Type, false),
            (SortKey::Size, false),
        ];
        go_sort(&mut addrs, &keys, self.default_if.as_deref());
        let (inside, outside) = by_rfc(6890, &addrs);
        if private { inside } else { outside }
    }

    /// `GetPrivateIPs` (`private`) or `GetPublicIPs`: space-separated addresses.
    pub fn scoped_ips(&self, private: bool) -> String {
        let mut addrs = self.all.clone();
        go_sort(
            &mut addrs,
            &[(SortKey::Type, false), (SortKey::Size, false)],
            None,
        );
        let (inside, outside) = by_rfc(6890, &addrs);
        let addrs = if private {
            by_rfc(FORWARDING_BLACKLIST, &inside).1
        } else {
            outside
        };
        addresses(&addrs)
    }

    /// `GetInterfaceIP` (`first`) or `GetInterfaceIPs`.
    pub fn interface_ips(&self, name_re: &str, first: bool) -> Result<String, String> {
        let mut addrs = by_name(name_re, &self.all)?.0;
        if first {
            addrs = by_flag("forwardable", &addrs)?.0;
        }
        let addrs = sort(self, "+type,+size", &addrs)?;
        Ok(if first {
            addrs
                .first()
                .map(|a| a.prefix.ip_string())
                .unwrap_or_default()
        } else {
            addresses(&addrs)
        })
    }
}

/// The addresses alone, space-separated.
fn addresses(addrs: &[IfAddr]) -> String {
    let ips: Vec<String> = addrs.iter().map(|a| a.prefix.ip_string()).collect();
    ips.join(" ")
}

/// Splits `addrs` into those `pred` holds for and the rest.
fn split(addrs: &[IfAddr], pred: impl Fn(&IfAddr) -> bool) -> (Vec<IfAddr>, Vec<IfAddr>) {
    let (yes, no): (Vec<&IfAddr>, Vec<&IfAddr>) = addrs.iter().partition(|a| pred(a));
    (
        yes.into_iter().cloned().collect(),
        no.into_iter().cloned().collect(),
    )
}

type Split = (Vec<IfAddr>, Vec<IfAddr>);

fn by_regex(
    what: &str,
    re: &str,
    addrs: &[IfAddr],
    text: impl Fn(&IfAddr) -> String,
) -> Result<Split, String> {
    let quoted = crate::gofmt::go_quote(re);
    let re = crate::goregex::compile(re)
        .map_err(|e| format!("unable to compile {what} regexp {quoted}: {e}"))?;
    Ok(split(addrs, |a| re.is_match(&text(a))))
}

fn by_name(re: &str, addrs: &[IfAddr]) -> Result<Split, String> {
    by_regex("name", re, addrs, |a| a.iface.name.clone())
}

fn by_rfc(rfc: u64, addrs: &[IfAddr]) -> Split {
    split(addrs, |a| in_rfc(rfc, &a.prefix))
}

/// `IfByFlag`: `flags` is `|`-separated; an address matches when its
/// interface has every interface flag named, or its IP has any IP property
/// named.
fn by_flag(flags: &str, addrs: &[IfAddr]) -> Result<Split, String> {
    let mut want_iface = 0u32;
    let mut check_iface = false;
    let mut ip_flags: Vec<String> = Vec::new();
    for flag in flags.to_ascii_lowercase().split('|') {
        let iface_bit = match flag {
            "broadcast" => Some(NetInterface::BROADCAST),
            // go-sockaddr clears "up" from the wanted set: "down" alone
            // matches every address.
            "down" => {
                want_iface &= !NetInterface::UP;
                Some(0)
            }
            "loopback" => Some(NetInterface::LOOPBACK),
            "multicast" => Some(NetInterface::MULTICAST),
            "point-to-point" => Some(NetInterface::POINT_TO_POINT),
            "up" => Some(NetInterface::UP),
            _ => None,
        };
        let ip_flag = matches!(
            flag,
            "forwardable"
                | "global unicast"
                | "interface-local multicast"
                | "link-local multicast"
                | "link-local unicast"
                | "loopback"
                | "multicast"
                | "unspecified"
        );
        if iface_bit.is_none() && !ip_flag {
            return Err(format!(
                "unknown interface flag: {}",
                crate::gofmt::go_quote(flag)
            ));
        }
        if let Some(bit) = iface_bit {
            check_iface = true;
            want_iface |= bit;
        }
        if ip_flag {
            ip_flags.push(flag.to_string());
        }
    }
    Ok(split(addrs, |a| {
        (check_iface && a.iface.flags & want_iface == want_iface)
            || ip_flags.iter().any(|f| {
                if f == "forwardable" {
                    !in_rfc(FORWARDING_BLACKLIST, &a.prefix)
                } else {
                    a.prefix.ip_flag(f)
                }
            })
    }))
}

/// One RFC number, as `IfByRFC` parses it.
fn by_one_rfc(rfc: &str, addrs: &[IfAddr]) -> Result<Split, String> {
    let n: u64 = rfc
        .parse()
        .map_err(|_| format!("unable to parse RFC number {rfc:?}"))?;
    if rfc_networks(n).is_none() {
        return Err(format!("unsupported RFC {n}"));
    }
    Ok(by_rfc(n, addrs))
}

/// The selectors of `include` and `exclude`: the matching and the rest.
pub(super) fn select(selector: &str, param: &str, addrs: &[IfAddr]) -> Result<Split, String> {
    match selector.to_ascii_lowercase().as_str() {
        "address" => by_regex("address", param, addrs, |a| a.prefix.sock_string()),
        "flag" | "flags" => by_flag(param, addrs),
        "name" => by_name(param, addrs),
        "network" => {
            let mut out: Split = Default::default();
            for net in param.split('|') {
                let n = Prefix::parse(net).ok_or_else(|| {
                    format!(
                        "unable to create an IP address from {}",
                        crate::gofmt::go_quote(net)
                    )
                })?;
                let (yes, no) = split(addrs, |a| n.contains(&a.prefix));
                out.0.extend(yes);
                out.1.extend(no);
            }
            Ok(out)
        }
        "port" => by_regex("port", param, addrs, |_| "0".to_string()),
        "rfc" | "rfcs" => {
            let mut out: Split = Default::default();
            for rfc in param.split('|') {
                let (yes, no) = by_one_rfc(rfc, addrs)
                    .map_err(|e| format!("unable to lookup RFC number {rfc:?}: {e}"))?;
                out.0.extend(yes);
                out.1.extend(no);
            }
            Ok(out)
        }
        "size" => {
            let size: u64 = param
                .parse()
                .map_err(|_| format!("invalid exclude size argument ({param:?})"))?;
            for a in addrs {
                let width = u64::from(a.prefix.width());
                if size > width {
                    let family = if a.prefix.v6 { "IPv6" } else { "IPv4" };
                    return Err(format!(
                        "mask size out of bounds for {family} address: {size}"
                    ));
                }
            }
            Ok(split(addrs, |a| u64::from(a.prefix.bits) == size))
        }
        "type" => {
            let types: Vec<String> = param
                .to_ascii_lowercase()
                .split('|')
                .map(str::to_string)
                .collect();
            if let Some(bad) = types
                .iter()
                .find(|t| !matches!(t.as_str(), "ip" | "ipv4" | "ipv6" | "unix"))
            {
                return Err(format!("unsupported type {bad:?} {param:?}"));
            }
            let mut out: Split = Default::default();
            for a in addrs {
                for t in &types {
                    let hit = match t.as_str() {
                        "ip" => true,
                        "ipv4" => !a.prefix.v6,
                        "ipv6" => a.prefix.v6,
                        _ => false,
                    };
                    if hit {
                        out.0.push(a.clone());
                    } else {
                        out.1.push(a.clone());
                    }
                }
            }
            Ok(out)
        }
        _ => Err(String::new()),
    }
}

/// `SortIfBy`: comma-separated clauses, each `[+-]key`.
pub(super) fn sort(host: &Host, clauses: &str, addrs: &[IfAddr]) -> Result<Vec<IfAddr>, String> {
    let mut keys = Vec::new();
    for clause in clauses.split(',') {
        let c = clause.trim().to_ascii_lowercase();
        let (descending, name) = match c.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, c.strip_prefix('+').unwrap_or(&c)),
        };
        let key = match name {
            "address" => SortKey::Address,
            "default" => SortKey::Default,
            "name" => SortKey::Name,
            "port" => SortKey::Port,
            "private" => SortKey::Private,
            "size" => SortKey::Size,
            "type" => SortKey::Type,
            _ => return Err(format!("unknown sort type: {clause:?}")),
        };
        keys.push((key, descending));
    }
    let mut out = addrs.to_vec();
    go_sort(&mut out, &keys, host.default_if.as_deref());
    Ok(out)
}

/// `UniqueIfAddrsBy`: drops an address equal (by `address` or `name`) to the
/// one before it.
pub(super) fn unique(selector: &str, addrs: &[IfAddr]) -> Result<Vec<IfAddr>, String> {
    let key = |a: &IfAddr| match selector.to_ascii_lowercase().as_str() {
        "address" => Ok(a.prefix.sock_string()),
        "name" => Ok(a.iface.name.clone()),
        _ => Err(format!(
            "unsupported unique constraint {}",
            crate::gofmt::go_quote(selector)
        )),
    };
    let mut out = Vec::new();
    let mut last = String::new();
    for a in addrs {
        let k = key(a)?;
        if last.is_empty() || last != k {
            last = k;
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// `OffsetIfAddrs`: skips `off` addresses, or keeps the last `-off`.
pub(super) fn offset(off: i64, addrs: &[IfAddr]) -> Result<Vec<IfAddr>, String> {
    let n = usize::try_from(off.unsigned_abs()).unwrap_or(usize::MAX);
    if n > addrs.len() {
        return Err(format!(
            "unable to seek past the end of the interface array: offset ({n}) exceeds the number of interfaces ({})",
            addrs.len()
        ));
    }
    Ok(if off < 0 {
        addrs[addrs.len() - n..].to_vec()
    } else {
        addrs[n..].to_vec()
    })
}

/// `IfAddrsMath` over every address.
pub(super) fn math(operation: &str, value: &str, addrs: &[IfAddr]) -> Result<Vec<IfAddr>, String> {
    addrs
        .iter()
        .map(|a| {
            let prefix = a.prefix.math(operation, value).map_err(|e| {
                format!(
                    "unable to perform an IPMath operation on {}: {e}",
                    a.go_string()
                )
            })?;
            Ok(IfAddr {
                prefix,
                iface: a.iface.clone(),
            })
        })
        .collect()
}
