#!/usr/bin/env bash
# Postfix lookup latency on a realistic amount of data: the pgsql maps of
# src/concerns/database/lookups.ts, rendered by the real renderer, queried by Postfix's
# own postmap as the postfix OS user (peer authentication, as in service) in
# the sandbox host's mailserver database holding 10 000 domains, 100 000
# mailboxes, 20 000 aliases (2 000 '@domain' catch-alls) and 5 000 sender
# logins. For each map it times N individual `postmap -q <random existing
# key>` calls inside the sandbox (so SSH is not measured) and prints p50/p99
# in ms, plus the mean per lookup when one postmap process answers all N
# keys over one connection, as a running Postfix daemon does.
#
# The bench rows live under *.mailstack-bench.test and are deleted again at
# the end (also on failure or Ctrl-C); the sandbox's own accounts are left
# alone. Needs a deployed sandbox: bash scripts/deploy-sandbox.sh.
# Usage (as root): bash bench/postmap.sh [N]   (default N=1000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'postmap-bench: %s\n' "$*" >&2; }
die() { printf 'postmap-bench: %s\n' "$*" >&2; exit 1; }

n=${1:-1000}
[[ $n =~ ^[1-9][0-9]{0,4}$ ]] || die "N must be a whole number from 1 to 99999, not '$n'"
# shellcheck source=bench/sandbox.sh
source bench/sandbox.sh
[ -d node_modules/typescript ] || die "run npm ci first"

# Every remote step is bounded, so a hung sandbox cannot hold the bench forever.
sb() {
  timeout "${SB_TIMEOUT:-600}" ssh -i "$SANDBOX_KEY" -p "${SANDBOX_SSH_PORT:-22}" -o BatchMode=yes \
    -o ConnectTimeout=10 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    "root@$SANDBOX_HOST" "$@"
}

work=$(mktemp -d /tmp/mailstack-postmap-bench.XXXXXX)
remote=/var/tmp/mailstack-postmap-bench
cleanup() {
  local status=$?
  say "removing the bench rows"
  SB_TIMEOUT=300 sb "cd / && runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d mailserver" <<'EOF' ||
SET ROLE techmail;
BEGIN;
DELETE FROM sender_logins WHERE login LIKE '%.mailstack-bench.test';
DELETE FROM virtual_aliases WHERE domain_id IN (SELECT id FROM domains WHERE domain_name LIKE '%.mailstack-bench.test');
DELETE FROM virtual_users WHERE domain_id IN (SELECT id FROM domains WHERE domain_name LIKE '%.mailstack-bench.test');
DELETE FROM domains WHERE domain_name LIKE '%.mailstack-bench.test';
COMMIT;
ANALYZE domains, virtual_users, virtual_aliases, sender_logins;
EOF
    say "could not delete the bench rows: run this script again, it removes leftovers first"
  SB_TIMEOUT=60 sb "rm -rf $remote" || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Render the maps with the stack's own renderer (compiled on the fly; the
# templates are read from files/ through a link).
node_modules/.bin/tsc --outDir "$work/js" --rootDir . --module commonjs --target es2022 --esModuleInterop \
  --skipLibCheck --types node src/concerns/database/lookups.ts
ln -s "$PWD/files" "$work/js/files"
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const fs = require("fs");
  const { DATABASE_SPEC } = require(process.argv[1] + "/src/concerns/database/spec.js");
  const { POSTFIX_MAPS, renderPostfixMap } = require(process.argv[1] + "/src/concerns/database/lookups.js");
  fs.mkdirSync(process.argv[2]);
  for (const m of POSTFIX_MAPS) fs.writeFileSync(`${process.argv[2]}/${m}.cf`, renderPostfixMap(DATABASE_SPEC, m));
' "$work/js" "$work/maps"
maps=(virtual_mailbox_domains virtual_mailbox_maps virtual_alias_maps sender_login_maps alias_loops)
for m in "${maps[@]}"; do [ -f "$work/maps/$m.cf" ] || die "the renderer made no $m.cf"; done

# 2. postmap in the sandbox (installed as the lookup tests do), the maps and
# a minimal main.cf for postmap -c, readable by the postfix user.
say "preparing the sandbox"
# shellcheck disable=SC2016 # expanded in the sandbox
sb 'set -e
  if ! dpkg-query -W -f="\${Status}" postfix-pgsql 2>/dev/null | grep -q "install ok installed"; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends postfix-pgsql >/dev/null
  fi'
tar -C "$work/maps" -cf - . | sb "rm -rf $remote && install -d -m 0755 $remote $remote/postfix && tar -C $remote -xf - &&
  printf 'compatibility_level = 3.6\n' > $remote/postfix/main.cf && chmod -R a+rX $remote"

# 3. The data, as the owner (leftovers of an interrupted run go first).
say "loading 10 000 domains, 100 000 users, 20 000 aliases and 5 000 sender logins"
t0=$(date +%s%N)
sb "cd / && runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d mailserver" <<'EOF' >/dev/null
SET ROLE techmail;
BEGIN;
DELETE FROM sender_logins WHERE login LIKE '%.mailstack-bench.test';
DELETE FROM virtual_aliases WHERE domain_id IN (SELECT id FROM domains WHERE domain_name LIKE '%.mailstack-bench.test');
DELETE FROM virtual_users WHERE domain_id IN (SELECT id FROM domains WHERE domain_name LIKE '%.mailstack-bench.test');
DELETE FROM domains WHERE domain_name LIKE '%.mailstack-bench.test';

-- Every 10th domain authenticates against LDAP, every 50th is inactive.
INSERT INTO domains (domain_name, auth_type, ldap_base_dn, is_active)
SELECT 'd' || i || '.mailstack-bench.test',
       CASE WHEN i % 10 = 0 THEN 'ldap' ELSE 'local' END,
       CASE WHEN i % 10 = 0 THEN 'ou=people,dc=d' || i || ',dc=bench' END,
       i % 50 <> 0
FROM generate_series(1, 10000) AS i;

-- Ten mailboxes per domain; every 100th is disabled.
INSERT INTO virtual_users (domain_id, email, enabled)
SELECT d.id, 'u' || i || '@' || d.domain_name, i % 100 <> 0
FROM generate_series(1, 100000) AS i
JOIN domains d ON d.domain_name = 'd' || (i % 10000 + 1) || '.mailstack-bench.test';

-- 18 000 address aliases to a mailbox of the same domain, and 2 000 catch-alls.
INSERT INTO virtual_aliases (domain_id, source, destination)
SELECT d.id, 'a' || i || '@' || d.domain_name, 'u' || i || '@' || d.domain_name
FROM generate_series(1, 18000) AS i
JOIN domains d ON d.domain_name = 'd' || (i % 10000 + 1) || '.mailstack-bench.test';
INSERT INTO virtual_aliases (domain_id, source, destination)
SELECT d.id, '@' || d.domain_name, 'u' || (i + 9999) || '@' || d.domain_name
FROM generate_series(1, 2000) AS i
JOIN domains d ON d.domain_name = 'd' || i || '.mailstack-bench.test';

-- 4 500 shared addresses and 500 whole-domain rights.
INSERT INTO sender_logins (address, login)
SELECT 'shared' || i || '@d' || (i % 10000 + 1) || '.mailstack-bench.test',
       'u' || i || '@d' || (i % 10000 + 1) || '.mailstack-bench.test'
FROM generate_series(1, 4500) AS i;
INSERT INTO sender_logins (address, login)
SELECT '@d' || (i % 10000 + 1) || '.mailstack-bench.test',
       'u' || i || '@d' || (i % 10000 + 1) || '.mailstack-bench.test'
FROM generate_series(1, 500) AS i;
COMMIT;
ANALYZE domains, virtual_users, virtual_aliases, sender_logins;
EOF
load_ms=$((($(date +%s%N) - t0) / 1000000))
counts=$(sb "cd / && runuser -u postgres -- psql -XAtq -F ' ' -d mailserver -c \"SELECT
  (SELECT count(*) FROM domains WHERE domain_name LIKE '%.mailstack-bench.test'),
  (SELECT count(*) FROM virtual_users WHERE email LIKE '%.mailstack-bench.test'),
  (SELECT count(*) FROM virtual_aliases WHERE source LIKE '%.mailstack-bench.test'),
  (SELECT count(*) FROM sender_logins WHERE login LIKE '%.mailstack-bench.test')\"")
read -r n_domains n_users n_aliases n_senders <<<"$counts"
if [ "$n_domains" != 10000 ] || [ "$n_users" != 100000 ]; then
  die "loaded $n_domains domains and $n_users users, not 10000 and 100000"
fi

# 4. The timing loop, inside the sandbox. Keys are random rows each map
# answers (active domains, enabled mailboxes, aliases, sending rights).
say "timing $n postmap calls per map"
# shellcheck disable=SC2016 # expanded in the sandbox
results=$(SB_TIMEOUT=1800 sb "N=$n DIR=$remote bash -s" <<'EOF'
set -euo pipefail
cd /
q() { runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d mailserver -c "$1"; }
active="d.is_active AND d.domain_name LIKE '%.mailstack-bench.test'"
declare -A keys=(
  [virtual_mailbox_domains]="SELECT d.domain_name FROM domains d WHERE $active"
  [virtual_mailbox_maps]="SELECT u.email FROM virtual_users u JOIN domains d ON d.id = u.domain_id WHERE u.enabled AND $active"
  [virtual_alias_maps]="SELECT a.source FROM virtual_aliases a JOIN domains d ON d.id = a.domain_id WHERE a.enabled AND $active"
  [sender_login_maps]="SELECT s.address FROM sender_logins s JOIN virtual_users u ON u.email = s.login JOIN domains d ON d.id = u.domain_id WHERE u.enabled AND $active"
  # The loop walk as every RCPT TO pays it: from an alias, whose bench rows never loop.
  [alias_loops]="SELECT a.source FROM virtual_aliases a JOIN domains d ON d.id = a.domain_id WHERE a.enabled AND a.source NOT LIKE '@%' AND $active"
)
for map in virtual_mailbox_domains virtual_mailbox_maps virtual_alias_maps sender_login_maps alias_loops; do
  q "${keys[$map]} ORDER BY random() LIMIT $N" >"$DIR/$map.keys"
  misses=0
  : >"$DIR/$map.us"
  while IFS= read -r key; do
    t0=$(date +%s%N)
    runuser -u postfix -- postmap -c "$DIR/postfix" -q "$key" "pgsql:$DIR/$map.cf" >/dev/null || misses=$((misses + 1))
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) >>"$DIR/$map.us"
  done <"$DIR/$map.keys"
  # The same keys through one postmap process and one connection.
  t0=$(date +%s%N)
  runuser -u postfix -- postmap -c "$DIR/postfix" -q - "pgsql:$DIR/$map.cf" <"$DIR/$map.keys" >"$DIR/$map.out"
  t1=$(date +%s%N)
  count=$(wc -l <"$DIR/$map.keys")
  sort -n "$DIR/$map.us" | awk -v map="$map" -v misses="$misses" -v batch=$(((t1 - t0) / 1000)) -v found="$(wc -l <"$DIR/$map.out")" '
    { v[NR] = $1 }
    END {
      p50 = v[int((NR * 50 + 99) / 100)]; p99 = v[int((NR * 99 + 99) / 100)]
      printf "%-26s %6d %9.1f %9.1f %9.1f %12.3f %7d\n", map, NR, p50 / 1000, p99 / 1000, v[NR] / 1000, batch / 1000 / NR, misses + (NR - found)
    }'
  [ "$count" -gt 0 ] || { echo "no keys for $map" >&2; exit 1; }
done
EOF
)

versions=$(sb "cd / && postconf -d -h mail_version 2>/dev/null; runuser -u postgres -- psql -XAtqc 'SHOW server_version' | cut -d' ' -f1; nproc")
read -r -d '' postfix_v pg_v cores <<<"$versions" || true
echo
echo "mailstack postfix lookup latency: pgsql maps of src/concerns/database/lookups.ts, postmap -q as the postfix OS user"
echo "($n_domains bench domains, $n_users users, $n_aliases aliases, $n_senders sender logins; Postfix $postfix_v, PostgreSQL $pg_v;" \
  "$cores cores; $(date -u +%F); data load + ANALYZE ${load_ms} ms)"
printf '%-26s %6s %9s %9s %9s %12s %7s\n' "map" "calls" "p50 ms" "p99 ms" "max ms" "1-conn ms/q" "misses"
printf '%s\n' "$results"
echo "p50/p99/max: one postmap process per lookup (process start, peer-authenticated connection, query);"
echo "1-conn: all keys through one postmap process, as a running Postfix daemon keeps its connection."
echo "misses: over both runs; alias_loops answers only a loop, and the bench aliases have none, so it misses every key twice."
if awk '$1 == "alias_loops" ? $7 != 2 * $2 : $7 != 0 { bad = 1 } END { exit !bad }' <<<"$results"; then
  die "some lookups of existing keys found nothing, or alias_loops found a loop (misses column)"
fi
