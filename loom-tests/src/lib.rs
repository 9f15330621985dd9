//! Loom models of allocgator's concurrent code live in `tests/`; they build only with
//! `RUSTFLAGS="--cfg loom"` (see this crate's README). Without it this crate is empty.
