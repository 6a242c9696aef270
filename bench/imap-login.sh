#!/usr/bin/env bash
# IMAP login latency over IMAPS (993) of the deployed sandbox, per account
# kind: an SQL user (domain auth_type local) and an LDAP user (auth_type
# ldap, bound against the sandbox's slapd). Each sample is one curl run from
# this machine, as a mail client would: TCP, TLS handshake, greeting,
# CAPABILITY, AUTHENTICATE PLAIN, NOOP, LOGOUT; curl's own time_total, so
# process start is not counted. Prints p50/p99/max in ms per account, and
# the TLS handshake's p50 to show how much of it is the login itself.
#
# A kind whose login does not work at bench time (LDAP auth not deployed
# yet) gets a note instead of figures. Traffic goes only to the sandbox host.
# Needs a deployed sandbox: bash scripts/deploy-sandbox.sh.
# Usage: bash bench/imap-login.sh [N]   (default N=200 logins per account)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'imap-login-bench: %s\n' "$*" >&2; }
die() { printf 'imap-login-bench: %s\n' "$*" >&2; exit 1; }

n=${1:-200}
[[ $n =~ ^[1-9][0-9]{0,3}$ ]] || die "N must be a whole number from 1 to 9999, not '$n'"
# shellcheck source=bench/sandbox.sh
source bench/sandbox.sh
host=${SANDBOX_HOST:?sandbox.env names no SANDBOX_HOST}
command -v curl >/dev/null || die "curl is missing: apt-get install curl"

# The accounts: kind, login, password (the sandbox's test passwords, see
# Pulumi.sandbox.yaml and scripts/sandbox/README.md). A new kind is one line.
accounts=(
  "sql alice@example.test alice-sandbox-pw"
  "ldap carol@corp.example.test carol-ldap-pw"
)

work=$(mktemp -d /tmp/mailstack-imap-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# One login; prints "time_appconnect time_total" in seconds. Bounded, so a
# hung server cannot hold the bench.
login() {
  curl -s --insecure --max-time 10 -o /dev/null -w '%{time_appconnect} %{time_total}\n' \
    -u "$1:$2" -X NOOP "imaps://$host/"
}

# p50, p99 and max in ms of the seconds on stdin (nearest rank).
pct() {
  sort -n | awk '{ v[NR] = $1 } END {
    printf "%.1f %.1f %.1f", v[int((NR * 50 + 99) / 100)] * 1000, v[int((NR * 99 + 99) / 100)] * 1000, v[NR] * 1000 }'
}

rows=()
notes=()
for entry in "${accounts[@]}"; do
  read -r kind user password <<<"$entry"
  # One untimed login first: it must work, and it warms Dovecot's auth cache
  # and login processes as a running server has them. A failed login would
  # also make Dovecot delay the next ones from this address (auth penalty),
  # so a kind that fails is skipped, and the SQL kind goes first.
  code=0
  login "$user" "$password" >/dev/null || code=$?
  if [ "$code" -ne 0 ]; then
    notes+=("$kind ($user): skipped, its IMAP login fails now (curl exit $code; 67 = login refused)" \
      "  -> not deployed yet? (LDAP auth: the mail host's Dovecot and the sandbox slapd)")
    continue
  fi
  say "timing $n logins of $user ($kind)"
  : >"$work/$kind"
  fails=0
  for _ in $(seq "$n"); do
    if out=$(login "$user" "$password"); then
      echo "$out" >>"$work/$kind"
    else
      fails=$((fails + 1))
      # Stop early rather than hammer a server that has started refusing.
      [ "$fails" -lt 5 ] || die "$kind: 5 logins of $user failed; stopping"
    fi
  done
  read -r p50 p99 max <<<"$(cut -d' ' -f2 "$work/$kind" | pct)"
  read -r tls50 _ <<<"$(cut -d' ' -f1 "$work/$kind" | pct)"
  rows+=("$(printf '%-5s %-26s %6d %8s %8s %8s %9s %6d' "$kind" "$user" "$(wc -l <"$work/$kind")" "$p50" "$p99" "$max" "$tls50" "$fails")")
done

versions=$(timeout 60 ssh -i "$SANDBOX_KEY" -p "${SANDBOX_SSH_PORT:-22}" -o BatchMode=yes -o ConnectTimeout=10 \
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "root@$host" \
  'dovecot --version | cut -d" " -f1; nproc' 2>/dev/null || true)
read -r -d '' dovecot_v cores <<<"$versions" || true
echo
echo "mailstack IMAP login latency: curl over IMAPS to $host:993 from the sandbox bridge"
echo "(Dovecot ${dovecot_v:-?}; ${cores:-?} cores; $(date -u +%F); $n logins per account, one after another)"
printf '%-5s %-26s %6s %8s %8s %8s %9s %6s\n' "kind" "user" "calls" "p50 ms" "p99 ms" "max ms" "TLS p50" "fails"
for r in "${rows[@]}"; do printf '%s\n' "$r"; done
for note in "${notes[@]}"; do printf '%s\n' "$note"; done
echo "p50/p99/max: connect, TLS handshake, greeting, CAPABILITY, AUTHENTICATE PLAIN, NOOP, LOGOUT (curl time_total);"
echo "TLS p50: the handshake alone (curl time_appconnect)."
[ "${#rows[@]}" -gt 0 ] || die "no account could log in"
