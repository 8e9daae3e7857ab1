//! Bounds that stop runaway templates. They are far above anything a secrets
//! file needs, and keep a fuzzed or hostile template from exhausting memory or
//! time.

/// Largest output (and largest string a function may return).
pub(crate) const MAX_OUTPUT: usize = 64 << 20;
/// Nested `template`/`executeTemplate` calls allowed before giving up (Go:
/// 100000; the evaluator recurses on the native stack, so it stops earlier).
pub(crate) const MAX_TEMPLATE_DEPTH: usize = 200;
/// Range iterations across one render, so a fuzzed `range 1000000000` ends.
pub(crate) const MAX_ITERATIONS: u64 = 10_000_000;

/// Refuses a result of `len` bytes growing by `per_hit` bytes `hits` times
/// when it would pass [`MAX_OUTPUT`].
pub(crate) fn check_growth(len: usize, hits: usize, per_hit: usize) -> Result<(), String> {
    if len.saturating_add(hits.saturating_mul(per_hit)) > MAX_OUTPUT {
        return Err("result exceeds 64 MiB".into());
    }
    Ok(())
}
