//! What an executable needs at run time: its ELF program interpreter (none for a static
//! binary) and, for dynamic ones, the shared libraries `ldd` resolves.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};

const PT_INTERP: u32 = 3;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The `PT_INTERP` path of a 64-bit little-endian ELF executable: `None` for a statically
/// linked one; an error when the bytes are not such an ELF file.
pub fn interpreter(bytes: &[u8]) -> anyhow::Result<Option<String>> {
    ensure!(
        bytes.starts_with(b"\x7fELF") && bytes.get(4) == Some(&2) && bytes.get(5) == Some(&1),
        "not a 64-bit little-endian ELF file"
    );
    let bad = || anyhow::anyhow!("truncated ELF program header table");
    let phoff = u64_at(bytes, 0x20).ok_or_else(bad)? as usize;
    let entsize = u16_at(bytes, 0x36).ok_or_else(bad)? as usize;
    let count = u16_at(bytes, 0x38).ok_or_else(bad)? as usize;
    for i in 0..count {
        let at = phoff + i * entsize;
        if u32_at(bytes, at).ok_or_else(bad)? == PT_INTERP {
            let offset = u64_at(bytes, at + 8).ok_or_else(bad)? as usize;
            let size = u64_at(bytes, at + 32).ok_or_else(bad)? as usize;
            let path = bytes.get(offset..offset + size).ok_or_else(bad)?;
            return Ok(Some(
                String::from_utf8_lossy(path)
                    .trim_end_matches('\0')
                    .to_string(),
            ));
        }
    }
    Ok(None)
}

/// The shared libraries (and the loader) a dynamic executable loads, as `ldd` lists them.
pub fn shared_libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .context("running ldd")?;
    ensure!(
        output.status.success(),
        "ldd {}: {}",
        binary.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut libraries = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_executables_name_their_loader() {
        let ls = std::fs::read("/bin/ls").unwrap();
        assert!(interpreter(&ls).unwrap().unwrap().contains("ld-linux"));
        assert!(interpreter(b"#!/bin/sh\n").is_err());
    }
}
