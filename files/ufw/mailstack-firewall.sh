#!/bin/bash
# Reconciles UFW to the rules file: deny incoming by default, allow exactly the
# listed ports. Rules of another kind (Fail2ban's bans) are not this script's
# and stay. Rules are added before any are removed, and the port sshd
# listens on right now is never closed, so a deployment cannot lock itself out.
# https://manpages.ubuntu.com/manpages/jammy/man8/ufw.8.html
# Usage: mailstack-firewall [--check] RULES_FILE
set -euo pipefail
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"

check_only=false
if [ "${1:-}" = "--check" ]; then
  check_only=true
  shift
fi
rules=${1:?usage: mailstack-firewall [--check] RULES_FILE}

mapfile -t want < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//' "$rules" | grep -v '^$' || true)
for r in "${want[@]}"; do
  if ! [[ $r =~ ^allow\ ([0-9]{1,5})/tcp$ ]] || [ "${BASH_REMATCH[1]}" -lt 1 ] || [ "${BASH_REMATCH[1]}" -gt 65535 ]; then
    die "$rules: invalid rule \"$r\" (expected: allow PORT/tcp)"
  fi
done

# The port the running sshd listens on: the deploying session came in through it.
# (awk reads to the end: an early exit would kill sshd -T with SIGPIPE.)
live_ssh=$(sshd -T 2>/dev/null | awk '$1 == "port" && !seen { print $2; seen = 1 }' || true)
if [ -n "$live_ssh" ] && ! printf '%s\n' "${want[@]}" | grep -qx "allow $live_ssh/tcp"; then
  die "$rules does not allow port $live_ssh/tcp, where sshd listens now; refusing to lock out SSH"
fi
command -v ufw >/dev/null || die "ufw is not installed"
$check_only && exit 0

ufw default deny incoming >/dev/null
ufw default allow outgoing >/dev/null
for r in "${want[@]}"; do
  # shellcheck disable=SC2086 # a rule is several words by design
  ufw $r >/dev/null
done
while read -r have; do
  keep=false
  for r in "${want[@]}"; do [ "$have" = "$r" ] && keep=true; done
  # shellcheck disable=SC2086
  $keep || ufw delete $have >/dev/null
done < <(ufw show added | sed -n 's/^ufw //p' | grep -E '^allow [0-9]+/tcp$' || true)
ufw --force enable >/dev/null
ufw status | sed -n '1p'
