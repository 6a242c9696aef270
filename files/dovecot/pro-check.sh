# shellcheck shell=bash
# obox mode (mailstack:mailStorage obox): Dovecot Pro, installed by the
# operator from Dovecot's repository, must be on the host; Debian's and
# Ubuntu's dovecot packages conflict with it and lack obox, so the stack does
# not install them. Prints the Pro packages' versions.
set -euo pipefail
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
if ! dpkg-query -W -f='${db:Status-Abbrev}' dovecot-ee-core 2>/dev/null | grep -q '^ii'; then
  die "obox needs Dovecot Pro: no dovecot-ee-core package on this host. Debian's and Ubuntu's dovecot packages do not include obox (mailstack:mailStorage obox). Install Dovecot Pro with its obox2 package, or use maildir (the default) with backups."
fi
dpkg-query -W -f='${Package}=${Version}\n' 'dovecot-ee-*' | grep -v '=$'
