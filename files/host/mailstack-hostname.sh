#!/bin/bash
# Applies /etc/hostname: sets the running hostname and makes the name resolve
# locally (sudo, Postfix and others look it up).
# https://manpages.debian.org/bookworm/hostname/hostname.1.en.html
set -eu
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
fqdn=$(grep -v '^#' /etc/hostname | head -n 1)
set_hostname "$fqdn"
short=${fqdn%%.*}
line="127.0.1.1 $fqdn $short"
if grep -q '^127\.0\.1\.1[[:space:]]' /etc/hosts; then
  sed -i "s/^127\.0\.1\.1[[:space:]].*/$line/" /etc/hosts
else
  printf '%s\n' "$line" >>/etc/hosts
fi
