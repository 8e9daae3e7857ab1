//! The review path with arbitrary input, twice per case: the bytes as a whole request body,
//! and (when they are JSON) as the Pod object of an otherwise valid Pod CREATE review.
//!
//! Beyond "never panics", every answer must be an AdmissionReview carrying the request's uid,
//! and its patch must apply to the object exactly as the API server holds it.

#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use kagi_webhook::admission;
use kagi_webhook::settings::InjectorSettings;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

static SETTINGS: LazyLock<InjectorSettings> = LazyLock::new(|| InjectorSettings {
    vault_address: "https://vault.vault.svc:8200".to_owned(),
    ..InjectorSettings::default()
});

fn check(body: &[u8]) {
    let Ok(reviewed) = admission::review(body, &SETTINGS) else {
        return;
    };
    // serde_json skips fields nobody reads without validating them, so a review can be
    // answerable while not being valid JSON as a whole (invalid UTF-8 in an unknown field);
    // the API server never sends such bodies, and there is no raw object to patch then.
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let answer: Value = serde_json::from_slice(&reviewed.body).expect("the answer is JSON");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(answer["apiVersion"], request["apiVersion"]);
    assert_eq!(answer["response"]["uid"], request["request"]["uid"]);
    if let Some(patch) = answer["response"]["patch"].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(patch)
            .expect("the patch is base64");
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).expect("a JSON patch");
        let mut object = request["request"]["object"].clone();
        json_patch::patch(&mut object, &patch).expect("the patch applies to the raw object");
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Ok(object) = serde_json::from_slice::<Value>(data) {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "fuzz",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "fuzz",
                "operation": "CREATE",
                "userInfo": {},
                "object": object
            }
        });
        check(&serde_json::to_vec(&review).expect("serializable"));
    }
});
