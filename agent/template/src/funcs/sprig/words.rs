//! Sprig's word and case functions, which it takes from two libraries:
//! Masterminds/goutils 1.1.1 (`abbrev abbrevboth wrap wrapWith initials
//! swapcase nospace untitle`) and huandu/xstrings 1.4.0 (`snakecase camelcase
//! kebabcase`), plus Go's deprecated `strings.Title` (`title`).
//!
//! goutils measures and cuts strings in bytes and reads some of them a byte at
//! a time (`initials`, `nospace`), so non-ASCII text comes out as it does in
//! Go; where Go would emit a broken UTF-8 sequence the result is lossy here.

use crate::builtins::{simple_lower, simple_title, simple_upper};
use crate::funcs::{Call, Def, FResult, def, nargs, str_args, want_int, want_str};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_abbrev", abbrev),
    def("sprig_abbrevboth", abbrevboth),
    def("sprig_title", |c| {
        Ok(Value::str(&go_title(str_args(c.name, &c.args, 1)?[0])))
    }),
    def("sprig_untitle", |c| {
        Ok(Value::str(&uncapitalize(str_args(c.name, &c.args, 1)?[0])))
    }),
    def("sprig_initials", |c| {
        Ok(Value::str(&initials(str_args(c.name, &c.args, 1)?[0])))
    }),
    def("sprig_swapcase", |c| {
        Ok(Value::str(&swap_case(str_args(c.name, &c.args, 1)?[0])))
    }),
    def("sprig_nospace", |c| {
        Ok(Value::str(&delete_white_space(
            str_args(c.name, &c.args, 1)?[0],
        )))
    }),
    def("sprig_wrap", wrap),
    def("sprig_wrapWith", wrap_with),
    def("sprig_snakecase", |c| {
        Ok(Value::str(&to_lower_words(
            str_args(c.name, &c.args, 1)?[0],
            '_',
        )))
    }),
    def("sprig_kebabcase", |c| {
        Ok(Value::str(&to_lower_words(
            str_args(c.name, &c.args, 1)?[0],
            '-',
        )))
    }),
    def("sprig_camelcase", |c| {
        Ok(Value::str(&to_camel_case(str_args(c.name, &c.args, 1)?[0])))
    }),
];

/// Go's `unicode.IsSpace` for a byte read as a rune (Latin-1).
fn byte_is_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ' | 0x85 | 0xA0)
}

/// Bytes as Go's `bytes.Buffer.WriteRune(rune(b))` writes them: each byte
/// becomes the character with that code (Latin-1).
fn latin1(bytes: impl Iterator<Item = u8>) -> String {
    bytes.map(char::from).collect()
}

/// `abbrev WIDTH STR`: at most WIDTH bytes, the cut marked with `...`.
fn abbrev(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let width = want_int(&c.args[0])?;
    let s = want_str(&c.args[1])?;
    if width < 4 {
        return Ok(Value::str(s));
    }
    Ok(Value::str(&abbreviate_full(s, 0, width)))
}

/// `abbrevboth LEFT RIGHT STR`.
fn abbrevboth(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 3)?;
    let left = want_int(&c.args[0])?;
    let right = want_int(&c.args[1])?;
    let s = want_str(&c.args[2])?;
    if right < 4 || (left > 0 && right < 7) {
        return Ok(Value::str(s));
    }
    Ok(Value::str(&abbreviate_full(s, left, right)))
}

/// goutils `AbbreviateFull` (its errors cannot happen after Sprig's checks).
fn abbreviate_full(s: &str, offset: i64, width: i64) -> String {
    let len = s.len() as i64;
    if s.is_empty() || len <= width {
        return s.to_string();
    }
    let cut = |from: i64, to: i64| {
        String::from_utf8_lossy(&s.as_bytes()[from as usize..to as usize]).into_owned()
    };
    let mut offset = offset.min(len);
    if len - offset < width - 3 {
        offset = len - (width - 3);
    }
    if offset <= 4 {
        return format!("{}...", cut(0, width - 3));
    }
    if offset + width - 3 < len {
        let rest = cut(offset, len);
        return format!("...{}", abbreviate_full(&rest, 0, width - 3));
    }
    format!("...{}", cut(len - (width - 3), len))
}

/// Go's `strings.Title`: the first letter after a separator in title case.
fn go_title(s: &str) -> String {
    let is_separator = |r: char| {
        if r.is_ascii() {
            return !(r.is_ascii_alphanumeric() || r == '_');
        }
        if r.is_alphanumeric() {
            return false;
        }
        r.is_whitespace()
    };
    let mut prev = ' ';
    s.chars()
        .map(|r| {
            let out = if is_separator(prev) {
                simple_title(r)
            } else {
                r
            };
            prev = r;
            out
        })
        .collect()
}

/// goutils `Uncapitalize`: the first letter of each space-separated word in
/// lower case.
fn uncapitalize(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if c.is_whitespace() {
                next = true;
                c
            } else if next {
                next = false;
                simple_lower(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils `Initials`, byte by byte.
fn initials(s: &str) -> String {
    let mut gap = true;
    latin1(s.bytes().filter(|&b| {
        if byte_is_space(b) {
            gap = true;
            false
        } else {
            std::mem::replace(&mut gap, false)
        }
    }))
}

/// goutils `DeleteWhiteSpace`, byte by byte (the input is returned as it is
/// when it has no white space).
fn delete_white_space(s: &str) -> String {
    if !s.bytes().any(byte_is_space) {
        return s.to_string();
    }
    latin1(s.bytes().filter(|&b| !byte_is_space(b)))
}

/// Go's `unicode.IsUpper` (category Lu): Rust's `is_uppercase` also
/// counts Other_Uppercase (Roman numerals, circled letters).
fn is_upper(c: char) -> bool {
    c.is_uppercase()
        && !matches!(c as u32, 0x2160..=0x216F | 0x24B6..=0x24CF | 0x1F130..=0x1F149 | 0x1F150..=0x1F169 | 0x1F170..=0x1F189)
}

/// Go's `unicode.IsLower` (category Ll), without Other_Lowercase.
fn is_lower(c: char) -> bool {
    c.is_lowercase()
        && !matches!(c as u32,
            0xAA | 0xBA | 0x2B0..=0x2B8 | 0x2C0..=0x2C1 | 0x2E0..=0x2E4 | 0x345 | 0x37A | 0x10FC
                | 0x1D2C..=0x1D6A | 0x1D78 | 0x1D9B..=0x1DBF | 0x2071 | 0x207F | 0x2090..=0x209C
                | 0x2170..=0x217F | 0x24D0..=0x24E9 | 0x2C7C..=0x2C7D | 0xA69C..=0xA69D | 0xA770
                | 0xA7F8..=0xA7F9 | 0xAB5C..=0xAB5F)
}

/// Go's `unicode.IsTitle` (category Lt).
fn is_title(c: char) -> bool {
    matches!(c as u32,
        0x1C5 | 0x1C8 | 0x1CB | 0x1F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F
            | 0x1FA8..=0x1FAF | 0x1FBC | 0x1FCC | 0x1FFC)
}

/// goutils `SwapCase`: upper and title case to lower; lower case to title
/// case at the start of a word, to upper case elsewhere.
fn swap_case(s: &str) -> String {
    let mut at_word_start = true;
    s.chars()
        .map(|c| {
            if is_upper(c) || is_title(c) {
                at_word_start = false;
                simple_lower(c)
            } else if is_lower(c) {
                if std::mem::replace(&mut at_word_start, false) {
                    simple_title(c)
                } else {
                    simple_upper(c)
                }
            } else {
                at_word_start = c.is_whitespace();
                c
            }
        })
        .collect()
}

/// `wrap WIDTH STR`.
fn wrap(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let width = want_int(&c.args[0])?;
    let s = want_str(&c.args[1])?;
    Ok(Value::str(&wrap_custom(s, width, "\n", false)))
}

/// `wrapWith WIDTH SEP STR` (long words are cut).
fn wrap_with(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 3)?;
    let width = want_int(&c.args[0])?;
    let sep = want_str(&c.args[1])?;
    let s = want_str(&c.args[2])?;
    Ok(Value::str(&wrap_custom(s, width, sep, true)))
}

/// goutils `WrapCustom`: lines broken at the last space before `width`
/// bytes; leading spaces of a new line dropped.
fn wrap_custom(s: &str, width: i64, newline: &str, wrap_long: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1) as usize;
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut offset = 0;
    while b.len() - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = width + offset + 1;
        if let Some(space) = b[offset..end].iter().rposition(|&x| x == b' ') {
            out.extend_from_slice(&b[offset..offset + space]);
            out.extend_from_slice(newline.as_bytes());
            offset += space + 1;
        } else if wrap_long {
            out.extend_from_slice(&b[offset..offset + width]);
            out.extend_from_slice(newline.as_bytes());
            offset += width;
        } else {
            let end = offset + width;
            match b[end..].iter().position(|&x| x == b' ') {
                Some(i) => {
                    out.extend_from_slice(&b[offset..end + i]);
                    out.extend_from_slice(newline.as_bytes());
                    offset = end + i + 1;
                }
                None => {
                    out.extend_from_slice(&b[offset..]);
                    offset = b.len();
                }
            }
        }
    }
    out.extend_from_slice(&b[offset..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// xstrings: `-`, `_` and white space join words.
fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// xstrings `isAlphabet`: a letter that is not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    if !c.is_alphabetic() {
        return false;
    }
    !matches!(c as u32,
        0x4E00..=0x9FCC | 0x3400..=0x4D85 | 0x20000..=0x2A6D6 | 0x2A700..=0x2B734
            | 0x2B740..=0x2B81D | 0x2B820..=0x2CEAF | 0x2CEB0..=0x2EBE0 | 0x2F800..=0x2FA1F)
}

/// Go's `unicode.IsPunct` (category P) for ASCII and the common
/// punctuation blocks.
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation()
            && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~');
    }
    matches!(c as u32,
        0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF | 0x2010..=0x2027 | 0x2030..=0x2043
            | 0x2045..=0x2051 | 0x2053..=0x205E | 0x3001..=0x3003 | 0x3008..=0x3011
            | 0x3014..=0x301F | 0xFF01..=0xFF03 | 0xFF05..=0xFF0A | 0xFF0C..=0xFF0F)
}

#[derive(Clone, Copy, PartialEq)]
enum Word {
    /// Nothing left.
    End,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// xstrings `nextWord`: the kind and text of the first word of `s`, and the
/// rest. An upper-case run before a lower-case letter leaves its last letter
/// to the next word (`HTTPServer` is `HTTP`, `Server`).
fn next_word(s: &str) -> (Word, &str, &str) {
    let mut chars = s.char_indices().peekable();
    let Some((_, first)) = chars.next() else {
        return (Word::End, "", "");
    };
    let mut end = first.len_utf8();
    let mut take_while = |end: &mut usize, keep: &dyn Fn(char) -> bool| {
        while let Some(&(i, c)) = chars.peek() {
            if !keep(c) {
                break;
            }
            *end = i + c.len_utf8();
            chars.next();
        }
    };
    let kind = if is_connector(first) {
        take_while(&mut end, &is_connector);
        Word::Connector
    } else if is_punct(first) {
        take_while(&mut end, &is_punct);
        Word::Punct
    } else if is_upper(first) {
        match s[end..].chars().next() {
            Some(c) if is_upper(c) => {
                let mut last = end;
                take_while(&mut end, &|c: char| is_upper(c));
                // `last` is where the final upper-case letter starts.
                if let Some(c) = s[..end].chars().next_back() {
                    last = end - c.len_utf8();
                }
                if s[end..].chars().next().is_some_and(is_alphabet) {
                    end = last;
                }
            }
            Some(c) if is_alphabet(c) => {
                take_while(&mut end, &|c: char| is_alphabet(c) && !is_upper(c));
            }
            _ => {}
        }
        Word::Upper
    } else if is_alphabet(first) {
        take_while(&mut end, &|c: char| is_alphabet(c) && !is_upper(c));
        Word::Alphabet
    } else if first.is_numeric() {
        take_while(&mut end, &char::is_numeric);
        Word::Number
    } else {
        take_while(&mut end, &|c: char| {
            !(is_connector(c) || is_alphabet(c) || c.is_numeric() || is_punct(c))
        });
        Word::Other
    };
    (kind, &s[..end], &s[end..])
}

/// xstrings `toLower`: upper-case and connector words lowered, connectors
/// replaced by `connector`; other words as they are.
fn push_lower(out: &mut String, kind: Word, word: &str, connector: char) {
    if kind != Word::Upper && kind != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        out.push(if is_connector(c) {
            connector
        } else if is_upper(c) {
            simple_lower(c)
        } else {
            c
        });
    }
}

/// xstrings `camelCaseToLowerCase` (`ToSnakeCase`, `ToKebabCase`).
fn to_lower_words(s: &str, connector: char) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let (mut kind, mut word, mut rest) = next_word(s);
    let ends_a_word = |k: Word| k != Word::End && k != Word::Punct && k != Word::Connector;
    while !rest.is_empty() {
        if kind != Word::Connector {
            push_lower(&mut out, kind, word, connector);
        }
        let (prev, last) = (kind, word);
        (kind, word, rest) = next_word(rest);
        match prev {
            Word::Number => {
                while kind == Word::Alphabet || kind == Word::Number {
                    push_lower(&mut out, kind, word, connector);
                    (kind, word, rest) = next_word(rest);
                }
                if ends_a_word(kind) {
                    out.push(connector);
                }
            }
            Word::Connector => push_lower(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => {
                if kind != Word::Number {
                    if kind != Word::Connector && kind != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                if rest.is_empty() {
                    continue;
                }
                let number = word;
                (kind, word, rest) = next_word(rest);
                if kind != Word::Alphabet {
                    // A number ends the word before it: "Bld4Floor" is "bld4_floor".
                    push_lower(&mut out, Word::Number, number, connector);
                    if kind != Word::Connector && kind != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                // A number followed by lower-case letters starts a word: "HTTP2xx" is "http_2xx".
                out.push(connector);
                push_lower(&mut out, Word::Number, number, connector);
                while kind == Word::Alphabet || kind == Word::Number {
                    push_lower(&mut out, kind, word, connector);
                    (kind, word, rest) = next_word(rest);
                }
                if ends_a_word(kind) {
                    out.push(connector);
                }
            }
        }
    }
    push_lower(&mut out, kind, word, connector);
    out
}

/// xstrings `ToCamelCase` (1.4.0): connectors removed and the letter after
/// each run of them upper-cased; leading connectors and the cases of other
/// letters kept.
fn to_camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut r0 = loop {
        match chars.next() {
            Some(c) if is_connector(c) => out.push(c),
            Some(c) => break simple_upper(c),
            None => {
                // xstrings writes the last connector of an all-connector string twice.
                if let Some(last) = out.chars().next_back() {
                    out.push(last);
                }
                return out;
            }
        }
    };
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            r0 = simple_upper(r0);
        } else {
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_and_kebab_split_words_like_xstrings() {
        for (input, want) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO_PATH", "go_path"),
            ("GO PATH", "go_path"),
            ("GO-PATH", "go_path"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
            ("HTTPServerID fooBar", "http_server_id_foo_bar"),
        ] {
            assert_eq!(to_lower_words(input, '_'), want, "{input}");
        }
        assert_eq!(to_lower_words("HTTPServer", '-'), "http-server");
    }

    #[test]
    fn camel_case_keeps_leading_connectors_and_other_cases() {
        assert_eq!(to_camel_case("some_words"), "SomeWords");
        assert_eq!(to_camel_case("_complex__case_"), "_Complex_Case_");
        assert_eq!(to_camel_case("HTTP_SERVER"), "HTTPSERVER");
        assert_eq!(to_camel_case("a"), "A");
        assert_eq!(to_camel_case("__"), "___");
    }

    #[test]
    fn goutils_byte_quirks() {
        assert_eq!(initials("héllo wörld"), "hw");
        assert_eq!(initials("élan vital"), "\u{c3}v");
        assert_eq!(delete_white_space("é é"), "\u{c3}\u{a9}\u{c3}\u{a9}");
        assert_eq!(delete_white_space("éé"), "éé");
        assert_eq!(wrap_custom("a b c d", 3, "\n", false), "a b\nc d");
        assert_eq!(wrap_custom("abcdefgh", 3, "|", true), "abc|def|gh");
        assert_eq!(
            abbreviate_full("Now is the time for all good men", 5, 10),
            "...s th..."
        );
    }
}
