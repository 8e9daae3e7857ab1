//! The wait between failed passes of the self-managed TLS controller.

use std::time::Duration;

/// The wait after `failures` (>= 1) failed passes in a row: `min` doubling up to `max`, less
/// up to 25 % drawn from `u` in `[0, 1)`. Replicas that failed together (an API server
/// restart) then spread their retries instead of arriving in lockstep; jitter only shortens,
/// so `max` still bounds the wait.
pub(crate) fn retry_delay(min: Duration, max: Duration, failures: u32, u: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let nominal = min.saturating_mul(1 << doublings).min(max.max(min));
    nominal.mul_f64(1.0 - 0.25 * u.clamp(0.0, 1.0))
}

/// A uniform random number in `[0, 1)` for [`retry_delay`].
pub(crate) fn jitter() -> f64 {
    fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);

    #[test]
    fn doubles_from_min_to_max() {
        let ladder: Vec<u128> = (1..=9)
            .map(|n| retry_delay(MIN, MAX, n, 0.0).as_millis())
            .collect();
        assert_eq!(
            ladder,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(retry_delay(MIN, MAX, u32::MAX, 0.0), MAX);
    }

    #[test]
    fn replicas_drawing_different_numbers_wait_different_times() {
        for failures in 1..=9 {
            let nominal = retry_delay(MIN, MAX, failures, 0.0);
            let middle = retry_delay(MIN, MAX, failures, 0.5);
            let early = retry_delay(MIN, MAX, failures, 0.999);
            assert!(early < middle && middle < nominal, "failure {failures}");
            assert!(early >= nominal.mul_f64(0.75), "failure {failures}");
        }
    }
}
