//! Sprig's encodings (`b64enc b64dec b32enc b32dec`, standard alphabets with
//! padding) and hashes (`sha1sum sha256sum adler32sum`).
//!
//! A decode failure is not an error in Sprig: the result is Go's error text
//! (`illegal base64 data at input byte N`), so the decoders below report the
//! offset exactly where Go's do. Decoded bytes that are not UTF-8 come out
//! lossy (templates render text).

use base64::Engine as _;
use sha1::Digest as _;

use crate::builtins::hex;
use crate::funcs::{Def, def, str_args};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_b64enc", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        Ok(Value::str(
            &base64::engine::general_purpose::STANDARD.encode(s),
        ))
    }),
    def("sprig_b64dec", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        Ok(decoded(base64_decode(s.as_bytes()), "base64"))
    }),
    def("sprig_b32enc", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        Ok(Value::str(&data_encoding::BASE32.encode(s.as_bytes())))
    }),
    def("sprig_b32dec", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        Ok(decoded(base32_decode(s.as_bytes()), "base32"))
    }),
    def("sprig_sha1sum", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        Ok(Value::str(&hex(&sha1::Sha1::digest(s))))
    }),
    def("sprig_sha256sum", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        Ok(Value::str(&hex(&sha2::Sha256::digest(s))))
    }),
    def("sprig_adler32sum", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        let mut a = adler2::Adler32::new();
        a.write_slice(s.as_bytes());
        Ok(Value::str(&a.checksum().to_string()))
    }),
];

/// The decoded text, or Go's `CorruptInputError` message at byte `at`.
fn decoded(result: Result<Vec<u8>, usize>, what: &str) -> Value {
    match result {
        Ok(bytes) => Value::str(&String::from_utf8_lossy(&bytes)),
        Err(at) => Value::str(&format!("illegal {what} data at input byte {at}")),
    }
}

/// The 6-bit value of a standard base64 character.
fn b64_value(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    })
}

/// Go's `base64.StdEncoding.DecodeString`, quantum by quantum as its
/// `decodeQuantum` reads them (`\r` and `\n` skipped); the error is the
/// offset Go reports.
fn base64_decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let is_newline = |b: u8| b == b'\n' || b == b'\r';
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut quantum = [0u8; 4];
        let mut len = 4;
        let mut j = 0;
        let mut trailing = None;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(si - j);
            }
            let b = src[si];
            si += 1;
            if let Some(v) = b64_value(b) {
                quantum[j] = v;
                j += 1;
                continue;
            }
            if is_newline(b) {
                continue;
            }
            if b != b'=' || j < 2 {
                return Err(si - 1);
            }
            if j == 2 {
                // "==" is expected; the first "=" is read.
                while si < src.len() && is_newline(src[si]) {
                    si += 1;
                }
                if si == src.len() {
                    return Err(src.len());
                }
                if src[si] != b'=' {
                    return Err(si - 1);
                }
                si += 1;
            }
            while si < src.len() && is_newline(src[si]) {
                si += 1;
            }
            if si < src.len() {
                trailing = Some(si);
            }
            len = j;
            break;
        }
        let val = u32::from(quantum[0]) << 18
            | u32::from(quantum[1]) << 12
            | u32::from(quantum[2]) << 6
            | u32::from(quantum[3]);
        let bytes = [(val >> 16) as u8, (val >> 8) as u8, val as u8];
        out.extend_from_slice(&bytes[..len - 1]);
        if let Some(at) = trailing {
            return Err(at);
        }
        if len < 4 {
            break;
        }
    }
    Ok(out)
}

/// The 5-bit value of a standard base32 character.
fn b32_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'2'..=b'7' => Some(b - b'2' + 26),
        _ => None,
    }
}

/// Go's `base32.StdEncoding.DecodeString`: newlines removed first, then
/// 8-character quanta, padding checked as Go checks it.
fn base32_decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let src: Vec<u8> = src
        .iter()
        .copied()
        .filter(|&b| b != b'\n' && b != b'\r')
        .collect();
    let olen = src.len();
    let mut rest = &src[..];
    let mut out = Vec::with_capacity(olen / 8 * 5);
    let mut end = false;
    while !rest.is_empty() && !end {
        let mut quantum = [0u8; 8];
        let mut len = 8;
        let mut j = 0;
        while j < 8 {
            let Some((&b, tail)) = rest.split_first() else {
                return Err(olen - j);
            };
            rest = tail;
            if b == b'=' && j >= 2 && rest.len() < 8 {
                if rest.len() + j < 7 {
                    return Err(olen);
                }
                for k in 0..7 - j {
                    if rest.len() > k && rest[k] != b'=' {
                        return Err(olen - rest.len() + k - 1);
                    }
                }
                len = j;
                end = true;
                if matches!(len, 1 | 3 | 6) {
                    return Err(olen - rest.len() - 1);
                }
                break;
            }
            match b32_value(b) {
                Some(v) => quantum[j] = v,
                None => return Err(olen - rest.len() - 1),
            }
            j += 1;
        }
        let val = quantum.iter().fold(0u64, |acc, &v| acc << 5 | u64::from(v));
        let bytes = val.to_be_bytes();
        let n = match len {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            _ => 1,
        };
        out.extend_from_slice(&bytes[3..3 + n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_errors_name_the_byte_go_names() {
        assert_eq!(base64_decode(b"aGk="), Ok(b"hi".to_vec()));
        assert_eq!(base64_decode(b"aGVs\nbG8="), Ok(b"hello".to_vec()));
        assert_eq!(base64_decode(b"abc"), Err(0));
        assert_eq!(base64_decode(b"ab=c"), Err(2));
        assert_eq!(base64_decode(b"a"), Err(0));
        assert_eq!(base64_decode(b"YQ="), Err(3));
        assert_eq!(base64_decode(b"YQ==x"), Err(4));
        assert_eq!(base64_decode(b""), Ok(Vec::new()));
    }

    #[test]
    fn base32_errors_name_the_byte_go_names() {
        assert_eq!(base32_decode(b"NBUQ===="), Ok(b"hi".to_vec()));
        assert_eq!(base32_decode(b"ME======"), Ok(b"a".to_vec()));
        assert_eq!(base32_decode(b"ME"), Err(0));
        assert_eq!(base32_decode(b"M======="), Err(1));
        assert_eq!(base32_decode(b"ME====="), Err(7));
        assert_eq!(base32_decode(b"M1"), Err(1));
    }
}
