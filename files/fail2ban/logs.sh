# shellcheck shell=bash
# The log files Fail2ban's jails read, before it starts: rsyslog running (it
# writes sshd's /var/log/auth.log), and every file present, since a jail whose
# file is missing does not start. Prints what it started.
set -eu
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
svc enable rsyslog >/dev/null
# The rotation's reopen: mailstack's rsyslog-rotate (a push of the Fail2ban
# concern) takes the package's place; dpkg keeps it there across upgrades.
rotate=/usr/lib/rsyslog/rsyslog-rotate
if [ "$(dpkg-divert --truename "$rotate")" = "$rotate" ]; then
  dpkg-divert --quiet --local --rename --divert "$rotate.distrib" --add "$rotate"
fi
for f in /var/log/auth.log /var/log/mail.log /var/log/fail2ban.log; do
  [ -e "$f" ] || install -m 0640 -o root -g adm /dev/null "$f"
done
echo "rsyslog running; auth.log, mail.log and fail2ban.log present; $rotate diverted"
