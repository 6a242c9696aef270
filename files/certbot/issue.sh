# shellcheck shell=bash
# Gets the mail host's certificate from the ACME server with certbot, or keeps
# the one it has when it already covers exactly these names from this server
# and is not near expiry. certbot's deploy hook (mailstack-tls-deploy) then
# installs it where the daemons read it and reloads them. Prints the
# certificate's names, issuer, expiry and the SHA-256 of its public key
# (for a TLSA record).
# Usage: issue.sh SERVER EMAIL CHALLENGE REUSE_KEY WEBROOT NAME...
#   CHALLENGE  http-01 (through WEBROOT) or dns-01 (Cloudflare)
#   REUSE_KEY  yes: renewals keep the key (a TLSA record names it)
set -euo pipefail
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
server=$1 email=$2 challenge=$3 reuse=$4 webroot=$5
shift 5
lineage=mailstack
live=/etc/letsencrypt/live/$lineage
renewal=/etc/letsencrypt/renewal/$lineage.conf

case $challenge in
  http-01) authenticator=webroot how=(--webroot --webroot-path "$webroot") ;;
  dns-01)
    authenticator=dns-cloudflare
    how=(--dns-cloudflare --dns-cloudflare-credentials /etc/letsencrypt/mailstack-cloudflare.ini
      --dns-cloudflare-propagation-seconds 30)
    ;;
  *) die "unknown challenge $challenge" 2 ;;
esac

# certbot keeps a certificate until it nears expiry, unless it no longer is
# what the stack asks for: another ACME server (staging, then production),
# another challenge, or other names. Then a new one is issued now.
why_new=""
if [ -f "$renewal" ]; then
  grep -qxF "server = $server" "$renewal" || why_new="the ACME server changed"
  grep -qxF "authenticator = $authenticator" "$renewal" || why_new="the challenge changed"
fi
if [ -f "$live/cert.pem" ]; then
  have=$(openssl x509 -in "$live/cert.pem" -noout -ext subjectAltName |
    grep -o 'DNS:[^,]*' | sed 's/^DNS://' | sort | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  [ "$have" = "$want" ] || why_new="the names changed"
fi

args=(certonly --non-interactive --agree-tos --no-eff-email --email "$email" --server "$server"
  --cert-name "$lineage" --key-type ecdsa --deploy-hook /usr/local/sbin/mailstack-tls-deploy "${how[@]}")
if [ -n "$why_new" ]; then args+=(--force-renewal); else args+=(--keep-until-expiring); fi
if [ "$reuse" = yes ]; then args+=(--reuse-key); else args+=(--no-reuse-key); fi
for n in "$@"; do args+=(-d "$n"); done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! certbot "${args[@]}" >"$log" 2>&1; then
  {
    echo "certbot could not get a certificate for $* from $server:"
    grep -v '^\s*$' "$log" | tail -n 25
    echo "Check that each name resolves to this host (the stack output dnsZones lists the records)"
    echo "and that port 80 is reachable from the internet; or set mailstack:acmeServer none to keep"
    echo "the self-signed certificate for now. certbot's full log: /var/log/letsencrypt/letsencrypt.log"
  } >&2
  exit 1
fi

# The deploy hook ran if certbot got a new certificate; the installed pair
# must be this lineage's either way (a first run after a failed hook).
if ! cmp -s "$live/fullchain.pem" /etc/mailstack/tls/fullchain.pem; then
  RENEWED_LINEAGE=$live /usr/local/sbin/mailstack-tls-deploy
fi
[ -z "$why_new" ] || echo "new certificate: $why_new"
cert=/etc/mailstack/tls/fullchain.pem
openssl x509 -in "$cert" -noout -ext subjectAltName | grep -o 'DNS:[^,]*' | tr '\n' ' ' | sed 's/ $/\n/'
openssl x509 -in "$cert" -noout -issuer -enddate
printf 'spki-sha256 %s\n' "$(openssl x509 -in "$cert" -noout -pubkey | openssl pkey -pubin -outform DER |
  sha256sum | cut -d' ' -f1)"
