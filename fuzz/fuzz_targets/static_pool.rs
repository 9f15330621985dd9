//! `cargo +nightly fuzz run static_pool`: the `static_pool` body of `tests/fuzz_bodies/mod.rs` (also replayed
//! with fixed inputs by `tests/fuzz_replay.rs`).
#![no_main]

// The engine is the global allocator too, so the fuzzer's own Rust allocations exercise it.
#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

#[path = "../../tests/fuzz_bodies/mod.rs"]
mod fuzz_bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_bodies::static_pool(data));
