//! go-sockaddr's values: an interface address (`IfAddr`: an IP prefix on a
//! `net.Interface`), its attributes and how go-sockaddr prints, compares and
//! classifies it (the RFC tables).

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::world::NetInterface;

/// An IP address (port 0: interface addresses have none) with its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Prefix {
    pub v6: bool,
    /// The address, in the low 32 bits for IPv4.
    pub addr: u128,
    pub bits: u8,
}

impl Prefix {
    pub fn from_ip(ip: IpAddr, bits: u8) -> Prefix {
        match ip {
            IpAddr::V4(a) => Prefix {
                v6: false,
                addr: u128::from(u32::from(a)),
                bits: bits.min(32),
            },
            IpAddr::V6(a) => Prefix {
                v6: true,
                addr: u128::from(a),
                bits: bits.min(128),
            },
        }
    }

    /// go-sockaddr's `NewIPAddr`: `a.b.c.d[/n]` or an IPv6 address `[/n]`.
    pub fn parse(s: &str) -> Option<Prefix> {
        let (ip, bits) = match s.split_once('/') {
            Some((ip, bits)) => (ip, Some(bits.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let ip: IpAddr = ip.parse().ok()?;
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(width);
        (bits <= width).then(|| Prefix::from_ip(ip, bits))
    }

    pub fn width(&self) -> u8 {
        if self.v6 { 128 } else { 32 }
    }

    fn all_ones(&self) -> u128 {
        if self.v6 {
            u128::MAX
        } else {
            u128::from(u32::MAX)
        }
    }

    pub fn mask(&self) -> u128 {
        let host = self.width() - self.bits;
        if host >= 128 {
            0
        } else {
            self.all_ones() & !((1u128 << host) - 1)
        }
    }

    pub fn network(&self) -> u128 {
        self.addr & self.mask()
    }

    pub fn broadcast(&self) -> u128 {
        self.network() | (!self.mask() & self.all_ones())
    }

    fn with(&self, addr: u128, bits: u8) -> Prefix {
        Prefix {
            v6: self.v6,
            addr: addr & self.all_ones(),
            bits,
        }
    }

    /// `NetIP().String()`: the address alone, as Go's `net.IP` prints it.
    pub fn ip_string(&self) -> String {
        ip_text(self.v6, self.addr)
    }

    /// `SockAddr.String()`: `addr/bits`, or the address alone for a host.
    pub fn sock_string(&self) -> String {
        if self.bits == self.width() {
            self.ip_string()
        } else {
            format!("{}/{}", self.ip_string(), self.bits)
        }
    }

    pub fn type_name(&self) -> &'static str {
        if self.v6 { "IPv6" } else { "IPv4" }
    }

    /// go-sockaddr's type constants (IPv4 0x02 sorts before IPv6 0x04).
    pub fn type_rank(&self) -> u8 {
        if self.v6 { 4 } else { 2 }
    }

    /// `Contains`: `other`'s whole network lies inside this one.
    pub fn contains(&self, other: &Prefix) -> bool {
        self.v6 == other.v6
            && self.network() <= other.network()
            && self.broadcast() >= other.broadcast()
    }

    fn ip(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.addr))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.addr as u32))
        }
    }

    /// The attributes of go-sockaddr's `IPAddrAttr`, `IPv4AddrAttr` and
    /// `IPv6AddrAttr`, then `string` and `type`.
    pub fn attr(&self, name: &str) -> Option<String> {
        let width = usize::from(self.width());
        let host = |addr: u128| self.with(addr, self.width()).sock_string();
        Some(match name {
            "address" => self.ip_string(),
            "binary" => format!("{:0width$b}", self.addr),
            "hex" => format!("{:0w$x}", self.addr, w = width / 4),
            "host" => host(self.addr),
            "first_usable" => {
                let bump = u128::from(!self.v6 && self.bits < 31);
                host(self.network() + bump)
            }
            "last_usable" => {
                let bump = u128::from(!self.v6 && self.bits < 31);
                host(self.broadcast() - bump)
            }
            "mask_bits" => self.bits.to_string(),
            "netmask" => host(self.mask()),
            "network" => ip_text(self.v6, self.network()),
            "octets" => {
                let bytes = self.addr.to_be_bytes();
                let start = if self.v6 { 0 } else { 12 };
                let octets: Vec<String> = bytes[start..].iter().map(u8::to_string).collect();
                octets.join(" ")
            }
            "port" => "0".to_string(),
            "broadcast" if !self.v6 => host(self.broadcast()),
            "size" => {
                let host_bits = self.width() - self.bits;
                if host_bits == 128 {
                    "340282366920938463463374607431768211456".to_string()
                } else {
                    (1u128 << host_bits).to_string()
                }
            }
            "uint32" if !self.v6 => self.addr.to_string(),
            "uint128" if self.v6 => self.addr.to_string(),
            "string" => self.sock_string(),
            "type" => self.type_name().to_string(),
            _ => return None,
        })
    }

    /// The `math` filter's operations (go-sockaddr's `IfAddrMath`).
    pub fn math(&self, operation: &str, value: &str) -> Result<Prefix, String> {
        let signed = value.trim_start().starts_with(['+', '-']);
        let int = |bits: u32| -> Result<i64, String> {
            let n: i64 = value.parse().map_err(|_| {
                format!("unable to convert {value:?} to int for operation {operation:?}")
            })?;
            let limit = 1i64 << (bits - 1).min(62);
            if bits < 64 && (n >= limit || n < -limit) {
                return Err(format!(
                    "unable to convert {value:?} to int for operation {operation:?}"
                ));
            }
            Ok(n)
        };
        let need_sign = || -> Result<(), String> {
            if signed {
                Ok(())
            } else {
                Err(format!(
                    "sign (+/-) is required for operation {operation:?}"
                ))
            }
        };
        match operation.to_ascii_lowercase().as_str() {
            "address" => {
                need_sign()?;
                let n = int(if self.v6 { 64 } else { 33 })?;
                Ok(self.with(self.addr.wrapping_add(n as i128 as u128), self.bits))
            }
            "network" => {
                need_sign()?;
                let n = int(if self.v6 { 64 } else { 33 })?;
                let mask = self.mask();
                if !self.v6 {
                    let wrapped = if n >= 0 {
                        n as u128
                    } else {
                        (1 + n + i64::from(!(mask as u32))) as u128
                    };
                    let offset = (wrapped & u128::from(u32::MAX)) & !mask;
                    Ok(self.with(self.network().wrapping_add(offset), self.bits))
                } else if n > 0 {
                    Ok(self.with(self.network().wrapping_add(n as u128 & !mask), self.bits))
                } else {
                    let wrapped = ((-(n as i128) - 1) as u128) & !mask;
                    Ok(self.with(self.broadcast().wrapping_sub(wrapped), self.bits))
                }
            }
            "mask" => {
                let n: u8 = value
                    .parse::<u32>()
                    .ok()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| {
                        format!("unable to convert {value:?} to int for operation {operation:?}")
                    })?;
                if n > self.width() {
                    let range = if self.v6 { "ipv6" } else { "ipv4" };
                    let max = if self.v6 { 64 } else { 32 };
                    return Err(format!(
                        "parameter for operation {operation:?} on {range} addresses must be between 0 and {max}"
                    ));
                }
                let masked = self.with(self.addr, n);
                Ok(self.with(masked.network(), n.min(self.bits)))
            }
            _ => Err(format!("unsupported math operation: {operation:?}")),
        }
    }

    /// Go's `net.IP` predicates, as `IfByFlag` uses them.
    pub fn ip_flag(&self, flag: &str) -> bool {
        let ip = self.ip();
        let a = self.addr;
        match flag {
            "global unicast" => {
                !(ip.is_unspecified()
                    || ip.is_loopback()
                    || ip.is_multicast()
                    || self.ip_flag("link-local unicast")
                    || ip == IpAddr::V4(Ipv4Addr::BROADCAST))
            }
            "interface-local multicast" => self.v6 && a >> 112 & 0xff0f == 0xff01,
            "link-local multicast" if self.v6 => a >> 112 & 0xff0f == 0xff02,
            "link-local multicast" => a >> 8 == 0xe0_00_00,
            "link-local unicast" if self.v6 => a >> 118 == 0x3fa,
            "link-local unicast" => a >> 16 == 0xa9fe,
            "loopback" => ip.is_loopback(),
            "multicast" => ip.is_multicast(),
            "unspecified" => ip.is_unspecified(),
            _ => false,
        }
    }
}

fn ip_text(v6: bool, addr: u128) -> String {
    if v6 {
        let ip = Ipv6Addr::from(addr);
        match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => ip.to_string(),
        }
    } else {
        Ipv4Addr::from(addr as u32).to_string()
    }
}

/// One address of one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IfAddr {
    pub prefix: Prefix,
    pub iface: NetInterface,
}

impl IfAddr {
    /// `IfAddr.Attr`: `flags` and `name` of the interface, then the address's.
    pub fn attr(&self, name: &str) -> Result<String, String> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "flags" => return Ok(flags_text(self.iface.flags)),
            "name" if !self.iface.name.is_empty() => return Ok(self.iface.name.clone()),
            _ => {}
        }
        self.prefix
            .attr(&name)
            .ok_or_else(|| format!("unsupported attribute name {name:?}"))
    }

    /// Go's `%v` of an `IfAddr` (its `String` method).
    pub fn go_string(&self) -> String {
        let i = &self.iface;
        format!(
            "{} {{{} {} {} {} {}}}",
            self.prefix.sock_string(),
            i.index,
            i.mtu,
            i.name,
            i.hardware_addr,
            flags_text(i.flags)
        )
    }
}

/// Go's `net.Flags.String`.
pub(super) fn flags_text(flags: u32) -> String {
    const NAMES: [&str; 6] = [
        "up",
        "broadcast",
        "loopback",
        "pointtopoint",
        "multicast",
        "running",
    ];
    let set: Vec<&str> = NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| flags & (1 << bit) != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        "0".to_string()
    } else {
        set.join("|")
    }
}

/// go-sockaddr's pseudo-RFC of addresses that are never forwarded.
pub(super) const FORWARDING_BLACKLIST: u64 = 4_294_967_295;

/// The networks of go-sockaddr's `KnownRFCs` table.
pub(super) fn rfc_networks(rfc: u64) -> Option<&'static [&'static str]> {
    Some(match rfc {
        919 => &["255.255.255.255/32"],
        1122 => &["0.0.0.0/8", "127.0.0.0/8"],
        1112 | 3171 => &["224.0.0.0/4"],
        1918 => &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        2544 => &["198.18.0.0/15"],
        2765 | 4038 => &["::ffff:0:0/96"],
        2928 => &["2001::/16"],
        3056 => &["2002::/16"],
        3068 => &["192.88.99.0/24", "2002:c058:6301::/120"],
        3330 => &[
            "0.0.0.0/8",
            "10.0.0.0/8",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.2.0/24",
            "192.88.99.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "224.0.0.0/4",
            "240.0.0.0/4",
        ],
        3849 => &["2001:db8::/32"],
        3927 => &["169.254.0.0/16"],
        4193 => &["fc00::/7"],
        4291 => &[
            "::/128",
            "::1/128",
            "::/96",
            "::ffff:0:0/96",
            "fe80::/10",
            "fec0::/10",
            "ff00::/8",
        ],
        4380 => &["2001::/32"],
        4773 => &["2001::/23"],
        4843 => &["2001:10::/28"],
        5180 => &["2001:200::/48"],
        5735 => &[
            "192.0.2.0/24",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "198.18.0.0/15",
        ],
        5737 => &["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"],
        6052 => &["64:ff9b::/96"],
        6333 | 7335 => &["192.0.0.0/29"],
        6598 => &["100.64.0.0/10"],
        6666 => &["100::/64"],
        6890 => &[
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.0.0/29",
            "192.0.2.0/24",
            "192.88.99.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "240.0.0.0/4",
            "255.255.255.255/32",
            "::1/128",
            "::/128",
            "64:ff9b::/96",
            "::ffff:0:0/96",
            "100::/64",
            "2001::/16",
            "2002::/16",
            "fc00::/7",
            "fe80::/10",
        ],
        FORWARDING_BLACKLIST => &[
            "0.0.0.0/8",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "240.0.0.0/4",
            "255.255.255.255/32",
            "::1/128",
            "::/128",
            "::ffff:0:0/96",
            "2001:db8::/32",
            "2001:10::/28",
            "fe80::/10",
        ],
        _ => return None,
    })
}

/// `IsRFC`: `p` lies in one of the RFC's networks.
pub(super) fn in_rfc(rfc: u64, p: &Prefix) -> bool {
    rfc_networks(rfc)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| Prefix::parse(n))
        .any(|n| n.contains(p))
}

/// A sort clause of go-sockaddr's `SortIfBy`.
#[derive(Clone, Copy, Debug)]
pub(super) enum SortKey {
    Address,
    Default,
    Name,
    Port,
    Private,
    Size,
    Type,
}

impl SortKey {
    /// go-sockaddr's ascending comparison (0 defers to the next clause).
    pub fn cmp(self, a: &IfAddr, b: &IfAddr, default_if: Option<&str>) -> Ordering {
        let (p, q) = (&a.prefix, &b.prefix);
        match self {
            SortKey::Address if p.v6 == q.v6 => p.addr.cmp(&q.addr),
            SortKey::Size if p.v6 == q.v6 => p.bits.cmp(&q.bits),
            SortKey::Address | SortKey::Size | SortKey::Port => Ordering::Equal,
            SortKey::Name => a.iface.name.cmp(&b.iface.name),
            SortKey::Type => p.type_rank().cmp(&q.type_rank()),
            SortKey::Default => match default_if {
                None => Ordering::Equal,
                Some(d) => match (a.iface.name == d, b.iface.name == d) {
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    _ => Ordering::Equal,
                },
            },
            SortKey::Private => {
                let (x, y) = (in_rfc(6890, p), in_rfc(6890, q));
                if p.v6 != q.v6 {
                    if x { Ordering::Less } else { Ordering::Equal }
                } else {
                    y.cmp(&x)
                }
            }
        }
    }
}

/// Sorts as Go's `sort.Sort` does for the short lists interfaces give (an
/// insertion sort: the comparisons are not a total order, so the algorithm
/// decides the result).
pub(super) fn go_sort(addrs: &mut [IfAddr], keys: &[(SortKey, bool)], default_if: Option<&str>) {
    let less = |a: &IfAddr, b: &IfAddr| {
        for (key, descending) in keys {
            let mut o = key.cmp(a, b, default_if);
            if *descending {
                o = o.reverse();
            }
            match o {
                Ordering::Less => return true,
                Ordering::Greater => return false,
                Ordering::Equal => {}
            }
        }
        false
    };
    for i in 1..addrs.len() {
        let mut j = i;
        while j > 0 && less(&addrs[j], &addrs[j - 1]) {
            addrs.swap(j, j - 1);
            j -= 1;
        }
    }
}
