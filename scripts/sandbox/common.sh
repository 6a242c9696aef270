# shellcheck shell=bash
# Messages, the ERR trap and the small helpers every part of the sandbox uses
# (files, PIDs, ports, namespaces, the lock). Sourced by scripts/sandbox.sh,
# whose settings it reads.

# ---------------------------------------------------------------- messages ---

# What the current step is and how to fix it if it fails; read by the ERR trap
# so that every failure, even of an unexpected command, says both.
STEP="start"
HINT="re-run with 'bash -x $0 ...' to see the failing command"

log() { printf 'sandbox: %s\n' "$*" >&2; }

die() {
  log "FAILED: $1"
  log "  how to fix: ${2:-$HINT}"
  exit 1
}

on_err() {
  local rc=$1 line=$2 cmd=$3
  log "FAILED in step '$STEP' (line $line, exit $rc): $cmd"
  log "  how to fix: $HINT"
  log "  logs: $LOG_DIR"
  exit "$rc"
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
set -E

# phase NAME HINT FUNC ARGS...: runs FUNC and prints how long it took.
phase() {
  local name=$1 hint=$2 start=$EPOCHREALTIME
  shift 2
  STEP=$name HINT=$hint
  "$@"
  log "$(printf '%-14s %6.2fs' "$name" "$(elapsed "$start")")"
}

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# ----------------------------------------------------------------- helpers ---

# write_file PATH MODE: stdin to PATH, replacing it only if the content
# differs, so a warm `up` changes nothing on disk.
write_file() {
  local path=$1 mode=$2 new old tmp
  new=$(cat; echo .) # the dot keeps trailing newlines
  if [[ -f $path ]]; then
    old=$(cat "$path"; echo .)
    if [[ $old == "$new" ]]; then
      chmod "$mode" "$path"
      return 0
    fi
  fi
  # Temp file + rename: readers never see a half-written file.
  tmp=$(mktemp "$path.XXXXXX")
  printf '%s' "${new%.}" >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
}

# pid_alive PIDFILE EXE: prints the PID if PIDFILE names a live process running
# EXE. Checking the executable avoids acting on a recycled PID.
pid_alive() {
  local pidfile=$1 exe=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]] || return 1
  echo "$pid"
}

# stop_pid PID: TERM, then KILL after 5 s.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# listening PROTO ADDR PORT: is something bound to exactly ADDR:PORT?
listening() {
  local flag=-ltn
  [[ $1 == udp ]] && flag=-lun
  ss -H "$flag" src "$2:$3" 2>/dev/null | grep -q .
}

# Host-side name of the veth pair of a sandbox host: msv<last octet of ADDR>.
veth_name() { echo "msv${1##*.}"; }

netns_exists() { [[ -e /run/netns/$1 ]]; }

# rootfs_of NAME: the chroot of sandbox host NAME.
rootfs_of() {
  if [[ $1 == "$LDAP_NETNS" ]]; then echo "$LDAP_ROOTFS"; else echo "$ROOTFS"; fi
}

# init_pid NAME: PID (host view) of the running init of sandbox host NAME.
# It must be alive, in netns NAME and chrooted; otherwise the pid file is stale.
init_pid() {
  local name=$1 pid
  [[ -s $RUN_DIR/$name.init.pid ]] || return 1
  pid=$(<"$RUN_DIR/$name.init.pid")
  [[ $pid =~ ^[0-9]+$ ]] && [[ -d /proc/$pid ]] || return 1
  netns_exists "$name" || return 1
  [[ $(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) == "$(stat -L -c %i "/run/netns/$name")" ]] || return 1
  [[ $(readlink "/proc/$pid/root") == "$(readlink -f "$(rootfs_of "$name")")" ]] || return 1
  echo "$pid"
}

# sandbox_exec NAME CMD...: run CMD in all namespaces and the chroot of NAME,
# with a clean environment and the same capability limits as its init.
sandbox_exec() {
  local name=$1 pid
  shift
  pid=$(init_pid "$name") || die "sandbox host '$name' is not running" "run: bash $0 up"
  nsenter -t "$pid" -a -r -w \
    setpriv --bounding-set "$CAPDROP" \
    env -i PATH="$SANDBOX_PATH" HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@" 9>&-
  # (fd 9 is our lock: a daemon started here must not inherit and hold it.)
}

take_lock() {
  exec 9>"$LOCK_FILE"
  flock -w 600 9 || die "another 'sandbox.sh up/down' holds $LOCK_FILE" "wait for it to finish"
}

# spawn LOG CMD...: start a long-running process detached from this script: no
# stdin, output to LOG, cwd /, and without our lock fd (else it would hold the
# lock forever).
spawn() {
  local logfile=$1
  shift
  (cd / && exec setsid "$@" </dev/null >>"$logfile" 2>&1 9>&-) &
}

# wait_for WHAT CMD...: poll CMD for up to 10 s.
wait_for() {
  local what=$1 i
  shift
  for ((i = 0; i < 100; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  die "$what did not come up within 10 s (logs: $LOG_DIR)"
}
