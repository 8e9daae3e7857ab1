//! Self-managed webhook TLS that is safe with several replicas (`--tls-auto`).
//!
//! vault-k8s lets every replica make its own CA, so replicas overwrite each other's
//! `caBundle` and the API server ends up distrusting some of them. Here:
//! - all replicas share ONE CA, kept in a Secret in the injector's namespace. The first
//!   replica creates it; a replica that loses the creation race (409) reads the winner's CA;
//! - each replica issues its own serving certificate from that CA and renews it at 90 % of
//!   its life;
//! - the `caBundle` of every webhook in the named MutatingWebhookConfiguration is patched
//!   only when it differs, guarded by a `test` of the resourceVersion so two writers cannot
//!   silently overwrite each other;
//! - the CA itself is rotated at 90 % of its life: the Secret then names the new CA and keeps
//!   the old one as `previous-ca.crt`; the bundle carries both until the old one expires, and
//!   a replica switches its serving certificate to the new CA only after the bundle holds it.
//!
//! Usage from the webhook binary (in one call: [`spawn`]):
//! ```no_run
//! # async fn demo(client: kube::Client) -> Result<(), kagi_certs::CertError> {
//! use kagi_certs::auto::{AutoTls, AutoTlsSettings};
//! let settings = AutoTlsSettings::new("kagi-webhook", "kagi", "kagi-webhook");
//! let auto = AutoTls::start(client, settings).await?; // first certificate is ready
//! let resolver = auto.resolver(); // give this to rustls
//! tokio::spawn(auto.run()); // renews and rotates forever
//! # Ok(()) }
//! ```

pub mod bundle;
mod retry;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use self::bundle::{
    CaCert, decode_secret, desired_bundle, encode_bundle, encode_secret, renew_at, same_cas,
    serving_cert_due,
};
use crate::generate::{BACKDATE, CertificateAuthority, Validity, service_hosts};
use crate::pem::unix_seconds;
use crate::{CertError, ReloadingResolver};

/// Where Kubernetes mounts the pod's namespace next to its service-account token.
const SERVICE_ACCOUNT_NAMESPACE_FILE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Self-managed TLS running in the background; dropping it stops renewals.
pub struct AutoTlsHandle {
    resolver: Arc<ReloadingResolver>,
    task: tokio::task::JoinHandle<()>,
}

impl AutoTlsHandle {
    /// The resolver to hand to rustls.
    pub fn resolver(&self) -> Arc<ReloadingResolver> {
        Arc::clone(&self.resolver)
    }
}

impl Drop for AutoTlsHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Everything `--tls-auto NAME` needs, in one call: connects to the API server with the
/// in-cluster (or kubeconfig) credentials, finds the injector's namespace (env `NAMESPACE`,
/// else the service-account namespace file), waits for the first certificate trusted by the
/// MutatingWebhookConfiguration `webhook_config`, then keeps renewing in the background.
/// `hosts` are the certificate's names; empty means the names of Service `service`.
pub async fn spawn(
    webhook_config: &str,
    service: &str,
    hosts: Vec<String>,
) -> Result<AutoTlsHandle, CertError> {
    let namespace = match std::env::var("NAMESPACE") {
        Ok(ns) if !ns.trim().is_empty() => ns.trim().to_string(),
        _ => std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE_FILE)
            .map(|ns| ns.trim().to_string())
            .map_err(|source| CertError::Read {
                what: "namespace (set NAMESPACE)",
                path: SERVICE_ACCOUNT_NAMESPACE_FILE.into(),
                source,
            })?,
    };
    let client = kube::Client::try_default()
        .await
        .map_err(|e| CertError::kube("connecting to the Kubernetes API", e))?;
    let mut settings = AutoTlsSettings::new(webhook_config, &namespace, service);
    if !hosts.is_empty() {
        settings.hosts = hosts;
    }
    let auto = AutoTls::start(client, settings).await?;
    let resolver = auto.resolver();
    let task = tokio::spawn(auto.run());
    Ok(AutoTlsHandle { resolver, task })
}

/// Default name of the Secret holding the shared CA.
pub const DEFAULT_CA_SECRET: &str = "kagi-webhook-ca";

/// How self-managed TLS behaves. [`AutoTlsSettings::new`] gives production defaults.
#[derive(Clone, Debug)]
pub struct AutoTlsSettings {
    /// Name of the MutatingWebhookConfiguration whose `caBundle` is managed.
    pub webhook_config: String,
    /// The injector's own namespace, where the CA Secret lives.
    pub namespace: String,
    /// Name of the CA Secret.
    pub ca_secret: String,
    /// Names (and IPs) in every serving certificate.
    pub hosts: Vec<String>,
    /// Lifetime of a new CA. Its last 10 % is the overlap during which old and new CA are
    /// both trusted, so keep it well above `serving_lifetime * 10`.
    pub ca_lifetime: Duration,
    /// Lifetime of a serving certificate (capped at the CA's end).
    pub serving_lifetime: Duration,
    /// How far back certificates start, for nodes whose clocks are behind.
    pub backdate: Duration,
    /// How often the Secret and the bundle are checked even when nothing is due: another
    /// replica may have rotated the CA, or someone may have re-applied the webhook
    /// configuration with an empty `caBundle`.
    pub resync: Duration,
    /// First retry delay after an API error; doubles up to `retry_max`, less up to 25 % at
    /// random so replicas do not retry in lockstep.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// How many times [`AutoTls::start`] tries before giving up.
    pub start_attempts: u32,
    /// After the bundle gained a new CA, how long to keep serving the certificate from the
    /// old CA: the API server picks up a changed webhook configuration asynchronously, and
    /// the old certificate is still valid, so there is no reason to hurry.
    pub bundle_propagation: Duration,
}

impl AutoTlsSettings {
    /// Defaults: CA for 5 years, serving certificates for 24 hours, resync every 30 s,
    /// hosts for `service` in `namespace` (see [`service_hosts`]).
    pub fn new(webhook_config: &str, namespace: &str, service: &str) -> Self {
        Self {
            webhook_config: webhook_config.to_string(),
            namespace: namespace.to_string(),
            ca_secret: DEFAULT_CA_SECRET.to_string(),
            hosts: service_hosts(service, namespace, &[]),
            ca_lifetime: Duration::from_secs(5 * 365 * 86_400),
            serving_lifetime: Duration::from_secs(86_400),
            backdate: BACKDATE,
            resync: Duration::from_secs(30),
            retry_min: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            start_attempts: 6,
            bundle_propagation: Duration::from_secs(30),
        }
    }
}

/// The shared CA as read from (or just written to) the Secret.
struct SharedCa {
    authority: CertificateAuthority,
    current: CaCert,
    previous: Option<CaCert>,
}

/// The serving certificate this replica currently serves.
struct Served {
    /// DER of the CA that signed it.
    issuer_der: Vec<u8>,
    renew_at: i64,
    /// Unix seconds.
    not_after: i64,
}

/// The self-managed TLS controller of one replica.
pub struct AutoTls {
    settings: AutoTlsSettings,
    secrets: Api<Secret>,
    webhooks: Api<MutatingWebhookConfiguration>,
    resolver: Option<Arc<ReloadingResolver>>,
    served: Option<Served>,
    /// A CA newer than the one our serving certificate comes from, and when we first knew
    /// the bundle carries it.
    pending_switch: Option<(Vec<u8>, std::time::Instant)>,
    next_pass: Duration,
}

impl AutoTls {
    /// A controller that has not talked to the API server yet; see [`Self::start`].
    pub fn new(client: kube::Client, settings: AutoTlsSettings) -> Self {
        Self {
            secrets: Api::namespaced(client.clone(), &settings.namespace),
            webhooks: Api::all(client),
            settings,
            resolver: None,
            served: None,
            pending_switch: None,
            next_pass: Duration::ZERO,
        }
    }

    /// Runs passes (with backoff) until a serving certificate trusted by the webhook
    /// configuration exists, or `start_attempts` passes have failed.
    pub async fn start(client: kube::Client, settings: AutoTlsSettings) -> Result<Self, CertError> {
        let mut auto = Self::new(client, settings);
        let mut attempt = 1;
        loop {
            let delay = retry::retry_delay(
                auto.settings.retry_min,
                auto.settings.retry_max,
                attempt,
                retry::jitter(),
            );
            match auto.reconcile().await {
                Ok(next) if auto.resolver.is_some() => {
                    auto.next_pass = next;
                    return Ok(auto);
                }
                Ok(_) => {}
                Err(error) if attempt >= auto.settings.start_attempts => return Err(error),
                Err(error) => {
                    tracing::warn!(%error, attempt, retry_in = ?delay, "self-managed TLS is not ready yet");
                }
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// The resolver to hand to rustls. Panics before the first successful pass, which
    /// [`Self::start`] guarantees.
    pub fn resolver(&self) -> Arc<ReloadingResolver> {
        self.resolver
            .clone()
            .expect("AutoTls::resolver called before a successful pass; use AutoTls::start")
    }

    /// Renews and rotates forever, retrying API errors with exponential backoff.
    pub async fn run(mut self) {
        let mut failures = 0;
        let mut wait = self.next_pass;
        loop {
            tokio::time::sleep(wait).await;
            match self.reconcile().await {
                Ok(next) => {
                    failures = 0;
                    wait = next;
                }
                Err(error) => {
                    failures += 1;
                    wait = retry::retry_delay(
                        self.settings.retry_min,
                        self.settings.retry_max,
                        failures,
                        retry::jitter(),
                    );
                    tracing::warn!(%error, retry_in = ?wait, "self-managed TLS pass failed");
                }
            }
        }
    }

    /// One pass: make sure the shared CA exists (rotating it when due), that the bundle
    /// trusts it, and that this replica serves a fresh certificate from it. Returns how
    /// long to wait before the next pass.
    pub async fn reconcile(&mut self) -> Result<Duration, CertError> {
        let now_time = SystemTime::now();
        let now = unix_seconds(now_time);
        let shared = self.ensure_ca(now_time).await?;
        let bundle = self.ensure_bundle(&shared, now).await;

        // A certificate from a CA the bundle may not hold yet would be refused, so the
        // serving certificate moves to a new CA only after the bundle was updated. A
        // renewal from the same CA is always safe.
        let same_ca = self
            .served
            .as_ref()
            .is_some_and(|s| s.issuer_der == shared.current.der);
        if bundle.is_ok() || same_ca {
            self.renew_serving_if_due(&shared, now_time)?;
        }
        bundle?;

        let mut due = renew_at(shared.current.not_before, shared.current.not_after);
        if let Some(served) = &self.served {
            // While a switch to a new CA is pending, a due renewal waits for the switch.
            due = due.min(match self.pending_switch {
                Some(_) => served.not_after,
                None => served.renew_at,
            });
        }
        let mut next =
            Duration::from_secs(u64::try_from(due - now).unwrap_or(0)).min(self.settings.resync);
        if let Some((_, since)) = &self.pending_switch {
            next = next.min(
                self.settings
                    .bundle_propagation
                    .saturating_sub(since.elapsed()),
            );
        }
        let floor = self.settings.resync.min(Duration::from_secs(1));
        Ok(next.max(floor))
    }

    fn renew_serving_if_due(
        &mut self,
        shared: &SharedCa,
        now_time: SystemTime,
    ) -> Result<(), CertError> {
        let now = unix_seconds(now_time);
        let due = match &self.served {
            None => true,
            Some(served) => {
                let (renew, not_after) = (served.renew_at, served.not_after);
                let switch = (served.issuer_der != shared.current.der)
                    .then(|| self.ca_switch_propagated(&shared.current.der));
                serving_cert_due(renew, not_after, now, switch)
            }
        };
        if !due {
            return Ok(());
        }
        self.pending_switch = None;
        let ca_end =
            UNIX_EPOCH + Duration::from_secs(u64::try_from(shared.current.not_after).unwrap_or(0));
        let validity = Validity::starting_at(
            now_time,
            self.settings.backdate,
            self.settings.serving_lifetime,
        )
        .capped_at(ca_end);
        let pair = shared
            .authority
            .issue_serving(&self.settings.hosts, validity)?
            .to_serving_pair()?;
        tracing::info!(
            not_after = pair.not_after,
            "issued a serving certificate from the shared CA"
        );
        self.served = Some(Served {
            issuer_der: shared.current.der.clone(),
            renew_at: renew_at(pair.not_before, pair.not_after),
            not_after: pair.not_after,
        });
        match &self.resolver {
            Some(resolver) => resolver.store(pair),
            None => self.resolver = Some(ReloadingResolver::from_pair(pair)),
        }
        Ok(())
    }

    /// Whether the bundle has carried `new_ca` for long enough that the API server trusts it.
    fn ca_switch_propagated(&mut self, new_ca: &[u8]) -> bool {
        match &self.pending_switch {
            Some((ca, since)) if ca == new_ca => {
                since.elapsed() >= self.settings.bundle_propagation
            }
            _ => {
                self.pending_switch = Some((new_ca.to_vec(), std::time::Instant::now()));
                self.settings.bundle_propagation.is_zero()
            }
        }
    }

    /// Reads the CA Secret, creating it when absent and replacing it when due for rotation
    /// or unusable. Every write is conditional; whoever loses a race uses the winner's CA.
    async fn ensure_ca(&self, now_time: SystemTime) -> Result<SharedCa, CertError> {
        const ATTEMPTS: usize = 3;
        let name = self.settings.ca_secret.as_str();
        let now = unix_seconds(now_time);
        for _ in 0..ATTEMPTS {
            let existing = self
                .secrets
                .get_opt(name)
                .await
                .map_err(|e| CertError::kube("reading the CA Secret", e))?;
            let Some(existing) = existing else {
                let (authority, current) = self.new_ca(now_time)?;
                let secret = self.ca_secret(ObjectMeta::default(), &authority, None);
                match self.secrets.create(&PostParams::default(), &secret).await {
                    Ok(_) => {
                        tracing::info!(secret = name, "created the shared webhook CA");
                        return Ok(SharedCa {
                            authority,
                            current,
                            previous: None,
                        });
                    }
                    Err(kube::Error::Api(status)) if status.code == 409 => {
                        tracing::info!(
                            secret = name,
                            "another replica created the CA first; using theirs"
                        );
                        continue;
                    }
                    Err(e) => return Err(CertError::kube("creating the CA Secret", e)),
                }
            };

            let decoded = decode_secret(existing.data.as_ref()).and_then(|data| {
                let authority = CertificateAuthority::from_pem(&data.cert_pem, &data.key_pem)
                    .map_err(|e| e.to_string())?;
                let current = CaCert::first_in(data.cert_pem.as_bytes())
                    .ok_or_else(|| "ca.crt holds no certificate".to_string())?;
                let previous = data
                    .previous_cert_pem
                    .as_deref()
                    .and_then(|pem| CaCert::first_in(pem.as_bytes()))
                    .filter(|ca| ca.not_after > now);
                Ok(SharedCa {
                    authority,
                    current,
                    previous,
                })
            });
            let previous_pem = match decoded {
                Ok(shared)
                    if now < renew_at(shared.current.not_before, shared.current.not_after) =>
                {
                    return Ok(shared);
                }
                Ok(shared) => {
                    tracing::info!(
                        secret = name,
                        ca_not_after = shared.current.not_after,
                        "rotating the shared CA"
                    );
                    Some(shared.authority.cert_pem().to_string())
                }
                Err(reason) => {
                    tracing::warn!(secret = name, %reason, "the CA Secret is unusable; replacing it");
                    None
                }
            };
            let (authority, current) = self.new_ca(now_time)?;
            // Keep the Secret's metadata (labels, annotations, owners others added) and its
            // resourceVersion, which makes the replace fail if anyone wrote in between.
            let secret = self.ca_secret(existing.metadata, &authority, previous_pem.as_deref());
            match self
                .secrets
                .replace(name, &PostParams::default(), &secret)
                .await
            {
                Ok(_) => {
                    let previous = previous_pem
                        .as_deref()
                        .and_then(|pem| CaCert::first_in(pem.as_bytes()));
                    return Ok(SharedCa {
                        authority,
                        current,
                        previous,
                    });
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    tracing::info!(
                        secret = name,
                        "another replica replaced the CA first; using theirs"
                    );
                }
                Err(e) => return Err(CertError::kube("replacing the CA Secret", e)),
            }
        }
        Err(CertError::Contended {
            what: format!("Secret {}/{name}", self.settings.namespace),
            attempts: ATTEMPTS,
        })
    }

    fn new_ca(&self, now_time: SystemTime) -> Result<(CertificateAuthority, CaCert), CertError> {
        let validity =
            Validity::starting_at(now_time, self.settings.backdate, self.settings.ca_lifetime);
        let authority = CertificateAuthority::generate(
            // The start time in the name keeps successive CAs apart in logs and chain building.
            &format!(
                "kagi webhook CA {}.{} {}",
                self.settings.webhook_config,
                self.settings.namespace,
                unix_seconds(validity.not_before)
            ),
            validity,
        )?;
        let current = CaCert::first_in(authority.cert_pem().as_bytes())
            .ok_or_else(|| CertError::X509("generated CA does not parse".into()))?;
        Ok((authority, current))
    }

    fn ca_secret(
        &self,
        mut metadata: ObjectMeta,
        authority: &CertificateAuthority,
        previous: Option<&str>,
    ) -> Secret {
        metadata.name = Some(self.settings.ca_secret.clone());
        metadata.namespace = Some(self.settings.namespace.clone());
        let labels = metadata.labels.get_or_insert_with(Default::default);
        labels.insert("app.kubernetes.io/name".into(), "kagi".into());
        labels.insert("app.kubernetes.io/component".into(), "webhook-ca".into());
        labels.insert("app.kubernetes.io/managed-by".into(), "kagi-webhook".into());
        Secret {
            metadata,
            type_: Some("Opaque".into()),
            data: Some(encode_secret(
                authority.cert_pem(),
                &authority.key_pem(),
                previous,
            )),
            ..Secret::default()
        }
    }

    /// Patches the `caBundle` of every webhook in the configuration whose bundle differs
    /// from what it must be; a configuration that needs nothing gets no write at all.
    async fn ensure_bundle(&self, shared: &SharedCa, now: i64) -> Result<(), CertError> {
        let name = self.settings.webhook_config.as_str();
        let config = self
            .webhooks
            .get_opt(name)
            .await
            .map_err(|e| CertError::kube("reading the MutatingWebhookConfiguration", e))?;
        let Some(config) = config else {
            // Nobody calls a webhook that is not registered, so serving is still safe.
            tracing::warn!(
                webhook_config = name,
                "MutatingWebhookConfiguration not found; caBundle not managed"
            );
            return Ok(());
        };
        let mut ops = vec![json!({
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": config.metadata.resource_version.clone().unwrap_or_default(),
        })];
        for (index, webhook) in config.webhooks.iter().flatten().enumerate() {
            let existing = webhook
                .client_config
                .ca_bundle
                .as_ref()
                .map(|b| CaCert::all_in(&b.0))
                .unwrap_or_default();
            let desired = desired_bundle(&shared.current, shared.previous.as_ref(), &existing, now);
            if !same_cas(&existing, &desired) {
                let pem = encode_bundle(&desired);
                ops.push(json!({
                    "op": "add",
                    "path": format!("/webhooks/{index}/clientConfig/caBundle"),
                    "value": base64::engine::general_purpose::STANDARD.encode(pem),
                }));
            }
        }
        if ops.len() == 1 {
            return Ok(());
        }
        let patch: json_patch::Patch =
            serde_json::from_value(serde_json::Value::Array(ops)).map_err(CertError::Patch)?;
        self.webhooks
            .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
            .await
            .map_err(|e| CertError::kube("patching the caBundle", e))?;
        tracing::info!(webhook_config = name, "caBundle updated");
        Ok(())
    }
}
