#!/usr/bin/env bash
# The whole test suite. Usage: bash scripts/test.sh
# Runs formatting and lint checks, the unit/integration/doc tests (debug build: engine
# invariants are checked), the release-mode tests, and the playground smoke run if present.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
start=$SECONDS

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (debug: invariant checks on)"
cargo test --workspace

step "cargo test --release (the optimised fast paths)"
cargo test --release -p allocgator

step "cargo test --release --features checked (bad frees abort; valid programs never trip a check)"
cargo test --release -p allocgator --features checked --target-dir target/checked

step "nightly: core::alloc::Allocator impls (feature nightly)"
cargo +nightly test --release -p allocgator --features nightly --test local_contract --target-dir target/nightly
cargo +nightly run --release -p allocgator --features nightly --example nightly_vec --target-dir target/nightly

step "Miri: engine unit tests under strict provenance (Stacked Borrows)"
if cargo +nightly miri --version >/dev/null 2>&1; then
  MIRIFLAGS="-Zmiri-strict-provenance" cargo +nightly miri test --lib --target-dir target/miri
else
  echo "Miri is not installed (rustup component add miri --toolchain nightly); .ci/run installs it" >&2
  exit 1
fi

step "loom models and mutation checks"
bash scripts/loom.sh

if [ -d playground ]; then
  step "playground smoke run"
  cargo run -p playground --release -- --smoke
fi

printf '\nall test steps passed in %ss\n' "$((SECONDS - start))"
