#![forbid(unsafe_code)]
//! kagi-webhook: the mutating admission webhook that injects the agent into annotated Pods.
//!
//! The core is pure: [`annotations`] parses a Pod's annotations into typed settings,
//! [`mutation::mutate`] turns (Pod, injector settings, namespace) into the mutated Pod, and
//! [`admission`] wraps that into AdmissionReview answers whose patch is a diff of the typed
//! Pod before and after. [`server`] and [`inject`] are the two edges that use it.

pub mod admission;
pub mod annotations;
pub mod inject;
pub mod metrics;
pub mod mutation;
pub mod server;
pub mod settings;
