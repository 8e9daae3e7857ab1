//! Any call of a Sprig list, dict, math or date function, with any mix of
//! argument kinds and counts, ends in a value or an error, never a panic.

use proptest::prelude::*;

use super::{date, dicts, lists, math};
use crate::testing::render_text;

const ARGS: &[&str] = &[
    "0",
    "1",
    "-1",
    "3",
    "2.5",
    "-0.5",
    "1e300",
    "nil",
    "true",
    r#""""#,
    r#""s""#,
    r#""0x10""#,
    r#""1h30m""#,
    r#""-1.5""#,
    r#""2006-01-02""#,
    r#"(sprig_list)"#,
    r#"(sprig_list 1 "a" nil)"#,
    r#"(sprig_list (sprig_list 1))"#,
    r#"(sprig_dict)"#,
    r#"(sprig_dict "a" 1 "b" (sprig_dict "c" 2))"#,
    r#"(split "," "a,b")"#,
    r#"(splitToMap "a=1" "," "=")"#,
    r#"(sprig_toDate "2006-01-02" "2020-02-29")"#,
    r#"(sprig_add 5)"#,
    "$d",
];

fn names() -> Vec<&'static str> {
    [lists::FUNCS, dicts::FUNCS, math::FUNCS, date::FUNCS]
        .iter()
        .flat_map(|f| f.iter().map(|d| d.name))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn sprig_calls_never_panic(
        f in proptest::sample::select(names()),
        args in proptest::collection::vec(proptest::sample::select(ARGS), 0..5),
        pipe_twice in any::<bool>(),
    ) {
        let call = format!("{f} {}", args.join(" "));
        let src = if pipe_twice {
            format!(r#"{{{{ $d := sprig_dict "k" 1 }}}}{{{{ ({call}) | printf "%v" }}}}{{{{ $d }}}}"#)
        } else {
            format!(r#"{{{{ $d := sprig_dict "k" 1 }}}}{{{{ {call} }}}}{{{{ toJSON $d }}}}"#)
        };
        let _ = render_text(&src);
    }
}
