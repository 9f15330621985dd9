//! The allocgator playground: a benchmark harness comparing allocgator with
//! glibc, mimalloc, jemalloc, snmalloc, bumpalo and bump-scope on the
//! workloads described in `playground/README.md`.
//!
//! The `playground` binary is the driver ([`driver::main`]); each
//! `pg-<allocator>` binary is a worker process with that allocator as its
//! `#[global_allocator]` ([`worker::main`]). See `playground/README.md`.

pub mod args;
pub mod callgrind;
pub mod driver;
pub mod locals;
pub mod report;
pub mod run;
pub mod stats;
pub mod suite;
pub mod sys;
pub mod worker;
pub mod workloads;
