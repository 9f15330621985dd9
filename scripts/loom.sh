#!/usr/bin/env bash
# Loom models of the engine's concurrent code, then the mutation checks: each build weakens one
# ordering (a test-only cfg) and the models must catch it. Usage: bash scripts/loom.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"

echo "==> loom models (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, release)"
RUSTFLAGS="--cfg loom" cargo test -p loom-tests --release --target-dir target/loom -- --nocapture 2>&1 |
  grep -E "loom model|^test |test result" | grep -v "0 passed; 0 failed"

# Each mutation must make at least one model fail.
for mutation in thread_free_push_relaxed thread_free_take_relaxed pending_push_relaxed; do
  echo "==> mutation $mutation (must be caught)"
  if RUSTFLAGS="--cfg loom --cfg allocgator_mutation=\"$mutation\"" \
    cargo test -p loom-tests --release --target-dir target/loom-mutation -- --nocapture >target/loom-mutation.log 2>&1; then
    echo "mutation $mutation was NOT caught by the loom models" >&2
    exit 1
  fi
  if ! grep -qE "Causality violation|panicked" target/loom-mutation.log; then
    echo "mutation $mutation: the build or run failed for another reason:" >&2
    tail -20 target/loom-mutation.log >&2
    exit 1
  fi
  grep -E "^test .*FAILED|Causality violation" target/loom-mutation.log | sort | uniq | sed 's/^/    caught: /'
done
echo "loom: all models passed, all mutations caught"
