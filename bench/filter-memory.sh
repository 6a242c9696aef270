#!/usr/bin/env bash
# Memory of the filtering services on the deployed sandbox: Rspamd (all its
# processes), clamd and Redis. For each: process count, RSS summed, and PSS
# summed (RSS with shared pages split between the processes that share them,
# so Rspamd's forked workers are not counted several times). Read from
# /proc/<pid>/smaps_rollup over SSH, after a warm-up of a few messages so the
# figures are those of a running filter, not of an idle one.
#
# The sandbox's clamd holds only the project's EICAR test signature; with the
# full signature set (mailstack:clamavUpdates) clamd needs about 1-1.5 GiB.
# Needs a deployed sandbox: bash scripts/deploy-sandbox.sh.
# Usage: bash bench/filter-memory.sh [WARMUP]   (default 20 messages)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { printf 'filter-memory-bench: %s\n' "$*" >&2; exit 1; }

n=${1:-20}
[[ $n =~ ^[0-9]{1,4}$ ]] || die "WARMUP must be a whole number from 0 to 9999, not '$n'"
# shellcheck source=bench/sandbox.sh
source bench/sandbox.sh
host=${SANDBOX_HOST:?sandbox.env names no SANDBOX_HOST}
command -v swaks >/dev/null || die "swaks is missing: apt-get install swaks"

# Warm-up: ordinary mail from outside through the milter, scanned by clamd.
for ((i = 1; i <= n; i++)); do
  swaks --server "$host" --port 25 --from bench@outside.test --to bob@example.test \
    --header "Subject: filter-memory warm-up $i" --body "Warm-up message $i of $n." >/dev/null 2>&1 ||
    die "warm-up message $i was not accepted; is the sandbox deployed?"
done

# shellcheck disable=SC2016 # expanded on the host
"${ssh_[@]}" 'for svc in rspamd clamd redis-server; do
  pids=$(pgrep -x "$svc" || pgrep -f "^$svc" || true)
  [ "$svc" = rspamd ] && pids=$(pgrep -f "^rspamd: " || true)
  [ -n "$pids" ] || { printf "%-13s not running\n" "$svc"; continue; }
  count=0 rss=0 pss=0
  for p in $pids; do
    r=$(awk "/^Rss:/ {print \$2}" /proc/$p/smaps_rollup 2>/dev/null || echo 0)
    s=$(awk "/^Pss:/ {print \$2}" /proc/$p/smaps_rollup 2>/dev/null || echo 0)
    count=$((count + 1)) rss=$((rss + r)) pss=$((pss + s))
  done
  awk -v s="$svc" -v c="$count" -v r="$rss" -v p="$pss" "BEGIN { printf \"%-13s processes %2d   RSS %7.1f MiB   PSS %7.1f MiB\\n\", s, c, r / 1024, p / 1024 }"
done'
