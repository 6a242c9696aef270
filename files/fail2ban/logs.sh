# shellcheck shell=bash
# The log files Fail2ban's jails read, before it starts: rsyslog running (it
# writes sshd's /var/log/auth.log), and every file present, since a jail whose
# file is missing does not start. Prints what it started.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl enable --now rsyslog >/dev/null 2>&1
elif ! pgrep -x rsyslogd >/dev/null; then
  # Debian's rsyslog ships a systemd unit only; without systemd (the sandbox)
  # the daemon is started as it is.
  rsyslogd </dev/null >/dev/null 2>&1
fi
for f in /var/log/auth.log /var/log/mail.log /var/log/fail2ban.log; do
  [ -e "$f" ] || install -m 0640 -o root -g adm /dev/null "$f"
done
echo "rsyslog running; auth.log, mail.log and fail2ban.log present"
