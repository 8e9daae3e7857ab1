//! Sprig's string functions (`strings.go` and the string entries of
//! `functions.go`).

use super::strval;
use crate::builtins::simple_case;
use crate::funcs::{Call, Def, FResult, def, nargs, str_args, want_int, want_str};
use crate::limits::MAX_OUTPUT;
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_upper", |c| {
        Ok(Value::str(&simple_case(
            str_args(c.name, &c.args, 1)?[0],
            true,
        )))
    }),
    def("sprig_lower", |c| {
        Ok(Value::str(&simple_case(
            str_args(c.name, &c.args, 1)?[0],
            false,
        )))
    }),
    def("sprig_repeat", repeat),
    def("sprig_toString", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::str(&strval(&c.args[0])))
    }),
];

/// `repeat COUNT STR` (`strings.Repeat`, whose panic on a negative count Go's
/// template engine reports as the call's error).
fn repeat(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let count = want_int(&c.args[0])?;
    let s = want_str(&c.args[1])?;
    if count < 0 {
        return Err("strings: negative Repeat count".into());
    }
    if (count as usize).saturating_mul(s.len()) > MAX_OUTPUT {
        return Err("result exceeds 64 MiB".into());
    }
    Ok(Value::str(&s.repeat(count as usize)))
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn case_maps_one_character_to_one_like_go() {
        assert_eq!(
            render_text(r#"{{ "straße ǆ" | sprig_upper }}"#).unwrap(),
            "STRAßE Ǆ"
        );
        assert_eq!(
            render_text(r#"{{ "İSTANBUL" | sprig_lower }}"#).unwrap(),
            "istanbul"
        );
    }

    #[test]
    fn repeat_takes_an_int_count_and_refuses_a_negative_one() {
        assert_eq!(
            render_text(r#"{{ sprig_repeat 3 "ab" }}"#).unwrap(),
            "ababab"
        );
        let err = render_text(r#"{{ sprig_repeat -1 "x" }}"#).unwrap_err();
        assert!(
            err.contains("error calling sprig_repeat: strings: negative Repeat count"),
            "{err}"
        );
        let err = render_text(r#"{{ sprig_repeat "3" "x" }}"#).unwrap_err();
        assert!(err.contains("expected int; got string"), "{err}");
    }

    #[test]
    fn to_string_prints_like_fmt_v() {
        assert_eq!(
            render_text(r#"{{ sprig_toString 1.5 }} {{ sprig_toString nil }} {{ sprig_toString (split "," "a,b") }}"#)
                .unwrap(),
            "1.5 <nil> [a b]"
        );
    }
}
