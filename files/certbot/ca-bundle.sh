# shellcheck shell=bash
# Trusts a private ACME server's HTTPS certificate (mailstack:acmeCaBundlePath),
# as certbot reaches it through the system's CA store; with no PEM, removes
# one trusted before. Prints what is trusted.
# Usage: ca-bundle.sh [PEM]
set -euo pipefail
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
file=/usr/local/share/ca-certificates/mailstack-acme-ca.crt
pem=${1:-}
if [ -z "$pem" ]; then
  if [ -e "$file" ]; then
    rm -f "$file"
    update-ca-certificates --fresh >/dev/null
  fi
  echo "acme ca: the system's"
  exit 0
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
printf '%s\n' "$pem" >"$tmp"
subject=$(openssl x509 -in "$tmp" -noout -subject) ||
  die "mailstack:acmeCaBundlePath does not hold a PEM certificate"
if ! cmp -s "$tmp" "$file"; then
  install -D -m 0644 "$tmp" "$file"
  update-ca-certificates >/dev/null
fi
echo "acme ca: $subject"
