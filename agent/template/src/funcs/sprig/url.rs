//! Sprig's `urlParse URL` (a dict of `scheme host hostname path query opaque
//! fragment userinfo`) and `urlJoin DICT` (the URL back), following Go's
//! `net/url`: `Parse`, percent-decoding of path, fragment, userinfo and host,
//! and `URL.String` with Go's escaping rules per component.

use std::collections::BTreeMap;

use crate::funcs::{Def, FResult, def, nargs, str_args};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_urlParse", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        url_parse(s)
    }),
    def("sprig_urlJoin", |c| {
        nargs(c.name, &c.args, 1)?;
        match &c.args[0] {
            Value::Map(m) => url_join(&m.borrow()),
            Value::Nil => Err("invalid value; expected map[string]interface {}".into()),
            other => Err(format!(
                "wrong type for value; expected map[string]interface {{}}; got {}",
                other.type_name()
            )),
        }
    }),
];

/// The component an escape or unescape is for (Go's `encoding` modes).
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Path,
    Host,
    UserPassword,
    Fragment,
}

/// Go's `shouldEscape`.
fn should_escape(c: u8, part: Part) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if part == Part::Host
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            return match part {
                Part::Path => c == b'?',
                Part::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
                Part::Fragment => false,
                Part::Host => true,
            };
        }
        _ => {}
    }
    !(part == Part::Fragment && matches!(c, b'!' | b'(' | b')' | b'*'))
}

/// Go's `escape` for `part`: `%XX` (upper-case hex) for each byte to escape.
fn escape(s: &str, part: Part) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if should_escape(b, part) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Go's `unescape` for `part`; the error is Go's message.
fn unescape(s: &str, part: Part) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |x: u8| char::from(x).to_digit(16);
                let (Some(hi), Some(lo)) = (
                    b.get(i + 1).copied().and_then(hex),
                    b.get(i + 2).copied().and_then(hex),
                ) else {
                    let bad: String = s[i..].chars().take(3).collect();
                    return Err(format!("invalid URL escape {bad:?}"));
                };
                if part == Part::Host && hi < 8 && &s[i..i + 3] != "%25" {
                    return Err(format!("invalid URL escape {:?}", &s[i..i + 3]));
                }
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            c => {
                if part == Part::Host && c < 0x80 && should_escape(c, part) {
                    return Err(format!(
                        "invalid character {:?} in host name",
                        char::from(c)
                    ));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `validOptionalPort`: empty, or `:` and digits.
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// The parts of a URL that `urlParse` shows.
#[derive(Default)]
struct Url {
    scheme: String,
    opaque: String,
    user: Option<(String, Option<String>)>,
    host: String,
    path: String,
    query: String,
    fragment: String,
}

/// Go's `getScheme`.
fn split_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `url.Parse`, without the parts `urlParse` does not show.
fn parse(raw: &str) -> Result<Url, String> {
    let (rest, frag) = raw.split_once('#').unwrap_or((raw, ""));
    let wrap = |e: String| format!("parse {rest:?}: {e}");
    if rest.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(wrap("net/url: invalid control character in URL".into()));
    }
    let mut url = Url::default();
    if rest == "*" {
        url.path = "*".into();
        return Ok(url);
    }
    let (scheme, mut rest) = split_scheme(rest).map_err(wrap)?;
    url.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        url.query = q.to_string();
        rest = r;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return set_fragment(url, frag, raw);
        }
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return Err(wrap(
                "first path segment in URL cannot contain colon".into(),
            ));
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority = &rest[2..];
        let (authority, path) = match authority.find('/') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        };
        parse_authority(&mut url, authority).map_err(wrap)?;
        rest = path;
    }
    url.path = unescape(rest, Part::Path).map_err(wrap)?;
    set_fragment(url, frag, raw)
}

fn set_fragment(mut url: Url, frag: &str, raw: &str) -> Result<Url, String> {
    url.fragment = unescape(frag, Part::Fragment).map_err(|e| format!("parse {raw:?}: {e}"))?;
    Ok(url)
}

/// Go's `parseAuthority` and `parseHost`.
fn parse_authority(url: &mut Url, authority: &str) -> Result<(), String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let port_from = if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        i + 1
    } else {
        host.rfind(':').unwrap_or(host.len())
    };
    if !valid_optional_port(&host[port_from..]) {
        return Err(format!("invalid port {:?} after host", &host[port_from..]));
    }
    url.host = unescape(host, Part::Host)?;
    if let Some(info) = userinfo {
        let valid = info
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b));
        if !valid {
            return Err("net/url: invalid userinfo".into());
        }
        url.user = Some(match info.split_once(':') {
            Some((u, p)) => (
                unescape(u, Part::UserPassword)?,
                Some(unescape(p, Part::UserPassword)?),
            ),
            None => (unescape(info, Part::UserPassword)?, None),
        });
    }
    Ok(())
}

/// Go's `Userinfo.String`.
fn userinfo_string(user: &(String, Option<String>)) -> String {
    let mut s = escape(&user.0, Part::UserPassword);
    if let Some(p) = &user.1 {
        s.push(':');
        s.push_str(&escape(p, Part::UserPassword));
    }
    s
}

/// Go's `URL.Hostname`: the host without its port and brackets.
fn hostname(host: &str) -> &str {
    let mut h = host;
    if let Some(i) = h.rfind(':')
        && valid_optional_port(&h[i..])
    {
        h = &h[..i];
    }
    if h.starts_with('[') && h.ends_with(']') && h.len() >= 2 {
        h = &h[1..h.len() - 1];
    }
    h
}

fn url_parse(s: &str) -> FResult {
    let url = parse(s).map_err(|e| format!("unable to parse url: {e}"))?;
    let mut d = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        d.insert(k.to_string(), Value::str(v));
    };
    put("scheme", &url.scheme);
    put("host", &url.host);
    put("hostname", hostname(&url.host));
    put("path", &url.path);
    put("query", &url.query);
    put("opaque", &url.opaque);
    put("fragment", &url.fragment);
    put(
        "userinfo",
        &url.user.as_ref().map(userinfo_string).unwrap_or_default(),
    );
    Ok(Value::map(d))
}

/// Sprig's `dictGetOrEmpty`: a string entry, "" when absent.
fn entry(d: &BTreeMap<String, Value>, key: &str) -> Result<String, String> {
    match d.get(key) {
        None => Ok(String::new()),
        Some(Value::Str(s)) => Ok(s.to_string()),
        Some(Value::Nil) => {
            Err("runtime error: invalid memory address or nil pointer dereference".into())
        }
        Some(other) => Err(format!(
            "unable to parse {key} key, must be of type string, but {} found",
            super::reflect::kind_name(other)
        )),
    }
}

fn url_join(d: &BTreeMap<String, Value>) -> FResult {
    let mut url = Url {
        scheme: entry(d, "scheme")?,
        host: entry(d, "host")?,
        path: entry(d, "path")?,
        query: entry(d, "query")?,
        opaque: entry(d, "opaque")?,
        fragment: entry(d, "fragment")?,
        user: None,
    };
    let info = entry(d, "userinfo")?;
    if !info.is_empty() {
        let mut tmp = Url::default();
        parse_authority(&mut tmp, &format!("{info}@host")).map_err(|e| {
            format!("unable to parse userinfo in dict: parse \"proto://{info}@host\": {e}")
        })?;
        url.user = tmp.user;
    }
    Ok(Value::str(&to_string(&url)))
}

/// Go's `URL.String` for a URL without `RawPath`/`RawFragment`.
fn to_string(u: &Url) -> String {
    let mut out = String::new();
    if !u.scheme.is_empty() {
        out.push_str(&u.scheme);
        out.push(':');
    }
    if !u.opaque.is_empty() {
        out.push_str(&u.opaque);
    } else {
        if !u.scheme.is_empty() || !u.host.is_empty() || u.user.is_some() {
            if !u.host.is_empty() || !u.path.is_empty() || u.user.is_some() {
                out.push_str("//");
            }
            if let Some(user) = &u.user {
                out.push_str(&userinfo_string(user));
                out.push('@');
            }
            out.push_str(&escape(&u.host, Part::Host));
        }
        let path = if u.path == "*" {
            "*".to_string()
        } else {
            escape(&u.path, Part::Path)
        };
        if !path.is_empty() && !path.starts_with('/') && !u.host.is_empty() {
            out.push('/');
        }
        if out.is_empty() && path.split('/').next().is_some_and(|s| s.contains(':')) {
            out.push_str("./");
        }
        out.push_str(&path);
    }
    if !u.query.is_empty() {
        out.push('?');
        out.push_str(&u.query);
    }
    if !u.fragment.is_empty() {
        out.push('#');
        out.push_str(&escape(&u.fragment, Part::Fragment));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn parse_and_join_round_trip() {
        let t = r#"{{ $u := sprig_urlParse "https://al%20ice:p%40ss@Example.com:8443/a%20b/c?x=1&y=2#frag%21" }}{{ $u.scheme }}|{{ $u.host }}|{{ $u.hostname }}|{{ $u.path }}|{{ $u.query }}|{{ $u.fragment }}|{{ $u.userinfo }}|{{ sprig_urlJoin $u }}"#;
        assert_eq!(
            render_text(t).unwrap(),
            "https|Example.com:8443|Example.com|/a b/c|x=1&y=2|frag!|al%20ice:p%40ss|https://al%20ice:p%40ss@Example.com:8443/a%20b/c?x=1&y=2#frag!"
        );
        let err = render_text(r#"{{ sprig_urlParse "http://h:x/" }}"#).unwrap_err();
        assert!(err.contains("unable to parse url"), "{err}");
    }
}
