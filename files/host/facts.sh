# shellcheck shell=bash
# Reports the host's OS and refuses the ones this stack does not support.
set -eu
# shellcheck source=/dev/null
. /etc/os-release
case "$ID $VERSION_ID" in
  "debian 12" | "ubuntu 22.04") ;;
  *)
    echo "mailstack supports Debian 12 and Ubuntu 22.04 LTS; this host runs ${PRETTY_NAME:-$ID $VERSION_ID}" >&2
    exit 1
    ;;
esac
if [ -d /run/systemd/system ]; then init=systemd; else init=sysv; fi
echo "$ID $VERSION_ID $init"
