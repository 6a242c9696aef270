#!/bin/bash
# certbot's deploy hook for the mail host's certificate, run after each issue
# and renewal (and by mailstack's issue step). Installs the new pair where
# Postfix, Dovecot and nginx read it, then reloads them so every TLS port
# serves it. If a reload fails, the previous pair goes back and the daemons
# reload again: a broken certificate never stays live.
set -euo pipefail
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
src=${RENEWED_LINEAGE:-/etc/letsencrypt/live/mailstack}
dir=/etc/mailstack/tls
umask 077

pub_of_cert() { openssl x509 -in "$1" -noout -pubkey; }
pub_of_key() { openssl pkey -in "$1" -pubout; }
[ "$(pub_of_cert "$src/fullchain.pem")" = "$(pub_of_key "$src/privkey.pem")" ] ||
  die "$src: the certificate does not match the key; nothing changed"

# Every daemon that serves the certificate and is installed here.
reload_all() {
  local s
  for s in postfix dovecot nginx; do
    if svc exists "$s"; then svc reload "$s" || return 1; fi
  done
}

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
# The reloads' output goes to a file, not a pipe: a daemon a reload starts
# (one that did not run) may keep the descriptors it inherited.
if ! reload_all </dev/null >"$previous/reload.log" 2>&1; then
  out=$(cat "$previous/reload.log")
  put "$previous"
  reload_all </dev/null >/dev/null 2>&1 || true
  die "reloading with the new certificate failed, the previous one is back: $out"
fi
log "installed $(openssl x509 -in "$dir/fullchain.pem" -noout -serial) from $src"
