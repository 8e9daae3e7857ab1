//! What runs after a render: the template `exec`/`wait` the command and signal annotations
//! produce, and the shared PID namespace a signal needs.

use serde_json::json;

use super::tests::*;
use super::tests_shapes::stock;
use super::*;

fn templates(pod: &Pod, settings: &InjectorSettings) -> serde_json::Value {
    config(container(&injected(pod, settings), "vault-agent"))["template"].clone()
}

fn share(pod: &Pod) -> Option<bool> {
    pod.spec.as_ref().unwrap().share_process_namespace
}

#[test]
fn signal_annotation_emits_the_agent_signal_exec_a_wait_and_a_shared_pid_namespace() {
    for prefix in ["vault.hashicorp.com", "openbao.org"] {
        let key = format!("{prefix}/agent-inject-signal-db");
        let p = pod(&[
            ("agent-inject", "true"),
            ("role", "app"),
            ("agent-inject-secret-db", "database/creds/app"),
            (key.as_str(), "SIGHUP nginx"),
        ]);
        for s in [settings(), classic()] {
            let out = injected(&p, &s);
            assert_eq!(share(&out), Some(true), "{prefix}");
            let agent = container(&out, "vault-agent");
            let template = &config(agent)["template"][0];
            assert_eq!(
                template["exec"],
                json!({"command": [
                    "/usr/local/bin/kagi-agent", "signal", "--signal", "SIGHUP", "--process", "nginx"
                ]}),
                "{prefix}"
            );
            assert_eq!(template["wait"], json!({"min": "2s", "max": "10s"}));
            assert!(template["command"].is_null());
            // The generated config loads in the agent without unknown keys.
            let loaded =
                kagi_agent_config::AgentConfig::from_json(config_text(agent).as_bytes()).unwrap();
            assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        }
    }
}

#[test]
fn signal_wait_is_the_documented_one() {
    let doc = crate::annotations::ANNOTATIONS
        .iter()
        .find(|d| d.name == "agent-inject-signal-<name>")
        .unwrap();
    let min = kagi_agent_config::GoDuration(agent_config::SIGNAL_WAIT_MIN).to_string();
    let max = kagi_agent_config::GoDuration(agent_config::SIGNAL_WAIT_MAX).to_string();
    assert!(
        doc.description
            .contains(&format!("{min} quiet (at most {max})")),
        "{}",
        doc.description
    );
}

#[test]
fn command_becomes_an_argv_exec_in_the_kagi_flavour_and_stays_a_line_for_vault() {
    let p = pod(&with(&[(
        "agent-inject-command-db",
        r#"/usr/bin/app-reload --config "/etc/app/my conf.yaml""#,
    )]));
    let kagi = templates(&p, &settings());
    assert_eq!(
        kagi[0]["exec"],
        json!({"command": ["/usr/bin/app-reload", "--config", "/etc/app/my conf.yaml"]})
    );
    assert!(kagi[0]["command"].is_null());
    assert!(kagi[0]["wait"].is_null());

    let shell = pod(&with(&[(
        "agent-inject-command-db",
        "kill -HUP $(pidof nginx)",
    )]));
    let vault = templates(&shell, &stock(settings()));
    assert_eq!(vault[0]["command"], "kill -HUP $(pidof nginx)");
    assert!(vault[0]["exec"].is_null());
    // A command alone does not change the pod's PID namespace.
    assert_eq!(share(&injected(&p, &settings())), None);

    let message = denied(&shell, &settings());
    assert!(
        message.contains("vault.hashicorp.com/agent-inject-command-db"),
        "{message}"
    );
    assert!(
        message.contains("vault.hashicorp.com/agent-inject-signal-db"),
        "{message}"
    );
}

#[test]
fn signal_conflicts_with_an_unshared_pid_namespace() {
    let signal = with(&[("agent-inject-signal-db", "SIGHUP nginx")]);

    let mut unshared = pod(&signal);
    unshared.spec.as_mut().unwrap().share_process_namespace = Some(false);
    let message = denied(&unshared, &settings());
    assert_eq!(
        message,
        "annotation vault.hashicorp.com/agent-inject-signal-db conflicts with the pod's \
         shareProcessNamespace: false"
    );

    let mut refused = signal.clone();
    refused.push(("agent-share-process-namespace", "false"));
    let message = denied(&pod(&refused), &settings());
    assert!(
        message.contains("agent-inject-signal-db needs shareProcessNamespace: true"),
        "{message}"
    );
    assert!(
        message.contains("agent-share-process-namespace is false"),
        "{message}"
    );

    let mut agreed = signal;
    agreed.push(("agent-share-process-namespace", "true"));
    assert_eq!(share(&injected(&pod(&agreed), &settings())), Some(true));
}

#[test]
fn signal_and_command_on_one_secret_are_denied() {
    let p = pod(&with(&[
        ("agent-inject-signal-db", "SIGHUP nginx"),
        ("agent-inject-command-db", "nginx -s reload"),
    ]));
    let message = denied(&p, &settings());
    assert!(
        message.contains(
            "vault.hashicorp.com/agent-inject-command-db and \
             vault.hashicorp.com/agent-inject-signal-db cannot be combined"
        ),
        "{message}"
    );
}
