//! AdmissionReview in, AdmissionReview out: the one pure function behind both `serve` and
//! `review`, so what the command prints is byte for byte what the server answers.
//!
//! Only Pod CREATEs are looked at; everything else is allowed untouched. The patch is the
//! diff of the typed Pod before and after the mutation, both serialized from the same
//! k8s-openapi struct: a field the struct does not know (a cluster newer than the crate) is in
//! neither side, so the patch never touches it.

use base64::Engine as _;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};

use crate::mutation::{self, Denial, Mutation};
use crate::settings::InjectorSettings;

/// The AdmissionReview versions the API server may send (it picks from the webhook's
/// `admissionReviewVersions`); the answer uses the version of the question.
pub const API_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// The largest request body the server reads. The API server caps objects at about 1.5 MiB,
/// and a review carries at most two of them (object and oldObject).
pub const MAX_REVIEW_BYTES: usize = 3 * 1024 * 1024;

/// The annotations that ask for injection; a Pod carrying one is never let through silently.
const INJECT_ANNOTATIONS: [&str; 2] = [
    "vault.hashicorp.com/agent-inject",
    "openbao.org/agent-inject",
];

/// An answered review: the encoded AdmissionReview response and what was decided.
#[derive(Debug)]
pub struct Reviewed {
    /// The AdmissionReview response, JSON encoded, ready to send.
    pub body: Vec<u8>,
    /// The request's uid (for logs).
    pub uid: String,
    /// `namespace/name` of the object, or its generateName when it has no name yet.
    pub object: String,
    /// What was decided.
    pub outcome: Outcome,
}

/// What the webhook decided for one review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not a Pod CREATE: allowed without looking at the object.
    Ignored { reason: &'static str },
    /// A Pod left as it is (not annotated, already injected, ...).
    Skipped { namespace: String, reason: String },
    /// A Pod that gets the agent.
    Injected {
        namespace: String,
        injection: InjectionType,
    },
    /// A Pod refused, with the message the user sees.
    Denied { namespace: String, message: String },
}

/// Which agent containers a Pod got, as vault-k8s labels its injection metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectionType {
    /// Only a container that runs to completion before the app starts.
    InitOnly,
    /// Only a container that runs beside the app.
    SidecarOnly,
    /// Both, or a native sidecar, which renders before the app starts and keeps running.
    InitAndSidecar,
}

/// A body that is not an AdmissionReview this webhook can answer. The server turns it into
/// HTTP 400, `review` into a failed exit.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("the body is not a JSON AdmissionReview")]
    Parse(#[source] serde_json::Error),
    #[error("kind {0:?} is not AdmissionReview")]
    WrongKind(String),
    #[error(
        "AdmissionReview apiVersion {0:?} is not supported (expected admission.k8s.io/v1 or admission.k8s.io/v1beta1)"
    )]
    UnsupportedVersion(String),
    #[error("the AdmissionReview has no request")]
    MissingRequest,
    #[error("failed to encode the AdmissionReview response")]
    Encode(#[source] serde_json::Error),
}

/// Answers one AdmissionReview.
pub fn review(body: &[u8], settings: &InjectorSettings) -> Result<Reviewed, ReviewError> {
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_slice(body).map_err(ReviewError::Parse)?;
    if review.types.kind != "AdmissionReview" {
        return Err(ReviewError::WrongKind(review.types.kind));
    }
    if !API_VERSIONS.contains(&review.types.api_version.as_str()) {
        return Err(ReviewError::UnsupportedVersion(review.types.api_version));
    }
    let request: AdmissionRequest<DynamicObject> =
        review.try_into().map_err(|_| ReviewError::MissingRequest)?;
    let (response, outcome) = answer(&request, settings);
    Ok(Reviewed {
        body: encode(response)?,
        object: object_name(&request),
        uid: request.uid,
        outcome,
    })
}

fn answer(
    request: &AdmissionRequest<DynamicObject>,
    settings: &InjectorSettings,
) -> (AdmissionResponse, Outcome) {
    let allowed = AdmissionResponse::from(request);
    let ignored = |reason| (allowed.clone(), Outcome::Ignored { reason });
    let is_pod = request.kind.group.is_empty() && request.kind.kind == "Pod";
    if !is_pod {
        return ignored("not a Pod");
    }
    // Subresources (binding, ephemeralcontainers, status, ...) are not the Pod being created.
    if request.sub_resource.is_some() {
        return ignored("a Pod subresource");
    }
    if request.operation != Operation::Create {
        return ignored("not a CREATE");
    }
    let Some(object) = &request.object else {
        return ignored("no object in the request");
    };
    let namespace = request.namespace.clone().unwrap_or_default();

    let pod = match typed_pod(object) {
        Ok(pod) => pod,
        Err(error) if asks_for_injection(&object.metadata) => {
            let message = format!("the Pod could not be read: {error}");
            return (
                allowed.deny(&message),
                Outcome::Denied { namespace, message },
            );
        }
        Err(error) => {
            // Not ours to judge: the API server validates Pods, we only inject into them.
            let reason = format!("the Pod could not be read ({error}) and asks for no injection");
            return (allowed, Outcome::Skipped { namespace, reason });
        }
    };

    match mutation_patch(&pod, settings, &namespace) {
        Ok(PodChange::Unchanged { reason }) => (allowed, Outcome::Skipped { namespace, reason }),
        Ok(PodChange::Patched { patch, injection }) => match allowed.clone().with_patch(patch) {
            Ok(response) => (
                response,
                Outcome::Injected {
                    namespace,
                    injection,
                },
            ),
            Err(error) => {
                let message = format!("failed to encode the patch: {error}");
                (
                    allowed.deny(&message),
                    Outcome::Denied { namespace, message },
                )
            }
        },
        Err(Denial { message }) => (
            allowed.deny(&message),
            Outcome::Denied { namespace, message },
        ),
    }
}

/// The change the webhook makes to a Pod.
#[derive(Debug, Clone, PartialEq)]
pub enum PodChange {
    /// No patch; the reason is for logs.
    Unchanged { reason: String },
    /// The JSON patch from the Pod to the Pod with the agent.
    Patched {
        patch: json_patch::Patch,
        injection: InjectionType,
    },
}

/// Mutates `pod` and expresses the result as a JSON patch.
pub fn mutation_patch(
    pod: &Pod,
    settings: &InjectorSettings,
    namespace: &str,
) -> Result<PodChange, Denial> {
    match mutation::mutate(pod, settings, namespace)? {
        Mutation::Skipped { reason } => Ok(PodChange::Unchanged { reason }),
        Mutation::Injected(after) => {
            let patch = pod_patch(pod, &after).map_err(|error| Denial {
                message: format!("failed to build the patch: {error}"),
            })?;
            if patch.0.is_empty() {
                return Ok(PodChange::Unchanged {
                    reason: "the mutation changed nothing".to_owned(),
                });
            }
            Ok(PodChange::Patched {
                patch,
                injection: injection_type(pod, &after),
            })
        }
    }
}

/// The JSON patch from `before` to `after`, both serialized from the typed struct (never from
/// the raw request, whose unknown fields the patch would otherwise remove). Arrays the
/// mutation only inserted into are patched element by element ([`patch`] says why).
pub fn pod_patch(before: &Pod, after: &Pod) -> Result<json_patch::Patch, serde_json::Error> {
    Ok(patch::diff(
        &serde_json::to_value(before)?,
        &serde_json::to_value(after)?,
    ))
}

/// Classifies the containers `after` has that `before` did not.
pub fn injection_type(before: &Pod, after: &Pod) -> InjectionType {
    let names = |pod: &Pod, init: bool| -> Vec<String> {
        let spec = pod.spec.as_ref();
        let containers = if init {
            spec.and_then(|spec| spec.init_containers.as_ref())
        } else {
            spec.map(|spec| &spec.containers)
        };
        containers
            .into_iter()
            .flatten()
            .map(|container| container.name.clone())
            .collect()
    };
    let added = |init: bool| -> Vec<&Container> {
        let old = names(before, init);
        let spec = after.spec.as_ref();
        let containers = if init {
            spec.and_then(|spec| spec.init_containers.as_ref())
        } else {
            spec.map(|spec| &spec.containers)
        };
        containers
            .into_iter()
            .flatten()
            .filter(|container| !old.contains(&container.name))
            .collect()
    };
    let restartable = |c: &Container| c.restart_policy.as_deref() == Some("Always");
    let added_init = added(true);
    let mut init = added_init.iter().any(|c| !restartable(c));
    let mut sidecar = !added(false).is_empty();
    // A native sidecar with a startup probe holds the app back until it has rendered, so it
    // does the init container's job too.
    for native in added_init.iter().filter(|c| restartable(c)) {
        sidecar = true;
        init |= native.startup_probe.is_some();
    }
    match (init, sidecar) {
        (true, false) => InjectionType::InitOnly,
        (false, true) => InjectionType::SidecarOnly,
        _ => InjectionType::InitAndSidecar,
    }
}

fn typed_pod(object: &DynamicObject) -> Result<Pod, serde_json::Error> {
    serde_json::from_value(serde_json::to_value(object)?)
}

fn asks_for_injection(metadata: &ObjectMeta) -> bool {
    metadata.annotations.as_ref().is_some_and(|annotations| {
        INJECT_ANNOTATIONS
            .iter()
            .any(|key| annotations.contains_key(*key))
    })
}

fn object_name(request: &AdmissionRequest<DynamicObject>) -> String {
    let meta = request.object.as_ref().map(|object| &object.metadata);
    let name = meta
        .and_then(|meta| meta.name.clone())
        .filter(|name| !name.is_empty())
        .or_else(|| meta.and_then(|meta| meta.generate_name.clone()))
        .unwrap_or_else(|| request.name.clone());
    match &request.namespace {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name,
    }
}

/// Encodes the response as the API server documents it: kube keeps the patch as bytes, which
/// serde writes as an array of numbers; Kubernetes (Go) writes bytes as base64, which is what
/// every example, `kubectl` user and `jq -r .response.patch | base64 -d` expects.
fn encode(response: AdmissionResponse) -> Result<Vec<u8>, ReviewError> {
    let mut review = serde_json::to_value(response.into_review()).map_err(ReviewError::Encode)?;
    if let Some(patch) = review.pointer_mut("/response/patch") {
        let bytes: Vec<u8> = serde_json::from_value(patch.take()).map_err(ReviewError::Encode)?;
        *patch = base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into();
    }
    serde_json::to_vec(&review).map_err(ReviewError::Encode)
}

mod patch;
#[cfg(test)]
pub(crate) mod tests;
