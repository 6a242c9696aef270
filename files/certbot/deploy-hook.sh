#!/bin/bash
# certbot's deploy hook for the mail host's certificate, run after each issue
# and renewal (and by mailstack's issue step). Installs the new pair where
# Postfix, Dovecot and nginx read it, then reloads them so every TLS port
# serves it. If a reload fails, the previous pair goes back and the daemons
# reload again: a broken certificate never stays live.
set -euo pipefail
src=${RENEWED_LINEAGE:-/etc/letsencrypt/live/mailstack}
dir=/etc/mailstack/tls
umask 077

fail() { echo "mailstack-tls-deploy: $*" >&2; exit 1; }
pub_of_cert() { openssl x509 -in "$1" -noout -pubkey; }
pub_of_key() { openssl pkey -in "$1" -pubout; }
[ "$(pub_of_cert "$src/fullchain.pem")" = "$(pub_of_key "$src/privkey.pem")" ] ||
  fail "$src: the certificate does not match the key; nothing changed"

reload() { # service: reload it if it is installed
  [ -x "/etc/init.d/$1" ] || [ -f "/lib/systemd/system/$1.service" ] || return 0
  if [ -d /run/systemd/system ]; then systemctl reload-or-restart "$1"; else service "$1" reload; fi
}
reload_all() { reload postfix && reload dovecot && reload nginx; }

# put SRC_DIR: the pair into place, each with a rename (readers never see half a file).
put() {
  install -m 0600 "$1/privkey.pem" "$dir/.privkey.pem.new"
  install -m 0644 "$1/fullchain.pem" "$dir/.fullchain.pem.new"
  mv -f "$dir/.privkey.pem.new" "$dir/privkey.pem"
  mv -f "$dir/.fullchain.pem.new" "$dir/fullchain.pem"
}

previous=$(mktemp -d "$dir/.previous.XXXXXX")
trap 'rm -rf "$previous"' EXIT
cp -a "$dir/privkey.pem" "$dir/fullchain.pem" "$previous/"
put "$src"
if ! out=$(reload_all 2>&1); then
  put "$previous"
  reload_all >/dev/null 2>&1 || true
  fail "reloading with the new certificate failed, the previous one is back: $out"
fi
echo "mailstack-tls-deploy: installed $(openssl x509 -in "$dir/fullchain.pem" -noout -serial) from $src"
