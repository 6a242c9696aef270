#!/usr/bin/env bash
# Every benchmark, the machine described first, in an order that leaves the
# sandbox deployed: the deployment timings (they start a fresh sandbox host
# and deploy a throwaway stack to it), then the sandbox stack is deployed
# again, then delivery throughput, IMAP login latency, Postfix lookups at
# 100k users, and backup and restore of BACKUP_MIB (default 1024) MiB.
# Each bench prints its own figures; the README's table is copied from them.
# Usage (as root): npm run bench   (or: bash bench/run.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log=${MAILSTACK_STATE:-/var/lib/mailstack-sandbox}/logs/bench-deploy-sandbox.log
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
# shellcheck disable=SC1091 # the OS's own file
os=$(. /etc/os-release && echo "$PRETTY_NAME")
printf 'machine: %s cores (%s), %s GiB RAM, %s, kernel %s; %s\n\n' "$(nproc)" "${cpu:-unknown CPU}" \
  "$(free -g | awk '/^Mem:/ { print $2 }')" "$os" "$(uname -r)" "$(date -u +%FT%TZ)"

bash bench/deploy.sh
echo
mkdir -p "$(dirname "$log")"
bash scripts/deploy-sandbox.sh >"$log" 2>&1 ||
  { echo "bench: deploying the sandbox stack failed; see $log" >&2; exit 1; }
for b in "bench/throughput.sh" "bench/imap-login.sh" "bench/postmap.sh" "bench/backup.sh ${BACKUP_MIB:-1024}"; do
  echo "== $b"
  # shellcheck disable=SC2086 # the bench and its argument
  bash $b
  echo
done
