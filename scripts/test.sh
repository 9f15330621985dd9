#!/usr/bin/env bash
# The whole test suite. Usage: bash scripts/test.sh
# Runs formatting and lint checks, the unit/integration/doc tests (debug build: engine
# invariants are checked), the release-mode tests, Miri, loom, valgrind on the examples, and
# the playground's tests and smoke runs. Each step's time is printed after it.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
step_name=""
step_start=$SECONDS
# Prints the previous step's time, then the new step's title.
step() {
  if [ -n "$step_name" ]; then
    printf '    (%s: %ss)\n' "$step_name" "$((SECONDS - step_start))"
  fi
  step_name="$*"
  step_start=$SECONDS
  printf '\n==> %s\n' "$*"
}
# Miri's build directory (beside the normal one, wherever CARGO_TARGET_DIR puts it).
miri_target="${CARGO_TARGET_DIR:-target}/miri"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

# The playground's own tests run with its release build, in the playground step below (its
# peers' C libraries take longer to build than anything else here: built once, not twice).
step "cargo test (debug: invariant checks on)"
cargo test --workspace --exclude playground

step "cargo test --release (the optimised fast paths)"
cargo test --release -p allocgator

step "cargo test --release --features checked (bad frees abort; valid programs never trip a check)"
cargo test --release -p allocgator --features checked --target-dir target/checked

step "cargo test --release --features hardened (encoded links, canaries, guard pages; corruption and bad frees abort; valid programs run unchanged)"
cargo test --release -p allocgator --features hardened --target-dir target/hardened \
  --test hardened --test bad_free --test global_contract --test global_raw --test global_threads \
  --test stress --test local_contract --test local_trim_rss --test fuzz_replay --test os_failure

step "cargo test --release --features hardened,checked (both sets of checks together)"
cargo test --release -p allocgator --features hardened,checked --target-dir target/hardened-checked \
  --test hardened --test bad_free --test local_contract --test global_contract

# The C ABI: the library's C and C++ test programs, bad frees, and programs no one here wrote
# (sqlite3, git, cargo, python3 with its own test suite) under LD_PRELOAD, compared with glibc.
step "liballocgator (release): C/C++ semantics, real programs, CPython's test suite"
cargo test --release -p allocgator-capi -- --include-ignored

step "liballocgator --features checked: every bad free aborts naming the address"
cargo test --release -p allocgator-capi --features checked --target-dir target/checked --test c_programs

step "liballocgator --features hardened: one C program per heap attack under LD_PRELOAD, the C/C++ semantics, real programs"
cargo test --release -p allocgator-capi --features hardened --target-dir target/hardened

step "nightly: core::alloc::Allocator impls (feature nightly)"
cargo +nightly test --release -p allocgator --features nightly --test local_contract --target-dir target/nightly
cargo +nightly run --release -p allocgator --features nightly --example nightly_vec --target-dir target/nightly

# Miri: the engine's unit tests and the local allocators' contract suite (scaled down under
# cfg(miri)), under strict provenance with Stacked Borrows, then with Tree Borrows; then a
# threaded test under several scheduler seeds.
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "Miri is not installed (rustup component add miri --toolchain nightly); .ci/run installs it" >&2
  exit 1
fi
# `miri_box_free`: boxes freed through the engine and a pool (see docs/miri.md).
# Miri interprets on one core: the Stacked Borrows and Tree Borrows runs go side by side (each
# in its own build directory, since cargo locks one for the whole run), and their output is
# printed after both finish.
step "Miri: unit tests + local contract suite, strict provenance, Stacked Borrows and Tree Borrows side by side"
miri_log="$(mktemp -d)"
# Stacked Borrows also runs the local allocators' controls (`local_controls`: checkpoints,
# trims, reserve and limits, scaled down under Miri) but for its one threaded race test.
# `sync_pool_cross_thread` runs under Tree Borrows only: in this run, Stacked Borrows' Miri
# crashes inside its own weak-memory emulation on that test's compare-and-swap (an internal
# compiler panic, not a finding; see docs/miri.md).
# The slowest tests run under one model each, so the two runs take about as long (measured
# per test in docs/miri.md): the slowest unit test (`remote_frees_into_full_pages_are_collected`,
# single-threaded raw-pointer work) and the size-prediction one under Tree Borrows; the
# contract suite's `boundaries` (every size-class boundary at every alignment: the most
# allocations, the fewest kinds of operation), `static_pool_thread_caches` (a dozen threads) and
# `large_blocks_grow_and_shrink_in_place` under Stacked Borrows, and so do the contract suite's
# runs under a limit (`*_limited::`: the unlimited suite's paths, which both models run, and
# the limit's refusals).
MIRIFLAGS="-Zmiri-strict-provenance" \
  cargo +nightly miri test --lib --test local_contract --test miri_box_free --test local_controls \
  --target-dir "$miri_target" -- --skip sync_pool_trim_races_with_allocating_threads \
  --skip sync_pool_cross_thread \
  --skip remote_frees_into_full_pages_are_collected --skip fresh_usable_matches_the_heap \
  >"$miri_log/stacked" 2>&1 &
stacked=$!
MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-tree-borrows" \
  cargo +nightly miri test --lib --test local_contract --test miri_box_free --target-dir "$miri_target-tb" \
  -- --skip boundaries --skip large_blocks_grow_and_shrink_in_place --skip static_pool_thread_caches \
  --skip _limited:: \
  >"$miri_log/tree" 2>&1 &
tree=$!
stacked_rc=0 tree_rc=0
wait "$stacked" || stacked_rc=$?
wait "$tree" || tree_rc=$?
for model in stacked tree; do
  echo "--- Miri, ${model} borrows:"
  grep -E "^test |test result|error|panicked|Undefined|^ +at " "$miri_log/$model" || true
done
if [ "$stacked_rc" -ne 0 ] || [ "$tree_rc" -ne 0 ]; then
  echo "Miri failed (stacked: exit $stacked_rc, tree: exit $tree_rc); full logs:" >&2
  cat "$miri_log/stacked" "$miri_log/tree" >&2
  exit 1
fi
rm -rf "$miri_log"

step "Miri: engine blocks freed across threads, scheduler seeds 0..4"
MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-many-seeds=0..4" \
  cargo +nightly miri test --test local_contract --target-dir "$miri_target" -- engine_blocks_freed_across_threads

step "loom models and mutation checks"
bash scripts/loom.sh

step "valgrind: examples arena, protocol, vec_in_pool (errors or definite leaks fail)"
if command -v valgrind >/dev/null 2>&1; then
  cargo build --release --example arena --example protocol --example vec_in_pool
  examples="${CARGO_TARGET_DIR:-target}/release/examples"
  # Arguments: arena [requests] (its default), protocol [ops] [rounds] (small: 5M x 7 by
  # default); vec_in_pool takes none. Engine blocks live in the engine's own mappings, which
  # memcheck does not track as heap blocks (no client requests): its leak check covers the
  # system allocator's blocks (the protocol example's `global` runs), its error checks the
  # whole program.
  for run in "arena 10000" "protocol 50000 1" "vec_in_pool"; do
    # shellcheck disable=SC2086 # word splitting wanted: example name, then its arguments
    set -- $run
    echo "valgrind $*"
    valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
      "$examples/$1" "${@:2}" >/dev/null
  done
else
  echo "valgrind is not installed: step skipped (.ci/run installs it)"
fi

if [ -n "${FUZZ_SMOKE:-}" ]; then
  # Opt-in (installing cargo-fuzz and building the targets takes minutes): each fuzz target
  # for FUZZ_SMOKE seconds. The fixed-input replay of the same bodies runs in `cargo test`.
  step "fuzz smoke: every target for ${FUZZ_SMOKE}s"
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  for target in engine arena pool sync_pool static_pool slab; do
    cargo +nightly fuzz run -s none -a "$target" -- -max_total_time="$FUZZ_SMOKE"
  done
fi

if [ -d playground ]; then
  step "playground: its tests, then a smoke run (release)"
  cargo test --release -p playground
  cargo run -p playground --release -- --smoke
  step "playground run mode: a real program under every allocator"
  cargo run -p playground --release -- run --repeat 2 --warmup 0 -- \
    sqlite3 :memory: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
                      SELECT count(*), sum(length(printf('%0100d', x))) FROM c;"
fi

step "done"
printf '\nall test steps passed in %ss\n' "$((SECONDS - start))"
