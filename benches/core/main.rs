//! Criterion benchmarks of the core natively: `cargo bench --bench core`.
//! (On wasm32 there is nothing to run; the browser bench is `tests/browser/bench.mjs`.)

#[cfg(not(target_arch = "wasm32"))]
include!("native.rs");

#[cfg(target_arch = "wasm32")]
fn main() {}
