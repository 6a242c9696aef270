# shellcheck shell=bash
# Installs the given packages if any is missing, then prints name=version of
# each. Re-running with everything installed changes nothing.
set -eu
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
export DEBIAN_FRONTEND=noninteractive
missing=""
for p in "$@"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  # Components install their packages in parallel: one apt at a time, behind a
  # lock that the daemons a package starts do not inherit (flock -o), and
  # waiting for dpkg's own lock (unattended-upgrades) rather than failing.
  lock=(flock -w 900 -o /run/lock/mailstack-apt.lock)
  wait_dpkg=(-o DPkg::Lock::Timeout=900)
  "${lock[@]}" apt-get "${wait_dpkg[@]}" update -qq
  # shellcheck disable=SC2086 # one word per package
  "${lock[@]}" apt-get "${wait_dpkg[@]}" install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold $missing >/dev/null
fi
dpkg-query -W -f='${Package}=${Version}\n' "$@"
