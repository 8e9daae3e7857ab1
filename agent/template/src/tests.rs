//! Unit tests of the engine as a whole: parse, render, multi-pass.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use super::*;

#[derive(Default)]
struct TestEnv {
    secrets: HashMap<Dependency, serde_json::Value>,
    vars: HashMap<String, String>,
    files: HashMap<String, String>,
}

impl TestEnv {
    fn with_secret(mut self, path: &str, data: serde_json::Value) -> Self {
        let env = json!({"request_id": "r-1", "lease_id": "", "lease_duration": 2764800, "renewable": false, "data": data, "warnings": null});
        self.secrets.insert(
            Dependency::Secret {
                path: path.into(),
                write: None,
            },
            env,
        );
        self
    }
}

impl Environment for TestEnv {
    fn lookup(&self, dep: &Dependency) -> Option<serde_json::Value> {
        self.secrets.get(dep).cloned()
    }
    fn env(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn read_file(&self, path: &str) -> std::io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
}

fn render_with(env: &TestEnv, src: &str) -> Result<Rendered, TemplateError> {
    let t = Template::parse("t", src, "", "")?;
    render(&t, env, &RenderOptions::default())
}

fn r(env: &TestEnv, src: &str) -> String {
    let out = render_with(env, src).unwrap_or_else(|e| panic!("{src}: {e}"));
    assert!(out.missing.is_empty(), "{src}: missing {:?}", out.missing);
    out.text().into_owned()
}

fn db() -> TestEnv {
    TestEnv::default()
        .with_secret("database/creds/app", json!({"username": "u1", "password": "p1"}))
        .with_secret("kv/app", json!({"data": {"user": "alice", "pass": "s3cret", "my-key": "dash"}, "metadata": {"version": 3}}))
        .with_secret("kv1/list", json!({"hosts": ["a", "b"], "n": 5, "nested": {"x": null}}))
}

#[test]
fn renders_the_vault_k8s_idiom() {
    let src = "{{- with secret \"database/creds/app\" -}}\npostgresql://{{ .Data.username }}:{{ .Data.password }}@db/app\n{{- end }}\n";
    assert_eq!(r(&db(), src), "postgresql://u1:p1@db/app\n");
}

#[test]
fn trimming_and_comments() {
    let e = TestEnv::default();
    assert_eq!(r(&e, "a  {{- 1 -}}  b"), "a1b");
    assert_eq!(r(&e, "a {{- /* c */ -}} \n b"), "ab");
    assert_eq!(r(&e, "a{{/* c */}}b"), "ab");
    assert_eq!(r(&e, "{{-3}}"), "-3");
}

#[test]
fn custom_delimiters() {
    let t = Template::parse(
        "t",
        "[[ with secret \"kv/app\" ]][[ .Data.data.user ]]{{ x }}[[ end ]]",
        "[[",
        "]]",
    )
    .unwrap();
    let out = render(&t, &db(), &RenderOptions::default()).unwrap();
    assert_eq!(out.text(), "alice{{ x }}");
}

#[test]
fn printing_follows_go_fmt() {
    let e = db();
    assert_eq!(
        r(
            &e,
            "{{ with secret \"kv/app\" }}{{ .Data.metadata }}|{{ .Data.nope }}{{ end }}"
        ),
        "map[version:3]|<no value>"
    );
    assert_eq!(
        r(
            &e,
            "{{ with secret \"kv1/list\" }}{{ .Data.hosts }} {{ .Data.n }} {{ .Data.nested }}{{ end }}"
        ),
        "[a b] 5 map[x:<nil>]"
    );
    assert_eq!(
        r(
            &e,
            "{{ with secret \"kv1/list\" }}{{ print .Data.nope }}|{{ .LeaseDuration }}|{{ .Renewable }}{{ end }}"
        ),
        "<nil>|2764800|false"
    );
    assert_eq!(
        r(
            &e,
            "{{ 1.5 }} {{ 1e6 }} {{ true }} {{ \"a\\tb\" }} {{ `raw\\n` }}"
        ),
        "1.5 1e+06 true a\tb raw\\n"
    );
}

#[test]
fn missing_key_chaining_errors_and_error_on_missing_key() {
    let e = db();
    let err = render_with(
        &e,
        "{{ with secret \"kv1/list\" }}{{ .Data.nope.deeper }}{{ end }}",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("nil pointer evaluating interface {}.deeper"),
        "{err}"
    );
    let t = Template::parse(
        "t",
        "{{ with secret \"kv1/list\" }}{{ .Data.nope }}{{ end }}",
        "",
        "",
    )
    .unwrap();
    let err = render(
        &t,
        &e,
        &RenderOptions {
            error_on_missing_key: true,
            ..RenderOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("map has no entry for key \"nope\""),
        "{err}"
    );
    assert!(err.to_string().starts_with("template t:1:"), "{err}");
}

#[test]
fn control_flow_and_variables() {
    let e = db();
    let src = "{{ $s := secret \"kv1/list\" }}{{ range $i, $h := $s.Data.hosts }}{{ if eq $i 0 }}first={{ $h }}{{ else if eq $h \"b\" }},b!{{ else }},{{ $h }}{{ end }}{{ end }}";
    assert_eq!(r(&e, src), "first=a,b!");
    assert_eq!(
        r(
            &e,
            "{{ range $k, $v := (secret \"kv/app\").Data.data }}{{ $k }}={{ $v }};{{ end }}"
        ),
        "my-key=dash;pass=s3cret;user=alice;"
    );
    assert_eq!(
        r(
            &e,
            "{{ range (split \",\" \"\") }}x{{ else }}empty{{ end }}"
        ),
        "empty"
    );
    assert_eq!(
        r(
            &e,
            "{{ range $i, $e := split \",\" \"a,b,c,d\" }}{{ if eq $e \"b\" }}{{ continue }}{{ end }}{{ if eq $e \"d\" }}{{ break }}{{ end }}{{ $e }}{{ end }}"
        ),
        "ac"
    );
    assert_eq!(
        r(
            &e,
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"
        ),
        "2"
    );
    assert_eq!(
        r(
            &e,
            "{{ with $x := \"v\" }}{{ . }}{{ $x }}{{ end }}{{ with \"\" }}no{{ else }}yes{{ end }}"
        ),
        "vvyes"
    );
    assert_eq!(r(&e, "{{ range 3 }}{{ . }}{{ end }}"), "012");
}

#[test]
fn define_template_block_execute_template() {
    let e = db();
    let src = "{{ define \"u\" }}user={{ . }}{{ end }}{{ template \"u\" \"bob\" }} {{ executeTemplate \"u\" \"al\" | toUpper }} {{ block \"b\" 1 }}blk{{ . }}{{ end }}";
    assert_eq!(r(&e, src), "user=bob USER=AL blk1");
}

#[test]
fn functions() {
    let mut e = db();
    e.vars.insert("HOME".into(), "/root".into());
    e.files.insert("/f".into(), "file body".into());
    let cases = [
        ("{{ env \"HOME\" }}|{{ env \"NOPE\" }}", "/root|"),
        ("{{ file \"/f\" }}", "file body"),
        ("{{ \"a,b\" | split \",\" | join \";\" }}", "a;b"),
        (
            "{{ \"  x \" | trimSpace }}|{{ trim \"-\" \"--x--\" }}|{{ trimPrefix \"ab\" \"abc\" }}|{{ trimSuffix \"bc\" \"abc\" }}",
            "x|x|c|a",
        ),
        (
            "{{ toUpper \"ab\" }}{{ toLower \"CD\" }} {{ toTitle \"hello world\" }}",
            "ABcd Hello World",
        ),
        (
            "{{ replaceAll \"a\" \"b\" \"aaa\" }} {{ regexReplaceAll \"(a)(b)\" \"$2$1\" \"abab\" }} {{ regexMatch \"^a+$\" \"aaa\" }}",
            "bbb baba true",
        ),
        (
            "{{ base64Encode \"hi?\" }} {{ base64Decode \"aGk/\" }} {{ base64URLEncode \"hi?\" }} {{ base64URLDecode \"aGk_\" }}",
            "aGk/ hi? aGk_ hi?",
        ),
        (
            "{{ sha256Hex \"abc\" }}",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        ("{{ md5sum \"abc\" }}", "900150983cd24fb0d6963f7d28e17f72"),
        (
            "{{ add 1 2 }} {{ 10 | subtract 3 }} {{ multiply 2 1.5 }} {{ 7 | divide 2 }} {{ 7 | modulo 4 }} {{ minimum 1 2 }} {{ maximum 1 2 }}",
            "3 7 3 3 3 1 2",
        ),
        (
            "{{ parseInt \"42\" | add 1 }} {{ parseFloat \"1.5\" }} {{ parseBool \"true\" }}",
            "43 1.5 true",
        ),
        (
            "{{ (parseJSON \"{\\\"a\\\":[1,2]}\").a }} {{ parseJSON \"{\\\"a\\\":1}\" | toJSON }}",
            "[1 2] {\"a\":1}",
        ),
        ("{{ (parseYAML \"a: 1\\nb: [x]\").b }}", "[x]"),
        ("{{ indent 2 \"a\\nb\" }}", "  a\n  b"),
        (
            "{{ contains \"b\" \"abc\" }} {{ in \"abc\" \"z\" }} {{ split \",\" \"a,b\" | contains \"a\" }}",
            "true false true",
        ),
        (
            "{{ printf \"%s-%d-%v\" \"a\" 5 true }} {{ print 1 2 \"x\" }} {{ println \"a\" }}",
            "a-5-true 1 2x a\n",
        ),
        (
            "{{ len \"abc\" }} {{ index (split \",\" \"a,b\") 1 }} {{ slice \"abcd\" 1 3 }}",
            "3 b bc",
        ),
        (
            "{{ and 1 0 }} {{ or 0 \"x\" }} {{ not true }} {{ eq 1 2 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ ge \"b\" \"a\" }}",
            "0 x false true true true true",
        ),
        (
            "{{ html \"<a>\" }} {{ js \"'\" }} {{ urlquery \"a b\" }}",
            "&lt;a&gt; \\' a+b",
        ),
        (
            "{{ with secret \"kv/app\" }}{{ index .Data.data \"my-key\" }}{{ end }}",
            "dash",
        ),
        (
            "{{ with secret \"kv1/list\" }}{{ .Data | toJSON }}{{ end }}",
            "{\"hosts\":[\"a\",\"b\"],\"n\":5,\"nested\":{\"x\":null}}",
        ),
        (
            "{{ with secret \"kv1/list\" }}{{ .Data.hosts | toYAML }}{{ end }}",
            "- a\n- b",
        ),
        ("{{ timestamp \"2006\" | len }}", "4"),
    ];
    for (src, want) in cases {
        assert_eq!(r(&e, src), want, "{src}");
    }
}

#[test]
fn go_type_rules_are_kept() {
    let e = db();
    // json.Number is not a string and not a number for consul-template's math.
    let err = render_with(
        &e,
        "{{ with secret \"kv1/list\" }}{{ .Data.n | toUpper }}{{ end }}",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("expected string; got json.Number"),
        "{err}"
    );
    // join wants []string, Vault lists are []interface {}.
    let err = render_with(
        &e,
        "{{ with secret \"kv1/list\" }}{{ .Data.hosts | join \",\" }}{{ end }}",
    )
    .unwrap_err();
    assert!(err.to_string().contains("expected []string"), "{err}");
}

#[test]
fn multi_pass_collects_dynamic_paths() {
    let env = TestEnv::default();
    let src = "{{ range secrets \"kv/\" }}{{ with secret (printf \"kv/%s\" .) }}{{ .Data.x }}{{ end }}{{ end }}";
    let t = Template::parse("t", src, "", "").unwrap();
    let first = render(&t, &env, &RenderOptions::default()).unwrap();
    assert_eq!(first.missing, vec![Dependency::List { path: "kv".into() }]);
    let mut env = env;
    env.secrets.insert(
        Dependency::List { path: "kv".into() },
        json!({"data": {"keys": ["b", "a"]}}),
    );
    let second = render(&t, &env, &RenderOptions::default()).unwrap();
    assert_eq!(
        second.missing,
        vec![
            Dependency::Secret {
                path: "kv/a".into(),
                write: None
            },
            Dependency::Secret {
                path: "kv/b".into(),
                write: None
            }
        ]
    );
    let env = env
        .with_secret("kv/a", json!({"x": "1"}))
        .with_secret("kv/b", json!({"x": "2"}));
    let third = render(&t, &env, &RenderOptions::default()).unwrap();
    assert!(third.missing.is_empty());
    assert_eq!(third.text(), "12");
    assert_eq!(third.dependencies.len(), 3);
}

#[test]
fn writes_and_pki_are_dependencies_with_parameters() {
    let env = TestEnv::default();
    let src = "{{ with secret \"/pki/issue/web/\" \"common_name = a.example\" \"\" \"ttl=1h\" }}{{ end }}{{ with pkiCert \"pki/issue/web\" \"common_name=b\" }}{{ .Cert }}{{ end }}{{ with secret \"kv/app?version=1\" }}{{ end }}";
    let out = render_with(&env, src).unwrap();
    let write: BTreeMap<String, String> = [
        ("common_name".into(), "a.example".into()),
        ("ttl".into(), "1h".into()),
    ]
    .into();
    assert_eq!(
        out.missing,
        vec![
            Dependency::Secret {
                path: "pki/issue/web".into(),
                write: Some(write)
            },
            Dependency::PkiCert {
                path: "pki/issue/web".into(),
                params: [("common_name".into(), "b".into())].into()
            },
            Dependency::Secret {
                path: "kv/app?version=1".into(),
                write: None
            },
        ]
    );
}

#[test]
fn write_to_file_is_returned_not_performed() {
    let out = render_with(
        &TestEnv::default(),
        "{{ \"body\" | writeToFile \"/tmp/x\" \"\" \"\" \"0640\" \"append,newline\" }}done",
    )
    .unwrap();
    assert_eq!(out.text(), "done");
    assert_eq!(
        out.file_writes,
        vec![FileWrite {
            path: "/tmp/x".into(),
            user: "".into(),
            group: "".into(),
            mode: 0o640,
            append: true,
            newline: true,
            contents: "body".into()
        }]
    );
}

#[test]
fn parse_errors_name_position_and_function() {
    let err = Template::parse("web.tpl", "line1\n  {{ nosuchfn 1 }}", "", "").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("web.tpl:2:6") && msg.contains("function \"nosuchfn\" not defined"),
        "{msg}"
    );
    for bad in [
        "{{ if 1 }}",
        "{{ end }}",
        "{{ $x }}",
        "{{ break }}",
        "{{ (1 }}",
        "{{ \"a }}",
        "{{ /* x */ }}",
        "{{ nil }}",
        "{{ 1 | 2 }}",
        "{{ .a.b c}}",
    ] {
        assert!(
            Template::parse("t", bad, "", "").is_err(),
            "{bad} should not parse"
        );
    }
}

#[test]
fn errors_never_carry_secret_values() {
    let e = db();
    let err = render_with(
        &e,
        "{{ with secret \"kv/app\" }}{{ .Data.data.pass | add 1 }}{{ end }}",
    )
    .unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[test]
fn int_and_int64_are_distinct_go_types() {
    let e = TestEnv::default();
    assert_eq!(
        r(
            &e,
            "{{ printf \"%T %T %T %T\" 1 (parseInt \"2\") (add 1 2) (len \"x\") }}"
        ),
        "int int64 int64 int"
    );
    let err = render_with(&e, "{{ indent (parseInt \"2\") \"x\" }}").unwrap_err();
    assert!(err.to_string().contains("expected int; got int64"), "{err}");
    assert_eq!(
        r(
            &e,
            "{{ eq (parseInt \"2\") 2 }} {{ index (split \",\" \"a,b\") (parseInt \"1\") }}"
        ),
        "true b"
    );
}

#[test]
fn binary_base64_renders_the_exact_bytes() {
    let e = TestEnv::default();
    // 0xFF 0x00 0xFE 0x80: not UTF-8, as in a PKCS#12 keystore.
    let out = render_with(&e, "[{{ base64Decode \"/wD+gA==\" }}]").unwrap();
    assert_eq!(out.output, b"[\xff\x00\xfe\x80]");
    // Through a define and with len, the bytes stay bytes.
    let out = render_with(
        &e,
        r#"{{ define "k" }}{{ base64Decode . }}{{ end }}{{ executeTemplate "k" "/wD+gA==" }} {{ len (base64Decode "/wD+gA==") }}"#,
    )
    .unwrap();
    assert_eq!(out.output, b"\xff\x00\xfe\x80 4");
}

#[test]
fn duplicate_defines_follow_go() {
    let e = TestEnv::default();
    assert!(
        Template::parse(
            "t",
            "{{ define \"a\" }}x{{ end }}{{ define \"a\" }}y{{ end }}",
            "",
            ""
        )
        .is_err()
    );
    assert_eq!(
        r(
            &e,
            "{{ define \"a\" }}x{{ end }}{{ define \"a\" }} {{ end }}{{ template \"a\" }}"
        ),
        "x"
    );
}
