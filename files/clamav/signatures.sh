# shellcheck shell=bash
# Where clamd's signatures come from.
#   signatures.sh freshclam: the real ones. On a host that has none yet, one
#     freshclam run downloads them in the foreground (a few minutes, about
#     300 MB), so clamd can start; from then on the freshclam daemon keeps
#     them current. A test database an earlier deployment left goes: the real
#     signatures know EICAR too.
#   signatures.sh test: the project's test database only (pushed with
#     clamd.conf). The freshclam daemon, which the clamav-daemon package
#     pulls in, is stopped and kept from starting: there is nothing to fetch.
#     clamd's init script and systemd unit alike will not start it
#     without a main and a daily signature set; two empty main.inc and
#     daily.inc directories, which clamd itself ignores, stand in for them.
set -eu
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
case "${1:-}" in
  freshclam)
    rm -f /var/lib/clamav/mailstack-test.ndb
    rmdir /var/lib/clamav/main.inc /var/lib/clamav/daily.inc 2>/dev/null || true
    if ! ls /var/lib/clamav/main.c[vl]d /var/lib/clamav/daily.c[vl]d >/dev/null 2>&1; then
      freshclam --quiet --stdout
    fi
    svc enable clamav-freshclam >/dev/null
    echo "freshclam: on"
    ;;
  test)
    install -d -o clamav -g clamav /var/lib/clamav/main.inc /var/lib/clamav/daily.inc
    svc disable clamav-freshclam >/dev/null 2>&1 || true
    echo "freshclam: off"
    ;;
  *)
    die "usage: signatures.sh freshclam|test" 2
    ;;
esac
