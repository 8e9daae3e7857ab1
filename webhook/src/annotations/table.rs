//! The list of every annotation the webhook reads, for documentation and coverage tests.

/// One annotation: its name after the prefix, its default and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnotationDoc {
    /// The suffix after `vault.hashicorp.com/`; per-secret ones end in `-<name>`.
    pub name: &'static str,
    /// The value used when the annotation is absent (empty: unset).
    pub default: &'static str,
    pub description: &'static str,
}

const fn doc(
    name: &'static str,
    default: &'static str,
    description: &'static str,
) -> AnnotationDoc {
    AnnotationDoc {
        name,
        default,
        description,
    }
}

/// Every annotation, grouped as in the vault-k8s documentation.
#[rustfmt::skip]
pub const ANNOTATIONS: &[AnnotationDoc] = &[
    // Control and lifecycle.
    doc("agent-inject", "", "Inject the agent when truthy. Absent or false: the pod is left alone."),
    doc("agent-inject-status", "", "Written as `injected` by the webhook; a pod already `injected` is skipped."),
    doc("agent-native-sidecar", "flag `--native-sidecar` (`true`)", "kagi: run the agent as one native sidecar (restartable init container `vault-agent` with a startup probe; Kubernetes 1.29+) instead of `vault-agent-init` + `vault-agent`."),
    doc("agent-pre-populate", "`true`", "Classic shape: add the `vault-agent-init` init container that renders secrets before the app starts. `false` selects the classic shape."),
    doc("agent-pre-populate-only", "`false`", "Classic shape: only the init container, no long-running sidecar (Jobs). `true` selects the classic shape."),
    doc("agent-init-first", "native: `true`; classic: `false`", "Put the agent before the pod's other init containers."),
    doc("agent-inject-containers", "all containers", "Comma-separated app containers that get the secret volume mounts (init containers always do); empty: none. Unknown names are refused."),
    doc("agent-configmap", "", "ConfigMap with `config.hcl` (sidecar) and `config-init.hcl` (init), mounted at `/vault/configs`, replacing the generated config. Selects the classic shape. For the kagi agent the files must be JSON (valid HCL)."),
    doc("agent-json-patch", "", "RFC 6902 JSON patch applied to the generated sidecar (or native sidecar) container."),
    doc("agent-init-json-patch", "", "RFC 6902 JSON patch applied to the generated `vault-agent-init` container (classic shape; the native sidecar takes `agent-json-patch`)."),
    doc("agent-request-namespace", "request namespace", "Set by the injector; a value on the pod is ignored."),
    // Per secret.
    doc("agent-inject-secret-<name>", "", "Vault path read by the default template; renders `<secret-volume-path>/<name>`."),
    doc("agent-inject-template-<name>", "default template", "Inline consul-template text for secret `<name>`."),
    doc("agent-inject-template-file-<name>", "", "Path of a template file inside the agent container (used when there is no inline template)."),
    doc("agent-inject-file-<name>", "`<name>`", "File name (relative to the secret volume path) to render `<name>` to; may contain directories but not leave the volume."),
    doc("agent-inject-perms-<name>", "agent default", "Octal file mode such as `0400`."),
    doc("agent-inject-command-<name>", "", "Command the agent runs after rendering `<name>`. kagi flavour: split into words as `sh` splits them (quotes, backslashes) and run without a shell (the template's `exec`); a value that needs a shell (pipes, `;`, `&&`, `||`, `$`, backticks, redirections, globs) is refused, pointing at `agent-inject-signal-<name>`. `--agent-flavor vault`: passed to Vault Agent as written."),
    doc("agent-inject-signal-<name>", "", "kagi: `SIGNAL PROCESS`, e.g. `SIGHUP nginx`: after `<name>` changed, `kagi-agent signal` sends SIGNAL to the app process with that command name or executable. The agent must run as the app's UID to signal it (`agent-run-as-same-user`). Sets `shareProcessNamespace: true` and a template `wait` of 2s quiet (at most 10s) so a burst of changes gives one signal. Not with `agent-inject-command-<name>`, nor with `--agent-flavor vault`."),
    doc("agent-template-left-delim-<name>", "`{{`", "Left template delimiter."),
    doc("agent-template-right-delim-<name>", "`}}`", "Right template delimiter."),
    doc("error-on-missing-key-<name>", "`false`", "Fail rendering when the template reads a missing key."),
    doc("secret-volume-path-<name>", "`secret-volume-path`", "Directory for this secret; each distinct path gets its own memory volume `vault-secrets-custom-<i>`."),
    doc("preserve-secret-case-<name>", "`preserve-secret-case`", "Keep the case of `<name>` in the file name."),
    // Env mode (kagi): secrets as environment variables of a wrapped app process.
    doc("agent-env-<VAR>", "", "kagi: template whose output becomes `$VAR` of the app process, which `kagi-agent exec` runs with its own login (no agent sidecar needed). `<VAR>` is taken verbatim (case kept) and must be `[A-Za-z_][A-Za-z0-9_]*`, at most 53 characters, not ending in `_` (Kubernetes key rules). The container needs an explicit `command`."),
    doc("agent-env-containers", "every app container", "kagi: comma-separated app containers that get the `agent-env-*` variables; unknown names are refused."),
    doc("agent-env-restart", "`always`", "kagi: `always` restarts the app process with the new environment when a value changes; `never` keeps it running with the old one."),
    doc("agent-env-stop-signal", "`SIGTERM`", "kagi: signal sent to the app process before a restart and on shutdown: a name as `bao agent` takes it (`SIGTERM`, `SIGINT`, `SIGQUIT`, `SIGHUP`, `SIGUSR1`, ..., any case)."),
    doc("agent-env-error-on-missing-key", "`true`", "kagi: a variable's template reading a missing key fails (the app does not start) instead of giving `<no value>`."),
    // Global template behaviour.
    doc("secret-volume-path", "`/vault/secrets`", "Mount path of the shared `vault-secrets` memory volume."),
    doc("preserve-secret-case", "`false`", "Keep the case of every secret name in file names (default: lower-cased)."),
    doc("agent-inject-default-template", "flag `--default-template` (`map`)", "`map` or `json` (any case)."),
    doc("agent-inject-token", "`false`", "Also write the Vault token to `<secret-volume-path>/token`."),
    doc("template-config-exit-on-retry-failure", "flag (`true`)", "`template_config.exit_on_retry_failure`."),
    doc("template-static-secret-render-interval", "flag (agent default `5m`)", "How often static secrets are re-read (duration such as `30s`)."),
    doc("template-max-connections-per-host", "env (agent default)", "`template_config.max_connections_per_host` (non-negative integer)."),
    doc("template-lease-renewal-threshold", "env (agent default `0.9`)", "Fraction of a lease after which it is renewed (number between 0 and 1)."),
    // Agent container shape.
    doc("agent-image", concat!("flag `--vault-image` (`kagi-agent:", env!("CARGO_PKG_VERSION"), "`)"), "Image of the agent containers (with `--agent-flavor vault` the flag defaults to `hashicorp/vault:2.0.4`)."),
    doc("agent-requests-cpu", "flag (`10m`)", "CPU request; empty removes it."),
    doc("agent-requests-mem", "flag (`16Mi`)", "Memory request; empty removes it."),
    doc("agent-requests-ephemeral", "flag (unset)", "Ephemeral-storage request; empty removes it."),
    doc("agent-limits-cpu", "flag (`100m`)", "CPU limit; empty removes it."),
    doc("agent-limits-mem", "flag (`64Mi`)", "Memory limit; empty removes it."),
    doc("agent-limits-ephemeral", "flag (unset)", "Ephemeral-storage limit; empty removes it."),
    doc("agent-run-as-user", "flag (`100`)", "UID of the agent (integer)."),
    doc("agent-run-as-group", "flag (`1000`)", "GID of the agent (integer)."),
    doc("agent-run-as-same-user", "flag (`false`)", "Run the agent with the first app container's `runAsUser` (which must be set and not 0)."),
    doc("agent-set-security-context", "flag (`true`)", "Give agents a UID/GID security context; `false` (OpenShift) keeps only the UID-free hardening."),
    doc("agent-share-process-namespace", "pod unchanged", "Set `spec.shareProcessNamespace` (so a template command can signal the app)."),
    doc("agent-revoke-on-shutdown", "flag (`false`)", "Revoke the token (kagi: and every lease) when the agent stops."),
    doc("agent-revoke-grace", "`5`", "Seconds to wait before revoking (classic shape only; non-negative integer)."),
    doc("agent-extra-secret", "", "Secret mounted read-only at `/vault/custom` in the agent containers."),
    doc("agent-copy-volume-mounts", "", "Copy the volume mounts of this (init) container into the agents (service-account mounts excepted)."),
    doc("agent-service-account-token-volume-name", "", "Projected service-account token volume to log in with (needed with `automountServiceAccountToken: false`)."),
    doc("go-max-procs", "", "`GOMAXPROCS` for the agent (positive integer)."),
    // Agent features.
    doc("agent-cache-enable", "`false`", "Enable the agent cache stanza and its localhost listener."),
    doc("agent-cache-use-auto-auth-token", "`true`", "`cache.use_auto_auth_token`: `true`, `false` or `force`."),
    doc("agent-cache-listener-port", "`8200`", "Port of the localhost listener (1-65535)."),
    doc("agent-cache-exit-on-err", "`false`", "`cache.persist.exit_on_err`."),
    doc("agent-enable-quit", "`false`", "Serve `POST /agent/v1/quit` on the localhost listener so a Job can stop its agent."),
    doc("agent-auto-auth-exit-on-err", "`false`", "Exit instead of retrying when login fails."),
    doc("agent-telemetry-<param>", "", "Telemetry stanza key `<param>` (dashes become underscores); JSON values are decoded."),
    doc("agent-disable-idle-connections", "flag", "Comma list of `auto-auth`, `caching`, `templating`."),
    doc("agent-disable-keep-alives", "flag", "Comma list of `auto-auth`, `caching`, `templating`."),
    // Vault connection and auth.
    doc("service", "flag `--vault-address`", "Vault/OpenBao address."),
    doc("role", "", "Auth role; required for `kubernetes` auth unless `auth-config-role` is set."),
    doc("auth-type", "flag (`kubernetes`)", "Auto-auth method type."),
    doc("auth-path", "flag (`auth/kubernetes`)", "Auto-auth mount path."),
    doc("auth-config-<param>", "", "Extra auth method config key `<param>` (dashes become underscores)."),
    doc("auth-min-backoff", "flag", "Minimum login retry backoff (duration such as `1s`)."),
    doc("auth-max-backoff", "flag", "Maximum login retry backoff (duration such as `5m`)."),
    doc("namespace", "flag `--vault-namespace`", "Vault Enterprise / OpenBao namespace (nested ones such as `admin/team` too) of the login and of every template read, as `bao agent` applies it; `VAULT_NAMESPACE` on the agent container wins over it."),
    doc("proxy-address", "flag `--proxy-address`", "`HTTPS_PROXY` for the agent."),
    doc("tls-skip-verify", "`false`", "Do not verify Vault's certificate."),
    doc("tls-secret", "", "Secret mounted read-only at `/vault/tls` in the agent containers."),
    doc("tls-server-name", "", "Server name used to verify Vault's certificate."),
    doc("ca-cert", "", "Path of Vault's CA certificate in the agent container."),
    doc("ca-key", "", "Path of a CA directory (vault-k8s maps it to `ca_path`)."),
    doc("client-cert", "", "Path of the client certificate."),
    doc("client-key", "", "Path of the client key."),
    doc("client-max-retries", "agent default (`2`)", "`VAULT_MAX_RETRIES` (integer)."),
    doc("client-timeout", "agent default (`60s`)", "`VAULT_CLIENT_TIMEOUT` (duration)."),
    doc("log-level", "`info`", "`VAULT_LOG_LEVEL`: trace, debug, info, warn, error."),
    doc("log-format", "`standard`", "`VAULT_LOG_FORMAT`: `standard` or `json`."),
];
