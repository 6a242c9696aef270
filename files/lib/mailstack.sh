# shellcheck shell=bash
# Managed by mailstack (Pulumi). Do not edit: the next deployment overwrites it.
# Source: files/lib/mailstack.sh
#
# mailstack's shell library: logging, service control and waiting, for every
# script the stack runs on the host. The host concern installs it, in its first
# push, as /usr/local/lib/mailstack/mailstack.sh; scripts load it with
#   # shellcheck source=files/lib/mailstack.sh
#   . "${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}"
# (MAILSTACK_LIB is for tests that run a script off the host.)
#
# It is the only place that knows how services are controlled: with systemd
# (Debian 12 and Ubuntu 22.04 boot with it) or, where systemd does not run (the
# sandbox, a chroot), with the init scripts through `service`. No other script
# asks which init the host has.
#
# It defines functions and nothing else: it sets no shell option, so it works
# under `set -euo pipefail` and without it, and every variable it reads has a
# default, for `set -u`.
#
# Logging: "<tag>: <message>", the tag being $MAILSTACK_TAG or the script's name.
#   log MESSAGE...        on stdout
#   warn MESSAGE...       on stderr
#   die MESSAGE [STATUS]  on stderr, then exit with STATUS (default 1)
#
# Services: UNIT is the unit's name (postfix, certbot.timer). The actions pass
# on the init's own output; the predicates print nothing.
#   svc reload UNIT    reload its config; start it if it does not run
#   svc restart UNIT   restart it; start it if it does not run
#   svc start UNIT     start it unless it runs
#   svc stop UNIT      stop it
#   svc reopen UNIT    send it SIGHUP, on which rsyslog reopens its files
#                      (logrotate's postrotate); does nothing if it does not run
#   svc enable UNIT    start it now and at every boot
#   svc disable UNIT   stop it now and keep it from starting at boot
#   svc running UNIT   true if it runs
#   svc exists UNIT    true if this host has it (a reload of a missing one fails)
#   svc_hint ACTION UNIT  the command a person types here to do it, e.g. to
#                         tell them how to start a daemon that is down
#   init_system        prints systemd or sysv, for reports
#   set_hostname NAME  sets the running host name
#
# Waiting: the condition is tried every 0.2 s until it holds (status 0) or
# SECONDS have passed (a whole number); then a message on stderr says what
# did not happen, and the status is 1.
#   wait_until SECONDS WHAT COMMAND [ARG...]  until COMMAND succeeds; WHAT
#                                             completes "gave up waiting for"
#   wait_socket SECONDS PATH...               until every PATH is a socket
#   wait_port SECONDS PORT                    until something listens on TCP PORT
#   listening PORT                            true if something listens on TCP PORT

# --- logging ------------------------------------------------------------------

log() { printf '%s: %s\n' "${MAILSTACK_TAG:-${0##*/}}" "$*"; }
warn() { printf '%s: %s\n' "${MAILSTACK_TAG:-${0##*/}}" "$*" >&2; }
die() {
  warn "${1:-failed}"
  exit "${2:-1}"
}

# --- services -----------------------------------------------------------------

# systemd runs when its runtime directory exists (what sd_booted(3) checks).
# The tests point both directories elsewhere.
_mailstack_systemd() { [ -d "${MAILSTACK_SYSTEMD_DIR:-/run/systemd/system}" ]; }
_mailstack_initd() { printf '%s' "${MAILSTACK_INITD_DIR:-/etc/init.d}"; }

# Without systemd, a unit with no init script is its daemon, UNITd, started
# and found as it is: Debian's rsyslog ships a systemd unit only.
_mailstack_daemon() { type -P "${1}d"; }

# Starts UNIT without systemd, whether or not it runs.
_mailstack_sysv_start() {
  local unit=$1 daemon
  if [ -x "$(_mailstack_initd)/$unit" ]; then
    service "$unit" start </dev/null
  elif daemon=$(_mailstack_daemon "$unit"); then
    "$daemon" </dev/null >/dev/null 2>&1
  else
    warn "svc start $unit: there is no init script $(_mailstack_initd)/$unit and no daemon ${unit}d"
    return 1
  fi
}

# The process name UNIT runs as without systemd, UNITd or UNIT, whichever
# runs; fails when neither does.
_mailstack_process() {
  if pgrep -x "${1}d" >/dev/null; then
    printf '%s' "${1}d"
  elif pgrep -x "$1" >/dev/null; then
    printf '%s' "$1"
  else
    return 1
  fi
}

# Restarts UNIT's daemon without an init script: TERM, its end (10 s at
# most), and a start, as an init would. The daemon rereads what it only reads
# when it starts (its config, the time zone).
_mailstack_daemon_gone() { ! pgrep -x "$1" >/dev/null; }
_mailstack_daemon_restart() {
  local unit=$1 name
  name=$(_mailstack_process "$unit") || name=$unit
  pkill -TERM -x "$name" || true
  if ! _mailstack_wait 10 _mailstack_daemon_gone "$name"; then
    warn "svc restart $unit: $name did not stop within 10 s"
    return 1
  fi
  _mailstack_sysv_start "$unit"
}

svc() {
  local action=${1:-} unit=${2:-}
  case $action in
    reload | restart | start | stop | reopen | enable | disable | running | exists) ;;
    *) die "svc: unknown action \"$action\" (reload, restart, start, stop, reopen, enable, disable, running or exists)" ;;
  esac
  [ -n "$unit" ] || die "svc $action: which unit?"
  if _mailstack_systemd; then
    case $action in
      reload) systemctl reload-or-restart "$unit" ;;
      restart | start | stop) systemctl "$action" "$unit" ;;
      reopen) ! systemctl is-active --quiet "$unit" || systemctl kill --signal=HUP "$unit" ;;
      enable | disable) systemctl --quiet "$action" --now "$unit" ;;
      running) systemctl is-active --quiet "$unit" ;;
      exists) [ "$(systemctl show --property=LoadState --value "$unit" 2>/dev/null)" = loaded ] ;;
    esac
    return
  fi
  local script
  script="$(_mailstack_initd)/$unit"
  case $action in
    reload | restart)
      if ! svc running "$unit"; then
        _mailstack_sysv_start "$unit"
      elif [ -x "$script" ]; then
        service "$unit" "$action" </dev/null
      else
        _mailstack_daemon_restart "$unit"
      fi
      ;;
    start) svc running "$unit" || _mailstack_sysv_start "$unit" ;;
    stop) service "$unit" stop </dev/null ;;
    reopen)
      local name
      if name=$(_mailstack_process "$unit"); then pkill -HUP -x "$name" || true; fi
      ;;
    enable)
      # Boot links only matter where an rc system boots the host; failing to
      # make them does not keep the unit from running now.
      if [ -x "$script" ]; then
        update-rc.d "$unit" defaults >/dev/null 2>&1 || true
        update-rc.d "$unit" enable >/dev/null 2>&1 || true
      fi
      svc start "$unit"
      ;;
    disable)
      local status=0
      service "$unit" stop </dev/null || status=$?
      update-rc.d "$unit" disable >/dev/null 2>&1 || true
      return "$status"
      ;;
    running)
      if [ -x "$script" ]; then
        service "$unit" status >/dev/null 2>&1
      else
        _mailstack_process "$unit" >/dev/null
      fi
      ;;
    exists) [ -x "$script" ] || _mailstack_daemon "$unit" >/dev/null ;;
  esac
}

svc_hint() {
  local action=${1:-} unit=${2:-}
  if _mailstack_systemd; then
    printf 'systemctl %s %s\n' "$action" "$unit"
  elif [ "$action" = start ] && [ ! -x "$(_mailstack_initd)/$unit" ]; then
    printf '%sd\n' "$unit"
  else
    printf 'service %s %s\n' "$unit" "$action"
  fi
}

init_system() { if _mailstack_systemd; then echo systemd; else echo sysv; fi; }

set_hostname() {
  [ -n "${1:-}" ] || die "set_hostname: which name?"
  if _mailstack_systemd; then hostnamectl set-hostname "$1"; else hostname "$1"; fi
}

# --- waiting ------------------------------------------------------------------

# Microseconds since the epoch; EPOCHREALTIME's decimal point is the locale's.
_mailstack_now() { printf '%s' "${EPOCHREALTIME//[!0-9]/}"; }

# Tries COMMAND until it succeeds or SECONDS pass; silent.
_mailstack_wait() {
  local seconds=$1 deadline
  shift
  [[ $seconds =~ ^[0-9]+$ ]] || die "wait: \"$seconds\" is not a whole number of seconds"
  deadline=$(($(_mailstack_now) + seconds * 1000000))
  until "$@"; do
    [ "$(_mailstack_now)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

wait_until() {
  local seconds=${1:-} what=${2:-}
  [ $# -ge 3 ] || die "usage: wait_until SECONDS WHAT COMMAND [ARG...]"
  shift 2
  _mailstack_wait "$seconds" "$@" && return 0
  warn "gave up after $seconds s waiting for $what"
  return 1
}

_mailstack_sockets() {
  local p
  for p in "$@"; do [ -S "$p" ] || return 1; done
}

wait_socket() {
  local seconds=${1:-} p absent=()
  [ $# -ge 2 ] || die "usage: wait_socket SECONDS PATH..."
  shift
  _mailstack_wait "$seconds" _mailstack_sockets "$@" && return 0
  for p in "$@"; do [ -S "$p" ] || absent+=("$p"); done
  warn "gave up after $seconds s waiting for the socket ${absent[*]}"
  return 1
}

# A command substitution, not a pipe into grep -q: under pipefail, ss killed
# by the early exit of grep would make a match count as a failure.
listening() { [ -n "$(ss -Hltn "sport = :${1:?listening: which port?}")" ]; }

wait_port() {
  local seconds=${1:-} port=${2:-}
  [[ $port =~ ^[0-9]+$ ]] || die "usage: wait_port SECONDS PORT"
  wait_until "$seconds" "a listener on TCP port $port" listening "$port"
}
