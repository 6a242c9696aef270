#!/usr/bin/env bash
# Query plans of the lookups Postfix and Dovecot run on every message and
# login, on a realistic amount of data: 10 000 domains, 100 000 mailboxes,
# 20 000 aliases (2 000 of them '@domain' catch-alls) and 5 000 sender logins.
# Prints the data-generation time, EXPLAIN (ANALYZE, BUFFERS) of each lookup
# with a concrete key and its execution time, and fails if any plan reads
# domains, virtual_users, virtual_aliases or sender_logins with a Seq Scan
# (a missing index: every lookup would read the whole table).
#
# Runs against a throwaway PostgreSQL, like test/helpers/pg.ts: Debian's server
# binaries as the postgres OS user in a temp dir, listening only on a unix
# socket there; the system cluster is never touched. The migrations are
# applied by the real files/postgres/migrate.sh.
# Usage (as root): bash bench/explain.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'explain: %s\n' "$*"; }
die() { printf 'explain: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: the server runs as the postgres OS user"
bin=/usr/lib/postgresql/15/bin
[ -x "$bin/initdb" ] || bin=$(pg_config --bindir 2>/dev/null) || true
if [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
  die "PostgreSQL server binaries not found; install them with: apt-get install postgresql-15"
fi
id postgres >/dev/null 2>&1 || die "there is no postgres OS user; install postgresql-15"

now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

dir=$(mktemp -d /tmp/mailstack-pg-bench.XXXXXX)
chown postgres:postgres "$dir"
chmod 700 "$dir"
as_pg() { (cd "$dir" && runuser -u postgres -- "$@"); }
cleanup() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
      kill -9 "$(head -n 1 "$dir/data/postmaster.pid")" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null ||
  die "the server did not start within 30 s:"$'\n'"$(cat "$dir/server.log")"

sql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -U postgres "$@"; }
sql -d postgres -c "CREATE ROLE techmail" -c "CREATE DATABASE mailserver OWNER techmail"

# The migration payload, framed as renderMigrationPayload frames it.
payload() {
  local f
  printf 'database mailserver\nowner techmail\n'
  for f in files/postgres/migrations/[0-9][0-9][0-9][0-9]_*.sql; do
    printf 'migration %s %s %s\n' "$(basename "$f" .sql)" "$(sha256sum <"$f" | cut -d' ' -f1)" "$(wc -l <"$f")"
    cat "$f"
  done
  printf 'end\n'
}
# The host's shell library, from the checkout.
payload | PGHOST=$dir MAILSTACK_LIB=$PWD/files/lib/mailstack.sh bash -c "$(cat files/postgres/migrate.sh)" mailstack-migrate

t=$(now)
sql -d mailserver -f bench/lookup-data.sql
generation_ms=$(ms_since "$t")
counts=$(sql -d mailserver -At -F ' ' -c "SELECT (SELECT count(*) FROM domains), (SELECT count(*) FROM virtual_users),
  (SELECT count(*) FROM virtual_aliases), (SELECT count(*) FROM sender_logins)")
read -r n_domains n_users n_aliases n_senders <<<"$counts"

# The lookups as Postfix and Dovecot configure them, with %s / %u filled in.
names=() queries=()
lookup() { names+=("$1") queries+=("$2"); }
lookup "postfix domains" \
  "SELECT 1 FROM domains WHERE domain_name = 'd4242.example' AND is_active"
lookup "postfix mailboxes" \
  "SELECT 1 FROM virtual_users u JOIN domains d ON d.id = u.domain_id WHERE u.email = 'u4242@d4243.example' AND u.enabled AND d.is_active"
alias_q="SELECT a.destination FROM virtual_aliases a JOIN domains d ON d.id = a.domain_id WHERE a.source = '%s' AND a.enabled AND d.is_active UNION SELECT u.email FROM virtual_users u JOIN domains d ON d.id = u.domain_id WHERE u.email = '%s' AND u.enabled AND d.is_active"
lookup "postfix aliases (address)" "${alias_q//%s/a4242@d4243.example}"
lookup "postfix aliases (catch-all)" "${alias_q//%s/@d77.example}"
# The alias-loop walk is too long to copy: its query as the template holds it,
# with %s, %u and %d filled in as Postfix fills them.
loops_q=$(awk '/^query = / { sub(/^query = /, ""); q = $0; on = 1; next }
  on && /^[ \t]/ { q = q "\n" $0; next } { on = 0 } END { print q }' files/postfix/pgsql/alias_loops.cf)
[ -n "$loops_q" ] || die "no query in files/postfix/pgsql/alias_loops.cf"
loops() { local q=${loops_q//%s/$1}; q=${q//%u/${1%@*}}; printf '%s' "${q//%d/${1##*@}}"; }
lookup "postfix loop walk (alias)" "$(loops a4242@d4243.example)"
lookup "postfix loop walk (catch-all)" "$(loops nobody@d77.example)"
lookup "postfix loop walk (plus)" "$(loops a4242+news@d4243.example)"
lookup "postfix sender logins" \
  "SELECT login FROM sender_logins WHERE address = 'shared42@d43.example' UNION SELECT email FROM virtual_users WHERE email = 'shared42@d43.example' AND enabled"
lookup "dovecot passdb" \
  "SELECT u.email AS user, u.password_hash AS password FROM virtual_users u JOIN domains d ON d.id = u.domain_id WHERE u.email = 'u4242@d4243.example' AND u.enabled AND d.is_active"

failed=() summary=()
for i in "${!names[@]}"; do
  # One plain run first, so the timed run measures a warm cache as in service.
  sql -d mailserver -c "${queries[$i]}" >/dev/null
  plan=$(sql -d mailserver -At -c "EXPLAIN (ANALYZE, BUFFERS) ${queries[$i]}")
  printf '\n== %s\n%s\n%s\n' "${names[$i]}" "${queries[$i]}" "$plan"
  exec_ms=$(sed -n 's/^Execution Time: \([0-9.]*\) ms$/\1/p' <<<"$plan")
  verdict=ok
  if seq=$(grep -oE 'Seq Scan on (domains|virtual_users|virtual_aliases|sender_logins)\b' <<<"$plan"); then
    verdict="SEQ SCAN: $(sort -u <<<"$seq" | sed 's/Seq Scan on //' | paste -sd, -)"
    failed+=("${names[$i]}")
  fi
  summary+=("$(printf '%-30s %10s ms   %s' "${names[$i]}" "$exec_ms" "$verdict")")
done

echo
echo "mailstack lookup plans ($n_domains domains, $n_users users, $n_aliases aliases, $n_senders sender logins;" \
  "$("$bin/postgres" --version); $(nproc) cores; $(date -u +%F))"
printf '%-30s %10s ms\n' "data generation + ANALYZE" "$generation_ms"
printf '%s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ] || die "sequential scans in: ${failed[*]} (an index is missing)"
say "every lookup uses an index"
