//! A unix listener's `socket_user`, `socket_group` and `socket_mode`, parsed as bao parses
//! them (go-secure-stdlib `setFilePermissions`): user and group by number or by name
//! (`/etc/passwd`, `/etc/group`), the mode an octal string (`"0660"`, `"660"`), owner set
//! before mode. bao agent applies them only when all three are set and silently ignores one or
//! two of them; kagi applies each one that is set.

use std::path::Path;

use crate::config::Listener;
use crate::render::id_in_table;

/// What to do to the socket file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SocketPerms {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mode: Option<u32>,
}

impl SocketPerms {
    /// Reads the listener's settings; an error names the setting.
    pub fn of(listener: &Listener) -> Result<SocketPerms, String> {
        let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Ok(SocketPerms {
            uid: set(&listener.socket_user)
                .map(|u| id_of(&u, "/etc/passwd", "socket_user"))
                .transpose()?,
            gid: set(&listener.socket_group)
                .map(|g| id_of(&g, "/etc/group", "socket_group"))
                .transpose()?,
            mode: set(&listener.socket_mode)
                .map(|m| mode_of(&m))
                .transpose()?,
        })
    }

    pub fn apply(&self, path: &Path) -> Result<(), String> {
        if self.uid.is_some() || self.gid.is_some() {
            std::os::unix::fs::chown(path, self.uid, self.gid).map_err(|e| {
                format!(
                    "socket_user/socket_group: cannot set the owner of {}: {e}",
                    path.display()
                )
            })?;
        }
        if let Some(mode) = self.mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
                format!(
                    "socket_mode: cannot set the mode of {}: {e}",
                    path.display()
                )
            })?;
        }
        Ok(())
    }
}

/// Go's `strconv.ParseUint(mode, 8, 32)`: octal digits only, no sign, no `0o`.
fn mode_of(mode: &str) -> Result<u32, String> {
    let invalid = || format!("socket_mode {mode:?} is not an octal mode such as \"0660\"");
    if mode.is_empty() || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(invalid());
    }
    // Go's chmod takes only the permission bits of such a number (`FileMode(m).Perm()`):
    // "1777" sets 0777, not the sticky bit.
    u32::from_str_radix(mode, 8)
        .map(|m| m & 0o777)
        .map_err(|_| invalid())
}

/// A number, or the id of the name in `db` (`name:x:id:...`).
fn id_of(value: &str, db: &str, setting: &str) -> Result<u32, String> {
    if let Ok(id) = value.parse::<u32>() {
        return Ok(id);
    }
    let text = std::fs::read_to_string(db).unwrap_or_default();
    id_in_table(&text, value).ok_or_else(|| format!("{setting} {value:?}: no such name in {db}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_strings_as_go_parses_them() {
        assert_eq!(mode_of("0660"), Ok(0o660));
        assert_eq!(mode_of("600"), Ok(0o600));
        assert_eq!(mode_of("1777"), Ok(0o777));
        for bad in [
            "0o660",
            "660a",
            "-600",
            "+600",
            "8",
            "",
            " 600",
            "77777777777777",
        ] {
            assert!(mode_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_looked_up_and_numbers_taken_as_they_are() {
        let db = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\n";
        assert_eq!(id_in_table(db, "nobody"), Some(65534));
        assert_eq!(id_in_table(db, "root"), Some(0));
        assert_eq!(id_in_table(db, "nob"), None);
        assert_eq!(id_of("1234", "/nonexistent", "socket_user"), Ok(1234));
        let err = id_of("no-such-user", "/nonexistent", "socket_user").unwrap_err();
        assert!(
            err.contains("socket_user") && err.contains("no-such-user"),
            "{err}"
        );
    }
}
