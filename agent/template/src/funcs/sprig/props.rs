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

/// Sprig v3.2.3 names of the groups these families implement (from Sprig's
/// `TxtFuncMap`); each must be registered with the `sprig_` prefix.
const SPRIG_NAMES: &str = "abbrev abbrevboth trunc trim upper lower title untitle substr repeat \
    trimall trimAll trimSuffix trimPrefix nospace initials randAlphaNum randAlpha randAscii \
    randNumeric swapcase shuffle snakecase camelcase kebabcase wrap wrapWith contains hasPrefix \
    hasSuffix quote squote cat indent nindent replace plural toString sha1sum sha256sum \
    adler32sum atoi int int64 float64 toDecimal toStrings split splitList splitn join sortAlpha \
    default empty coalesce all any compact mustCompact fromJson mustFromJson toJson mustToJson \
    toPrettyJson mustToPrettyJson toRawJson mustToRawJson ternary deepCopy mustDeepCopy typeOf \
    typeIs typeIsLike kindOf kindIs deepEqual env expandenv base dir clean ext isAbs osBase \
    osClean osDir osExt osIsAbs b64enc b64dec b32enc b32dec semver semverCompare fail regexMatch \
    mustRegexMatch regexFind mustRegexFind regexFindAll mustRegexFindAll regexReplaceAll \
    mustRegexReplaceAll regexReplaceAllLiteral mustRegexReplaceAllLiteral regexSplit \
    mustRegexSplit regexQuoteMeta urlParse urlJoin hello";

#[test]
fn every_sprig_name_of_these_groups_is_registered() {
    let missing: Vec<String> = SPRIG_NAMES
        .split_whitespace()
        .map(|n| format!("sprig_{n}"))
        .filter(|n| crate::funcs::lookup(n).is_none())
        .collect();
    assert!(missing.is_empty(), "not registered: {missing:?}");
    assert_eq!(SPRIG_NAMES.split_whitespace().count(), 111);
}
