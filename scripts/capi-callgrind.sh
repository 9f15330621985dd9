#!/usr/bin/env bash
# Instructions per malloc+free pair through each allocator's C ABI: capi/bench/hot_pair.c
# under valgrind --tool=callgrind, preloading each library in turn. Each count is
# (I(N2) - I(N1)) / (N2 - N1), so start-up and the loader cancel out.
# Usage: bash scripts/capi-callgrind.sh [SIZE...]   (default: 16, then 16 32 48 64 128 256 512)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
cargo build --quiet --release -p allocgator-capi
target=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
out=$target/capi-bench
mkdir -p "$out"
# -fno-builtin: the compiler may otherwise drop a malloc/free pair it can see through.
cc -O2 -fno-builtin -o "$out/hot_pair" capi/bench/hot_pair.c
n1=100000
n2=600000
libs=(
  "glibc="
  "allocgator=$target/release/liballocgator.so"
)
# A preload that fails to load is only warned about by the loader: check that this one works.
check=$(ALLOCGATOR_VERBOSE=1 LD_PRELOAD=$target/release/liballocgator.so "$out/hot_pair" 1 16 2>&1 >/dev/null)
case "$check" in
  *"allocgator: statistics at exit"*) ;;
  *) echo "liballocgator.so did not load" >&2; exit 1 ;;
esac
for pair in mimalloc:libmimalloc.so.2 jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4; do
  name=${pair%%:*} file=${pair#*:}
  path=$(ls /usr/lib/*-linux-gnu/"$file" 2>/dev/null | head -n 1 || true)
  if [ -n "$path" ]; then libs+=("$name=$path"); else echo "($name: $file not found, skipped)" >&2; fi
done
count() { # preload, pairs, sizes... -> total instructions
  local preload=$1 pairs=$2
  shift 2
  local file
  file=$(mktemp "$out/cg.XXXXXX")
  LD_PRELOAD=$preload valgrind --tool=callgrind --callgrind-out-file="$file" \
    "$out/hot_pair" "$pairs" "$@" >/dev/null 2>&1
  awk '/^summary:/ { print $2 }' "$file"
  rm -f "$file"
}
sets=("16" "16 32 48 64 128 256 512")
[ $# -gt 0 ] && sets=("$*")
printf '%-12s' "allocator"
for s in "${sets[@]}"; do printf '  %-28s' "sizes: $s"; done
printf '\n'
for entry in "${libs[@]}"; do
  name=${entry%%=*} lib=${entry#*=}
  printf '%-12s' "$name"
  for s in "${sets[@]}"; do
    # shellcheck disable=SC2086 # the sizes are separate arguments
    a=$(count "$lib" $n1 $s)
    # shellcheck disable=SC2086
    b=$(count "$lib" $n2 $s)
    printf '  %-28s' "$(awk -v a="$a" -v b="$b" -v n=$((n2 - n1)) 'BEGIN { printf "%.1f", (b - a) / n }')"
  done
  printf '\n'
done
echo "(instructions per malloc+free pair, including the loop's own few; N = $n1 and $n2 pairs)"
