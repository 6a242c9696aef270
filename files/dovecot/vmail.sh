# shellcheck shell=bash
# The OS user and group that own every mailbox, and the root of the mailbox
# tree. Made once; a vmail user with another uid is refused rather than
# changed, since mail on disk belongs to that uid.
# Usage: vmail.sh UID MAIL_ROOT
set -euo pipefail
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
uid=$1 root=$2
if ! getent group vmail >/dev/null; then
  groupadd --system --gid "$uid" vmail
fi
if ! getent passwd vmail >/dev/null; then
  useradd --system --uid "$uid" --gid vmail --home-dir "$root" --no-create-home \
    --shell /usr/sbin/nologin vmail
fi
have="$(id -u vmail):$(getent group vmail | cut -d: -f3)"
[ "$have" = "$uid:$uid" ] || die "vmail is uid:gid $have on this host, not $uid:$uid; mailboxes need one fixed owner"
install -d -o vmail -g vmail -m 0750 "$root"
echo "vmail $uid:$uid $root"
