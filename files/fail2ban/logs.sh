# shellcheck shell=bash
# The log files Fail2ban's jails read, before it starts: rsyslog running (it
# writes sshd's /var/log/auth.log), and every file present, since a jail whose
# file is missing does not start. Prints what it started.
set -eu
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
svc enable rsyslog >/dev/null
for f in /var/log/auth.log /var/log/mail.log /var/log/fail2ban.log; do
  [ -e "$f" ] || install -m 0640 -o root -g adm /dev/null "$f"
done
echo "rsyslog running; auth.log, mail.log and fail2ban.log present"
