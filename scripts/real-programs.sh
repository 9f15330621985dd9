#!/usr/bin/env bash
# Programs no one here wrote, under glibc, mimalloc, jemalloc, tcmalloc and allocgator, with
# `playground run`: the table in the README's "liballocgator" section.
# Usage: bash scripts/real-programs.sh [REPEAT] [OUT.md]   (defaults: 5, docs/real-programs.md)
# Needs: python3, sqlite3, git, g++, redis-server/redis-benchmark/redis-cli (Debian packages
# python3, sqlite3, git, g++, redis-server) and the peers' libraries (libmimalloc2.0,
# libjemalloc2, libtcmalloc-minimal4). Inputs are made in a scratch directory first, untimed.
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-5}
out=${2:-docs/real-programs.md}
work=$(mktemp -d /tmp/allocgator-real.XXXXXX)
trap 'redis-cli -p 7799 shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

cargo build --quiet --release -p playground --bins
cargo build --quiet --release -p allocgator-capi
run() { target/release/playground run --repeat "$repeat" --markdown "$work/part.md" "$@"; cat "$work/part.md" >> "$work/all.md"; }

# sqlite3: half a million rows inserted, indexed, grouped, joined, updated and deleted.
cat > "$work/script.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000)
  INSERT INTO t SELECT x, printf('name-%08d', (x * 7919) % 500009), x % 1009, zeroblob(x % 200) FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, name);
SELECT grp, count(*), max(name) FROM t GROUP BY grp ORDER BY 2 DESC LIMIT 3;
SELECT count(*) FROM t a JOIN t b ON a.id = b.grp + 1;
UPDATE t SET name = upper(name) WHERE id % 7 = 0;
DELETE FROM t WHERE id % 3 = 0;
SELECT count(*), sum(length(name)) FROM t;
SQL

# git: a repository of 400 commits over 300 files, repacked from scratch with deltas.
git init -q -b main "$work/repo"
(
  cd "$work/repo"
  export GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@example.invalid GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@example.invalid
  for c in $(seq 1 400); do
    for f in $(seq $((c % 10)) 10 300); do seq "$c" $((c + f * 3)) > "f$f.txt"; done
    git add -A && git commit -q -m "commit $c"
  done
)

# python3: byte-compile a dozen of its standard library's packages (PYTHONMALLOC=malloc: every
# object through malloc).
pystd=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
python=$(python3 -c 'import sys; print(sys.executable)')

: > "$work/all.md"
run -- sqlite3 :memory: ".read $work/script.sql"
run -- git -C "$work/repo" repack -adfq --window=50 --depth=50
packages="asyncio email xml http unittest multiprocessing importlib logging urllib json concurrent ctypes"
# shellcheck disable=SC2086 # one argument per package
run -- env PYTHONMALLOC=malloc PYTHONPYCACHEPREFIX="$work/pyc" "$python" -m compileall -q -f -j1 \
  $(for p in $packages; do printf '%s/%s ' "$pystd" "$p"; done)
run -- g++ -std=c++17 -O2 -c capi/tests/c/cxx_new_delete.cpp -o "$work/x.o"
# redis: the server and its benchmark client on loopback, both under the allocator.
run -- sh -c "redis-server --port 7799 --save '' --appendonly no >/dev/null & \
  until redis-cli -p 7799 ping >/dev/null 2>&1; do sleep 0.01; done; \
  redis-benchmark -p 7799 -q -n 200000 -c 16 -P 16 -r 100000 -d 64 -t set,get,lpush,lpop,sadd,hset >/dev/null; \
  redis-cli -p 7799 shutdown nosave >/dev/null; wait"

{
  echo "# Real programs under each allocator"
  echo
  echo "\`bash scripts/real-programs.sh $repeat\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(date -u +%Y-%m-%d)."
  echo
  cat "$work/all.md"
} > "$out"
echo "wrote $out"
