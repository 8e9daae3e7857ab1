//! Placeholder; the kagi-agent vs bao agent comparison is being written.
fn main() {}
