//! `agent-inject-command-<name>` split into words without a shell, and `agent-inject-signal-<name>`.

use super::shell_words::{NeedsShell, split};
use super::tests::annotations;
use super::*;
use crate::settings::{AgentFlavor, InjectorSettings};

fn parse_as(flavor: AgentFlavor, pairs: &[(&str, &str)]) -> Result<PodSettings, AnnotationError> {
    let settings = InjectorSettings {
        vault_address: "https://vault:8200".to_owned(),
        agent_flavor: flavor,
        ..Default::default()
    };
    PodSettings::parse(&annotations(pairs), &settings)
}

/// The command of secret `db` given `extra` annotations, in the kagi flavour.
fn command(extra: &[(&str, &str)]) -> Result<Option<RenderCommand>, String> {
    let mut pairs = vec![("agent-inject-secret-db", "kv/db")];
    pairs.extend_from_slice(extra);
    parse_as(AgentFlavor::Kagi, &pairs)
        .map(|p| p.secrets[0].command.clone())
        .map_err(|e| e.to_string())
}

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|w| (*w).to_owned()).collect()
}

#[test]
fn words_are_split_as_a_posix_shell_splits_them() {
    let cases: &[(&str, &[&str])] = &[
        ("nginx -s reload", &["nginx", "-s", "reload"]),
        ("  a \t b  ", &["a", "b"]),
        ("echo 'two words' end", &["echo", "two words", "end"]),
        (r#"echo "two words""#, &["echo", "two words"]),
        // Adjacent quoted and unquoted parts make one word.
        (r#"a'b'"c"d"#, &["abcd"]),
        (r"echo a\ b", &["echo", "a b"]),
        (r"echo \'x\'", &["echo", "'x'"]),
        // Inside double quotes a backslash escapes only $ ` " \ and newline.
        (
            r#"echo "a\"b" "c\d" "e\\f""#,
            &["echo", "a\"b", "c\\d", "e\\f"],
        ),
        // Inside single quotes nothing is special.
        (
            r"echo 'a\b $HOME `x` | ; *'",
            &["echo", r"a\b $HOME `x` | ; *"],
        ),
        ("echo '' \"\"", &["echo", "", ""]),
        ("app --flag=value x=y", &["app", "--flag=value", "x=y"]),
        ("app a#b c~d", &["app", "a#b", "c~d"]),
        ("app \\\n--next", &["app", "--next"]),
        // A quoted word is a program name, not an assignment or a reserved word.
        ("'A=b' c", &["A=b", "c"]),
        ("'if' x", &["if", "x"]),
        (
            "/usr/local/bin/kagi-agent signal --signal SIGHUP --process nginx",
            &[
                "/usr/local/bin/kagi-agent",
                "signal",
                "--signal",
                "SIGHUP",
                "--process",
                "nginx",
            ],
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(split(line), Ok(words(expected)), "{line:?}");
    }
}

#[test]
fn what_needs_a_shell_is_named() {
    let cases: &[(&str, &str)] = &[
        ("kill -HUP $(pidof nginx)", "`$(...)`"),
        ("kill -HUP `pidof nginx`", "backticks"),
        ("echo \"$(date)\"", "`$(...)`"),
        ("echo $HOME", "`$VAR`"),
        ("echo ${HOME}", "`$VAR`"),
        ("echo \"$HOME\"", "`$VAR`"),
        ("ps | grep nginx", "pipe `|`"),
        ("true || false", "`||`"),
        ("true && reload", "`&&`"),
        ("sleep 1 &", "background job `&`"),
        ("reload; echo done", "separator"),
        ("reload\necho done", "separator"),
        ("echo x > /tmp/f", "redirection"),
        ("cat < /tmp/f", "redirection"),
        ("cat 2>/dev/null", "redirection"),
        ("(reload)", "subshell"),
        ("rm /tmp/*.pid", "glob"),
        ("ls file?", "glob"),
        ("ls [ab]", "glob"),
        ("reload # comment", "comment"),
        ("cat ~/x", "tilde"),
        ("FOO=bar reload", "assignment"),
        ("if true", "reserved word"),
        ("! reload", "reserved word"),
        ("echo 'open", "unterminated single quote"),
        ("echo \"open", "unterminated double quote"),
        ("echo x\\", "trailing backslash"),
        ("''", "empty program name"),
    ];
    for (line, what) in cases {
        let Err(NeedsShell(found)) = split(line) else {
            panic!("{line:?} was split without a shell");
        };
        assert!(found.contains(what), "{line:?}: {found}");
    }
}

#[test]
fn kagi_flavour_runs_the_command_as_an_argv() {
    assert_eq!(
        command(&[("agent-inject-command-db", "nginx -s 'reload'")]),
        Ok(Some(RenderCommand::Argv(words(&["nginx", "-s", "reload"]))))
    );
}

#[test]
fn a_command_needing_a_shell_is_denied_naming_the_annotation_and_the_alternatives() {
    let err = command(&[("agent-inject-command-db", "kill -HUP $(pidof nginx)")]).unwrap_err();
    assert!(
        err.starts_with(
            "annotation vault.hashicorp.com/agent-inject-command-db has invalid value \
             \"kill -HUP $(pidof nginx)\""
        ),
        "{err}"
    );
    assert!(err.contains("command substitution `$(...)`"), "{err}");
    assert!(
        err.contains("vault.hashicorp.com/agent-inject-signal-db: \"SIGHUP <process>\""),
        "{err}"
    );
    assert!(err.contains("argv the agent can run directly"), "{err}");

    // Under the alias prefix, the message names the keys as the user wrote them.
    let err = command(&[("openbao.org/agent-inject-command-db", "reload | tee log")]).unwrap_err();
    assert!(
        err.contains("annotation openbao.org/agent-inject-command-db has invalid value"),
        "{err}"
    );
    assert!(err.contains("a pipe `|`"), "{err}");
    assert!(err.contains("openbao.org/agent-inject-signal-db"), "{err}");
}

#[test]
fn vault_flavour_keeps_the_command_line_for_vault_agent() {
    let p = parse_as(
        AgentFlavor::Vault,
        &[
            ("agent-inject-secret-db", "kv/db"),
            ("agent-inject-command-db", "kill -HUP $(pidof nginx)"),
        ],
    )
    .unwrap();
    assert_eq!(
        p.secrets[0].command,
        Some(RenderCommand::Line("kill -HUP $(pidof nginx)".to_owned()))
    );
    let err = parse_as(
        AgentFlavor::Vault,
        &[
            ("agent-inject-secret-db", "kv/db"),
            ("agent-inject-signal-db", "SIGHUP nginx"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("vault.hashicorp.com/agent-inject-signal-db"),
        "{err}"
    );
    assert!(err.contains("--agent-flavor vault"), "{err}");
    assert!(err.contains("agent-inject-command-db"), "{err}");
}

#[test]
fn signal_annotation_is_parsed_and_validated() {
    let signal = |signal: &str, process: &str| {
        Ok(Some(RenderCommand::Signal {
            signal: signal.to_owned(),
            process: process.to_owned(),
        }))
    };
    assert_eq!(
        command(&[("agent-inject-signal-db", "SIGHUP nginx")]),
        signal("SIGHUP", "nginx")
    );
    // The signal in any case, with or without `SIG`; the process by executable path.
    assert_eq!(
        command(&[("agent-inject-signal-db", "  usr1   /usr/sbin/nginx ")]),
        signal("SIGUSR1", "/usr/sbin/nginx")
    );
    assert_eq!(
        command(&[("openbao.org/agent-inject-signal-db", "sigterm app")]),
        signal("SIGTERM", "app")
    );
    for bad in [
        "SIGFOO nginx",
        "SIGHUP",
        "nginx",
        "SIGHUP nginx extra",
        "HUP1 x",
        "SIG x",
    ] {
        let err = command(&[("agent-inject-signal-db", bad)]).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "annotation vault.hashicorp.com/agent-inject-signal-db has invalid value {bad:?}: \
                 expected \"SIGNAL PROCESS\""
            )),
            "{err}"
        );
        assert!(err.contains("SIGHUP nginx"), "{err}");
    }
    // Every signal name the table lists is accepted.
    for name in SIGNAL_NAMES {
        let value = format!("SIG{name} app");
        assert_eq!(
            command(&[("agent-inject-signal-db", &value)]),
            signal(&format!("SIG{name}"), "app")
        );
    }
}

#[test]
fn signal_and_command_for_one_secret_are_denied_naming_both() {
    let err = command(&[
        ("agent-inject-command-db", "nginx -s reload"),
        ("openbao.org/agent-inject-signal-db", "SIGHUP nginx"),
    ])
    .unwrap_err();
    assert!(
        err.starts_with(
            "annotations vault.hashicorp.com/agent-inject-command-db and \
             openbao.org/agent-inject-signal-db cannot be combined"
        ),
        "{err}"
    );
    // Another secret may have the other one.
    let p = parse_as(
        AgentFlavor::Kagi,
        &[
            ("agent-inject-secret-db", "kv/db"),
            ("agent-inject-secret-tls", "pki/issue/web"),
            ("agent-inject-command-db", "reload-db"),
            ("agent-inject-signal-tls", "SIGHUP nginx"),
        ],
    )
    .unwrap();
    assert_eq!(
        p.secrets[0].command,
        Some(RenderCommand::Argv(words(&["reload-db"])))
    );
    assert!(matches!(
        p.secrets[1].command,
        Some(RenderCommand::Signal { .. })
    ));
}

#[test]
fn a_signal_for_an_undeclared_secret_is_denied() {
    let err = command(&[("agent-inject-signal-web", "SIGHUP nginx")]).unwrap_err();
    assert!(
        err.contains("annotation vault.hashicorp.com/agent-inject-signal-web has invalid value"),
        "{err}"
    );
    assert!(err.contains("agent-inject-secret-web"), "{err}");
}
