# shellcheck shell=bash
# Installs the given packages if any is missing, then prints name=version of
# each. Re-running with everything installed changes nothing.
set -eu
export DEBIAN_FRONTEND=noninteractive
missing=""
for p in "$@"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold $missing >/dev/null
fi
dpkg-query -W -f='${Package}=${Version}\n' "$@"
