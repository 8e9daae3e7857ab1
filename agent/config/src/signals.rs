//! Linux signal names and numbers: the one table the webhook checks `agent-inject-signal-*`
//! with and `kagi-agent signal` sends by.

/// Signal names as `kill -l` prints them (without `SIG`), with their x86-64/arm64 numbers.
/// Aliases (`IOT`, `POLL`) follow the name they stand for.
pub const LINUX_SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// The number of a signal written `SIGHUP`, `HUP` or `sighup` (not a number).
pub fn signal_number(name: &str) -> Option<i32> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    LINUX_SIGNALS
        .iter()
        .find(|(known, _)| *known == bare)
        .map(|(_, number)| *number)
}

/// The conventional name (`SIGHUP`) of a signal number; the first name wins over aliases.
pub fn signal_name(number: i32) -> Option<String> {
    LINUX_SIGNALS
        .iter()
        .find(|(_, known)| *known == number)
        .map(|(name, _)| format!("SIG{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_spelling_and_back() {
        for text in ["SIGHUP", "HUP", "hup", "sighup", " SIGHUP "] {
            assert_eq!(signal_number(text), Some(1), "{text:?}");
        }
        assert_eq!(signal_number("SIGIOT"), signal_number("SIGABRT"));
        assert_eq!(signal_name(6).as_deref(), Some("SIGABRT"));
        assert_eq!(signal_name(29).as_deref(), Some("SIGIO"));
        for bad in ["", "SIG", "SIGFOO", "1", "HUP1"] {
            assert_eq!(signal_number(bad), None, "{bad:?}");
        }
    }
}
