# shellcheck shell=bash
# What mailstack-backup and mailstack-restore share: their settings, restic's
# repository and secrets in the environment (never on a command line), the
# cache and the state directory. Sourced, never run.
set -euo pipefail
umask 077
cd /
# shellcheck source=/dev/null
. /etc/mailstack/backup.conf
set -a
# shellcheck source=/dev/null
. /etc/mailstack/backup.env
set +a
export RESTIC_CACHE_DIR=/var/cache/mailstack-restic
# shellcheck disable=SC2034 # used by the scripts that source this
state=/var/lib/mailstack/backup
