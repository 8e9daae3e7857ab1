//! The images `make images` builds, checked the way a user of them would: one static binary
//! and the non-root user, no shell, reproducible; and each one working under runc hardened as
//! the webhook tells the kubelet to run it (uid 65532 or the pod's user, read-only root, no
//! capabilities, no_new_privileges, seccomp): the agent renders a secret from OpenBao, found
//! by a host name only the pod's /etc/hosts knows; the webhook answers an AdmissionReview over
//! TLS with its certificate mounted read-only.

use std::net::ToSocketAddrs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kagi_tests::image::{self, Entry, Image, NONROOT, TEST_APP_IMAGE, VERSION, elf};
use kagi_tests::kube::{ServiceAccountIssuer, TokenReviewer};
use kagi_tests::openbao::OpenBao;
use kagi_tests::pod_runner::{PodRunner, RunningPod, admit_and_run, service_account_admission};
use kagi_tests::{setup, webhook};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const IMAGES: [(&str, &str); 2] = [("kagi-agent", "run"), ("kagi-webhook", "serve")];

fn open(name: &str) -> Image {
    Image::open(&image::images_dir().join(name), VERSION).unwrap_or_else(|e| panic!("{e:#}"))
}

fn binary_of(image: &Image, name: &str) -> Vec<u8> {
    let path = format!("usr/local/bin/{name}");
    image
        .entries()
        .unwrap()
        .into_iter()
        .find_map(|e| match e {
            Entry::File {
                path: p, contents, ..
            } if p == path => Some(contents),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name} image has no /{path}"))
}

#[test]
fn images_hold_one_static_binary_and_the_nonroot_user_and_no_shell() {
    for (name, cmd) in IMAGES {
        let image = open(name);
        let entries = image.entries().unwrap();
        let files: Vec<&str> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::File { path, .. } => Some(path.as_str()),
                Entry::Dir { .. } => None,
            })
            .collect();
        let binary = format!("usr/local/bin/{name}");
        assert_eq!(
            files,
            ["etc/group", "etc/passwd", binary.as_str()],
            "{name}"
        );
        for entry in &entries {
            let Entry::File { path, .. } = entry else {
                continue;
            };
            let base = Path::new(path).file_name().unwrap().to_string_lossy();
            assert!(
                !["sh", "bash", "ash", "dash", "busybox"].contains(&base.as_ref()),
                "{name} has a shell at /{path}"
            );
        }
        let bytes = binary_of(&image, name);
        assert_eq!(
            elf::interpreter(&bytes).unwrap(),
            None,
            "{name} must be statically linked (no program interpreter)"
        );
        assert_eq!(image.user().unwrap(), (NONROOT, NONROOT), "{name} user");
        let (entrypoint, image_cmd, _) = image.process();
        assert_eq!(entrypoint, [format!("/{binary}")]);
        assert_eq!(image_cmd, [cmd]);
        let passwd = entries
            .iter()
            .find_map(|e| match e {
                Entry::File { path, contents, .. } if path == "etc/passwd" => {
                    Some(String::from_utf8_lossy(contents).to_string())
                }
                _ => None,
            })
            .unwrap();
        assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
        let size: usize = entries
            .iter()
            .map(|e| match e {
                Entry::File { contents, .. } => contents.len(),
                Entry::Dir { .. } => 0,
            })
            .sum();
        eprintln!(
            "{name}: {size} bytes unpacked, manifest {}",
            image.manifest_digest
        );
    }
}

#[test]
fn building_an_image_again_gives_the_same_manifest_digest() {
    let dir = tempfile::tempdir().unwrap();
    for (name, cmd) in IMAGES {
        let shipped = open(name);
        let bin_dir = dir.path().join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        let binary = bin_dir.join(name);
        std::fs::write(&binary, binary_of(&shipped, name)).unwrap();
        let mut digests = Vec::new();
        for attempt in ["a", "b"] {
            let out = dir.path().join(format!("{name}-{attempt}"));
            let output = Command::new(env!("CARGO_BIN_EXE_kagi-image"))
                .arg("--out")
                .arg(&out)
                .arg("--binary")
                .arg(&binary)
                .args(["--cmd", cmd])
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            digests.push(Image::open(&out, VERSION).unwrap().manifest_digest);
            // Later builds must not depend on when they ran.
            std::thread::sleep(Duration::from_millis(1100));
        }
        assert_eq!(digests[0], digests[1], "{name}");
        assert_eq!(digests[0], shipped.manifest_digest, "{name}");
    }
}

/// The host pid's view of a container process: `(uid line, CapEff, NoNewPrivs, Seccomp)`.
fn process_hardening(pid: u32) -> (String, String, String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    (
        field("Uid"),
        field("CapEff"),
        field("NoNewPrivs"),
        field("Seccomp"),
    )
}

/// True when the process's root mount is read-only.
fn root_is_read_only(pid: u32) -> bool {
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    mountinfo.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(4) == Some(&"/")
            && fields
                .get(5)
                .is_some_and(|o| o.split(',').any(|o| o == "ro"))
    })
}

fn assert_hardened(pod: &RunningPod, container: &str, uid: u32) {
    let pid = pod
        .pid(container)
        .unwrap_or_else(|| panic!("{}", pod.describe()));
    let (uids, cap_eff, no_new_privs, seccomp) = process_hardening(pid);
    assert_eq!(uids, format!("{uid} {uid} {uid} {uid}"), "{container} uids");
    assert_eq!(cap_eff, "0000000000000000", "{container} capabilities");
    assert_eq!(no_new_privs, "1", "{container} no_new_privs");
    assert_eq!(seccomp, "2", "{container} runs under a seccomp filter");
    assert!(
        root_is_read_only(pid),
        "{container} root filesystem is writable"
    );
}

#[test]
fn the_agent_image_renders_a_secret_from_openbao_as_nonroot_on_a_read_only_root() {
    let host = "openbao.kagi.test";
    assert!(
        (host, 80).to_socket_addrs().is_err(),
        "{host} must resolve only inside the pod for this test to mean anything"
    );
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let issuer = ServiceAccountIssuer::new().unwrap();
    let reviewer = TokenReviewer::start(&issuer).unwrap();
    let (ns, sa, role) = ("images", "web", "images");
    setup::put_kv(
        &bao,
        "secret/images/config",
        &[("password", "from-the-image")],
    )
    .unwrap();
    setup::write_policy(
        &bao,
        role,
        r#"path "secret/data/images/*" { capabilities = ["read"] }"#,
    )
    .unwrap();
    setup::configure_kubernetes_auth(&bao, &reviewer, role, ns, sa, &[role]).unwrap();
    let address = format!("http://{host}:{}", bao.port());
    let hook = webhook::Webhook::start(&["--vault-address", &address]).expect("kagi-webhook");
    let manifest = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "web", "namespace": ns, "annotations": {
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": role,
            "vault.hashicorp.com/agent-inject-secret-config": "secret/data/images/config",
            "vault.hashicorp.com/agent-inject-template-config":
                "{{ with secret \"secret/data/images/config\" }}{{ .Data.data.password }}{{ end }}" } },
        "spec": {
            "serviceAccountName": sa,
            "hostAliases": [{ "ip": "127.0.0.1", "hostnames": [host] }],
            "containers": [{ "name": "app", "image": TEST_APP_IMAGE,
                "args": ["--require", "/vault/secrets/config"] }]
        }
    });
    let runner = PodRunner::new(ns, &issuer).host_ports(&[bao.port()]);
    let (admission, pod) = admit_and_run(&runner, &hook, &manifest)
        .unwrap_or_else(|e| panic!("{e:#}\nwebhook log:\n{}", hook.log()));
    let agent = admission.object["spec"]["initContainers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "vault-agent"))
        .cloned()
        .unwrap_or(Value::Null);
    let uid = agent["securityContext"]["runAsUser"].as_u64().unwrap_or(0) as u32;
    assert_ne!(
        uid, 0,
        "the webhook runs the agent as a non-root user: {agent}"
    );
    pod.wait_running(WAIT).unwrap();
    assert_eq!(
        pod.wait_file("app", "/vault/secrets/config", WAIT).unwrap(),
        "from-the-image"
    );
    assert_hardened(&pod, "vault-agent", uid);
    let status = pod.delete();
    assert_eq!(
        status.container("app").unwrap().exit_codes,
        vec![0],
        "{:?}",
        status.events
    );
}

#[test]
fn the_webhook_image_answers_a_review_over_tls_from_read_only_mounted_certs() {
    let (ca, cert, key) = webhook::serving_certificate().unwrap();
    let issuer = ServiceAccountIssuer::new().unwrap();
    // The webhook listens on its pod's own loopback, which no other process shares.
    let port = 8443;
    let runner = PodRunner::new("kagi", &issuer)
        .object_files("kagi-webhook-tls", &[("tls.crt", &cert), ("tls.key", &key)])
        .expose_ports(&[port]);
    let hardened = json!({ "runAsNonRoot": true, "readOnlyRootFilesystem": true,
        "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] },
        "seccompProfile": { "type": "RuntimeDefault" } });
    let manifest = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "kagi-webhook", "namespace": "kagi" },
        "spec": {
            "volumes": [{ "name": "tls", "secret": { "secretName": "kagi-webhook-tls" } }],
            "containers": [{
                "name": "webhook", "image": format!("kagi-webhook:{VERSION}"),
                "args": ["serve", "--listen", format!("127.0.0.1:{port}"),
                    "--tls-cert-file", "/etc/kagi/tls/tls.crt",
                    "--tls-key-file", "/etc/kagi/tls/tls.key",
                    "--vault-address", "https://vault.vault.svc:8200"],
                "securityContext": hardened,
                "volumeMounts": [{ "name": "tls", "mountPath": "/etc/kagi/tls", "readOnly": true }]
            }]
        }
    });
    let pod = runner.run(&service_account_admission(&manifest)).unwrap();
    pod.wait_running(WAIT).unwrap();
    let addr = pod.exposed(port).unwrap();
    let tls = webhook::client_config(&ca).unwrap();
    let review = webhook::admission_review(
        &service_account_admission(&json!({ "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": "web", "namespace": "shop", "annotations": {
                "vault.hashicorp.com/agent-inject": "true",
                "vault.hashicorp.com/role": "web" } },
            "spec": { "containers": [{ "name": "app", "image": "shop/web:1" }] } })),
        "shop",
        "CREATE",
    );
    let answer = kagi_tests::wait_for("the webhook to answer over TLS", WAIT, || {
        webhook::https_request(&tls, addr, "POST", "/mutate", Some(&review)).ok()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", pod.describe()));
    assert_eq!(answer.0, 200, "{}", String::from_utf8_lossy(&answer.1));
    let answer: Value = serde_json::from_slice(&answer.1).unwrap();
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    assert_eq!(answer["response"]["patchType"], "JSONPatch", "{answer}");
    assert_hardened(&pod, "webhook", NONROOT);
    let status = pod.delete();
    assert!(
        !status.events.iter().any(|e| e.starts_with("SIGKILL")),
        "the webhook stops on SIGTERM: {:?}",
        status.events
    );
}

#[test]
fn the_dockerfiles_produce_the_same_contents_as_make_images() {
    let docker = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/docker");
    for (name, cmd) in IMAGES {
        let image = open(name);
        for file in ["passwd", "group"] {
            let in_image = image
                .entries()
                .unwrap()
                .into_iter()
                .find_map(|e| match e {
                    Entry::File { path, contents, .. } if path == format!("etc/{file}") => {
                        Some(contents)
                    }
                    _ => None,
                })
                .unwrap();
            assert_eq!(
                std::fs::read(docker.join(file)).unwrap(),
                in_image,
                "deploy/docker/{file} differs from /etc/{file} of {name}"
            );
        }
        let short = name.trim_start_matches("kagi-");
        let dockerfile =
            std::fs::read_to_string(docker.join(format!("{short}.Dockerfile"))).unwrap();
        for line in [
            "FROM scratch".to_string(),
            format!("COPY --from=build /out/{name} /usr/local/bin/{name}"),
            "COPY deploy/docker/passwd /etc/passwd".to_string(),
            "COPY deploy/docker/group /etc/group".to_string(),
            format!("USER {NONROOT}:{NONROOT}"),
            format!("ENTRYPOINT [\"/usr/local/bin/{name}\"]"),
            format!("CMD [\"{cmd}\"]"),
            "ENV PATH=/usr/local/bin:/usr/bin".to_string(),
        ] {
            assert!(
                dockerfile.lines().any(|l| l == line),
                "{short}.Dockerfile lacks `{line}`"
            );
        }
        assert!(
            dockerfile.contains("+crt-static"),
            "{short}.Dockerfile builds a static binary"
        );
        if name == "kagi-agent" {
            // The Docker build and `make images` must link the agent alike (its memory figure).
            let makefile = std::fs::read_to_string(docker.join("../../Makefile")).unwrap();
            let flags = makefile
                .lines()
                .find_map(|l| l.strip_prefix("AGENT_LINK_FLAGS := "))
                .expect("Makefile sets AGENT_LINK_FLAGS");
            assert!(
                dockerfile.contains(flags),
                "agent.Dockerfile links without the Makefile's AGENT_LINK_FLAGS `{flags}`"
            );
        }
    }
}

#[test]
fn skopeo_reads_the_layouts_as_the_push_command_will() {
    let skopeo = std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("skopeo"))
                .find(|p| p.is_file())
        })
        .expect("skopeo is not installed: `make test-deps` installs it");
    let dir = tempfile::tempdir().unwrap();
    for (name, _) in IMAGES {
        let image = open(name);
        let source = format!("oci:{}:{VERSION}", image.layout.display());
        let output = Command::new(&skopeo)
            .args(["inspect", &source])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "skopeo inspect {source}: {output:?}"
        );
        let inspected: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            inspected["Digest"],
            image.manifest_digest.as_str(),
            "{inspected}"
        );
        assert_eq!(
            (inspected["Os"].as_str(), inspected["Architecture"].as_str()),
            (Some("linux"), Some("amd64"))
        );
        // What `skopeo copy oci:... docker://REGISTRY/...` does, into a layout instead of a
        // registry (there is none here). skopeo gzips the layer on the way, so the manifest
        // changes; the image config, whose diff_ids name the uncompressed layer, does not.
        let copy = dir.path().join(name);
        let target = format!("oci:{}:{VERSION}", copy.display());
        let output = Command::new(&skopeo)
            .args(["copy", "--quiet", &source, &target])
            .output()
            .unwrap();
        assert!(output.status.success(), "skopeo copy: {output:?}");
        assert_eq!(
            Image::open(&copy, VERSION).unwrap().config,
            image.config,
            "{name}"
        );
    }
}
