# shellcheck shell=bash
# Preprovisioned mode: the DBA made the database and roles. Check they are
# there before migrating, and say what to do when they are not.
# Usage: roles-check.sh DATABASE OWNER LOOKUP_ROLE...
set -euo pipefail
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
# psql runs as postgres, which may not enter the deploying login's home: start in /.
cd /
database=$1 owner=$2
shift 2
q() { runuser -u postgres -- psql -XAtq -d postgres -c "$1"; }
missing=()
for role in "$owner" "$@"; do
  [ "$(q "SELECT count(*) FROM pg_roles WHERE rolname = '$role'")" = 1 ] || missing+=("role $role")
done
[ "$(q "SELECT count(*) FROM pg_database WHERE datname = '$database'")" = 1 ] || missing+=("database $database")
[ ${#missing[@]} -eq 0 ] ||
  die "mailstack:dbMode is preprovisioned, but ${missing[*]} missing. A DBA must run files/postgres/roles.sql as a superuser on this host (psql -v ON_ERROR_STOP=1 -f roles.sql), or set mailstack:dbMode managed."
echo "database $database, owner $owner and roles $* are in place"
