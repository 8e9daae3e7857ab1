//! The typed patch ([`pod_diff`]) against the whole-tree diff it replaced: the same
//! operations in the same order for every Pod the golden corpus holds, under random
//! annotation sets and injector flags, and for random edits of those Pods; and applied to the
//! Pod, the patch gives the mutated Pod.

use std::path::PathBuf;

use clap::Parser as _;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus, Volume, VolumeMount};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// The Pod of every review in the golden corpus and the bench fixture.
fn corpus() -> Vec<Pod> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("golden"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".review.json"))
        .collect();
    files.sort();
    files.push(root.join("review-5-secrets.json"));
    let pods: Vec<Pod> = files
        .iter()
        .filter_map(|path| {
            let review: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            serde_json::from_value(review["request"]["object"].clone()).ok()
        })
        .collect();
    assert!(pods.len() >= 15, "only {} pods in the corpus", pods.len());
    pods
}

fn settings_from(args: &[&str]) -> InjectorSettings {
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        settings: InjectorSettings,
    }
    let argv = [
        "kagi-webhook",
        "--vault-address",
        "https://vault.vault.svc:8200",
    ];
    Flags::try_parse_from(argv.iter().chain(args))
        .expect("flags parse")
        .settings
}

/// The patch as the webhook built it before: both Pods as JSON trees, diffed.
fn whole_tree_patch(before: &Pod, after: &Pod) -> json_patch::Patch {
    patch::diff(
        &serde_json::to_value(before).unwrap(),
        serde_json::to_value(after).unwrap(),
    )
}

/// Same operations, same order, and applying them to `before` gives `after`.
fn assert_same_patch(before: &Pod, after: &Pod) -> Result<(), TestCaseError> {
    let expected = serde_json::to_string(&whole_tree_patch(before, after)).unwrap();
    let typed = pod_diff::diff(before.clone(), after.clone()).unwrap();
    prop_assert_eq!(String::from_utf8(typed.clone()).unwrap(), expected);
    let typed: json_patch::Patch = serde_json::from_slice(&typed).unwrap();
    let mut patched = serde_json::to_value(before).unwrap();
    json_patch::patch(&mut patched, &typed).unwrap();
    prop_assert_eq!(patched, serde_json::to_value(after).unwrap());
    Ok(())
}

/// Annotations that change what the mutation does, each with a value it accepts (a few
/// with one it refuses).
const ANNOTATIONS: &[(&str, &str)] = &[
    ("agent-inject", "true"),
    ("agent-inject", "false"),
    ("role", "web"),
    ("agent-inject-secret-extra", "secret/data/extra"),
    (
        "agent-inject-template-extra",
        "{{ with secret \"x\" }}{{ .Data }}{{ end }}",
    ),
    ("agent-inject-file-extra", "sub/extra.txt"),
    ("agent-pre-populate", "false"),
    ("agent-pre-populate-only", "true"),
    ("agent-init-first", "true"),
    ("agent-native-sidecar", "false"),
    ("agent-inject-token", "true"),
    ("agent-limits-cpu", "250m"),
    ("agent-requests-mem", "32Mi"),
    ("agent-run-as-user", "1234"),
    ("agent-set-security-context", "false"),
    ("agent-share-process-namespace", "true"),
    ("agent-cache-enable", "true"),
    ("agent-inject-containers", "web"),
    ("agent-copy-volume-mounts", "web"),
    ("agent-revoke-on-shutdown", "true"),
    ("service", "https://other-vault:8200"),
    ("secret-volume-path", "/etc/secrets"),
    ("agent-extra-secret", "vault-tls"),
    (
        "agent-json-patch",
        r#"[{"op":"add","path":"/env/-","value":{"name":"X","value":"1"}}]"#,
    ),
    ("agent-inject-status", "update"),
    ("namespace", "team-a"),
    ("tls-skip-verify", "true"),
    ("agent-enable-quit", "true"),
    ("agent-run-as-user", "not-a-number"),
];

const FLAGS: &[&[&str]] = &[
    &[],
    &["--native-sidecar=false"],
    &["--agent-flavor=vault"],
    &["--cpu-request=5m", "--memory-limit=128Mi"],
];

fn with_annotations(mut pod: Pod, picked: &[(&str, &str)]) -> Pod {
    let annotations = pod
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    for (key, value) in picked {
        annotations.insert(format!("vault.hashicorp.com/{key}"), (*value).to_owned());
    }
    pod
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_typed_patch_is_the_whole_tree_patch_for_every_mutation(
        index in 0usize..64,
        picked in proptest::sample::subsequence(ANNOTATIONS, 0..8),
        flags in proptest::sample::select(FLAGS),
    ) {
        let corpus = corpus();
        let pod = with_annotations(corpus[index % corpus.len()].clone(), &picked);
        let settings = settings_from(flags);
        if let Ok(Mutation::Injected(after)) = mutation::mutate(&pod, &settings, "shop") {
            assert_same_patch(&pod, &after)?;
            // The review path: what it patches is what the mutation made.
            match mutation_patch(pod.clone(), &settings, "shop") {
                Ok(PodChange::Patched { patch, .. }) => {
                    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
                    let mut patched = serde_json::to_value(&pod).unwrap();
                    json_patch::patch(&mut patched, &patch).unwrap();
                    prop_assert_eq!(patched, serde_json::to_value(&*after).unwrap());
                }
                other => prop_assert!(false, "not patched: {:?}", other),
            }
        }
    }
}

/// An edit of a Pod that the typed diff treats specially (or not at all).
#[derive(Debug, Clone)]
enum Edit {
    AddContainer {
        init: bool,
        at: usize,
        name: u8,
    },
    RemoveContainer {
        init: bool,
        at: usize,
    },
    SwapContainers {
        init: bool,
    },
    ChangeImage {
        init: bool,
        at: usize,
    },
    /// A mount added to a container (`at` its place in the mounts), or with `remove` the
    /// container's mount at `at` removed.
    ChangeMounts {
        init: bool,
        container: usize,
        at: usize,
        name: u8,
        remove: bool,
    },
    DropMounts {
        init: bool,
        container: usize,
    },
    AddVolume {
        at: usize,
        name: u8,
    },
    RemoveVolume {
        at: usize,
    },
    DropInitContainers,
    DropVolumes,
    SetAnnotation {
        key: u8,
        value: u8,
    },
    RemoveAnnotation {
        key: u8,
    },
    DropAnnotations,
    SetLabel,
    SetNodeName,
    ShareProcessNamespace,
    SetStatus,
    DropSpec,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<bool>(), 0usize..4, 0u8..6).prop_map(|(init, at, name)| Edit::AddContainer {
            init,
            at,
            name
        }),
        (any::<bool>(), 0usize..4).prop_map(|(init, at)| Edit::RemoveContainer { init, at }),
        any::<bool>().prop_map(|init| Edit::SwapContainers { init }),
        (any::<bool>(), 0usize..4).prop_map(|(init, at)| Edit::ChangeImage { init, at }),
        (any::<bool>(), 0usize..3, 0usize..3, 0u8..4, any::<bool>()).prop_map(
            |(init, container, at, name, remove)| Edit::ChangeMounts {
                init,
                container,
                at,
                name,
                remove
            }
        ),
        (any::<bool>(), 0usize..3)
            .prop_map(|(init, container)| Edit::DropMounts { init, container }),
        (0usize..4, 0u8..6).prop_map(|(at, name)| Edit::AddVolume { at, name }),
        (0usize..4).prop_map(|at| Edit::RemoveVolume { at }),
        Just(Edit::DropInitContainers),
        Just(Edit::DropVolumes),
        (0u8..4, 0u8..3).prop_map(|(key, value)| Edit::SetAnnotation { key, value }),
        (0u8..4).prop_map(|key| Edit::RemoveAnnotation { key }),
        Just(Edit::DropAnnotations),
        Just(Edit::SetLabel),
        Just(Edit::SetNodeName),
        Just(Edit::ShareProcessNamespace),
        Just(Edit::SetStatus),
        Just(Edit::DropSpec),
    ]
}

fn containers(spec: &mut PodSpec, init: bool) -> &mut Vec<Container> {
    if init {
        spec.init_containers.get_or_insert_with(Vec::new)
    } else {
        &mut spec.containers
    }
}

fn apply(pod: &mut Pod, edit: &Edit) {
    let annotation = |key: u8| format!("example.com/key-{key}~/x");
    let spec = pod.spec.get_or_insert_with(Default::default);
    match *edit {
        Edit::AddContainer { init, at, name } => {
            let list = containers(spec, init);
            let container = Container {
                name: format!("added-{name}"),
                image: Some(format!("img:{name}")),
                ..Container::default()
            };
            list.insert(at.min(list.len()), container);
        }
        Edit::RemoveContainer { init, at } => {
            let list = containers(spec, init);
            if at < list.len() {
                list.remove(at);
            }
        }
        Edit::SwapContainers { init } => {
            let list = containers(spec, init);
            if list.len() >= 2 {
                list.swap(0, 1);
            }
        }
        Edit::ChangeImage { init, at } => {
            if let Some(container) = containers(spec, init).get_mut(at) {
                container.image = Some("changed:1".to_owned());
                container
                    .args
                    .get_or_insert_with(Vec::new)
                    .push("--x".to_owned());
            }
        }
        Edit::ChangeMounts {
            init,
            container,
            at,
            name,
            remove,
        } => {
            if let Some(container) = containers(spec, init).get_mut(container) {
                let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
                if remove {
                    if at < mounts.len() {
                        mounts.remove(at);
                    }
                } else {
                    let mount = VolumeMount {
                        name: format!("vol-{name}"),
                        mount_path: format!("/mnt/{name}"),
                        ..VolumeMount::default()
                    };
                    mounts.insert(at.min(mounts.len()), mount);
                }
            }
        }
        Edit::DropMounts { init, container } => {
            if let Some(container) = containers(spec, init).get_mut(container) {
                container.volume_mounts = None;
            }
        }
        Edit::AddVolume { at, name } => {
            let list = spec.volumes.get_or_insert_with(Vec::new);
            let volume = Volume {
                name: format!("vol-{name}"),
                ..Volume::default()
            };
            list.insert(at.min(list.len()), volume);
        }
        Edit::RemoveVolume { at } => {
            if let Some(list) = spec.volumes.as_mut().filter(|list| at < list.len()) {
                list.remove(at);
            }
        }
        Edit::DropInitContainers => spec.init_containers = None,
        Edit::DropVolumes => spec.volumes = None,
        Edit::ShareProcessNamespace => spec.share_process_namespace = Some(true),
        Edit::SetNodeName => spec.node_name = Some("node-1".to_owned()),
        Edit::SetAnnotation { key, value } => {
            pod.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(annotation(key), format!("v{value}"));
        }
        Edit::RemoveAnnotation { key } => {
            if let Some(annotations) = pod.metadata.annotations.as_mut() {
                annotations.remove(&annotation(key));
            }
        }
        Edit::DropAnnotations => pod.metadata.annotations = None,
        Edit::SetLabel => {
            pod.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert("edited".to_owned(), "yes".to_owned());
        }
        Edit::SetStatus => {
            pod.status = Some(PodStatus {
                phase: Some("Pending".to_owned()),
                ..PodStatus::default()
            });
        }
        Edit::DropSpec => pod.spec = None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_typed_patch_is_the_whole_tree_patch_for_any_edit(
        index in 0usize..64,
        before_edits in proptest::collection::vec(edit(), 0..3),
        edits in proptest::collection::vec(edit(), 0..6),
    ) {
        let corpus = corpus();
        let mut before = corpus[index % corpus.len()].clone();
        for edit in &before_edits {
            apply(&mut before, edit);
        }
        let mut after = before.clone();
        for edit in &edits {
            apply(&mut after, edit);
        }
        assert_same_patch(&before, &after)?;
        assert_same_patch(&after, &before)?;
    }
}

#[test]
fn unchanged_pods_have_an_empty_patch() {
    for pod in corpus() {
        assert_eq!(pod_diff::diff(pod.clone(), pod).unwrap(), b"[]");
    }
}

#[test]
fn annotation_keys_are_escaped_in_paths() {
    let before: Pod =
        serde_json::from_value(json!({"metadata": {"annotations": {"a/b": "1", "c~d": "2"}}}))
            .unwrap();
    let after: Pod =
        serde_json::from_value(json!({"metadata": {"annotations": {"a/b": "3", "e/f": "4"}}}))
            .unwrap();
    let patch = pod_diff::diff(before, after).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&patch).unwrap(),
        json!([
            {"op": "remove", "path": "/metadata/annotations/c~0d"},
            {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "3"},
            {"op": "add", "path": "/metadata/annotations/e~1f", "value": "4"}
        ])
    );
}
