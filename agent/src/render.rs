//! Writing rendered files.
//!
//! Files are written the consul-template way: a temp file in the destination's directory,
//! fsync, chmod, rename. Identical bytes are not rewritten, so a mtime-watching app sees no
//! change and the template's command does not run (see [`crate::template_command`]).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// What [`write_atomic`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Unchanged,
    Written,
}

/// File mode rules: the configured one, else the existing file's, else `default`.
pub fn effective_mode(configured: Option<u32>, existing: Option<u32>, default: u32) -> u32 {
    configured.or(existing).unwrap_or(default) & 0o7777
}

/// Writes `bytes` to `dest` atomically unless it already holds exactly them.
pub fn write_atomic(
    dest: &Path,
    bytes: &[u8],
    perms: Option<u32>,
    default_mode: u32,
    create_dirs: bool,
) -> io::Result<WriteOutcome> {
    let existing_mode = match fs::metadata(dest) {
        Ok(meta) => Some(meta.permissions().mode()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mode = effective_mode(perms, existing_mode, default_mode);
    if existing_mode.is_some() {
        // A read error on the existing file is a render error, not a silent overwrite.
        let current = fs::read(dest)?;
        if current == bytes {
            if existing_mode.map(|m| m & 0o7777) != Some(mode) {
                fs::set_permissions(dest, fs::Permissions::from_mode(mode))?;
            }
            return Ok(WriteOutcome::Unchanged);
        }
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.exists() {
        if !create_dirs {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("parent directory {} is missing", dir.display()),
            ));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)?;
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.kagi-{:08x}", fastrand::u32(..)));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        drop(file);
        fs::rename(&temp, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    // Persist the rename itself; a failure here is not worth failing the render for.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(WriteOutcome::Written)
}

/// Appends (or writes) one `writeToFile` side effect.
pub fn write_side_file(write: &crate::template::FileWrite) -> io::Result<()> {
    let path = Path::new(&write.path);
    let mut contents = write.contents.clone().into_bytes();
    if write.newline {
        contents.push(b'\n');
    }
    // Owners are resolved first, so an unknown name writes nothing.
    let owner = if write.user.is_empty() && write.group.is_empty() {
        None
    } else {
        let uid = owner_id(&write.user, "/etc/passwd", "user")?
            .unwrap_or_else(|| rustix::process::getuid().as_raw());
        let gid = owner_id(&write.group, "/etc/group", "group")?
            .unwrap_or_else(|| rustix::process::getgid().as_raw());
        Some((uid, gid))
    };
    if write.append {
        append(path, &contents, write.mode)?;
    } else {
        write_atomic(path, &contents, Some(write.mode), 0o644, true)?;
    }
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "writeToFile {}: cannot chown to {uid}:{gid}: {e}",
                    write.path
                ),
            )
        })?;
    }
    Ok(())
}

fn append(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)?;
    }
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// A `writeToFile` owner: `None` when not given; a name from `table` (`/etc/passwd` or
/// `/etc/group`, the files Go's `os/user` reads), else a number, as consul-template looks
/// them up.
fn owner_id(name: &str, table: &str, what: &str) -> io::Result<Option<u32>> {
    if name.is_empty() {
        return Ok(None);
    }
    let listed = fs::read_to_string(table)
        .ok()
        .and_then(|text| id_in_table(&text, name));
    listed
        .or_else(|| name.parse::<u32>().ok())
        .map(Some)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("writeToFile: unknown {what} {name:?} (not in {table}, not a number)"),
            )
        })
}

/// The id (third field) of `name` in a passwd/group style table (also the API proxy's
/// `socket_user`/`socket_group`).
pub(crate) fn id_in_table(table: &str, name: &str) -> Option<u32> {
    table.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn mode_precedence_is_configured_existing_default() {
        assert_eq!(effective_mode(Some(0o600), Some(0o640), 0o644), 0o600);
        assert_eq!(effective_mode(None, Some(0o100640), 0o644), 0o640);
        assert_eq!(effective_mode(None, None, 0o644), 0o644);
    }

    #[test]
    fn writes_atomically_and_skips_identical_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("nested/out.txt");
        assert_eq!(
            write_atomic(&dest, b"one", None, 0o644, true).unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(fs::read(&dest).unwrap(), b"one");
        assert_eq!(mode_of(&dest), 0o644);
        assert_eq!(mode_of(dest.parent().unwrap()), 0o755);
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            write_atomic(&dest, b"one", None, 0o644, true).unwrap(),
            WriteOutcome::Unchanged
        );
        assert_eq!(
            write_atomic(&dest, b"two", None, 0o644, true).unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(mode_of(&dest), 0o600, "existing mode is kept");
        write_atomic(&dest, b"three", Some(0o640), 0o644, true).unwrap();
        assert_eq!(mode_of(&dest), 0o640);
        let leftovers: Vec<_> = fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("out.txt")]);
    }

    #[test]
    fn owners_are_names_or_numbers() {
        let passwd =
            "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101::/var/lib/nginx:/sbin/nologin\n";
        assert_eq!(id_in_table(passwd, "nginx"), Some(101));
        assert_eq!(id_in_table(passwd, "root"), Some(0));
        assert_eq!(id_in_table(passwd, "ngin"), None);
        assert_eq!(owner_id("", "/etc/passwd", "user").unwrap(), None);
        assert_eq!(
            owner_id("4321", "/nonexistent", "user").unwrap(),
            Some(4321)
        );
        let err = owner_id("no-such-user-kagi", "/etc/passwd", "user").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown user \"no-such-user-kagi\""),
            "{err}"
        );
    }

    #[test]
    fn side_files_are_chowned_when_an_owner_is_given() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("side.txt");
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let write = |user: &str, group: &str| crate::template::FileWrite {
            path: path.display().to_string(),
            user: user.into(),
            group: group.into(),
            mode: 0o640,
            append: false,
            newline: true,
            contents: "x".into(),
        };
        write_side_file(&write(&uid.to_string(), &gid.to_string())).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid));
        assert_eq!(fs::read(&path).unwrap(), b"x\n");
        let err = write_side_file(&write("no-such-user-kagi", "")).unwrap_err();
        assert!(err.to_string().contains("unknown user"), "{err}");
        if uid == 0 {
            // Only root may give a file away: check a real change of owner there.
            write_side_file(&write("4321", "4322")).unwrap();
            let meta = fs::metadata(&path).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
        }
    }

    #[test]
    fn missing_parent_is_an_error_without_create_dest_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("no/out"), b"x", None, 0o644, false).unwrap_err();
        assert!(err.to_string().contains("parent directory"));
    }
}
