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
# loom causality report). Each entry is `mutation:model files` (the loom-tests/tests files
# whose models must catch it): a mutation build compiles and runs only those, and two builds
# run at once, each in its own build directory (the build, not the models, is the cost).
mutations=(
  thread_free_push_relaxed:remote_free  # remote free's push: Release -> Relaxed
  thread_free_take_relaxed:remote_free  # owner's collection of remote frees: Acquire -> Relaxed
  pending_push_relaxed:remote_free      # full-page notification onto the pending stack: Release -> Relaxed
  free_stack_untagged:free_stack,sharded_stack # SyncPool's free stack without its ABA tag
  free_stack_push_relaxed:free_stack,sharded_stack # SyncPool's free-stack push: Release -> Relaxed
  free_stack_take_resets_tag:sharded_stack # taking a shard's stack whole resets the ABA tag (swap to NIL)
  free_stack_chain_unlinked:sharded_stack  # a stolen chain moved home is not linked to what is below it
  chunk_install_relaxed:chunk_table     # SyncPool's chunk installation CAS: AcqRel -> Relaxed
  chunk_loser_keeps_copy:chunk_table    # a thread that loses the chunk-installing race keeps its copy
  heap_pool_lock_relaxed:abandon        # heap pool lock: Acquire/Release -> Relaxed
  retire_notified_page:retire           # retire an empty page even while a remote freer holds its notification
  huge_cache_put_relaxed:huge_cache     # huge-block cache: the slot-filling CAS Release -> Relaxed
  huge_cache_take_not_atomic:huge_cache # huge-block cache: a slot taken by a load and a store, not a swap
  cache_claim_relaxed:claimable         # static pool cache slot claimed with a Relaxed CAS (Acquire)
  cache_release_relaxed:claimable       # static pool cache slot released with a Relaxed store (Release)
  purge_without_claim:purge             # background purger decommits free slices without claiming them first
  segment_lock_relaxed:purge            # heap segment lock: Acquire/Release -> Relaxed
)

# Builds `$1` (mutation:files) into build directory `$2` and checks that its models catch it;
# writes the verdict to target/loom-mutation-<mutation>.verdict.
check_mutation() {
  local mutation="${1%%:*}" files="${1#*:}" dir="$2"
  local log="target/loom-mutation-$mutation.log" verdict="target/loom-mutation-$mutation.verdict"
  local tests=()
  for f in ${files//,/ }; do tests+=(--test "$f"); done
  # The mutation reaches allocgator alone (its build script reads ALLOCGATOR_MUTATION), so
  # the dependencies in "$dir" are built once and reused by every later mutation there.
  if CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=0 \
    RUSTFLAGS="$flags" ALLOCGATOR_MUTATION="$mutation" \
    cargo test -p loom-tests --release --target-dir "$dir" "${tests[@]}" --no-fail-fast \
    -- --nocapture >"$log" 2>&1; then
    echo "mutation $mutation was NOT caught by the loom models ($files)" >"$verdict"
  elif ! grep -qE "Causality violation|panicked" "$log"; then
    { echo "mutation $mutation: the build or run failed for another reason:"; tail -20 "$log"; } >"$verdict"
  else
    { echo "==> mutation $mutation (must be caught by $files)"
      grep -E "^test .*FAILED|Causality violation" "$log" | sort | uniq | sed 's/^/    caught: /'
    } >"$verdict"
    return 0
  fi
  return 1
}

failed=0
for ((i = 0; i < ${#mutations[@]}; i += 2)); do
  pids=()
  for j in 0 1; do
    entry="${mutations[i + j]:-}"
    [ -n "$entry" ] || continue
    check_mutation "$entry" "target/loom-mutation-$j" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
  for j in 0 1; do
    entry="${mutations[i + j]:-}"
    [ -n "$entry" ] && cat "target/loom-mutation-${entry%%:*}.verdict"
  done
done
if [ "$failed" -ne 0 ]; then
  echo "loom: a mutation was not caught (see above)" >&2
  exit 1
fi
echo "loom: all models passed, all mutations caught"
