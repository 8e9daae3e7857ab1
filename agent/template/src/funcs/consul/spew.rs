//! consul-template's debug functions over go-spew: `spew_sdump` (spew's
//! `Sdump`), `spew_sprintf`, and `spew_dump`/`spew_printf`, which write to
//! the agent's standard output and render nothing.
//!
//! Byte for byte with go-spew for values whose Go layout is fixed: scalars,
//! strings, lists and one-entry maps. Go ranges over a map in random order,
//! so spew prints larger maps in no fixed order; kagi prints them sorted. A
//! list's capacity follows Go's `append` growth of a JSON-decoded slice
//! (the next power of two); a `[]string` from `split` has capacity = length.

use std::fmt::Write as _;

use crate::funcs::{Call, Def, def, want_str};
use crate::gofmt::{self, go_quote};
use crate::value::{Value, fmt_v};

pub(super) const FUNCS: &[Def] = &[
    def("spew_sdump", |c| Ok(Value::str(&sdump(&c.args)))),
    def("spew_sprintf", |c| Ok(Value::str(&spew_sprintf(c)?))),
    def("spew_dump", |c| {
        let text = sdump(&c.args);
        c.host.environment().debug_output(text.as_bytes());
        Ok(Value::str(""))
    }),
    def("spew_printf", |c| {
        let text = spew_sprintf(c)?;
        c.host.environment().debug_output(text.as_bytes());
        Ok(Value::str(""))
    }),
];

fn spew_sprintf(c: &Call<'_>) -> Result<String, String> {
    let Some((format, args)) = c.args.split_first() else {
        return Err(format!(
            "wrong number of args for {}: want at least 1 got 0",
            c.name
        ));
    };
    // spew's `%v` of the values templates hold is fmt's `%v`.
    Ok(gofmt::sprintf(want_str(format)?, args))
}

/// spew's `Sdump`: each argument dumped on its own line.
pub(crate) fn sdump(args: &[Value]) -> String {
    let mut out = String::new();
    for a in args {
        match a {
            Value::Nil => out.push_str("(interface {}) <nil>"),
            v => dump(v, 0, false, &mut out),
        }
        out.push('\n');
    }
    out
}

fn indent(depth: usize, out: &mut String) {
    for _ in 0..depth {
        out.push(' ');
    }
}

/// `(len=N cap=C) ` when either is not zero.
fn len_cap(len: usize, cap: usize, out: &mut String) {
    match (len, cap) {
        (0, 0) => {}
        (l, 0) => {
            let _ = write!(out, "(len={l}) ");
        }
        (0, c) => {
            let _ = write!(out, "(cap={c}) ");
        }
        (l, c) => {
            let _ = write!(out, "(len={l} cap={c}) ");
        }
    }
}

fn dump(v: &Value, depth: usize, skip_indent: bool, out: &mut String) {
    if !skip_indent {
        indent(depth, out);
    }
    let _ = write!(out, "({}) ", dump_type(v));
    match v {
        // Scalars print as fmt's `%v` does.
        Value::Nil | Value::NilPtr(_) | Value::Bool(_) | Value::Int(_) | Value::Int64(_) => {
            fmt_v(v, out, false)
        }
        Value::Uint(_) | Value::Float(_) => fmt_v(v, out, false),
        Value::Str(s) => {
            len_cap(s.len(), 0, out);
            out.push_str(&go_quote(s));
        }
        Value::Bytes(b) => {
            len_cap(b.len(), 0, out);
            out.push_str(&go_quote(&String::from_utf8_lossy(b)));
        }
        // json.Number is a fmt.Stringer: spew prints String(), unquoted.
        Value::Number(s) => {
            len_cap(s.len(), 0, out);
            out.push_str(s);
        }
        Value::List(l) => {
            let cap = if l.is_empty() {
                0
            } else {
                l.len().next_power_of_two()
            };
            len_cap(l.len(), cap, out);
            block(l.iter(), depth, out, |e, out| {
                dump(e, depth + 1, false, out)
            });
        }
        Value::Strings(None) => out.push_str("<nil>"),
        Value::Strings(Some(l)) => {
            len_cap(l.len(), l.len(), out);
            block(l.iter(), depth, out, |e, out| {
                dump(&Value::str(e), depth + 1, false, out)
            });
        }
        Value::Map(m) => {
            len_cap(m.len(), 0, out);
            block(m.iter(), depth, out, |(k, e), out| {
                dump(&Value::str(k), depth + 1, false, out);
                out.push_str(": ");
                dump(e, depth + 1, true, out);
            });
        }
        Value::StrMap(m) => {
            len_cap(m.len(), 0, out);
            block(m.iter(), depth, out, |(k, e), out| {
                dump(&Value::str(k), depth + 1, false, out);
                out.push_str(": ");
                dump(&Value::str(e), depth + 1, true, out);
            });
        }
        Value::Struct(s) => {
            block(s.fields.iter(), depth, out, |(name, e), out| {
                indent(depth + 1, out);
                let _ = write!(out, "{name}: ");
                dump(e, depth + 1, true, out);
            });
        }
    }
}

/// The type in spew's parentheses: the concrete type of an interface value.
fn dump_type(v: &Value) -> &'static str {
    match v {
        Value::Nil => "interface {}",
        other => other.type_name(),
    }
}

/// `{`, one item per line (`,` between), `}` at `depth`.
fn block<T>(
    items: impl ExactSizeIterator<Item = T>,
    depth: usize,
    out: &mut String,
    mut item: impl FnMut(T, &mut String),
) {
    out.push_str("{\n");
    let n = items.len();
    for (i, e) in items.enumerate() {
        item(e, out);
        out.push_str(if i + 1 < n { ",\n" } else { "\n" });
    }
    indent(depth, out);
    out.push('}');
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn sdump_matches_go_spew_layout() {
        let out = render_text(
            r#"{{ spew_sdump "hi" 5 1.5 true nil (parseJSON `{"k": [1, "a", null, {"x": ""}]}`) }}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            "(string) (len=2) \"hi\"\n(int) 5\n(float64) 1.5\n(bool) true\n(interface {}) <nil>\n\
             (map[string]interface {}) (len=1) {\n (string) (len=1) \"k\": ([]interface {}) (len=4 cap=4) {\n  \
             (float64) 1,\n  (string) (len=1) \"a\",\n  (interface {}) <nil>,\n  \
             (map[string]interface {}) (len=1) {\n   (string) (len=1) \"x\": (string) \"\"\n  }\n }\n}\n"
        );
        assert_eq!(
            render_text(r#"{{ split "," "a,b" | spew_sdump }}"#).unwrap(),
            "([]string) (len=2 cap=2) {\n (string) (len=1) \"a\",\n (string) (len=1) \"b\"\n}\n"
        );
    }

    #[test]
    fn dump_and_printf_render_nothing() {
        assert_eq!(
            render_text(
                r#"[{{ spew_dump 1 }}{{ spew_printf "%d" 2 }}]{{ spew_sprintf "%s=%v" "a" 3 }}"#
            )
            .unwrap(),
            "[]a=3"
        );
    }
}
