//! Go's `regexp` syntax (RE2 with Perl flags) on top of the `regex` crate.
//!
//! The two dialects agree on almost everything; where they differ a pattern
//! is rewritten before compiling, so templates match what they match in Go:
//! - `\d \w \s \b` (and their negations) are ASCII-only in Go, Unicode-aware
//!   in `regex`: they become explicit ASCII classes;
//! - `\Q...\E` quotes literal text (unknown to `regex`);
//! - inside a class, `[` (not `[:name:]`), `&` and `~` are literal in Go but
//!   nested classes and set operators in `regex`: they are escaped;
//! - Go refuses a repetition of a repetition (`a**`, `a+?*`) and counts above
//!   1000, which `regex` accepts: those are errors here too.

use regex::Regex;

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = "\\t\\n\\f\\r ";

/// Compiles a Go regular expression; the error reads like Go's
/// (`error parsing regexp: ...`) and does not repeat the pattern.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    Regex::new(&translated).map_err(|e| match e {
        regex::Error::Syntax(_) => "error parsing regexp: invalid syntax".to_string(),
        other => format!("error parsing regexp: {other}"),
    })
}

/// The ASCII class text for a Perl class letter (`d`, `w`, `s`).
fn perl_class(c: char) -> Option<&'static str> {
    match c.to_ascii_lowercase() {
        'd' => Some(DIGIT),
        'w' => Some(WORD),
        's' => Some(SPACE),
        _ => None,
    }
}

/// Copies an escape that carries a `{...}` or one-letter argument (`\x{41}`,
/// `\pL`, `\p{Greek}`) from `chars`, after its letter.
fn copy_braced(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    if chars.peek() == Some(&'{') {
        for c in chars.by_ref() {
            out.push(c);
            if c == '}' {
                break;
            }
        }
    } else if let Some(c) = chars.next() {
        out.push(c);
    }
}

/// Rewrites a Go pattern into the `regex` crate's dialect (see the module
/// documentation), or refuses it as Go would.
fn translate(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    // Whether the previous item was a repetition operator (so another one
    // right after it is Go's "invalid nested repetition operator").
    let mut after_repeat = false;
    let nested = || Err("error parsing regexp: invalid nested repetition operator".to_string());
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                after_repeat = false;
                let Some(e) = chars.next() else {
                    return Err(
                        "error parsing regexp: trailing backslash at end of expression".into(),
                    );
                };
                match e {
                    'd' | 'w' | 's' => out.push_str(&format!("[{}]", perl_class(e).unwrap_or(""))),
                    'D' | 'W' | 'S' => out.push_str(&format!("[^{}]", perl_class(e).unwrap_or(""))),
                    'b' | 'B' => out.push_str(&format!("(?-u:\\{e})")),
                    'Q' => {
                        let mut literal = String::new();
                        while let Some(q) = chars.next() {
                            if q == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            literal.push(q);
                        }
                        out.push_str(&regex::escape(&literal));
                    }
                    'x' | 'p' | 'P' => {
                        out.push('\\');
                        out.push(e);
                        copy_braced(&mut chars, &mut out);
                    }
                    e => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' => {
                after_repeat = false;
                translate_class(&mut chars, &mut out)?;
            }
            '*' | '+' | '?' => {
                if after_repeat {
                    return nested();
                }
                out.push(c);
                if chars.peek() == Some(&'?') {
                    chars.next();
                    out.push('?');
                }
                after_repeat = true;
            }
            '{' => {
                let rest: String = chars.clone().collect();
                match repeat_braces(&rest) {
                    Some((len, max)) => {
                        if after_repeat {
                            return nested();
                        }
                        if max > 1000 {
                            return Err("error parsing regexp: invalid repeat count".into());
                        }
                        out.push('{');
                        for _ in 0..len {
                            if let Some(x) = chars.next() {
                                out.push(x);
                            }
                        }
                        if chars.peek() == Some(&'?') {
                            chars.next();
                            out.push('?');
                        }
                        after_repeat = true;
                    }
                    None => {
                        // Not a repetition: a literal brace in Go.
                        out.push_str("\\{");
                        after_repeat = false;
                    }
                }
            }
            c => {
                after_repeat = false;
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// If `rest` (the text after a `{`) is a repetition `n}`, `n,}` or `n,m}`,
/// its length up to and including `}` and its largest count.
fn repeat_braces(rest: &str) -> Option<(usize, u64)> {
    let end = rest.find('}')?;
    let body = &rest[..end];
    let (lo, hi) = match body.split_once(',') {
        Some((lo, hi)) => (lo, Some(hi)),
        None => (body, None),
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().unwrap_or(u64::MAX))
    };
    let lo = num(lo)?;
    let max = match hi {
        None | Some("") => lo,
        Some(h) => num(h)?.max(lo),
    };
    Some((end + 1, max))
}

/// Translates a character class after its `[`, through its `]`.
fn translate_class(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
) -> Result<(), String> {
    out.push('[');
    if chars.peek() == Some(&'^') {
        chars.next();
        out.push('^');
    }
    // A `]` first is a literal.
    if chars.peek() == Some(&']') {
        chars.next();
        out.push_str("\\]");
    }
    while let Some(c) = chars.next() {
        match c {
            ']' => {
                out.push(']');
                return Ok(());
            }
            '\\' => {
                let Some(e) = chars.next() else { break };
                match e {
                    'd' | 'w' | 's' => out.push_str(perl_class(e).unwrap_or("")),
                    'D' | 'W' | 'S' => out.push_str(&format!("[^{}]", perl_class(e).unwrap_or(""))),
                    'x' | 'p' | 'P' => {
                        out.push('\\');
                        out.push(e);
                        copy_braced(chars, out);
                    }
                    e => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class `[:alpha:]`, the same in both dialects.
                out.push('[');
                for x in chars.by_ref() {
                    out.push(x);
                    if x == ']' {
                        break;
                    }
                }
            }
            '[' | '&' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Err("error parsing regexp: missing closing ]".into())
}

/// Go's `Regexp.ReplaceAllString`: every match of `re` in `s` replaced by
/// `template` with `$1`, `$name`, `${name}` expanded as Go's `Expand` does
/// (a malformed reference such as `${a b}` stays as written; `$$` is `$`).
pub(crate) fn replace_all(re: &Regex, s: &str, template: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&s[last..m.start()]);
        expand(re, &caps, template, &mut out);
        last = m.end();
    }
    out.push_str(&s[last..]);
    out
}

/// Go's `Regexp.expand` for one match.
fn expand(re: &Regex, caps: &regex::Captures<'_>, mut template: &str, out: &mut String) {
    while let Some((before, after)) = template.split_once('$') {
        out.push_str(before);
        template = after;
        if let Some(rest) = template.strip_prefix('$') {
            out.push('$');
            template = rest;
            continue;
        }
        let Some((name, rest)) = reference(template) else {
            out.push('$');
            continue;
        };
        template = rest;
        let group = match group_number(name) {
            Some(n) => caps.get(n),
            None => re
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(g) = group {
            out.push_str(g.as_str());
        }
    }
    out.push_str(template);
}

/// Go's `extract`: the name after a `$` (letters, digits, `_`; in braces or
/// not) and the rest of the template, or `None` when malformed.
fn reference(t: &str) -> Option<(&str, &str)> {
    let (braced, body) = match t.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, t),
    };
    let len: usize = body
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let rest = &body[len..];
    if braced {
        return rest.strip_prefix('}').map(|r| (name, r));
    }
    Some((name, rest))
}

/// A reference made of digits is a group number (no leading zeros, below 10^8).
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    name.parse().ok().filter(|n| *n < 100_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii_like_go() {
        let re = compile(r"\w+").unwrap();
        let words: Vec<&str> = re.find_iter("héllo wörld").map(|m| m.as_str()).collect();
        assert_eq!(words, ["h", "llo", "w", "rld"]);
        assert!(!compile(r"^\d$").unwrap().is_match("٣"));
        assert!(compile(r"^[\d\s]+$").unwrap().is_match("1 2"));
        assert!(compile(r"^[^\D]+$").unwrap().is_match("12"));
        // é is not an ASCII word character, so there is a boundary after x.
        assert!(compile(r"x\b").unwrap().is_match("xé"));
    }

    #[test]
    fn go_only_syntax() {
        assert!(compile(r"^\Qa.b*\E$").unwrap().is_match("a.b*"));
        assert!(compile(r"^[[a]+$").unwrap().is_match("[a["));
        assert!(compile(r"^[a&&b]+$").unwrap().is_match("&a"));
        assert!(compile(r"^a{2}$").unwrap().is_match("aa"));
        assert!(compile(r"^x{y$").unwrap().is_match("x{y"));
        assert!(compile(r"^\x{41}\pL\p{Greek}$").unwrap().is_match("Abα"));
        assert!(compile(r"a*?b+?").is_ok());
    }

    #[test]
    fn expansion_follows_go() {
        let re = compile(r"(a)(?P<n>b)?").unwrap();
        assert_eq!(
            replace_all(&re, "ab a", "[$1|$2|$n|${n}x|$nx|$01|${a b}|${x|$$|$]"),
            "[a|b|b|bx|||${a b}|${x|$|$] [a|||x|||${a b}|${x|$|$]"
        );
    }

    #[test]
    fn go_refusals() {
        for bad in [r"a**", r"a+*", r"a*?+", r"a{2}*", r"a{1001}", r"[a", r"\"] {
            assert!(compile(bad).is_err(), "{bad}");
        }
        assert!(compile(r"(a*)*").is_ok());
    }
}
