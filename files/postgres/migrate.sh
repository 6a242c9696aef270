# shellcheck shell=bash
# mailstack migration runner: apply the pending SQL migrations, each in one
# transaction together with its schema_migrations row.
# Runs on the host as root (via `bash -c`), reading a payload from stdin (see
# renderMigrationPayload in src/concerns/database/migrations.ts for the format). The
# payload holds the migrations' SQL, so `pulumi preview --diff` shows changed
# lines; this script is the same for every deployment.
#
# psql runs as the postgres OS user over the local socket (peer auth), so no
# password or other secret is ever on a command line. libpq's own environment
# (PGHOST, PGPORT) is passed through runuser; the tests use PGHOST to point the
# unchanged production command at a throwaway cluster.
set -euo pipefail
umask 077
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
# psql runs as postgres, which may not enter the deploying login's home: start in /.
cd /
# Its summary line is the stack's migrations output.
MAILSTACK_TAG=migrations

# postgres cannot enter root's working directory, and psql warns when it
# cannot; every path this script uses is absolute.
cd /

work=$(mktemp -d /var/tmp/mailstack-migrate.XXXXXX)
trap 'rm -rf "$work"' EXIT

# 1. Read the payload. Each migration's body goes to its own file, and its
# checksum is recomputed, so a truncated or mangled payload fails here
# instead of applying half a migration.
db="" owner="" ended="" names=() sums=()
while IFS= read -r line; do
  case $line in
    "" | "#"*) ;;
    "database "*) db=${line#database } ;;
    "owner "*) owner=${line#owner } ;;
    "migration "*)
      read -r name sum count <<<"${line#migration }"
      [[ $name =~ ^[0-9]{4}_[a-z0-9_]+$ && $sum =~ ^[0-9a-f]{64}$ && $count =~ ^[0-9]+$ ]] ||
        die "malformed migration line: $line"
      n=${#names[@]}
      # Numbers, not strings: [[ < ]] would compare in the locale's collation.
      if [ "$n" -gt 0 ] && ((10#${name:0:4} <= 10#${names[$((n - 1))]:0:4})); then
        die "migration $name is out of order (after ${names[$((n - 1))]})"
      fi
      for ((i = 0; i < count; i++)); do
        IFS= read -r l || die "payload ends inside migration $name"
        printf '%s\n' "$l"
      done >"$work/m$n"
      actual=$(sha256sum <"$work/m$n")
      actual=${actual%% *}
      [ "$actual" = "$sum" ] || die "migration $name: text does not match its checksum $sum (got $actual)"
      names+=("$name") sums+=("$sum")
      ;;
    "end")
      ended=1
      break
      ;;
    *) die "malformed payload line: $line" ;;
  esac
done
[ -n "$ended" ] || die "payload ends without its end line"
# The names go into SQL and psql arguments unquoted, so only plain identifiers.
[[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || die "database name '$db' is missing or not a plain identifier"
[[ $owner =~ ^[a-z_][a-z0-9_]*$ ]] || die "owner role '$owner' is missing or not a plain identifier"

# One migration run at a time: a second run waits, then finds the first
# one's migrations applied.
mkdir -p /run/lock
exec 9>/run/lock/mailstack-migrate.lock
flock -w 600 9 || die "another migration run held the lock for 10 minutes"

# Every session acts as the owner role, so the objects a migration creates
# belong to it; notices such as "relation already exists, skipping" are noise.
pg() {
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
    -c "SET client_min_messages = warning" -c "SET ROLE $owner" "$@"
}

# 2. Make sure the bookkeeping table exists and read what is applied.
if ! applied=$(pg -At -F $'\t' \
  -c "CREATE TABLE IF NOT EXISTS schema_migrations (
        name text PRIMARY KEY,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())" \
  -c "SELECT name, checksum, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')
        FROM schema_migrations ORDER BY name"); then
  die "could not read schema_migrations in database $db (see psql's message above)"
fi
declare -A applied_sum=() applied_at=()
while IFS=$'\t' read -r name sum at; do
  [ -n "$name" ] || continue
  applied_sum[$name]=$sum applied_at[$name]=$at
done <<<"$applied"

# 3. Refuse before anything runs if an applied migration's text changed (the
# database would silently differ from the files), or if the database holds a
# migration this deployment does not know (it is ahead of this checkout).
problems=()
declare -A known=()
for i in "${!names[@]}"; do
  name=${names[$i]}
  known[$name]=1
  if [ -n "${applied_sum[$name]:-}" ] && [ "${applied_sum[$name]}" != "${sums[$i]}" ]; then
    problems+=("migration $name was edited after it was applied (checksum ${applied_sum[$name]}, applied ${applied_at[$name]}); add a new migration instead")
  fi
done
for name in "${!applied_sum[@]}"; do
  [ -n "${known[$name]:-}" ] ||
    problems+=("migration $name is applied in database $db but is not part of this deployment; deploy a checkout that includes it")
done
if [ ${#problems[@]} -gt 0 ]; then
  die "$(printf '%s\n' "${problems[@]}" | sort)"$'\n'"nothing was applied"
fi

# 4. Apply each pending migration in order, in one transaction with its
# schema_migrations row: psql --single-transaction wraps every -c and -f in
# BEGIN/COMMIT and, with ON_ERROR_STOP, rolls back on the first error, so a
# failing migration leaves no trace and psql's own message reaches stderr.
# The SQL comes on stdin (-f -), lexed on its own, so an unterminated
# statement or comment in it cannot swallow the INSERT that follows.
done_list=()
for i in "${!names[@]}"; do
  name=${names[$i]}
  [ -z "${applied_sum[$name]:-}" ] || continue
  if ! pg --single-transaction -f - \
    -c "INSERT INTO schema_migrations (name, checksum) VALUES ('$name', '${sums[$i]}')" \
    <"$work/m$i" >/dev/null; then
    die "migration $name failed and was rolled back${done_list[0]:+ (applied before it: ${done_list[*]})}"
  fi
  done_list+=("$name")
done

if [ ${#done_list[@]} -gt 0 ]; then
  log "applied ${done_list[*]}"
else
  log "up to date (${#names[@]} applied)"
fi
