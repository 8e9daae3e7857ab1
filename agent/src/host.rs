//! The host's network view for `sockaddr`: interface addresses (getifaddrs
//! through `if-addrs`, the rest from `/sys/class/net`) and the default
//! route's interface (`/proc/net/route`).

use std::collections::BTreeMap;
use std::path::Path;

use kagi_template::NetInterface;

/// Linux `IFF_*` bits of `/sys/class/net/<if>/flags`, with Go's `net.Flags`
/// bit each becomes.
const LINUX_FLAGS: [(u32, u32); 5] = [
    (0x1, NetInterface::UP),
    (0x2, NetInterface::BROADCAST),
    (0x8, NetInterface::LOOPBACK),
    (0x10, NetInterface::POINT_TO_POINT),
    (0x1000, NetInterface::MULTICAST),
];

/// Every interface with at least one IP address, by index, addresses in the
/// kernel's order; empty when the host cannot be read.
pub fn network_interfaces() -> Vec<NetInterface> {
    let Ok(addrs) = if_addrs::get_if_addrs() else {
        return Vec::new();
    };
    let mut by_name: BTreeMap<String, NetInterface> = BTreeMap::new();
    for a in addrs {
        let iface = by_name
            .entry(a.name.clone())
            .or_insert_with(|| describe(&a.name, a.index.unwrap_or(0)));
        // IFF_RUNNING is not in /sys flags (the kernel adds it from the
        // operational state); getifaddrs reports it.
        if a.is_oper_up() {
            iface.flags |= NetInterface::RUNNING;
        }
        let (ip, bits) = match &a.addr {
            if_addrs::IfAddr::V4(v4) => (std::net::IpAddr::V4(v4.ip), v4.prefixlen),
            if_addrs::IfAddr::V6(v6) => (std::net::IpAddr::V6(v6.ip), v6.prefixlen),
        };
        iface.addrs.push((ip, bits));
    }
    let mut all: Vec<NetInterface> = by_name.into_values().collect();
    all.sort_by_key(|i| i.index);
    all
}

fn describe(name: &str, index: u32) -> NetInterface {
    let dir = Path::new("/sys/class/net").join(name);
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let raw = u32::from_str_radix(read("flags").trim_start_matches("0x"), 16).unwrap_or(0);
    let flags = LINUX_FLAGS
        .iter()
        .filter(|(linux, _)| raw & linux != 0)
        .fold(0, |f, (_, go)| f | go);
    let hw = read("address");
    // Go shows no hardware address when the kernel's is all zeros.
    let hardware_addr = if hw.chars().all(|c| c == '0' || c == ':') {
        String::new()
    } else {
        hw
    };
    NetInterface {
        index: read("ifindex").parse().unwrap_or(index),
        mtu: read("mtu").parse().unwrap_or(0),
        name: name.to_string(),
        hardware_addr,
        flags,
        addrs: Vec::new(),
    }
}

/// The interface of the first IPv4 default route through a gateway (what
/// go-sockaddr takes from `ip route`'s `default via ... dev IF`).
pub fn default_route_interface() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    parse_default_route(&table)
}

fn parse_default_route(table: &str) -> Option<String> {
    const RTF_GATEWAY: u32 = 0x2;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (name, dest, flags, mask) = (f.first()?, f.get(1)?, f.get(3)?, f.get(7)?);
        let flags = u32::from_str_radix(flags, 16).ok()?;
        (*dest == "00000000" && *mask == "00000000" && flags & RTF_GATEWAY != 0)
            .then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_route_needs_a_gateway() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     wg0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(parse_default_route(table).as_deref(), Some("eth0"));
        assert_eq!(parse_default_route("Iface\n"), None);
    }

    #[test]
    fn loopback_is_listed_with_its_flags() {
        let all = network_interfaces();
        let lo = all.iter().find(|i| i.name == "lo").expect("lo");
        assert_ne!(lo.flags & NetInterface::LOOPBACK, 0);
        assert_ne!(lo.flags & NetInterface::UP, 0);
        assert!(lo.addrs.contains(&("127.0.0.1".parse().unwrap(), 8)));
        assert_eq!(lo.hardware_addr, "");
    }
}
