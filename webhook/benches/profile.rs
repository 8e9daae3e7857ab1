//! A fixed amount of work per review step, for instruction counts under callgrind (which,
//! unlike wall or CPU time, a loaded shared machine does not disturb):
//!
//! ```sh
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/profile-* STEP N
//! ```
//!
//! STEP is `review` (the whole pure review), `parse` (the Pod from JSON), `clone` (both Pods),
//! `mutate`, `patch` (the patch between the Pods, as JSON text), `encode` (the text to base64) or
//! `setup` (nothing: what every run costs). Instructions per step = (Ir(STEP, N) -
//! Ir(STEP, 0)) / N; `benches/profile.sh` does the arithmetic.

use std::hint::black_box;

use base64::Engine as _;
use clap::Parser;
use k8s_openapi::api::core::v1::Pod;
use kagi_webhook::admission;
use kagi_webhook::mutation::{self, Mutation};
use kagi_webhook::settings::InjectorSettings;

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    settings: InjectorSettings,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` runs every bench target with `--bench`: nothing to do then.
    let [step, count] = args.as_slice() else {
        return;
    };
    let count: usize = count.parse().expect("N is a count");
    let settings =
        Flags::parse_from(["profile", "--vault-address", "https://vault.vault.svc:8200"]).settings;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/review-5-secrets.json");
    let body = std::fs::read(path).expect("the bench fixture");
    let review: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let object = serde_json::to_vec(&review["request"]["object"]).unwrap();
    let pod: Pod = serde_json::from_slice(&object).unwrap();
    let Ok(Mutation::Injected(after)) = mutation::mutate(&pod, &settings, "shop") else {
        panic!("the bench pod was not injected");
    };
    let patch = admission::pod_patch_json(&pod, &after).unwrap();
    for _ in 0..count {
        match step.as_str() {
            "review" => drop(black_box(admission::review(black_box(&body), &settings))),
            "parse" => drop(black_box(serde_json::from_slice::<Pod>(black_box(&object)))),
            "clone" => drop(black_box((black_box(&pod).clone(), after.clone()))),
            "mutate" => drop(black_box(mutation::mutate(
                black_box(&pod),
                &settings,
                "shop",
            ))),
            "patch" => drop(black_box(admission::pod_patch_json(
                black_box(&pod),
                &after,
            ))),
            // The review path writes the patch as text while diffing: encoding is base64.
            "encode" => drop(black_box(
                base64::engine::general_purpose::STANDARD.encode(black_box(&patch)),
            )),
            "setup" => {}
            other => panic!("unknown step {other}"),
        }
    }
}
