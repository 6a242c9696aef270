#!/usr/bin/env bash
# Delivery throughput of the deployed sandbox, in the same run on the same
# host: the full stack (port 25: postscreen, smtpd, Rspamd as milter with
# ClamAV scanning the attachment, LMTP into Dovecot, Sieve) against bare
# Postfix-to-LMTP (a temporary smtpd on 127.0.0.1:2525 with no milter,
# removed afterwards). Each run sends N messages of a short text and an
# 8 KiB binary attachment over C parallel SMTP connections (a Python smtplib
# client on the host, so SSH and this machine are not measured) and stops the
# clock when the last one is in the Maildir. Prints messages per second of
# each and the ratio full/bare, plus how many messages Rspamd scanned in each
# run (the full run must scan all of them, the bare one none).
#
# Uses frank@example.org's mailbox and removes the bench messages afterwards.
# Needs a deployed sandbox: bash scripts/deploy-sandbox.sh.
# Usage: bash bench/throughput.sh [N] [C]   (default N=1000, C=4)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { printf 'throughput-bench: %s\n' "$*" >&2; exit 1; }

n=${1:-1000} c=${2:-4}
[[ $n =~ ^[1-9][0-9]{0,4}$ ]] || die "N must be a whole number from 1 to 99999, not '$n'"
[[ $c =~ ^[1-9][0-9]?$ ]] || die "C must be a whole number from 1 to 99, not '$c'"
# shellcheck source=bench/sandbox.sh
source bench/sandbox.sh
"${ssh_[@]}" 'command -v python3 >/dev/null && command -v rspamc >/dev/null' ||
  die "the sandbox has no python3 or rspamc; deploy the stack first: bash scripts/deploy-sandbox.sh"

# shellcheck disable=SC2016 # expanded on the host
"${ssh_[@]}" bash -s -- "$n" "$c" <<'REMOTE'
set -euo pipefail
# Loopback: postscreen lets mynetworks through untested, so the host's
# public address never enters its cache (the e2e pregreet test uses it).
n=$1 c=$2 addr=127.0.0.1
new=/var/vmail/example.org/frank/Maildir/new
bare="$addr:2525/inet"
tag=throughput-$$-$RANDOM
cleanup() {
  postconf -MX "$bare" 2>/dev/null || true
  postfix reload >/dev/null 2>&1 || true
  grep -lF -- "$tag" "$new"/* 2>/dev/null | xargs -r rm -f
}
trap cleanup EXIT
# The bare path: smtpd without milters, straight to the same LMTP transport.
postconf -M "$bare=$addr:2525 inet n - n - - smtpd -o smtpd_milters= -o non_smtpd_milters= -o milter_default_action=accept"
postfix reload >/dev/null
sleep 1

send() { # port count label
  python3 - "$addr" "$1" "$2" "$c" "$tag-$3" <<'PY'
import os, smtplib, sys, threading
from email.message import EmailMessage
host, port, count, conns, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def worker(k):
    s = smtplib.SMTP(host, port, timeout=60)
    s.ehlo("bench.outside.test")
    for i in range(k, count, conns):
        m = EmailMessage()
        m["From"] = "bench@outside.test"
        m["To"] = "frank@example.org"
        m["Subject"] = f"{tag} {i}"
        m["Message-ID"] = f"<{tag}-{i}@outside.test>"
        m.set_content(f"Message {i} of the throughput bench.\n")
        m.add_attachment(os.urandom(8192), maintype="application", subtype="octet-stream", filename=f"{i}.bin")
        s.send_message(m)
    s.quit()
threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
PY
}
delivered() { grep -lF -- "$tag-$1 " "$new"/* 2>/dev/null | wc -l; }
scanned() { rspamc stat 2>/dev/null | sed -n 's/^Messages scanned: \([0-9]*\).*/\1/p'; }
run() { # port label -> "<seconds> <scanned>"
  local before t0 t1 got
  before=$(scanned)
  t0=$(date +%s.%N)
  send "$1" "$n" "$2"
  for ((i = 0; i < 600; i++)); do
    got=$(delivered "$2")
    [ "$got" -lt "$n" ] || break
    sleep 0.2
  done
  t1=$(date +%s.%N)
  [ "$got" -eq "$n" ] || { echo "only $got of $n messages arrived on the $2 path" >&2; exit 1; }
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') $(($(scanned) - before))"
}
# Warm-up: both paths, a few messages each (workers, connections, caches).
n_real=$n
n=20
run 25 warm-full >/dev/null
run 2525 warm-bare >/dev/null
n=$n_real
read -r full_s full_scanned < <(run 25 full)
read -r bare_s bare_scanned < <(run 2525 bare)
awk -v n="$n" -v c="$c" -v fs="$full_s" -v bs="$bare_s" -v fsc="$full_scanned" -v bsc="$bare_scanned" 'BEGIN {
  printf "%-44s %8s %8s %10s %8s\n", "path (" n " messages, " c " connections)", "seconds", "msg/s", "scanned", ""
  printf "%-44s %8.2f %8.1f %10d\n", "full: postscreen, Rspamd+ClamAV, LMTP", fs, n / fs, fsc
  printf "%-44s %8.2f %8.1f %10d\n", "bare: Postfix to LMTP, no milter", bs, n / bs, bsc
  printf "ratio full/bare: %.2f\n", (n / fs) / (n / bs)
}'
REMOTE
