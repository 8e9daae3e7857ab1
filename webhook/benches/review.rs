//! The cost of one review through the pure admission function (`admission::review`), for a
//! realistic Pod asking for five secrets (`tests/fixtures/review-5-secrets.json`): parse,
//! typed Pod, mutate, diff, encode; no network.
//!
//! Two figures: wall time (criterion's default) and the CPU time of the benchmark thread
//! (`/proc/thread-self/schedstat`), which a loaded shared machine disturbs far less.
//!
//! `cargo bench -p kagi-webhook --bench review`; the `thrpt` lines are reviews/s.

use std::hint::black_box;
use std::time::Duration;

use clap::Parser;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use kagi_webhook::admission::{self, Outcome};
use kagi_webhook::settings::InjectorSettings;

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    settings: InjectorSettings,
}

/// CPU time the calling thread has run, in nanoseconds (first field of schedstat).
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat (Linux with schedstats)");
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("schedstat starts with the run time in ns")
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, like wall time.
        WALL.formatter()
    }
}

fn fixture() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/review-5-secrets.json");
    std::fs::read(path).expect("the bench fixture")
}

fn settings() -> InjectorSettings {
    Flags::parse_from(["bench", "--vault-address", "https://vault.vault.svc:8200"]).settings
}

fn bench_review<M: Measurement>(mut group: BenchmarkGroup<'_, M>) {
    let settings = settings();
    let body = fixture();
    let reviewed = admission::review(&body, &settings).expect("reviewable");
    // A bench of a skipped review would measure the wrong thing.
    assert!(
        matches!(reviewed.outcome, Outcome::Injected { .. }),
        "the bench pod was not injected: {:?}",
        reviewed.outcome
    );
    // A review takes well under a millisecond: a few seconds give a stable figure without
    // holding a shared 2-core box for long.
    // Flat sampling: every sample runs many reviews, so none is shorter than the scheduler
    // updates the thread's CPU time (criterion's default starts samples at a few iterations).
    group
        .throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("review_pod_with_5_secrets", |b| {
        b.iter(|| admission::review(black_box(&body), &settings).expect("reviewable"))
    });
    group.finish();
}

fn wall(c: &mut Criterion) {
    bench_review(c.benchmark_group("admission"));
}

/// The steps of one review on their own, CPU time: where the cost is.
fn steps(c: &mut Criterion<ThreadCpuTime>) {
    use k8s_openapi::api::core::v1::Pod;
    use kagi_webhook::mutation::{self, Mutation};
    let settings = settings();
    let body = fixture();
    let review: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let object = serde_json::to_vec(&review["request"]["object"]).unwrap();
    let pod: Pod = serde_json::from_slice(&object).unwrap();
    let Ok(Mutation::Injected(after)) = mutation::mutate(&pod, &settings, "shop") else {
        panic!("not injected");
    };
    let mut group = c.benchmark_group("steps_cpu");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("parse_pod", |b| {
        b.iter(|| serde_json::from_slice::<Pod>(black_box(&object)).unwrap())
    });
    group.bench_function("clone_pod", |b| b.iter(|| black_box(&pod).clone()));
    group.bench_function("mutate", |b| {
        b.iter(|| mutation::mutate(black_box(&pod), &settings, "shop").unwrap())
    });
    group.bench_function("to_value_after", |b| {
        b.iter(|| serde_json::to_value(black_box(&*after)).unwrap())
    });
    // Includes a clone of both Pods (the review path hands them over instead).
    group.bench_function("pod_patch", |b| {
        b.iter(|| admission::pod_patch_json(black_box(&pod), &after).unwrap())
    });
    // The Pods are cloned outside the measured time, in chunks that each span many updates
    // of the thread's CPU time.
    group.bench_function("mutation_patch", |b| {
        b.iter_custom(|iterations| {
            let mut spent = 0;
            let mut left = iterations;
            while left > 0 {
                let chunk = left.min(1_000);
                let pods = vec![pod.clone(); chunk as usize];
                let start = ThreadCpuTime.start();
                for pod in pods {
                    black_box(admission::mutation_patch(pod, &settings, "shop").unwrap());
                }
                spent += ThreadCpuTime.end(start);
                left -= chunk;
            }
            spent
        })
    });
    group.finish();
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    bench_review(c.benchmark_group("admission_cpu"));
}

criterion_group!(wall_time, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu, steps
}
criterion_main!(wall_time, cpu_time);
