#!/usr/bin/env bash
# Loom models of the engine's concurrent code, then the mutation checks: each build weakens one
# ordering or skips one step (a test-only cfg) and the models must catch it.
# Usage: bash scripts/loom.sh            (LOOM_MAX_PREEMPTIONS defaults to 2)
#
# Models build with debug assertions on, so the engine's own invariant checks run inside every
# explored interleaving; mutation builds use more codegen units (they are built once each).
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
flags="--cfg loom -C debug-assertions"

echo "==> loom models (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, release + debug assertions)"
RUSTFLAGS="$flags" cargo test -p loom-tests --release --target-dir target/loom -- --nocapture 2>&1 |
  grep -E "loom model|^test |test result|panicked|error" | grep -v "0 passed; 0 failed"
# grep hides cargo's exit status: check it.
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
  echo "loom models failed" >&2
  exit 1
fi

# Each mutation must make at least one model fail (an assertion, an engine invariant, or a
# loom causality report).
mutations=(
  thread_free_push_relaxed # remote free's push: Release -> Relaxed
  thread_free_take_relaxed # owner's collection of remote frees: Acquire -> Relaxed
  pending_push_relaxed     # full-page notification onto the pending stack: Release -> Relaxed
  free_stack_untagged      # SyncPool's free stack without its ABA tag
  free_stack_push_relaxed  # SyncPool's free-stack push: Release -> Relaxed
  free_stack_take_resets_tag # taking a shard's stack whole resets the ABA tag (swap to NIL)
  free_stack_chain_unlinked  # a stolen chain moved home is not linked to what is below it
  chunk_install_relaxed    # SyncPool's chunk installation CAS: AcqRel -> Relaxed
  chunk_loser_keeps_copy   # a thread that loses the chunk-installing race keeps its copy
  heap_pool_lock_relaxed   # heap pool lock: Acquire/Release -> Relaxed
  retire_notified_page     # retire an empty page even while a remote freer holds its notification
  huge_cache_put_relaxed   # huge-block cache: the slot-filling CAS Release -> Relaxed
  huge_cache_take_not_atomic # huge-block cache: a slot taken by a load and a store, not a swap
  cache_claim_relaxed      # static pool cache slot claimed with a Relaxed CAS (Acquire)
  cache_release_relaxed    # static pool cache slot released with a Relaxed store (Release)
)
for mutation in "${mutations[@]}"; do
  echo "==> mutation $mutation (must be caught)"
  log=target/loom-mutation-$mutation.log
  if CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=0 \
    RUSTFLAGS="$flags --cfg allocgator_mutation=\"$mutation\"" \
    cargo test -p loom-tests --release --target-dir target/loom-mutation --no-fail-fast -- --nocapture >"$log" 2>&1; then
    echo "mutation $mutation was NOT caught by the loom models" >&2
    exit 1
  fi
  if ! grep -qE "Causality violation|panicked" "$log"; then
    echo "mutation $mutation: the build or run failed for another reason:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  grep -E "^test .*FAILED|Causality violation" "$log" | sort | uniq | sed 's/^/    caught: /'
done
echo "loom: all models passed, all mutations caught"
