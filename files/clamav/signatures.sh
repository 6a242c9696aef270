# shellcheck shell=bash
# Where clamd's signatures come from.
#   signatures.sh freshclam: the real ones. On a host that has none yet, one
#     freshclam run downloads them in the foreground (a few minutes, about
#     300 MB), so clamd can start; from then on the freshclam service keeps
#     them current. A test database an earlier deployment left goes: the real
#     signatures know EICAR too.
#   signatures.sh test: the project's test database only (pushed with
#     clamd.conf). The freshclam service, which the clamav-daemon package
#     pulls in, is stopped and kept from starting: there is nothing to fetch.
#     clamd's service (init script and systemd unit alike) will not start
#     without a main and a daily signature set; two empty main.inc and
#     daily.inc directories, which clamd itself ignores, stand in for them.
set -eu
case "${1:-}" in
  freshclam)
    rm -f /var/lib/clamav/mailstack-test.ndb
    rmdir /var/lib/clamav/main.inc /var/lib/clamav/daily.inc 2>/dev/null || true
    if ! ls /var/lib/clamav/main.c[vl]d /var/lib/clamav/daily.c[vl]d >/dev/null 2>&1; then
      freshclam --quiet --stdout
    fi
    if [ -d /run/systemd/system ]; then
      systemctl enable --now clamav-freshclam >/dev/null 2>&1
    else
      update-rc.d clamav-freshclam defaults >/dev/null 2>&1
      service clamav-freshclam status >/dev/null 2>&1 || service clamav-freshclam start >/dev/null
    fi
    echo "freshclam: on"
    ;;
  test)
    install -d -o clamav -g clamav /var/lib/clamav/main.inc /var/lib/clamav/daily.inc
    if [ -d /run/systemd/system ]; then
      systemctl disable --now clamav-freshclam >/dev/null 2>&1 || true
    else
      service clamav-freshclam stop >/dev/null 2>&1 || true
      update-rc.d clamav-freshclam disable >/dev/null 2>&1 || true
    fi
    echo "freshclam: off"
    ;;
  *)
    echo "usage: signatures.sh freshclam|test" >&2
    exit 2
    ;;
esac
