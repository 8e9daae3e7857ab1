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
use kube::core::admission::Operation;
use kube::core::{GroupVersionKind, GroupVersionResource};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

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

/// The AdmissionReview as read, its object as `O`: first the typed Pod, in one pass over the
/// body (nearly every review is a Pod CREATE); when that does not fit, raw JSON that is only
/// read once it is known to be a Pod CREATE.
#[derive(Deserialize)]
struct ReviewIn<O> {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    request: Option<RequestIn<O>>,
}

/// The fields of kube's `AdmissionRequest` the answer depends on, required as kube requires
/// them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn<O> {
    uid: String,
    kind: GroupVersionKind,
    #[allow(dead_code)] // required, as in kube's AdmissionRequest
    resource: GroupVersionResource,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    operation: Operation,
    #[allow(dead_code)] // required, as in kube's AdmissionRequest
    user_info: IgnoredAny,
    object: Option<O>,
}

impl<O> RequestIn<O> {
    /// Why a request is allowed without looking at its object, or `None` for a Pod CREATE.
    fn ignored_because(&self) -> Option<&'static str> {
        let is_pod = self.kind.group.is_empty() && self.kind.kind == "Pod";
        if !is_pod {
            return Some("not a Pod");
        }
        // Subresources (binding, ephemeralcontainers, status, ...) are not the Pod being
        // created.
        if self.sub_resource.is_some() {
            return Some("a Pod subresource");
        }
        if self.operation != Operation::Create {
            return Some("not a CREATE");
        }
        if self.object.is_none() {
            return Some("no object in the request");
        }
        None
    }
}

/// Just the metadata of an object that is not read as a Pod.
#[derive(Deserialize)]
struct MetadataOnly {
    #[serde(default)]
    metadata: ObjectMeta,
}

/// What the answer says, before it is encoded.
enum Verdict {
    Allowed,
    /// The JSON patch, as JSON text.
    Patched(Vec<u8>),
    Denied(String),
}

/// Answers one AdmissionReview.
pub fn review(body: &[u8], settings: &InjectorSettings) -> Result<Reviewed, ReviewError> {
    // A body the one-pass read does not fit (not a Pod CREATE, an unreadable Pod, not a
    // review at all) is read again the general way, which also words the error.
    if let Ok(review) = serde_json::from_slice::<ReviewIn<Pod>>(body)
        && let Some(request) = review.request.as_ref()
        && request.ignored_because().is_none()
        && check_envelope(&review).is_ok()
    {
        let mut review = review;
        let mut request = review.request.take().expect("checked above");
        let pod = request.object.take().expect("checked above");
        let namespace = request.namespace.clone().unwrap_or_default();
        let (verdict, outcome, metadata) = pod_answer(pod, namespace, settings);
        return encode(&review, request, verdict, outcome, Some(&metadata));
    }
    let review: ReviewIn<&RawValue> = serde_json::from_slice(body).map_err(ReviewError::Parse)?;
    check_envelope(&review)?;
    let mut review = review;
    let request = review.request.take().ok_or(ReviewError::MissingRequest)?;
    let (verdict, outcome, metadata) = answer(&request, settings)?;
    encode(&review, request, verdict, outcome, metadata.as_ref())
}

fn check_envelope<O>(review: &ReviewIn<O>) -> Result<(), ReviewError> {
    if review.kind != "AdmissionReview" {
        return Err(ReviewError::WrongKind(review.kind.clone()));
    }
    if !API_VERSIONS.contains(&review.api_version.as_str()) {
        return Err(ReviewError::UnsupportedVersion(review.api_version.clone()));
    }
    Ok(())
}

/// The AdmissionReview response for `request`: `{"apiVersion", "kind", "response":
/// {"allowed", "patch", "patchType", "status": {"message"}, "uid"}}`, members in the order
/// the webhook has always written them (alphabetical), `patch`, `patchType` and `message`
/// only when there is one.
///
/// Written by hand so that the patch, most of the answer, goes from its JSON text into the
/// body as base64 (as Kubernetes, in Go, writes bytes) without a string in between.
fn encode<O>(
    review: &ReviewIn<O>,
    request: RequestIn<O>,
    verdict: Verdict,
    outcome: Outcome,
    metadata: Option<&ObjectMeta>,
) -> Result<Reviewed, ReviewError> {
    let (allowed, patch, message) = match &verdict {
        Verdict::Allowed => (true, None, ""),
        Verdict::Patched(patch) => (true, Some(patch.as_slice()), ""),
        Verdict::Denied(message) => (false, None, message.as_str()),
    };
    let base64_len = patch.map_or(0, |patch| {
        base64::encoded_len(patch.len(), true).expect("a patch smaller than memory")
    });
    // One allocation for the whole answer.
    let mut body = Vec::with_capacity(base64_len + 256);
    let string = |body: &mut Vec<u8>, text: &str| {
        serde_json::to_writer(body, text).map_err(ReviewError::Encode)
    };
    body.extend_from_slice(b"{\"apiVersion\":");
    string(&mut body, &review.api_version)?;
    body.extend_from_slice(b",\"kind\":");
    string(&mut body, &review.kind)?;
    body.extend_from_slice(match allowed {
        true => b",\"response\":{\"allowed\":true",
        false => b",\"response\":{\"allowed\":false",
    });
    if let Some(patch) = patch {
        body.extend_from_slice(b",\"patch\":\"");
        let start = body.len();
        body.resize(start + base64_len, 0);
        base64::engine::general_purpose::STANDARD
            .encode_slice(patch, &mut body[start..])
            .expect("sized by encoded_len");
        body.extend_from_slice(b"\",\"patchType\":\"JSONPatch\"");
    }
    body.extend_from_slice(b",\"status\":{");
    if !message.is_empty() {
        body.extend_from_slice(b"\"message\":");
        string(&mut body, message)?;
    }
    body.extend_from_slice(b"},\"uid\":");
    string(&mut body, &request.uid)?;
    body.extend_from_slice(b"}}");
    Ok(Reviewed {
        body,
        object: object_name(&request, metadata),
        uid: request.uid,
        outcome,
    })
}

fn answer(
    request: &RequestIn<&RawValue>,
    settings: &InjectorSettings,
) -> Result<(Verdict, Outcome, Option<ObjectMeta>), ReviewError> {
    let metadata_only = |object: &RawValue| {
        serde_json::from_str::<MetadataOnly>(object.get())
            .map(|read| read.metadata)
            .map_err(ReviewError::Parse)
    };
    let ignored = |reason| -> Result<_, ReviewError> {
        let metadata = request.object.map(metadata_only).transpose()?;
        Ok((Verdict::Allowed, Outcome::Ignored { reason }, metadata))
    };
    if let Some(reason) = request.ignored_because() {
        return ignored(reason);
    }
    let Some(object) = request.object else {
        return ignored("no object in the request");
    };
    let namespace = request.namespace.clone().unwrap_or_default();

    let pod = match serde_json::from_str::<Pod>(object.get()) {
        Ok(pod) => pod,
        Err(error) => {
            let metadata = metadata_only(object)?;
            let (verdict, outcome) = if asks_for_injection(&metadata) {
                let message = format!("the Pod could not be read: {error}");
                (
                    Verdict::Denied(message.clone()),
                    Outcome::Denied { namespace, message },
                )
            } else {
                // Not ours to judge: the API server validates Pods, we only inject into them.
                let reason =
                    format!("the Pod could not be read ({error}) and asks for no injection");
                (Verdict::Allowed, Outcome::Skipped { namespace, reason })
            };
            return Ok((verdict, outcome, Some(metadata)));
        }
    };

    let (verdict, outcome, metadata) = pod_answer(pod, namespace, settings);
    Ok((verdict, outcome, Some(metadata)))
}

/// The answer for a Pod CREATE, and what the Pod is called (for the logs).
fn pod_answer(
    pod: Pod,
    namespace: String,
    settings: &InjectorSettings,
) -> (Verdict, Outcome, ObjectMeta) {
    // The Pod itself goes into the patch.
    let names = ObjectMeta {
        name: pod.metadata.name.clone(),
        generate_name: pod.metadata.generate_name.clone(),
        ..ObjectMeta::default()
    };
    let (verdict, outcome) = match mutation_patch(pod, settings, &namespace) {
        Ok(PodChange::Unchanged { reason }) => {
            (Verdict::Allowed, Outcome::Skipped { namespace, reason })
        }
        Ok(PodChange::Patched { patch, injection }) => (
            Verdict::Patched(patch),
            Outcome::Injected {
                namespace,
                injection,
            },
        ),
        Err(Denial { message }) => (
            Verdict::Denied(message.clone()),
            Outcome::Denied { namespace, message },
        ),
    };
    (verdict, outcome, names)
}

/// The change the webhook makes to a Pod.
#[derive(Debug, Clone, PartialEq)]
pub enum PodChange {
    /// No patch; the reason is for logs.
    Unchanged { reason: String },
    /// The JSON patch from the Pod to the Pod with the agent, as JSON text (the answer
    /// carries the text, so it is written once instead of built and then encoded).
    Patched {
        patch: Vec<u8>,
        injection: InjectionType,
    },
}

/// Mutates `pod` and expresses the result as a JSON patch.
pub fn mutation_patch(
    pod: Pod,
    settings: &InjectorSettings,
    namespace: &str,
) -> Result<PodChange, Denial> {
    match mutation::mutate(&pod, settings, namespace)? {
        Mutation::Skipped { reason } => Ok(PodChange::Unchanged { reason }),
        Mutation::Injected(after) => {
            let injection = injection_type(&pod, &after);
            let patch = pod_diff::diff(pod, *after).map_err(|error| Denial {
                message: format!("failed to build the patch: {error}"),
            })?;
            if patch == b"[]" {
                return Ok(PodChange::Unchanged {
                    reason: "the mutation changed nothing".to_owned(),
                });
            }
            Ok(PodChange::Patched { patch, injection })
        }
    }
}

/// The JSON patch from `before` to `after`, as the diff of both serialized from the typed
/// struct (never from the raw request, whose unknown fields the patch would otherwise
/// remove). Arrays the mutation only inserted into are patched element by element ([`patch`]
/// says why). Only what changed is serialized ([`pod_diff`]).
pub fn pod_patch(before: &Pod, after: &Pod) -> Result<json_patch::Patch, serde_json::Error> {
    serde_json::from_slice(&pod_patch_json(before, after)?)
}

/// [`pod_patch`] as the JSON text the review answer carries (`[]` for no change).
pub fn pod_patch_json(before: &Pod, after: &Pod) -> Result<Vec<u8>, serde_json::Error> {
    pod_diff::diff(before.clone(), after.clone())
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

fn asks_for_injection(metadata: &ObjectMeta) -> bool {
    metadata.annotations.as_ref().is_some_and(|annotations| {
        INJECT_ANNOTATIONS
            .iter()
            .any(|key| annotations.contains_key(*key))
    })
}

fn object_name<O>(request: &RequestIn<O>, meta: Option<&ObjectMeta>) -> String {
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

mod patch;
mod pod_diff;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_patch;
