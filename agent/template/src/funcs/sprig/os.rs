//! Sprig's `env` and `expandenv` (the agent's environment, through
//! [`crate::Environment`]), `fail` and `hello`.

use crate::funcs::{Call, Def, FResult, def, nargs, str_args};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_env", |c| {
        let name = str_args(c.name, &c.args, 1)?[0];
        Ok(Value::str(
            &c.host.environment().env(name).unwrap_or_default(),
        ))
    }),
    def("sprig_expandenv", expandenv),
    def("sprig_fail", |c| {
        Err(str_args(c.name, &c.args, 1)?[0].to_string())
    }),
    def("sprig_hello", |c| {
        nargs(c.name, &c.args, 0)?;
        Ok(Value::str("Hello!"))
    }),
];

fn expandenv(c: &mut Call<'_>) -> FResult {
    let s = str_args(c.name, &c.args, 1)?[0];
    let env = c.host.environment();
    Ok(Value::str(&expand(s, |name| {
        env.env(name).unwrap_or_default()
    })))
}

/// Go's `os.Expand`: `$NAME` and `${NAME}` replaced by `lookup(NAME)`; a `$`
/// not followed by a name stays; `${}` and an unclosed `${` are dropped.
pub(crate) fn expand(s: &str, lookup: impl Fn(&str) -> String) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut j = 0;
    while j < b.len() {
        if b[j] == b'$' && j + 1 < b.len() {
            out.push_str(&s[copied..j]);
            let (name, width) = shell_name(&s[j + 1..]);
            match (name, width) {
                ("", w) if w > 0 => {}
                ("", _) => out.push('$'),
                (name, _) => out.push_str(&lookup(name)),
            }
            j += width;
            copied = j + 1;
        }
        j += 1;
    }
    out.push_str(&s[copied.min(s.len())..]);
    out
}

/// Go's `isShellSpecialVar`.
fn is_special(c: u8) -> bool {
    matches!(
        c,
        b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9'
    )
}

/// Go's `getShellName`: the name after a `$` and how many bytes it took.
fn shell_name(s: &str) -> (&str, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_special(b[1]) && b[2] == b'}' {
            return (&s[1..2], 3);
        }
        return match b[1..].iter().position(|&c| c == b'}') {
            Some(0) => ("", 2),
            Some(i) => (&s[1..=i], i + 2),
            None => ("", 1),
        };
    }
    if is_special(b[0]) {
        return (&s[..1], 1);
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    (&s[..n], n)
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn expand_follows_os_expand() {
        let look = |n: &str| format!("<{n}>");
        assert_eq!(
            expand("a $X b ${Y}c $ $1x ${} ${open $", look),
            "a <X> b <Y>c $ <1>x  open $"
        );
        assert_eq!(expand("no dollars", look), "no dollars");
        assert_eq!(expand("${@}${ab}", look), "<@><ab>");
    }
}
