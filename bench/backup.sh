#!/usr/bin/env bash
# Backup and restore times for a mail store of SIZE MiB (default 1024) on the
# deployed sandbox, into its MinIO through restic: the first (full) backup,
# a second one with nothing changed, and the restore of the whole mailbox
# after its messages are deleted. Messages are 100 KiB each, a header and
# base64 of random bytes (an attachment), so neither compression nor
# deduplication flatters the figures. The checksums of every message are
# compared after the restore. Uses frank@example.org's mailbox and removes
# the bench messages afterwards.
# Needs a deployed sandbox: bash scripts/deploy-sandbox.sh.
# Usage: bash bench/backup.sh [SIZE_MIB]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { printf 'backup-bench: %s\n' "$*" >&2; exit 1; }

size=${1:-1024}
[[ $size =~ ^[0-9]{1,5}$ && $size -ge 1 ]] || die "SIZE_MIB must be a whole number from 1 to 99999, not '$size'"
# shellcheck source=bench/sandbox.sh
source bench/sandbox.sh
"${ssh_[@]}" 'command -v mailstack-backup >/dev/null' ||
  die "the sandbox has no backups deployed; run: bash scripts/deploy-sandbox.sh"

# Everything below runs on the mail host, as one script with the size as $1.
# shellcheck disable=SC2016 # expanded on the host
"${ssh_[@]}" bash -s -- "$size" <<'REMOTE'
set -euo pipefail
size=$1 user=frank@example.org dir=/var/vmail/example.org/frank/Maildir/cur
count=$((size * 1024 / 100))
secs() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
cleanup() { find "$dir" -name 'bench-*' -delete 2>/dev/null || true; doveadm force-resync -u "$user" INBOX || true; }
trap cleanup EXIT
mkdir -p "$dir"
t=$(date +%s.%N)
for ((i = 0; i < count; i++)); do
  {
    printf 'From: bench@outside.test\nTo: %s\nSubject: backup bench %d\n\n' "$user" "$i"
    head -c 76800 /dev/urandom | base64 -w 76
  } >"$dir/bench-$i.mailstack:2,S"
done
chown -R vmail:vmail "$dir"
du -sm "$dir" | awk -v n="$count" -v s="$(secs "$t")" '{ printf "mail store    %d MiB in %d messages (written in %s s)\n", $1, n, s }'
find "$dir" -name 'bench-*' -exec sha256sum {} + | sort >/var/tmp/bench-before.sha

t=$(date +%s.%N); mailstack-backup >/dev/null; echo "backup full   $(secs "$t") s"
t=$(date +%s.%N); mailstack-backup >/dev/null; echo "backup again  $(secs "$t") s (nothing changed)"
find "$dir" -name 'bench-*' -delete
t=$(date +%s.%N); mailstack-restore --mailbox "$user" >/dev/null; echo "restore       $(secs "$t") s (the whole mailbox)"
find "$dir" -name 'bench-*' -exec sha256sum {} + | sort >/var/tmp/bench-after.sha
if cmp -s /var/tmp/bench-before.sha /var/tmp/bench-after.sha; then
  echo "checksums     $(wc -l </var/tmp/bench-after.sha) of $count messages identical"
else
  echo "checksums     DIFFER after the restore" >&2
  exit 1
fi
rm -f /var/tmp/bench-before.sha /var/tmp/bench-after.sha
REMOTE
