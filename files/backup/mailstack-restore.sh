#!/bin/bash
# mailstack-restore: brings mail back from a restic snapshot of mailstack-backup.
#
#   mailstack-restore [--snapshot ID] --mailbox USER@DOMAIN
#       puts back the messages of one mailbox that are missing now; mail that
#       arrived since stays, and nothing is overwritten
#   mailstack-restore [--snapshot ID] --database-into NAME
#       restores the database dump into a new database NAME, to compare or
#       copy from; the live database is not touched
#   mailstack-restore [--snapshot ID] --all
#       everything: stops Postfix, Dovecot and Rspamd, puts every backed-up
#       file back as it was in the snapshot (mail that arrived since the
#       snapshot stays), restores the live database from the dump, starts
#       the daemons again; needs room in /var/tmp for the whole snapshot
#
# ID defaults to the latest snapshot (mailstack-backup snapshots lists them).
# shellcheck source=files/lib/mailstack.sh
. "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
# shellcheck source=files/backup/common.sh
. /usr/local/lib/mailstack/backup-common.sh

usage() {
  cat <<'USAGE'
usage: mailstack-restore [--snapshot ID] --mailbox USER@DOMAIN
       mailstack-restore [--snapshot ID] --database-into NAME
       mailstack-restore [--snapshot ID] --all

Brings mail back from a snapshot that mailstack-backup took.

  --mailbox USER@DOMAIN  put back the messages of one mailbox that are missing
                         now; mail that arrived since stays, nothing is
                         overwritten
  --database-into NAME   restore the database dump into a new database NAME, to
                         compare or copy from; the live database is not touched
  --all                  everything: stop Postfix, Dovecot and Rspamd, put every
                         backed-up file back as it was (files made since stay),
                         restore the live database from the dump, start the
                         daemons again; needs room in /var/tmp for the snapshot
  --snapshot ID          the snapshot to restore from; default the latest
                         (mailstack-backup snapshots lists them)
  --help                 this text
USAGE
}

snapshot=latest what="" target=""
while [ $# -gt 0 ]; do
  case $1 in
    --snapshot) snapshot=${2:?}; shift 2 ;;
    --mailbox | --database-into) what=${1#--}; target=${2:?}; shift 2 ;;
    --all) what=all; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[ -n "$what" ] || { usage >&2; exit 2; }
mkdir -p /run/lock
exec 8>/run/lock/mailstack-backup.lock
flock -w 600 8 || die "a backup has held the lock for 10 minutes"

work=$(mktemp -d /var/tmp/mailstack-restore.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A daemon started here must not keep this script's output or its lock (fd 8):
# whoever reads the output (an SSH session) would wait for the daemon to exit.
detached() { "$@" </dev/null >/dev/null 2>&1 8>&-; }
dump_of() { # snapshot -> path of the database dump restored into $work
  [ -n "$DATABASE" ] || die "the backups hold no database dump (mailstack:backup database false)"
  restic restore "$1" --target "$work/db" --include "$state/db/$DATABASE.dump" >/dev/null
  [ -s "$work/db$state/db/$DATABASE.dump" ] || die "snapshot $1 holds no dump of $DATABASE"
  echo "$work/db$state/db/$DATABASE.dump"
}

case $what in
  mailbox)
    [[ $target =~ ^[^@/[:space:]]+@[^@/[:space:]]+$ ]] || die "--mailbox takes an address, such as alice@tlabs.team"
    dir="$MAIL_ROOT/${target#*@}/${target%@*}"
    restic restore "$snapshot" --target "$work" --include "$dir" >/dev/null
    [ -d "$work$dir" ] || die "snapshot $snapshot holds no mailbox $target ($dir)"
    # Maildir file names are unique: a missing message comes back under its
    # own name; files present now, and Dovecot's indexes, are left alone.
    restored=$(cp -a -n -v "$work$dir/." "$dir/" | grep -c "^'" || true)
    doveadm force-resync -u "$target" '*'
    log "$target: $restored files back from snapshot $snapshot"
    ;;
  database-into)
    [[ $target =~ ^[a-z_][a-z0-9_]*$ ]] || die "--database-into takes a new database name (a-z, 0-9, _)"
    runuser -u postgres -- psql -XAtqc "SELECT 1 FROM pg_database WHERE datname = '$target'" | grep -q 1 &&
      die "database $target exists; pick a new name or drop it first"
    dump=$(dump_of "$snapshot")
    runuser -u postgres -- createdb "$target"
    # pg_restore runs as postgres and reads root's file on stdin.
    runuser -u postgres -- pg_restore --no-owner --exit-on-error --dbname="$target" <"$dump"
    log "database $DATABASE from snapshot $snapshot restored into $target"
    ;;
  all)
    dump=""
    [ -z "$DATABASE" ] || dump=$(dump_of "$snapshot")
    for s in postfix dovecot rspamd; do detached svc stop "$s" || true; done
    # Whatever happens next, the daemons run again when this ends.
    trap 'for s in rspamd dovecot postfix; do detached svc start "$s" || true; done; rm -rf "$work"' EXIT
    # Files as they were in the snapshot; files created since are kept.
    # restic restores into a scratch tree first: it will not replace a
    # symlink that exists (Debian's snakeoil links under /etc).
    # Each backed-up path is copied onto itself, never the scratch tree's root
    # onto / (that would give / the scratch directory's mode).
    restic restore "$snapshot" --target "$work/all" >/dev/null
    for p in $BACKUP_PATHS; do
      [ -e "$work/all$p" ] || continue
      if [ -e "$p" ]; then
        cp -a --remove-destination "$work/all$p/." "$p/"
      else
        mkdir -p "$(dirname "$p")"
        cp -a "$work/all$p" "$p"
      fi
    done
    if [ -n "$dump" ]; then
      runuser -u postgres -- pg_restore --clean --if-exists --exit-on-error --dbname="$DATABASE" <"$dump"
    fi
    for s in rspamd dovecot postfix; do detached svc start "$s" || die "$s does not start; see its log"; done
    trap 'rm -rf "$work"' EXIT
    # Indexes from the snapshot next to mail that arrived since: rebuilt from the files.
    doveadm force-resync -A '*'
    log "everything restored from snapshot $snapshot; the daemons run again"
    ;;
esac
