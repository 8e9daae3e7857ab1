//! The one layer format the images need: an uncompressed POSIX ustar archive of regular files
//! and directories. Written by hand because a reproducible archive is a handful of fixed
//! header fields (owner 0:0, mtime 0, sorted entries), and read back with the same rules so an
//! archive with anything else in it (links, devices, `..`) is refused rather than unpacked.

use std::path::{Component, Path};

use anyhow::{Context, bail, ensure};

const BLOCK: usize = 512;

/// One entry of a layer: a directory or a regular file, path relative to the image root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        contents: Vec<u8>,
    },
}

impl Entry {
    fn path(&self) -> &str {
        match self {
            Entry::Dir { path, .. } | Entry::File { path, .. } => path,
        }
    }
}

/// The archive of `entries`, sorted by path, every parent directory present, owner 0:0 and
/// modification time 0: the same entries always give the same bytes.
pub fn write(entries: &[Entry]) -> anyhow::Result<Vec<u8>> {
    let mut all: Vec<Entry> = entries.to_vec();
    for entry in entries {
        let mut parent = Path::new(entry.path()).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            let path = dir.to_string_lossy().to_string();
            if !all.iter().any(|e| e.path() == path) {
                all.push(Entry::Dir { path, mode: 0o755 });
            }
            parent = dir.parent();
        }
    }
    all.sort_by(|a, b| a.path().cmp(b.path()));
    all.dedup_by(|a, b| a.path() == b.path());
    let mut out = Vec::new();
    for entry in &all {
        let (name, mode, kind, contents): (String, u32, u8, &[u8]) = match entry {
            Entry::Dir { path, mode } => (format!("{path}/"), *mode, b'5', &[]),
            Entry::File {
                path,
                mode,
                contents,
            } => (path.clone(), *mode, b'0', contents),
        };
        out.extend_from_slice(&header(&name, mode, kind, contents.len())?);
        out.extend_from_slice(contents);
        out.resize(out.len().next_multiple_of(BLOCK), 0);
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}

fn header(name: &str, mode: u32, kind: u8, size: usize) -> anyhow::Result<[u8; BLOCK]> {
    let mut h = [0u8; BLOCK];
    let (prefix, short) = split_name(name)?;
    h[..short.len()].copy_from_slice(short.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], size as u64);
    octal(&mut h[136..148], 0); // mtime: fixed, for reproducible layers
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    octal(&mut h[148..155], sum);
    Ok(h)
}

/// ustar keeps names up to 100 bytes, or a prefix of up to 155 bytes split at a `/`.
fn split_name(name: &str) -> anyhow::Result<(&str, &str)> {
    if name.len() <= 100 {
        return Ok(("", name));
    }
    let trimmed = name.trim_end_matches('/');
    for (i, _) in trimmed.match_indices('/') {
        let (prefix, rest) = (&name[..i], &name[i + 1..]);
        if prefix.len() <= 155 && rest.len() <= 100 {
            return Ok((prefix, rest));
        }
    }
    bail!("path {name} is too long for a ustar header")
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

fn parse_octal(field: &[u8], what: &str) -> anyhow::Result<u64> {
    let text = std::str::from_utf8(field)
        .ok()
        .map(|t| t.trim_matches(|c| c == '\0' || c == ' '))
        .with_context(|| format!("{what} is not octal text"))?;
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).with_context(|| format!("{what} {text:?} is not octal"))
}

fn field_str(field: &[u8]) -> anyhow::Result<&str> {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    std::str::from_utf8(&field[..end]).context("name is not UTF-8")
}

/// The entries of a ustar archive of files and directories; anything else is an error.
pub fn read(archive: &[u8]) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut at = 0;
    while at + BLOCK <= archive.len() {
        let h = &archive[at..at + BLOCK];
        if h.iter().all(|b| *b == 0) {
            return Ok(entries);
        }
        ensure!(
            &h[257..262] == b"ustar",
            "entry at byte {at} is not a ustar header"
        );
        let stored = parse_octal(&h[148..156], "checksum")?;
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(*b)
                }
            })
            .sum();
        ensure!(
            stored == sum,
            "entry at byte {at}: header checksum mismatch"
        );
        let prefix = field_str(&h[345..500])?;
        let short = field_str(&h[..100])?;
        let name = if prefix.is_empty() {
            short.to_string()
        } else {
            format!("{prefix}/{short}")
        };
        let path = name
            .trim_end_matches('/')
            .trim_start_matches("./")
            .to_string();
        ensure!(
            Path::new(&path)
                .components()
                .all(|c| matches!(c, Component::Normal(_))),
            "entry {name:?} leaves the image root"
        );
        let mode = parse_octal(&h[100..108], "mode")? as u32;
        let size = parse_octal(&h[124..136], "size")? as usize;
        let start = at + BLOCK;
        ensure!(start + size <= archive.len(), "entry {name:?} is cut short");
        match h[156] {
            b'0' | 0 => entries.push(Entry::File {
                path,
                mode,
                contents: archive[start..start + size].to_vec(),
            }),
            b'5' => entries.push(Entry::Dir { path, mode }),
            other => bail!(
                "entry {name:?} has type {:?}; only files and directories are unpacked",
                other as char
            ),
        }
        at = start + size.next_multiple_of(BLOCK);
    }
    bail!("archive ends without its end-of-archive blocks")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_round_trip_sorted_with_parents() {
        let entries = vec![
            Entry::File {
                path: "usr/local/bin/x".into(),
                mode: 0o755,
                contents: b"binary".to_vec(),
            },
            Entry::File {
                path: "etc/passwd".into(),
                mode: 0o644,
                contents: b"root:x:0:0::/:/nope\n".to_vec(),
            },
        ];
        let bytes = write(&entries).unwrap();
        assert_eq!(bytes, write(&entries).unwrap());
        let back = read(&bytes).unwrap();
        let paths: Vec<&str> = back.iter().map(Entry::path).collect();
        assert_eq!(
            paths,
            [
                "etc",
                "etc/passwd",
                "usr",
                "usr/local",
                "usr/local/bin",
                "usr/local/bin/x"
            ]
        );
        assert_eq!(back[5], entries[0]);
    }

    #[test]
    fn corrupt_or_escaping_archives_are_refused() {
        let mut bytes = write(&[Entry::Dir {
            path: "etc".into(),
            mode: 0o755,
        }])
        .unwrap();
        bytes[10] ^= 1;
        assert!(read(&bytes).unwrap_err().to_string().contains("checksum"));
        let escaping = write(&[Entry::Dir {
            path: "../etc".into(),
            mode: 0o755,
        }])
        .unwrap();
        assert!(read(&escaping).unwrap_err().to_string().contains("leaves"));
    }
}
