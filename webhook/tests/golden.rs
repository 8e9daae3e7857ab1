//! Byte-for-byte answers for a set of reviews and manifests, recorded from the webhook before
//! the review path was optimised: any change to what the API server receives (patch order,
//! field order, encoding) fails here. `tests/fixtures/golden/cases.tsv` lists each review with
//! the injector flags it was answered with.
//!
//! After an intended change of behaviour, re-record with `KAGI_BLESS=1 cargo test -p
//! kagi-webhook --test golden` and review the diff.

use std::path::{Path, PathBuf};

use clap::Parser;
use kagi_webhook::settings::InjectorSettings;
use kagi_webhook::{admission, inject};

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    settings: InjectorSettings,
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

fn settings(args: &[&str]) -> InjectorSettings {
    let argv = std::iter::once("kagi-webhook").chain(args.iter().copied());
    let command = <Flags as clap::CommandFactory>::command().mut_args(|a| a.env(None::<&str>));
    let matches = command.try_get_matches_from(argv).expect("flags parse");
    <Flags as clap::FromArgMatches>::from_arg_matches(&matches)
        .expect("flags parse")
        .settings
}

/// Compares `actual` with the recorded file, or records it under `KAGI_BLESS=1`.
fn check(expected: &Path, actual: &[u8], mismatches: &mut Vec<String>) {
    if std::env::var_os("KAGI_BLESS").is_some() {
        std::fs::write(expected, actual).unwrap();
        return;
    }
    let recorded = std::fs::read(expected).unwrap_or_else(|e| panic!("{expected:?}: {e}"));
    if recorded != actual {
        mismatches.push(format!(
            "{}:\nrecorded: {}\nnow:      {}",
            expected.display(),
            String::from_utf8_lossy(&recorded),
            String::from_utf8_lossy(actual)
        ));
    }
}

#[test]
fn reviews_answer_exactly_as_recorded() {
    let dir = golden_dir();
    let cases = std::fs::read_to_string(dir.join("cases.tsv")).unwrap();
    let mut mismatches = Vec::new();
    let mut count = 0;
    for line in cases.lines().filter(|line| !line.trim().is_empty()) {
        let (name, args) = line.split_once('\t').expect("name<TAB>flags");
        let args: Vec<&str> = args.split(' ').filter(|a| !a.is_empty()).collect();
        let body = std::fs::read(dir.join(format!("{name}.review.json"))).unwrap();
        let reviewed = admission::review(&body, &settings(&args)).expect("reviewable");
        // `kagi-webhook review` prints the body and a newline; the recording was made with it.
        let mut printed = reviewed.body;
        printed.push(b'\n');
        check(
            &dir.join(format!("{name}.answer.json")),
            &printed,
            &mut mismatches,
        );
        count += 1;
    }
    assert!(count >= 17, "only {count} cases in cases.tsv");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn manifests_inject_exactly_as_recorded() {
    let dir = golden_dir();
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let settings = settings(&["--vault-address=https://vault.vault.svc:8200"]);
    let mut mismatches = Vec::new();
    for name in [
        "cronjob",
        "deployment",
        "job",
        "pod-init-containers",
        "pod-no-volumes",
    ] {
        let input = std::fs::read_to_string(fixtures.join(format!("{name}.yaml"))).unwrap();
        let injected = inject::inject(&input, &settings, None).expect("injectable");
        check(
            &dir.join(format!("{name}.injected.yaml")),
            injected.yaml.as_bytes(),
            &mut mismatches,
        );
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}
