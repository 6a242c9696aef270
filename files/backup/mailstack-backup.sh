#!/bin/bash
# mailstack-backup: an encrypted snapshot of the mail host in the S3 bucket,
# with restic. Each snapshot holds the Maildirs, a pg_dump of the mail
# database (one consistent snapshot of it, taken while mail flows), the DKIM
# keys and the rendered config; old snapshots go by the retention settings.
# The time of the last success is kept for monitoring.
#
#   mailstack-backup            take a snapshot now (cron runs this)
#   mailstack-backup status     last success and its age; exits 1 when too old
#   mailstack-backup snapshots  the snapshots in the repository
#   mailstack-backup init       make the repository if there is none; fail if the
#                               password does not open the one there (the
#                               deployment runs this after pushing the secrets)
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
# shellcheck source=files/backup/common.sh
. /usr/local/lib/mailstack/backup-common.sh

# Prometheus text format, for node_exporter's textfile collector or any scraper.
metrics() { # success(0|1) duration
  local last
  last=$(cat "$state/last-success" 2>/dev/null || echo 0)
  cat >"$state/metrics.prom.tmp" <<METRICS
# HELP mailstack_backup_last_success_timestamp_seconds When the last backup succeeded.
# TYPE mailstack_backup_last_success_timestamp_seconds gauge
mailstack_backup_last_success_timestamp_seconds $last
# HELP mailstack_backup_last_run_success Whether the last backup run succeeded.
# TYPE mailstack_backup_last_run_success gauge
mailstack_backup_last_run_success $1
# HELP mailstack_backup_last_run_duration_seconds How long the last backup run took.
# TYPE mailstack_backup_last_run_duration_seconds gauge
mailstack_backup_last_run_duration_seconds $2
METRICS
  chmod 0644 "$state/metrics.prom.tmp"
  mv -f "$state/metrics.prom.tmp" "$state/metrics.prom"
}

usage() {
  cat <<'USAGE'
usage: mailstack-backup [run|status|snapshots|init]

Takes an encrypted restic snapshot of the mail host (Maildirs, a dump of the
mail database, the DKIM keys and the rendered config) into the S3 bucket.

  run        take a snapshot now; the default, and what cron runs nightly
  status     the last success and its age; exits 1 when it is too old
  snapshots  the snapshots in the repository (mailstack-restore takes their IDs)
  init       make the repository if there is none; fails if the password does
             not open the one there (each deployment runs it)
USAGE
}

case ${1:-run} in
  -h | --help) usage; exit 0 ;;
  status)
    [ -s "$state/last-success" ] || { log "no backup has succeeded yet"; exit 1; }
    last=$(cat "$state/last-success")
    age=$(($(date +%s) - last))
    log "last success $(date -u -d "@$last" +%FT%TZ) ($age s ago), snapshot $(cat "$state/last-snapshot")"
    [ "$age" -le "$MAX_AGE" ] || { log "older than $MAX_AGE s"; exit 1; }
    exit 0
    ;;
  snapshots) exec restic snapshots --tag mailstack ;;
  init)
    # Never re-initialises: `restic init` refuses a repository that exists.
    if ! out=$(restic cat config 2>&1 >/dev/null); then
      case $out in
        *"wrong password"*)
          die "the password (mailstack:backupPassword) does not open the repository at $RESTIC_REPOSITORY"
          ;;
      esac
      if ! made=$(restic init 2>&1); then
        warn "cannot reach or make the repository at $RESTIC_REPOSITORY:"
        printf '%s\n%s\n' "$out" "$made" >&2
        die "check the bucket, its keys and that this host reaches the S3 endpoint"
      fi
      log "made the repository at $RESTIC_REPOSITORY"
    fi
    exit 0
    ;;
  run) ;;
  *) usage >&2; exit 2 ;;
esac

mkdir -p "$state" /run/lock
exec 8>/run/lock/mailstack-backup.lock
flock -n 8 || { log "another backup is running"; exit 1; }
started=$(date +%s)
trap 'metrics 0 $(($(date +%s) - started)); log "FAILED (see above)"' ERR

paths=()
for p in $BACKUP_PATHS; do
  [ -e "$p" ] && paths+=("$p")
done
excludes=()
for p in $BACKUP_EXCLUDES; do excludes+=(--exclude "$p"); done
if [ -n "$DATABASE" ]; then
  mkdir -p "$state/db"
  # pg_dump reads one transaction snapshot: the dump is consistent. It runs
  # as postgres and writes to stdout; the file is root's.
  runuser -u postgres -- pg_dump --format=custom "$DATABASE" >"$state/db/$DATABASE.dump.tmp"
  mv -f "$state/db/$DATABASE.dump.tmp" "$state/db/$DATABASE.dump"
  paths+=("$state/db")
fi

summary=$(restic backup --json --tag mailstack "${excludes[@]}" "${paths[@]}" | tail -n 1)
snapshot=$(printf '%s' "$summary" | grep -o '"snapshot_id":"[0-9a-f]*"' | cut -d'"' -f4)
[ -n "$snapshot" ] || { warn "restic reported no snapshot: $summary"; false; }
restic forget --quiet --tag mailstack --keep-last "$KEEP_LAST" --keep-daily "$KEEP_DAILY" --keep-weekly "$KEEP_WEEKLY" \
  --keep-monthly "$KEEP_MONTHLY" --prune >/dev/null

date +%s >"$state/last-success.tmp"
mv -f "$state/last-success.tmp" "$state/last-success"
printf '%s\n' "$snapshot" >"$state/last-snapshot"
metrics 1 $(($(date +%s) - started))
log "snapshot ${snapshot:0:8} of ${paths[*]} in $(($(date +%s) - started)) s"
