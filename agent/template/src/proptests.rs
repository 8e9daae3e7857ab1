//! Property tests: any input either parses or is refused with an error, and
//! whatever parses renders (or errors) without panicking.

use proptest::prelude::*;
use serde_json::json;

use super::*;

/// Answers every dependency with a small secret, so renders go deep.
struct AnyEnv;

impl Environment for AnyEnv {
    fn lookup(&self, dep: &Dependency) -> Option<serde_json::Value> {
        Some(match dep {
            Dependency::List { .. } => json!({"data": {"keys": ["a", "b/"]}}),
            Dependency::PkiCert { .. } => {
                json!({"Cert": "c", "Key": "k", "CA": "ca", "CAChain": ["ca"]})
            }
            Dependency::Secret { .. } => json!({
                "request_id": "r", "lease_duration": 60, "renewable": true,
                "data": {"a": "x", "n": 5, "l": [1, "two", null], "m": {"k": "v"}, "data": {"u": "p"}},
            }),
        })
    }
    fn env(&self, name: &str) -> Option<String> {
        Some(name.to_lowercase())
    }
    fn read_file(&self, _path: &str) -> std::io::Result<String> {
        Ok("file".into())
    }
}

/// Fragments of template syntax, glued together in random order.
fn fragment() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "{{",
        "}}",
        "{{- ",
        " -}}",
        "{{/*",
        "*/}}",
        " ",
        "\n",
        ".",
        ".Data",
        ".a",
        ".m.k",
        "$",
        "$x",
        "$x :=",
        "$k, $v :=",
        "=",
        "|",
        "(",
        ")",
        ",",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "nil",
        "true",
        "\"s\"",
        "\"a\\tb\"",
        "`raw`",
        "'c'",
        "1",
        "-3",
        "1.5",
        "0x1F",
        "secret",
        "secrets",
        "pkiCert",
        "\"kv/app\"",
        "\"k=v\"",
        "printf",
        "\"%s %d %v\"",
        "index",
        "len",
        "slice",
        "eq",
        "lt",
        "and",
        "or",
        "not",
        "toJSON",
        "toYAML",
        "toTOML",
        "split",
        "join",
        "\",\"",
        "add",
        "divide",
        "0",
        "executeTemplate",
        "\"t\"",
        "parseJSON",
        "parseYAML",
        "indent",
        "regexMatch",
        "\"(\"",
        "loop",
        "writeToFile",
        "text",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
}

fn check(src: &str) {
    if let Ok(t) = Template::parse("p", src, "", "") {
        let _ = render(&t, &AnyEnv, &RenderOptions::default());
        let _ = render(
            &t,
            &AnyEnv,
            &RenderOptions {
                error_on_missing_key: true,
                ..RenderOptions::default()
            },
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in ".{0,200}") {
        check(&src);
    }

    #[test]
    fn template_like_text_never_panics(src in fragment()) {
        check(&src);
    }

    #[test]
    fn custom_delimiters_never_panic(src in fragment(), l in "[\\[<{%]{1,3}", r in "[\\]>}%]{1,3}") {
        let src = src.replace("{{", &l).replace("}}", &r);
        if let Ok(t) = Template::parse("p", &src, &l, &r) {
            let _ = render(&t, &AnyEnv, &RenderOptions::default());
        }
    }

    #[test]
    fn plain_text_renders_unchanged(src in "[^{]{0,100}") {
        let t = Template::parse("p", &src, "", "").unwrap();
        prop_assert_eq!(render(&t, &AnyEnv, &RenderOptions::default()).unwrap().text().into_owned(), src);
    }
}
