//! Go's `fmt.Sprint`, `fmt.Sprintln`, `fmt.Sprintf` and `time.Format` for the
//! values templates handle.

use std::fmt::Write as _;

use super::value::{Value, fmt_v, format_float_g, push_quoted, push_spaced};

fn is_string_kind(v: &Value) -> bool {
    matches!(v, Value::Str(_) | Value::Number(_))
}

/// `fmt.Sprint` (spaces only between two non-strings) or `fmt.Sprintln`.
pub(crate) fn sprint(args: &[Value], ln: bool) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && (ln || (!is_string_kind(a) && !is_string_kind(&args[i - 1]))) {
            out.push(' ');
        }
        fmt_v(a, &mut out, true);
    }
    if ln {
        out.push('\n');
    }
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        // Stop early on runaway widths; the caller refuses oversized results.
        if out.len() > crate::limits::MAX_OUTPUT {
            break;
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, argi: &mut usize| {
            if chars.peek().map(|c| c.1) == Some('*') {
                chars.next();
                let v = match args.get(*argi) {
                    Some(Value::Int(i) | Value::Int64(i)) if *i >= 0 => {
                        Some((*i as usize).min(1_000_000))
                    }
                    _ => None,
                };
                *argi += 1;
                return v;
            }
            let mut n: Option<usize> = None;
            while let Some(&(_, d)) = chars.peek() {
                let Some(dv) = d.to_digit(10) else { break };
                n = Some((n.unwrap_or(0) * 10 + dv as usize).min(1_000_000));
                chars.next();
            }
            n
        };
        spec.width = num(&mut chars, &mut argi);
        if chars.peek().map(|c| c.1) == Some('.') {
            chars.next();
            spec.prec = Some(num(&mut chars, &mut argi).unwrap_or(0));
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argi += 1;
        format_arg(&mut out, arg, verb, spec);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[argi..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}=", a.type_name());
            fmt_v(a, &mut out, true);
        }
        out.push(')');
    }
    out
}

fn pad(out: &mut String, s: &str, spec: Spec, numeric: bool) {
    let len = s.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && numeric {
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'-' | b'+' | b' ') => s.split_at(1),
            _ => ("", s),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, arg: &Value, verb: char) {
    let _ = write!(out, "%!{verb}(");
    match arg {
        Value::Nil => out.push_str("<nil>"),
        a => {
            let _ = write!(out, "{}=", a.type_name());
            fmt_v(a, out, true);
        }
    }
    out.push(')');
}

/// Go's `strconv.IsPrint` for the characters it refuses in practice:
/// controls, spaces other than ' ', format characters and private use.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
            | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF
            | 0xF0000..)
}

/// Go's `strconv.Quote` (what `%q` prints).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::new();
    push_quoted(&mut out, s, |out, c| {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if !is_print(c) && (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if !is_print(c) => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
            _ => return false,
        }
        true
    });
    out
}

fn sign_int(s: String, neg: bool, spec: Spec) -> String {
    if neg {
        format!("-{s}")
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn format_arg(out: &mut String, arg: &Value, verb: char, spec: Spec) {
    match arg {
        // Containers apply the verb (and width) to each element, as Go does.
        Value::List(l) if verb != 'T' => push_spaced(out, "[", l.iter(), ']', |out, e| {
            format_elem(out, e, verb, spec)
        }),
        Value::Strings(l) if verb != 'T' => {
            push_spaced(out, "[", l.iter().flat_map(|l| l.iter()), ']', |out, e| {
                format_arg(out, &Value::str(e), verb, spec)
            })
        }
        Value::Map(m) if verb != 'T' => {
            push_spaced(out, "map[", m.borrow().iter(), ']', |out, (k, e)| {
                format_arg(out, &Value::str(k), verb, spec);
                out.push(':');
                format_elem(out, e, verb, spec);
            })
        }
        Value::StrMap(m) if verb != 'T' => {
            push_spaced(out, "map[", m.iter(), ']', |out, (k, e)| {
                format_arg(out, &Value::str(k), verb, spec);
                out.push(':');
                format_arg(out, &Value::str(e), verb, spec);
            })
        }
        Value::Struct(st) if matches!(verb, 'v' | 's') && st.stringer().is_some() => {
            pad(out, st.stringer().unwrap_or(""), spec, false)
        }
        Value::Struct(st) if verb != 'T' => {
            let open = if st.type_name.starts_with('*') {
                "&{"
            } else {
                "{"
            };
            push_spaced(out, open, st.fields.iter(), '}', |out, (_, e)| {
                format_elem(out, e, verb, spec)
            });
        }
        _ if verb == 'T' => pad(out, arg.type_name(), spec, false),
        _ if verb == 'v' => {
            let mut s = String::new();
            match arg {
                Value::Int(i) | Value::Int64(i) if spec.plus => s = format!("{i:+}"),
                Value::Str(x) | Value::Number(x) if spec.sharp => s = go_quote(x),
                _ => fmt_v(arg, &mut s, true),
            }
            pad(
                out,
                &s,
                spec,
                matches!(
                    arg,
                    Value::Int(_) | Value::Int64(_) | Value::Uint(_) | Value::Float(_)
                ),
            );
        }
        Value::Str(s) | Value::Number(s) => match verb {
            's' => {
                let t: String = match spec.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.to_string(),
                };
                pad(out, &t, spec, false);
            }
            'q' => pad(out, &go_quote(s), spec, false),
            'x' | 'X' => {
                let h: String = s
                    .bytes()
                    .map(|b| {
                        if verb == 'x' {
                            format!("{b:02x}")
                        } else {
                            format!("{b:02X}")
                        }
                    })
                    .collect();
                pad(out, &h, spec, false);
            }
            _ => bad_verb(out, arg, verb),
        },
        Value::Bool(b) => match verb {
            't' => pad(out, if *b { "true" } else { "false" }, spec, false),
            _ => bad_verb(out, arg, verb),
        },
        Value::Int(_) | Value::Int64(_) | Value::Uint(_) => {
            let (neg, mag) = match arg {
                Value::Int(i) | Value::Int64(i) => (*i < 0, i.unsigned_abs()),
                Value::Uint(u) => (false, *u),
                _ => (false, 0),
            };
            let s = match verb {
                'd' => mag.to_string(),
                'x' => format!("{mag:x}"),
                'X' => format!("{mag:X}"),
                'o' => format!("{mag:o}"),
                'b' => format!("{mag:b}"),
                'c' => {
                    let c = char::from_u32(mag as u32).unwrap_or('\u{FFFD}');
                    pad(out, &c.to_string(), spec, false);
                    return;
                }
                'q' => {
                    let c = char::from_u32(mag as u32).unwrap_or('\u{FFFD}');
                    pad(out, &format!("'{c}'"), spec, false);
                    return;
                }
                _ => {
                    bad_verb(out, arg, verb);
                    return;
                }
            };
            let s = match spec.prec {
                Some(p) if s.len() < p => format!("{}{s}", "0".repeat(p - s.len())),
                _ => s,
            };
            pad(out, &sign_int(s, neg, spec), spec, spec.prec.is_none());
        }
        Value::Float(f) => {
            let s = match verb {
                'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f.abs()),
                'e' | 'E' => {
                    let s = go_exp(f.abs(), spec.prec.unwrap_or(6));
                    if verb == 'E' { s.to_uppercase() } else { s }
                }
                'g' | 'G' => match spec.prec {
                    None => format_float_g(f.abs()),
                    Some(_) => format_float_g(f.abs()),
                },
                _ => {
                    bad_verb(out, arg, verb);
                    return;
                }
            };
            let neg = f.is_sign_negative() && *f != 0.0;
            pad(out, &sign_int(s, neg, spec), spec, true);
        }
        Value::Nil => {
            let _ = write!(out, "%!{verb}(<nil>)");
        }
        Value::NilPtr(_) => pad(out, "<nil>", spec, false),
        _ => bad_verb(out, arg, verb),
    }
}

/// An element inside a container: a nil there prints as `<nil>` whatever the verb.
fn format_elem(out: &mut String, v: &Value, verb: char, spec: Spec) {
    match v {
        Value::Nil => pad(out, "<nil>", spec, false),
        v => format_arg(out, v, verb, spec),
    }
}

/// `%e` with `prec` digits after the point and a two-digit exponent.
fn go_exp(f: f64, prec: usize) -> String {
    let s = format!("{f:.prec$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// Go's `time.Time.Format` of a Unix time in UTC.
pub(crate) fn format_time(unix: i64, layout: &str) -> String {
    crate::gotime::format(&crate::gotime::GoTime::utc(unix, 0), layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_like_go() {
        let a = [Value::str("db"), Value::Int(5432)];
        assert_eq!(sprintf("%s:%d", &a), "db:5432");
        assert_eq!(
            sprintf(
                "%q|%5s|%-5s|%05d",
                &[
                    Value::str("x"),
                    Value::str("ab"),
                    Value::str("ab"),
                    Value::Int(-42)
                ]
            ),
            "\"x\"|   ab|ab   |-0042"
        );
        assert_eq!(sprintf("%d", &[Value::str("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s %s", &[Value::str("x")]), "x %!s(MISSING)");
        assert_eq!(
            sprintf("%s", &[Value::str("x"), Value::Int(1)]),
            "x%!(EXTRA int=1)"
        );
        assert_eq!(
            sprintf(
                "%.2f %v %x",
                &[Value::Float(1.23456), Value::Float(2.5), Value::Int(255)]
            ),
            "1.23 2.5 ff"
        );
        assert_eq!(sprintf("%s", &[Value::Nil]), "%!s(<nil>)");
        let list = Value::from_json(&serde_json::json!(["a", 1, null]));
        assert_eq!(
            sprintf("%q|%v|%3v", &[list.clone(), list.clone(), list]),
            "[\"a\" \"1\" <nil>]|[a 1 <nil>]|[  a   1 <nil>]"
        );
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(
            sprint(
                &[
                    Value::str("a"),
                    Value::Int(1),
                    Value::Int(2),
                    Value::str("b")
                ],
                false
            ),
            "a1 2b"
        );
        assert_eq!(sprint(&[Value::str("a"), Value::str("b")], true), "a b\n");
    }

    #[test]
    fn time_format() {
        // 2009-11-10T23:00:00Z, a Tuesday
        assert_eq!(
            format_time(1_257_894_000, "2006-01-02T15:04:05Z07:00"),
            "2009-11-10T23:00:00Z"
        );
        assert_eq!(
            format_time(1_257_894_000, "Mon Jan _2 3:04PM 2006"),
            "Tue Nov 10 11:00PM 2009"
        );
    }
}
