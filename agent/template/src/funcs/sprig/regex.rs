//! Sprig's regular expressions (`regex.go`, Go's RE2 syntax). The plain
//! forms panic on a bad pattern (Go's template engine reports the panic as
//! the call's error) except `regexMatch`, which answers false; the `must`
//! forms return the compile error. Either way the template fails, so both
//! share one implementation here.
//!
//! Note the argument order: the pattern first, then the string, then the
//! replacement (`regexReplaceAll RE STR REPL`), unlike consul-template's
//! `regexReplaceAll RE REPL STR`.

use crate::funcs::{Call, Def, FResult, def, nargs, str_args, want_int, want_str};
use crate::goregex::compile;
use crate::limits::check_growth;
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_regexMatch", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        Ok(Value::Bool(compile(a[0]).is_ok_and(|re| re.is_match(a[1]))))
    }),
    def("sprig_mustRegexMatch", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        Ok(Value::Bool(compile(a[0])?.is_match(a[1])))
    }),
    def("sprig_regexFind", find),
    def("sprig_mustRegexFind", find),
    def("sprig_regexFindAll", find_all),
    def("sprig_mustRegexFindAll", find_all),
    def("sprig_regexReplaceAll", |c| replace_all(c, true)),
    def("sprig_mustRegexReplaceAll", |c| replace_all(c, true)),
    def("sprig_regexReplaceAllLiteral", |c| replace_all(c, false)),
    def("sprig_mustRegexReplaceAllLiteral", |c| {
        replace_all(c, false)
    }),
    def("sprig_regexSplit", split),
    def("sprig_mustRegexSplit", split),
    def("sprig_regexQuoteMeta", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        Ok(Value::str(&quote_meta(s)))
    }),
];

/// `regexFind RE STR`: the leftmost match, or "".
fn find(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    let re = compile(a[0])?;
    Ok(Value::str(re.find(a[1]).map_or("", |m| m.as_str())))
}

/// Go's `n` of the `FindAll`/`Split` family: a negative one means no limit.
fn limit(n: i64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `regexFindAll RE STR N`: up to N matches (all if N < 0); no match is a nil
/// slice.
fn find_all(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 3)?;
    let pattern = want_str(&c.args[0])?;
    let s = want_str(&c.args[1])?;
    let n = want_int(&c.args[2])?;
    let re = compile(pattern)?;
    let found: Vec<String> = re
        .find_iter(s)
        .take(limit(n))
        .map(|m| m.as_str().to_string())
        .collect();
    Ok(if found.is_empty() {
        Value::Strings(None)
    } else {
        Value::strings(found)
    })
}

/// `regexReplaceAll RE STR REPL` (`$1`, `${name}` expanded as Go's
/// `Regexp.Expand` does) or its `Literal` form.
fn replace_all(c: &mut Call<'_>, expand: bool) -> FResult {
    let a = str_args(c.name, &c.args, 3)?;
    let re = compile(a[0])?;
    let (s, repl) = (a[1], a[2]);
    // An expansion copies at most the whole input per match.
    let per_hit = if expand && repl.contains('$') {
        repl.len() + s.len()
    } else {
        repl.len()
    };
    check_growth(s.len(), re.find_iter(s).count() + 1, per_hit)?;
    Ok(Value::str(&if expand {
        crate::goregex::replace_all(&re, s, repl)
    } else {
        re.replace_all(s, regex::NoExpand(repl)).into_owned()
    }))
}

/// `regexSplit RE STR N`: Go's `Regexp.Split`.
fn split(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 3)?;
    let pattern = want_str(&c.args[0])?;
    let s = want_str(&c.args[1])?;
    let n = want_int(&c.args[2])?;
    let re = compile(pattern)?;
    if n == 0 {
        return Ok(Value::Strings(None));
    }
    if !pattern.is_empty() && s.is_empty() {
        return Ok(Value::strings(vec![String::new()]));
    }
    let mut parts = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in re.find_iter(s).take(limit(n)) {
        if n > 0 && parts.len() as i64 == n - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            parts.push(s[beg..end].to_string());
        }
        beg = m.end();
    }
    if end != s.len() {
        parts.push(s[beg..].to_string());
    }
    Ok(Value::strings(parts))
}

/// Go's `regexp.QuoteMeta`: a backslash before each of `\.+*?()|[]{}^$`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn split_follows_go() {
        assert_eq!(
            render_text(r#"{{ sprig_regexSplit "a" "banana" -1 }}|{{ sprig_regexSplit "a" "banana" 2 }}|{{ sprig_regexSplit "" "abc" -1 }}|{{ len (sprig_regexSplit "x" "" -1) }}"#).unwrap(),
            "[b n n ]|[b nana]|[a b c]|1"
        );
    }

    #[test]
    fn bad_patterns_fail_except_in_regex_match() {
        assert_eq!(
            render_text(r#"{{ sprig_regexMatch "(" "x" }}"#).unwrap(),
            "false"
        );
        for f in [
            "sprig_mustRegexMatch \"(\" \"x\"",
            "sprig_regexFind \"(\" \"x\"",
            "sprig_regexFindAll \"(\" \"x\" 1",
        ] {
            let err = render_text(&format!("{{{{ {f} }}}}")).unwrap_err();
            assert!(err.contains("error parsing regexp"), "{err}");
        }
    }
}
