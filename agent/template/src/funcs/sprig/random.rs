//! Sprig's random strings: `randAlphaNum randAlpha randAscii randNumeric`
//! (goutils' `CryptoRandom*`, from the operating system's CSPRNG) and
//! `shuffle` (xstrings: the characters of a string in random order).

use crate::funcs::{Call, Def, FResult, def, nargs, str_args, want_int};
use crate::limits::MAX_OUTPUT;
use crate::value::Value;

const DIGITS: &str = "0123456789";
const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALPHANUM: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Printable ASCII, space to `~` (goutils: codes 32 to 126).
const ASCII: &str = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

pub(super) const FUNCS: &[Def] = &[
    def("sprig_randAlphaNum", |c| random_string(c, ALPHANUM)),
    def("sprig_randAlpha", |c| random_string(c, LETTERS)),
    def("sprig_randNumeric", |c| random_string(c, DIGITS)),
    def("sprig_randAscii", |c| random_string(c, ASCII)),
    def("sprig_shuffle", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        let mut chars: Vec<char> = s.chars().collect();
        for i in (1..chars.len()).rev() {
            chars.swap(i, uniform(i + 1)?);
        }
        Ok(Value::str(&chars.into_iter().collect::<String>()))
    }),
];

/// A uniformly drawn number below `n` (`0 < n <= u32::MAX`), by rejection.
fn uniform(n: usize) -> Result<usize, String> {
    let n = n as u64;
    let zone = (u64::from(u32::MAX) + 1) / n * n;
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).map_err(|e| format!("random source: {e}"))?;
        let x = u64::from(u32::from_le_bytes(b));
        if x < zone {
            return Ok((x % n) as usize);
        }
    }
}

/// COUNT characters drawn from `alphabet`; a negative COUNT gives "" (goutils
/// refuses it and Sprig drops the error).
fn random_string(c: &mut Call<'_>, alphabet: &str) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let count = want_int(&c.args[0])?;
    if count <= 0 {
        return Ok(Value::str(""));
    }
    if count as u64 > MAX_OUTPUT as u64 {
        return Err("result exceeds 64 MiB".into());
    }
    let chars = alphabet.as_bytes();
    let mut out = String::with_capacity(count as usize);
    for _ in 0..count {
        out.push(char::from(chars[uniform(chars.len())?]));
    }
    Ok(Value::str(&out))
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn random_strings_have_the_length_and_alphabet_asked_for() {
        let cases = [
            (
                "sprig_randAlphaNum",
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            ),
            (
                "sprig_randAlpha",
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            ),
            ("sprig_randNumeric", "0123456789"),
        ];
        for (f, alphabet) in cases {
            let out = render_text(&format!("{{{{ {f} 200 }}}}")).unwrap();
            assert_eq!(out.len(), 200, "{f}");
            assert!(out.chars().all(|c| alphabet.contains(c)), "{f}: {out}");
        }
        let out = render_text("{{ sprig_randAscii 300 }}").unwrap();
        assert_eq!(out.len(), 300);
        assert!(out.bytes().all(|b| (32..127).contains(&b)), "{out}");
        // Two draws of 40 alphanumerics are equal with probability 62^-40.
        let a = render_text("{{ sprig_randAlphaNum 40 }}").unwrap();
        let b = render_text("{{ sprig_randAlphaNum 40 }}").unwrap();
        assert_ne!(a, b);
        assert_eq!(
            render_text("{{ sprig_randAlpha -3 }}|{{ sprig_randAlpha 0 }}").unwrap(),
            "|"
        );
    }

    #[test]
    fn shuffle_keeps_the_characters() {
        let src = "abcdefghijklmnopqrstuvwxyzäöü0123456789";
        let out = render_text(&format!("{{{{ sprig_shuffle {src:?} }}}}")).unwrap();
        let mut a: Vec<char> = out.chars().collect();
        let mut b: Vec<char> = src.chars().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        assert_ne!(
            out, src,
            "39 characters left in order twice in a row is vanishingly unlikely"
        );
    }
}
