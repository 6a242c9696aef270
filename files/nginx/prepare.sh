# shellcheck shell=bash
# Before mailstack's nginx config goes in: the webroots it names, and Debian's
# default site out of the way (it claims default_server on port 80 too, which
# `nginx -t` would refuse). Prints the webroots. Re-running changes nothing.
# Usage: prepare.sh ACME_WEBROOT WWW_ROOT
set -euo pipefail
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
acme=$1 www=$2
install -d -m 0755 "$acme/.well-known/acme-challenge" "$www" "$www/clients"
rm -f /etc/nginx/sites-enabled/default
echo "webroots $acme $www"
