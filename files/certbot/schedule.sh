# shellcheck shell=bash
# Makes sure certbot's renewals are scheduled: the certbot package ships a
# systemd timer and, for hosts where that timer cannot run (no systemd),
# /etc/cron.d/certbot (twice a day; certbot renews within 30 days of expiry).
# Prints what schedules them.
set -euo pipefail
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
if svc exists certbot.timer; then
  svc enable certbot.timer >/dev/null
  svc running certbot.timer || die "certbot.timer is not active"
  echo "renewal: systemd certbot.timer"
else
  [ -f /etc/cron.d/certbot ] || die "the certbot package's /etc/cron.d/certbot is missing"
  svc enable cron >/dev/null
  svc running cron || die "cron, which runs certbot's renewals, does not run"
  echo "renewal: cron /etc/cron.d/certbot"
fi
