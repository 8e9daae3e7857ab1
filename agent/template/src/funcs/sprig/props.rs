//! Property test for the Sprig families in this directory: every function,
//! called with any mix of awkward arguments (multi-byte text, negative and
//! huge counts, nil, lists, maps, bad patterns), returns a value or an error
//! and never panics.

use proptest::prelude::*;

use crate::testing::render_text;

/// The families this property covers.
fn names() -> Vec<&'static str> {
    [
        super::strings::FUNCS,
        super::words::FUNCS,
        super::random::FUNCS,
        super::convert::FUNCS,
        super::regex::FUNCS,
        super::encoding::FUNCS,
        super::paths::FUNCS,
        super::url::FUNCS,
        super::defaults::FUNCS,
        super::reflect::FUNCS,
        super::os::FUNCS,
        super::semver::FUNCS,
    ]
    .iter()
    .flat_map(|f| f.iter().map(|d| d.name))
    .collect()
}

/// Argument expressions, written as template source.
const ARGS: &[&str] = &[
    r#""""#,
    r#""héllo wörld ǆ ß İ""#,
    r#""a,b,,c""#,
    r#""  x\ty\n""#,
    r#""é é é é é""#,
    "-1",
    "0",
    "3",
    "7",
    "1000000000000",
    "-9223372036854775808",
    "2.5",
    "nil",
    "true",
    r#"(sprig_splitList "," "a,b")"#,
    r#"(parseJSON "[1,null,\"x\",[]]")"#,
    r#"(parseJSON "{\"host\":\"h\",\"path\":\"p q\",\"userinfo\":\"u:p\"}")"#,
    r#""([""#,
    r#""^a+$""#,
    r#""\\""#,
    r#""a**""#,
    r#""${X}$Y $""#,
    r#""1.2.3-rc.1""#,
    r#"">=1, <2 || 3.x""#,
    r#""aGk=""#,
    r#""%zz""#,
    r#""http://u@h:1/p?q#f""#,
    r#""0x1F""#,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn sprig_functions_never_panic(
        f in prop::sample::select(names()),
        args in prop::collection::vec(prop::sample::select(ARGS), 0..4),
    ) {
        let _ = render_text(&format!("{{{{ {f} {} }}}}", args.join(" ")));
    }
}
