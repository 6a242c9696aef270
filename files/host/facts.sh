# shellcheck shell=bash
# Reports the host's OS and init system, and stops when the OS is not the one
# mailstack:os names (it picks package versions) or not supported at all.
# Usage: facts.sh EXPECTED_OS (debian12 or ubuntu2204)
set -eu
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
expected=$1
# shellcheck source=/dev/null
. /etc/os-release
case "$ID $VERSION_ID" in
  "debian 12") os=debian12 ;;
  "ubuntu 22.04") os=ubuntu2204 ;;
  *)
    die "mailstack supports Debian 12 and Ubuntu 22.04 LTS; this host runs ${PRETTY_NAME:-$ID $VERSION_ID}"
    ;;
esac
if [ "$os" != "$expected" ]; then
  die "mailstack:os is $expected but this host runs ${PRETTY_NAME:-$ID $VERSION_ID}; fix: pulumi config set mailstack:os $os"
fi
echo "$ID $VERSION_ID $(init_system)"
