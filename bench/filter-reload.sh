#!/usr/bin/env bash
# Rspamd config changes under load: what senders see while a filter change
# (mailstack:spamActions) reaches the running Rspamd. Each run sends N
# messages over C parallel SMTP connections to port 25 of the deployed sandbox
# (a Python smtplib client on the host, from loopback, so postscreen lets it
# through and SSH is not measured) and meanwhile changes actions.conf K times,
# each time applying it as one of two ways does:
#   restart  svc restart rspamd, what a spamActions push ran before
#   reload   the push's reload command today (rspamdReloadCommand in
#            src/concerns/filter/render.ts): svc reload rspamd for actions.conf
# Each way runs twice: C long sessions that send every message (as a busy
# relay does), then one session a message (as most senders do). Prints, per
# way and session style: messages sent, accepted (250), deferred (4xx, with
# the first reply), refused connections, and delivered to the Maildir. The
# target for reload is 0 deferred and 0 refused. actions.conf gets its
# content back.
#
# Uses frank@example.org's mailbox and removes the bench messages afterwards.
# Needs a deployed sandbox: bash scripts/deploy-sandbox.sh.
# Usage: bash bench/filter-reload.sh [N] [C] [K]   (default N=600, C=4, K=3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { printf 'filter-reload-bench: %s\n' "$*" >&2; exit 1; }

n=${1:-600} c=${2:-4} k=${3:-3}
[[ $n =~ ^[1-9][0-9]{0,4}$ ]] || die "N must be a whole number from 1 to 99999, not '$n'"
[[ $c =~ ^[1-9][0-9]?$ ]] || die "C must be a whole number from 1 to 99, not '$c'"
[[ $k =~ ^[1-9]$ ]] || die "K must be a whole number from 1 to 9, not '$k'"
# shellcheck source=bench/sandbox.sh
source bench/sandbox.sh
"${ssh_[@]}" 'command -v python3 >/dev/null && [ -f /etc/rspamd/local.d/actions.conf ]' ||
  die "the sandbox has no python3 or Rspamd config; deploy the stack first: bash scripts/deploy-sandbox.sh"
reload=$(node scripts/run-ts.js bench/rspamd-reload-command.ts) ||
  die "cannot render the push's reload command (bench/rspamd-reload-command.ts)"

# shellcheck disable=SC2016 # expanded on the host
# ssh joins its arguments into one command line: the reload command goes quoted.
"${ssh_[@]}" bash -s -- "$n" "$c" "$k" "$(printf %q "$reload")" <<'REMOTE'
set -euo pipefail
. /usr/local/lib/mailstack/mailstack.sh
n=$1 c=$2 k=$3 reload=$4
conf=/etc/rspamd/local.d/actions.conf
new=/var/vmail/example.org/frank/Maildir/new
tag=filter-reload-$$-$RANDOM
cp -a "$conf" "/run/mailstack-bench-actions.conf"
cleanup() {
  if ! cmp -s /run/mailstack-bench-actions.conf "$conf"; then
    cp -a /run/mailstack-bench-actions.conf "$conf"
    svc reload rspamd >/dev/null 2>&1 || true
  fi
  rm -f /run/mailstack-bench-actions.conf
  grep -lF -- "$tag" "$new"/* 2>/dev/null | xargs -r rm -f
}
trap cleanup EXIT
up() { listening 11332 && rspamc -h 127.0.0.1:11334 stat >/dev/null 2>&1; }

# A change of one score, kept valid: the add_header score moves by 0.1.
change() { # way
  local score
  score=$(sed -n 's/^ *add_header *= *\([0-9.]*\);.*/\1/p' "$conf")
  [ -n "$score" ] || { echo "no add_header score in $conf" >&2; exit 1; }
  sed -i "s/^\( *add_header *= *\)[0-9.]*;/\1$(awk -v s="$score" 'BEGIN { printf "%.1f", (s * 10 % 2 == 0) ? s + 0.1 : s - 0.1 }');/" "$conf"
  rspamadm configtest -q
  case $1 in
    restart) svc restart rspamd >/dev/null 2>&1 ;;
    reload) MAILSTACK_CHANGED=$conf bash -c ". /usr/local/lib/mailstack/mailstack.sh; $reload" >/dev/null 2>&1 ;;
  esac
  wait_until 30 "Rspamd back" up
}

run() { # way label sessions(long|short) -> one line of figures
  local result
  result=$(mktemp)
  python3 - "$n" "$c" "$tag-$2" "$3" >"$result" <<'PY' &
import smtplib, sys, threading, time
n, conns, tag, short = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "short"
lock = threading.Lock()
stats = {"sent": 0, "ok": 0, "deferred": 0, "rejected": 0, "refused": 0}
first = []
def count(key, reply=None):
    with lock:
        stats[key] += 1
        if reply and not first:
            first.append(reply)
def connect():
    for _ in range(100):
        try:
            s = smtplib.SMTP("127.0.0.1", 25, timeout=60)
            s.ehlo("bench.outside.test")
            return s
        except (OSError, smtplib.SMTPException) as e:
            count("refused", f"connect: {e}")
            time.sleep(0.1)
    raise SystemExit("could not connect 100 times")
def worker(w):
    s = connect()
    for i in range(w, n, conns):
        body = (f"From: bench@outside.test\r\nTo: frank@example.org\r\nSubject: {tag} {i}\r\n"
                f"Message-ID: <{tag}-{i}@outside.test>\r\n\r\nMessage {i} of the filter reload bench.\r\n")
        count("sent")
        try:
            s.sendmail("bench@outside.test", ["frank@example.org"], body)
            count("ok")
            if short:
                s.quit(); s = connect()
        except smtplib.SMTPResponseException as e:
            key = "deferred" if 400 <= e.smtp_code < 500 else "rejected"
            count(key, f"{e.smtp_code} {e.smtp_error.decode(errors='replace')}")
            s.close(); s = connect()
        except smtplib.SMTPRecipientsRefused as e:
            code, text = list(e.recipients.values())[0]
            count("deferred" if 400 <= code < 500 else "rejected", f"{code} {text.decode(errors='replace')}")
            s.close(); s = connect()
        except (OSError, smtplib.SMTPException) as e:
            count("refused", f"lost: {e}")
            s = connect()
    s.quit()
threads = [threading.Thread(target=worker, args=(w,)) for w in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
print(stats["sent"], stats["ok"], stats["deferred"], stats["rejected"], stats["refused"], first[0] if first else "-")
PY
  local sender=$! i
  # K changes spread over the run, the first after a second of load.
  sleep 1
  for ((i = 1; i <= k; i++)); do
    change "$1"
    sleep 2
  done
  wait "$sender"
  local got=0
  for ((i = 0; i < 300; i++)); do
    got=$(grep -lF -- "$tag-$2 " "$new"/* 2>/dev/null | wc -l)
    [ "$got" -lt "$(cut -d' ' -f2 "$result")" ] || break
    sleep 0.2
  done
  read -r sent ok deferred rejected refused first <"$result"
  printf '%-8s %-8s %6s %9s %9s %9s %8s %10s  %s\n' "$1" "$3" "$sent" "$ok" "$deferred" "$rejected" "$refused" "$got" "$first"
  rm -f "$result"
}
printf '%s messages over %s connections, %s changes of actions.conf each run\n' "$n" "$c" "$k"
printf '%-8s %-8s %6s %9s %9s %9s %8s %10s  %s\n' way sessions sent accepted "4xx" "5xx" refused delivered "first 4xx/5xx or refusal"
run restart restart-long long
run reload reload-long long
run restart restart-short short
run reload reload-short short
REMOTE
