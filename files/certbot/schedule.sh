# shellcheck shell=bash
# Makes sure certbot's renewals are scheduled: the certbot package ships a
# systemd timer and, for hosts without systemd, /etc/cron.d/certbot (twice a
# day; certbot renews within 30 days of expiry). Prints what schedules them.
set -euo pipefail
if [ -d /run/systemd/system ]; then
  systemctl enable --now certbot.timer >/dev/null 2>&1
  systemctl is-active --quiet certbot.timer || { echo "certbot.timer is not active" >&2; exit 1; }
  echo "renewal: systemd certbot.timer"
else
  [ -f /etc/cron.d/certbot ] || { echo "the certbot package's /etc/cron.d/certbot is missing" >&2; exit 1; }
  update-rc.d cron enable >/dev/null 2>&1 || true
  service cron status >/dev/null 2>&1 || service cron start >/dev/null
  service cron status >/dev/null 2>&1 || { echo "cron, which runs certbot's renewals, does not run" >&2; exit 1; }
  echo "renewal: cron /etc/cron.d/certbot"
fi
