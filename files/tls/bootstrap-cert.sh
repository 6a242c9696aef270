# shellcheck shell=bash
# A self-signed certificate so Postfix, Dovecot and nginx can start on the
# very first deployment, before any CA has issued one. Never replaces an
# existing certificate: once certbot (issue 6) installs the real one there,
# this leaves it alone. Prints the certificate's subject and expiry.
# Usage: bootstrap-cert.sh HOSTNAME
set -euo pipefail
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
host=$1
dir=/etc/mailstack/tls
umask 077
mkdir -p "$dir"
chmod 0755 "$dir"
if [ ! -s "$dir/fullchain.pem" ] || [ ! -s "$dir/privkey.pem" ]; then
  tmp=$(mktemp -d "$dir/.bootstrap.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \
    -subj "/CN=$host" -addext "subjectAltName=DNS:$host" \
    -keyout "$tmp/privkey.pem" -out "$tmp/fullchain.pem" 2>/dev/null
  chmod 0644 "$tmp/fullchain.pem"
  chmod 0600 "$tmp/privkey.pem"
  # The key first, so the pair is never half-replaced for a reader.
  mv -f "$tmp/privkey.pem" "$dir/privkey.pem"
  mv -f "$tmp/fullchain.pem" "$dir/fullchain.pem"
fi
openssl x509 -in "$dir/fullchain.pem" -noout -subject -enddate
# For a TLSA record (mailstack:tlsa) while no CA has issued a certificate.
printf 'spki-sha256 %s\n' "$(openssl x509 -in "$dir/fullchain.pem" -noout -pubkey |
  openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)"
