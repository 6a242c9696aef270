# shellcheck shell=bash
# Reports the host's OS and init system, and stops when the OS is not the one
# mailstack:os names (it picks package versions) or not supported at all.
# Usage: facts.sh EXPECTED_OS (debian12 or ubuntu2204)
set -eu
expected=$1
# shellcheck source=/dev/null
. /etc/os-release
case "$ID $VERSION_ID" in
  "debian 12") os=debian12 ;;
  "ubuntu 22.04") os=ubuntu2204 ;;
  *)
    echo "mailstack supports Debian 12 and Ubuntu 22.04 LTS; this host runs ${PRETTY_NAME:-$ID $VERSION_ID}" >&2
    exit 1
    ;;
esac
if [ "$os" != "$expected" ]; then
  echo "mailstack:os is $expected but this host runs ${PRETTY_NAME:-$ID $VERSION_ID}; fix: pulumi config set mailstack:os $os" >&2
  exit 1
fi
if [ -d /run/systemd/system ]; then init=systemd; else init=sysv; fi
echo "$ID $VERSION_ID $init"
