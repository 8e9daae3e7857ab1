//! Renders per second of a 20-line template over 5 secrets (the engine alone:
//! parsing once, then rendering from already-fetched responses).

use criterion::{Criterion, criterion_group, criterion_main};
use kagi_template::{Dependency, Environment, RenderOptions, Template, render};
use serde_json::json;

const TEMPLATE: &str = r#"{{- with secret "database/creds/app" -}}
DATABASE_URL=postgresql://{{ .Data.username }}:{{ .Data.password }}@db:5432/app
DB_LEASE={{ .LeaseID }} ttl={{ .LeaseDuration }}
{{- end }}
{{ with secret "secret/app" -}}
{{ range $k, $v := .Data.data }}export {{ $k | toUpper }}="{{ $v }}"
{{ end }}version={{ .Data.metadata.version }}
{{- end }}
{{ with secret "kv1/cfg" }}color={{ .Data.color }} hosts={{ .Data.hosts | toJSON }}{{ end }}
{{ with secret "aws/creds/app" -}}
AWS_ACCESS_KEY_ID={{ .Data.access_key }}
AWS_SECRET_ACCESS_KEY={{ .Data.secret_key | trimSpace }}
{{- end }}
{{ with secret "pki/issue/web" "common_name=web.example.com" -}}
{{ .Data.certificate }}
{{ index .Data.ca_chain 0 }}
{{- end }}
{{ printf "%s-%s" (env "POD") "x" | base64Encode }}
{{ if eq (len (secrets "secret/")) 0 }}none{{ else }}some{{ end }}
"#;

struct Fetched;

impl Environment for Fetched {
    fn lookup(&self, dep: &Dependency) -> Option<serde_json::Value> {
        let data = match dep {
            Dependency::List { .. } => json!({"keys": ["app", "team/"]}),
            Dependency::Secret { path, .. } => match path.as_str() {
                "database/creds/app" => json!({"username": "v-app-x1", "password": "A1a-secret"}),
                "secret/app" => {
                    json!({"data": {"user": "bob", "pass": "pw", "url": "https://x"}, "metadata": {"version": 3}})
                }
                "kv1/cfg" => json!({"color": "blue", "hosts": ["a", "b", "c"]}),
                "aws/creds/app" => json!({"access_key": "AKIA0000", "secret_key": " s3cr3t "}),
                _ => {
                    json!({"certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "ca_chain": ["ca"]})
                }
            },
            Dependency::PkiCert { .. } => json!({}),
        };
        Some(
            json!({"request_id": "r", "lease_id": "database/creds/app/abc", "lease_duration": 3600, "renewable": true, "data": data}),
        )
    }
    fn env(&self, _name: &str) -> Option<String> {
        Some("pod-1".into())
    }
    fn read_file(&self, _path: &str) -> std::io::Result<String> {
        Ok(String::new())
    }
}

fn bench_render(c: &mut Criterion) {
    let template = Template::parse("bench", TEMPLATE, "{{", "}}").expect("bench template parses");
    let options = RenderOptions::default();
    let first = render(&template, &Fetched, &options).expect("bench template renders");
    assert!(first.missing.is_empty());
    assert_eq!(first.dependencies.len(), 6, "5 secrets and 1 list");
    let mut group = c.benchmark_group("template");
    group
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(3));
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function("render_20_lines_5_secrets", |b| {
        b.iter(|| render(&template, &Fetched, &options).expect("renders"))
    });
    group.bench_function("parse_20_lines", |b| {
        b.iter(|| Template::parse("bench", TEMPLATE, "{{", "}}").expect("parses"))
    });
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
