#!/bin/bash
# mailstack-health: is the mail host well? Checks, in order:
#   services   every daemon the stack runs is running
#   queue      the mail queue's size and the age of its oldest message
#   mail log   errors and warnings since the last check (of the same --state),
#              summarised by message; log noise (lines the internet causes,
#              classed by /etc/mailstack/health-noise.txt) counted apart
#   tls        the certificate's expiry
#   backup     the age of the last successful backup (mailstack-backup status)
#   dns        the records the stack publishes, as DNS serves them
#   privileges who may do what in the mail database, against what the stack
#              declares: a privilege granted by hand, or one gone
# Prints one line per check and exits 1 with the list of problems when
# something is wrong, 0 when all is well. Settings: /etc/mailstack/health.conf
# (mailstack:health); the expected records: /etc/mailstack/health-dns.txt;
# the expected privileges: /etc/mailstack/health-privileges.txt.
#
#   mailstack-health [--state NAME] [--quiet]
#   mailstack-health --check-config
#
# --state names where the mail log position is kept (default "manual"; the
# scheduled run uses "cron"), so a check by hand does not hide lines from the
# scheduled one. --quiet prints the verdict and the problems only. The last
# result is kept in /var/lib/mailstack/health/last-<state>.txt and, as
# Prometheus text, in metrics-<state>.prom. --check-config reads the settings
# and the noise classes and exits (the deployment runs it before a swap).
#
# MAILSTACK_LIB, MAILSTACK_HEALTH_ETC, MAILSTACK_HEALTH_STATE,
# MAILSTACK_PRIVILEGE_MATRIX and MAILSTACK_PATH (put before the PATH below)
# are for tests that run the check off the host; libpq's PGHOST, passed on to
# psql, points the privileges check at a test cluster.
set -uo pipefail
umask 022
export LC_ALL=C
PATH=${MAILSTACK_PATH:+$MAILSTACK_PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"

state_name=manual quiet=0 check_config=0
while [ $# -gt 0 ]; do
  case $1 in
    --state) [[ ${2:-} =~ ^[a-z0-9-]{1,32}$ ]] || die "--state takes a name of a-z, 0-9 and -" 2; state_name=$2; shift 2 ;;
    --quiet) quiet=1; shift ;;
    --check-config) check_config=1; shift ;;
    *) die "usage: mailstack-health [--state NAME] [--quiet] | --check-config" 2 ;;
  esac
done

etc=${MAILSTACK_HEALTH_ETC:-/etc/mailstack}
CONF=$etc/health.conf
DNS_EXPECTED=$etc/health-dns.txt
NOISE=$etc/health-noise.txt
PRIVILEGES_EXPECTED=$etc/health-privileges.txt
PRIVILEGE_MATRIX=${MAILSTACK_PRIVILEGE_MATRIX:-/usr/local/lib/mailstack/privilege-matrix.sql}
[ -r "$CONF" ] || die "$CONF is missing; deploy the stack (pulumi up) first" 2
# shellcheck source=/dev/null
. "$CONF"
[ -r "$NOISE" ] || die "$NOISE is missing; deploy the stack (pulumi up) first" 2

# The noise classes of $NOISE, one per line: "<name> <pattern>", with
# comments and blank lines left out, each pattern compiled once here so a
# bad one stops the check with awk's own message instead of hiding lines.
classes=$(awk '/^[ \t]*(#|$)/ { next }
  {
    name = $1; pat = $0
    sub(/^[ \t]*[^ \t]+[ \t]+/, "", pat); sub(/[ \t]+$/, "", pat)
    if (name !~ /^[a-z][a-z0-9-]*$/ || pat == "" || pat == $0) {
      printf "line %d: not \"<name> <pattern>\" with a name of a-z, 0-9 and -\n", NR > "/dev/stderr"
      exit 2
    }
    if ("" ~ pat) {
      printf "line %d: %s matches an empty line, and so every line\n", NR, pat > "/dev/stderr"
      exit 2
    }
    print name, pat
  }' "$NOISE" 2>&1) || die "$NOISE: ${classes//$'\n'/ }" 2
if [ -n "$PRIVILEGES_DATABASE" ]; then
  if ! bad=$(awk '!/^[ \t]*(#|$)/ && NF != 4 { print "line " NR; exit }' "$PRIVILEGES_EXPECTED" 2>&1) || [ -n "$bad" ]; then
    die "$PRIVILEGES_EXPECTED: ${bad//$'\n'/ }: not \"<grantee> <privilege> <kind> <object>\"; deploy the stack (pulumi up) again" 2
  fi
  [ -r "$PRIVILEGE_MATRIX" ] || die "$PRIVILEGE_MATRIX is missing; deploy the stack (pulumi up) first" 2
fi
if [ "$check_config" = 1 ]; then
  log "$CONF and $NOISE ($(grep -c . <<<"$classes") noise pattern(s)) read"
  exit 0
fi
state=${MAILSTACK_HEALTH_STATE:-/var/lib/mailstack/health}
mkdir -p "$state"
exec 9>"$state/$state_name.lock"
flock -w 60 9 || die "another check with --state $state_name is running" 2

problems=()
report=()
ok() { report+=("ok    $1: $2"); }
note() { report+=("      $1"); }
fail() {
  problems+=("$1: $2")
  report+=("FAIL  $1: $2")
}

# --- services ---------------------------------------------------------------
down=()
for s in $SERVICES; do svc running "$s" || down+=("$s"); done
if [ ${#down[@]} -eq 0 ]; then
  ok services "all $(wc -w <<<"$SERVICES") running ($SERVICES)"
else
  for s in "${down[@]}"; do
    fail services "$s is not running; see its log, then start it: $(svc_hint start "$s")"
  done
fi

# --- queue ------------------------------------------------------------------
if queue=$(postqueue -j 2>&1); then
  count=$(grep -c '"queue_id"' <<<"$queue")
  oldest=$(grep -o '"arrival_time": *[0-9]*' <<<"$queue" | grep -o '[0-9]*$' | sort -n | head -n1)
  age_min=0
  [ -z "$oldest" ] || age_min=$((($(date +%s) - oldest) / 60))
  what="$count message(s)"
  [ "$count" -eq 0 ] || what+=", the oldest $age_min min old"
  if [ "$count" -gt "$MAX_QUEUE" ]; then
    fail queue "$what: more than $MAX_QUEUE (mailstack:health maxQueue); see: postqueue -p, and the mail log"
  elif [ "$count" -gt 0 ] && [ "$age_min" -gt "$MAX_QUEUE_AGE_MINUTES" ]; then
    fail queue "$what: older than $MAX_QUEUE_AGE_MINUTES min (mailstack:health maxQueueAgeMinutes); see why: postqueue -p"
  else
    ok queue "$what"
  fi
else
  fail queue "postqueue cannot read the queue: ${queue//$'\n'/ }"
fi

# --- mail log ---------------------------------------------------------------
# The position is "<inode> <offset>" of $MAIL_LOG after the last check. When
# the log was rotated since, the rest of the old file (now $MAIL_LOG.1) is
# read first.
pos_file=$state/$state_name.pos
last_inode=0 last_offset=0
[ ! -r "$pos_file" ] || read -r last_inode last_offset <"$pos_file" || true
[[ $last_inode =~ ^[0-9]+$ && $last_offset =~ ^[0-9]+$ ]] || { last_inode=0; last_offset=0; }
since_lines() {
  if [ ! -r "$MAIL_LOG" ]; then return 1; fi
  local inode size
  inode=$(stat -c %i "$MAIL_LOG") size=$(stat -c %s "$MAIL_LOG")
  if [ "$inode" = "$last_inode" ]; then
    [ "$last_offset" -le "$size" ] || last_offset=0 # truncated in place
    tail -c +"$((last_offset + 1))" "$MAIL_LOG" | head -c "$((size - last_offset))"
  else
    if [ -r "$MAIL_LOG.1" ] && [ "$(stat -c %i "$MAIL_LOG.1")" = "$last_inode" ]; then
      tail -c +"$((last_offset + 1))" "$MAIL_LOG.1"
    fi
    head -c "$size" "$MAIL_LOG"
  fi
  printf '%s %s\n' "$inode" "$size" >"$pos_file.new"
}
# Each line of the log becomes one of:
#   N <tab> <class> <tab> <time> <tab> <program>: <message>
#       noise, of the first class of $NOISE that matches the line
#   E <program>: <message>   an error: a problem
#   W <program>: <message>   a warning: a problem above MAX_LOG_WARNINGS
# and nothing for any other line (info). The time stamp and the host name go
# first, and Dovecot's syslog tag: lines come from Postfix ("<time> <host>
# <program>[pid]: <level>: ...") and from Dovecot ("<time> <host> dovecot:
# <process>: <Level>: ...", with no level on info lines; before rsyslog was
# the mail log's one writer, "<time> <process>: <Level>: ..."). The
# level is one of the first three ": "-separated fields (a warning may quote
# a library's "error:"). A fatal error, a panic, or a line naming a signal,
# "out of memory", "disk full" or "No space left" is never noise. A warning
# naming one of the last three, Postfix's "killed by signal" (a daemon
# crashed) or its "lookup error" (a table such as the mail database could not
# answer, so mail waits or is refused) counts as an error.
# The classes go in through the environment: awk -v would read escapes in
# them, so a pattern's "\\" would lose a backslash.
classify() {
  CLASSES=$classes awk '
    BEGIN {
      n = split(ENVIRON["CLASSES"], c, "\n")
      for (i = 1; i <= n; i++) { name[i] = c[i]; sub(/ .*/, "", name[i]); re[i] = substr(c[i], length(name[i]) + 2) }
    }
    {
      stamp = ""
      if (match($0, /^([A-Z][a-z][a-z] +[0-9]+ [0-9:]+|[0-9][0-9][0-9][0-9]-[0-9T:.+-]+) +/)) {
        stamp = substr($0, 1, RLENGTH); sub(/ +$/, "", stamp); $0 = substr($0, RLENGTH + 1)
      }
      if ($1 !~ /:$/) sub(/^[^ ]+ +/, "")
      sub(/^dovecot: /, "")
      nf = split($0, f, ": "); level = ""
      for (i = 1; i <= nf && i <= 3; i++) {
        w = tolower(f[i])
        if (w ~ /^(info|notice|debug)$/) { level = "info"; break }
        if (w ~ /^(warning|error|fatal|panic)$/) { level = w; break }
      }
      low = tolower($0)
      severe = low ~ /out of memory|disk full|no space left|killed by signal|lookup error/
      if (level != "fatal" && level != "panic" && !severe && low !~ /signal/) {
        for (i = 1; i <= n; i++) if ($0 ~ re[i]) { printf "N\t%s\t%s\t%s\n", name[i], stamp, $0; next }
      }
      if (level == "" || level == "info") next
      print (level == "warning" && !severe ? "W" : "E"), $0
    }'
}
# Epoch seconds of a log time stamp. A syslog stamp has no year: one that
# would lie in the future is last year's.
stamp_seconds() {
  local t
  t=$(date -d "$1" +%s 2>/dev/null) || return 1
  [ "$t" -le $(($(date +%s) + 86400)) ] || t=$(date -d "$1 1 year ago" +%s)
  echo "$t"
}
if lines=$(since_lines); then
  mv -f "$pos_file.new" "$pos_file"
  if ! classified=$(classify <<<"$lines"); then
    fail "mail log" "awk cannot read the log with the classes of $NOISE; see: mailstack-health --check-config"
    classified=""
  fi
  noise=$(grep '^N' <<<"$classified")
  problem_lines=$(grep '^[EW] ' <<<"$classified")
  # LDAP connection errors (class ldap-blip) are noise while they look like a
  # short outage that is over: at most LDAP_BLIP_ERRORS of them, the first and
  # the last at most LDAP_BLIP_MINUTES apart. More, or longer, and each one is
  # an error. An outage still going on at a check is seen by the next one.
  ldap_note=""
  ldap=$(grep $'^N\tldap-blip\t' <<<"$noise")
  if [ -n "$ldap" ]; then
    ldap_count=$(grep -c . <<<"$ldap")
    ldap_minutes=0
    if first=$(stamp_seconds "$(head -n1 <<<"$ldap" | cut -f3)") &&
      last=$(stamp_seconds "$(tail -n1 <<<"$ldap" | cut -f3)"); then
      ldap_minutes=$(((last - first) / 60))
    fi
    if [ "$ldap_count" -gt "$LDAP_BLIP_ERRORS" ] || [ "$ldap_minutes" -gt "$LDAP_BLIP_MINUTES" ]; then
      ldap_note="LDAP: $ldap_count connection error(s) over $ldap_minutes min, more than a short outage (at most $LDAP_BLIP_ERRORS within $LDAP_BLIP_MINUTES min: mailstack:health ldapBlipErrors, ldapBlipMinutes); is the LDAP server up? see: grep 'auth: Error:' $MAIL_LOG"
      noise=$(grep -v $'^N\tldap-blip\t' <<<"$noise")
      problem_lines+=$'\n'$(cut -f4- <<<"$ldap" | sed 's/^/E /')
    fi
  fi
  # "<level> <program>: <message>", numbers, addresses and queue ids folded
  # so that the same problem counts once.
  matched=$(grep . <<<"$problem_lines" |
    sed -E 's/\[[0-9]+\]//; s/[0-9A-F]{10,}/<id>/g; s/[0-9]+(\.[0-9]+){3}/<ip>/g; s/[0-9]+/N/g')
  errors=$(grep -c '^E ' <<<"$matched")
  warnings=$(grep -c '^W ' <<<"$matched")
  what="$errors error(s), $warnings warning(s) since the last check"
  if [ "$errors" -gt 0 ]; then
    fail "mail log" "$what; the most frequent:"
  elif [ "$warnings" -gt "$MAX_LOG_WARNINGS" ]; then
    fail "mail log" "$what: more than $MAX_LOG_WARNINGS (mailstack:health maxLogWarnings); the most frequent:"
  else
    ok "mail log" "$what"
  fi
  [ -z "$ldap_note" ] || note "$ldap_note"
  if [ -n "$matched" ]; then
    while read -r n _ text; do note "$(printf '%5d x %s' "$n" "${text:0:200}")"; done \
      < <(sort <<<"$matched" | uniq -c | sort -rn | head -n 10)
  fi
  # Noise never fails the check: its count per class, the largest first.
  noise_count=$(grep -c . <<<"$noise")
  by_class=$(cut -f2 <<<"$noise" | grep . | sort | uniq -c | sort -k1,1rn -k2,2 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }')
  ok "log noise" "$noise_count line(s) since the last check${by_class:+ ($by_class)}, not counted as problems"
else
  rm -f "$pos_file.new"
  fail "mail log" "$MAIL_LOG is missing or unreadable; is rsyslog running?"
  noise_count=0 by_class=""
fi

# --- certificate ------------------------------------------------------------
if end=$(openssl x509 -in "$CERT" -noout -enddate 2>/dev/null); then
  end=${end#notAfter=}
  days=$((($(date -d "$end" +%s) - $(date +%s)) / 86400))
  if [ "$days" -lt "$CERT_MIN_DAYS" ]; then
    fail tls "$CERT expires in $days day(s) ($end), under $CERT_MIN_DAYS (mailstack:health certMinDays); renew: certbot renew, and see /var/log/letsencrypt/letsencrypt.log"
  else
    ok tls "the certificate expires in $days days ($end)"
  fi
else
  fail tls "cannot read the certificate $CERT"
fi

# --- backup -----------------------------------------------------------------
if [ "$BACKUP" = yes ]; then
  if out=$(mailstack-backup status 2>&1); then
    ok backup "${out#mailstack-backup: }"
  else
    fail backup "${out//$'\n'/; } (run one now: mailstack-backup; its log: grep mailstack-backup /var/log/syslog)"
  fi
else
  ok backup "none configured (mailstack:storageMode none)"
fi

# --- dns --------------------------------------------------------------------
# Each line of $DNS_EXPECTED: "<name> <type> <value>", the value as `dig
# +short` prints it, normalised below (TXT strings joined, unquoted).
normalise() { # type, then dig's lines on stdin
  case $1 in
    TXT) sed -E 's/^"//; s/"$//; s/" "//g; s/\\"/"/g; s/\\\\/\\/g' ;;
    TLSA) awk 'NF >= 4 { h = ""; for (i = 4; i <= NF; i++) h = h $i; print $1, $2, $3, tolower(h) }' ;;
    *) tr '[:upper:]' '[:lower:]' ;;
  esac
}
if [ "$CHECK_DNS" != yes ]; then
  ok dns "not checked (mailstack:health checkDns false)"
elif ! command -v dig >/dev/null; then
  fail dns "dig is missing; install it: apt-get install bind9-dnsutils"
else
  server=()
  if [ -n "$DNS_SERVER" ]; then
    server=("@${DNS_SERVER%:*}")
    [[ $DNS_SERVER != *:* ]] || server+=(-p "${DNS_SERVER##*:}")
  fi
  checked=0 wrong=0 asked=${DNS_SERVER:-the resolvers of /etc/resolv.conf}
  while read -r name type; do
    expected=$(awk -v n="$name" -v t="$type" '$1 == n && $2 == t { $1 = ""; $2 = ""; sub(/^  /, ""); print }' "$DNS_EXPECTED" | sort)
    [ "$type" = TXT ] || expected=$(tr '[:upper:]' '[:lower:]' <<<"$expected")
    if ! served=$(dig +short +time=3 +tries=2 "${server[@]}" "$name" "$type" 2>&1); then
      # One unreachable server is one problem, not one per record.
      fail dns "cannot ask $asked for $name $type: ${served//$'\n'/ }"
      wrong=-1
      break
    fi
    served=$(grep -v '^;' <<<"$served" | normalise "$type" | sort)
    checked=$((checked + 1))
    missing=$(comm -23 <(printf '%s\n' "$expected") <(printf '%s\n' "$served") | grep -v '^$')
    extra=$(comm -13 <(printf '%s\n' "$expected") <(printf '%s\n' "$served") | grep -v '^$')
    if [ "$type" = TXT ] && [ -n "$extra" ]; then
      # Other TXT records may share the name; only a second one of ours
      # (the same v= tag) is wrong.
      extra=$(awk 'NR == FNR { if (match($0, /^v=[A-Za-z0-9]+/)) t[substr($0, 1, RLENGTH)]; next }
        { split($0, a, /[; ]/); if (a[1] in t) print }' <(printf '%s\n' "$expected") <(printf '%s\n' "$extra"))
    fi
    if [ -n "$missing" ] || [ -n "$extra" ]; then
      wrong=$((wrong + 1))
      # The first few in full (long values cut), then a count.
      if [ "$wrong" -le 5 ]; then
        served=${served//$'\n'/ | } expected=${expected//$'\n'/ | }
        [ ${#served} -le 120 ] || served="${served:0:117}..."
        [ ${#expected} -le 120 ] || expected="${expected:0:117}..."
        fail dns "$name $type serves ${served:-nothing}; the stack publishes $expected"
      fi
    fi
  done < <(awk '{ print $1, $2 }' "$DNS_EXPECTED" | sort -u)
  if [ "$wrong" -gt 5 ]; then
    fail dns "$((wrong - 5)) more record set(s) differ; compare with the dnsZones output (pulumi stack output dnsZones)"
  fi
  [ "$wrong" -ne 0 ] || ok dns "all $checked record sets served as the stack publishes them (asked $asked)"
fi

# --- privileges -------------------------------------------------------------
# PostgreSQL's answer for every role and PUBLIC, every object and every
# privilege ($PRIVILEGE_MATRIX: "<grantee> TAB <privilege> TAB <kind> TAB
# <object> TAB t|f", asked as the postgres superuser, the one role that may
# read everyone's rights), against the declared privileges ($PRIVILEGES_EXPECTED:
# "<grantee> <privilege> <kind> <object>", where * in the object stands for
# any name). Neither the deployment nor the provider's refresh sees a
# privilege added by hand, so this is where it shows. Prints "extra <row>"
# for a privilege held that nothing declares and "missing <row>" for one
# declared but not held, an object that does not exist included.
privilege_drift() { # expected file, then the live matrix on stdin
  awk -F '\t' '
    NR == FNR {
      if ($0 ~ /^[ \t]*(#|$)/) next
      split($0, d, " "); key = d[1] " " d[2] " " d[3] " " d[4]
      if (d[4] ~ /\*/) {
        re = d[4]; gsub(/\./, "[.]", re); gsub(/\*/, ".*", re)
        pattern[key] = "^" re "$"; scope[key] = d[1] " " d[2] " " d[3]
      } else declared[key] = 1
      next
    }
    {
      key = $1 " " $2 " " $3 " " $4; want = key in declared
      if (want) seen[key] = 1
      for (k in pattern) if (!want && scope[k] == $1 " " $2 " " $3 && $4 ~ pattern[k]) want = 1
      if ($5 == "t" && !want) print "extra " key
      if ($5 == "f" && want) print "missing " key
    }
    END { for (k in declared) if (!(k in seen)) print "missing " k }
  ' "$1" - | sort
}
if [ -z "$PRIVILEGES_DATABASE" ]; then
  ok privileges "not checked (the mail database is not on this host)"
elif ! live=$(cd / && runuser -u postgres -- psql -XAtq -F $'\t' -v ON_ERROR_STOP=1 -d "$PRIVILEGES_DATABASE" -f - <"$PRIVILEGE_MATRIX" 2>&1); then
  fail privileges "cannot read the privileges in database $PRIVILEGES_DATABASE: ${live//$'\n'/ }"
else
  drift=$(privilege_drift "$PRIVILEGES_EXPECTED" <<<"$live")
  if [ -z "$drift" ]; then
    ok privileges "$(grep -c $'\tt$' <<<"$live") privilege(s) in database $PRIVILEGES_DATABASE, as the stack declares them"
  else
    # The first few by name, then a count: one grant to PUBLIC is an extra for every role.
    n=0
    while read -r what grantee privilege kind object; do
      n=$((n + 1))
      [ "$n" -le 10 ] || continue
      if [ "$what" = extra ]; then
        fail privileges "$grantee holds $privilege on $kind $object, which the stack does not grant"
      else
        fail privileges "$grantee lacks $privilege on $kind $object, which the stack grants"
      fi
    done <<<"$drift"
    [ "$n" -le 10 ] || fail privileges "$((n - 10)) more privilege(s) differ"
    note "see who holds what: runuser -u postgres -- psql -d $PRIVILEGES_DATABASE -c '\dp' (and '\ddp', '\l', '\dn+'); revoke an extra by hand; README, Health check"
  fi
fi

# --- result -----------------------------------------------------------------
{
  printf 'mailstack-health: %s at %s: ' "$(hostname -f 2>/dev/null || hostname)" "$(date -u +%FT%TZ)"
  if [ ${#problems[@]} -eq 0 ]; then echo "healthy"; else echo "${#problems[@]} problem(s)"; fi
} >"$state/last-$state_name.txt.new"
printf '%s\n' "${report[@]}" >>"$state/last-$state_name.txt.new"
mv -f "$state/last-$state_name.txt.new" "$state/last-$state_name.txt"
cat >"$state/metrics-$state_name.prom.new" <<METRICS
# HELP mailstack_health_problems Problems the last mailstack-health run found.
# TYPE mailstack_health_problems gauge
mailstack_health_problems ${#problems[@]}
# HELP mailstack_health_last_run_timestamp_seconds When mailstack-health last ran.
# TYPE mailstack_health_last_run_timestamp_seconds gauge
mailstack_health_last_run_timestamp_seconds $(date +%s)
# HELP mailstack_health_log_noise_lines Mail log lines the last run counted as noise, not problems.
# TYPE mailstack_health_log_noise_lines gauge
mailstack_health_log_noise_lines $noise_count
METRICS
mv -f "$state/metrics-$state_name.prom.new" "$state/metrics-$state_name.prom"

if [ "$quiet" = 0 ]; then
  cat "$state/last-$state_name.txt"
else
  head -n1 "$state/last-$state_name.txt"
  [ ${#problems[@]} -eq 0 ] || printf '  - %s\n' "${problems[@]}"
fi
if [ ${#problems[@]} -gt 0 ]; then
  [ "$quiet" = 1 ] || { echo "problems:"; printf '  - %s\n' "${problems[@]}"; }
  exit 1
fi
exit 0
