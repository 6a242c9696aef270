#!/bin/bash
# rsyslog-rotate, as mailstack puts it in place of the package's (diverted to
# rsyslog-rotate.distrib by files/fail2ban/logs.sh): logrotate runs it after
# rotating /var/log/mail.log and the other files rsyslog writes. It makes
# rsyslog, the one writer of each, reopen them, with systemd or without (the
# package's own only signals under systemd, so without it rsyslog kept
# writing into mail.log.1). The rotation itself stays the package's
# (/etc/logrotate.d/rsyslog).
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
svc reopen rsyslog
