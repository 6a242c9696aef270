# shellcheck shell=bash
# mailstack push runner: stage, check, swap, reload, roll back.
# Runs on the host as root, reading a payload from stdin (see src/core/push.ts
# for the format). The payload holds the files' text, so `pulumi preview --diff`
# shows changed lines; this script is the same for every push.
set -euo pipefail
umask 077

say() { printf 'mailstack-push: %s\n' "$*"; }
die() { printf 'mailstack-push: %s\n' "$*" >&2; exit 1; }

# Reload and verify commands (`svc reload dovecot`, `wait_socket 10 ...`) run
# in child shells that load the host's shell library (files/lib/mailstack.sh)
# first. The runner itself does not load it, and so has its own say and die
# above: the runner is what puts the library on the host, in the host
# concern's first push, and that push has no reload or verify step, so nothing
# needs the library before it is installed. Every other push and script runs
# after that one. MAILSTACK_LIB is for tests.
lib=${MAILSTACK_LIB:-/usr/local/lib/mailstack/mailstack.sh}
with_lib() { bash -c ". $(printf '%q' "$lib") || exit 1"$'\n'"$1" mailstack-push; }

# One push at a time per host: two pushes reloading one daemon must not interleave.
# Checks, reloads and verifications run with fd 9 closed, so that a daemon a
# reload starts (clamd keeps inherited descriptors) never holds the lock.
mkdir -p /run/lock
exec 9>/run/lock/mailstack-push.lock
flock -w 600 9 || die "another push held the lock for 10 minutes"

work=$(mktemp -d /var/tmp/mailstack-push.XXXXXX)
trap 'rm -rf "$work"' EXIT

name="" reload="" paths=() owners=() groups=() modes=() checks=() verifies=()
while IFS= read -r line; do
  case $line in
    "" | "#"*) ;;
    "push "*) name=${line#push } ;;
    "check "*) checks+=("${line#check }") ;;
    "reload "*) reload=${line#reload } ;;
    "verify "*) verifies+=("${line#verify }") ;;
    "file "*)
      read -r path owner group mode count <<<"${line#file }"
      [[ $count =~ ^[0-9]+$ ]] || die "malformed file line: $line"
      n=${#paths[@]}
      for ((i = 0; i < count; i++)); do
        IFS= read -r l || die "payload ends inside $path"
        printf '%s\n' "$l"
      done >"$work/f$n"
      paths+=("$path") owners+=("$owner") groups+=("$group") modes+=("$mode")
      ;;
    "end") break ;;
    *) die "malformed payload line: $line" ;;
  esac
done
[ -n "$name" ] || die "payload has no push name"

# 1. Stage: give each staged file its final owner and mode, and find what changed.
changed=()
for i in "${!paths[@]}"; do
  f=$work/f$i p=${paths[$i]}
  getent passwd "${owners[$i]}" >/dev/null || die "$name: owner ${owners[$i]} of $p does not exist on the host"
  getent group "${groups[$i]}" >/dev/null || die "$name: group ${groups[$i]} of $p does not exist on the host"
  chown "${owners[$i]}:${groups[$i]}" "$f"
  chmod "${modes[$i]}" "$f"
  if [ -f "$p" ] && cmp -s "$f" "$p" &&
    [ "$(stat -c '%U:%G %a' "$p")" = "$(stat -c '%U:%G %a' "$f")" ]; then
    continue
  fi
  changed+=("$i")
done
if [ ${#changed[@]} -eq 0 ]; then
  say "$name: unchanged"
  exit 0
fi
# The reload command sees which files changed, one path a line, so it can
# choose between a reload and a restart (Rspamd's listeners need a restart).
MAILSTACK_CHANGED=$(for i in "${changed[@]}"; do printf '%s\n' "${paths[$i]}"; done)
export MAILSTACK_CHANGED

# Files that do not exist yet get an empty placeholder so the checker can see
# the staged copy in their place; a failed push removes the placeholders again.
declare -A created=()
cleanup_created() {
  local p
  for p in "${!created[@]}"; do rm -f "$p"; done
}
for i in "${changed[@]}"; do
  p=${paths[$i]}
  if [ ! -e "$p" ]; then
    # Directories made here are ordinary ones (0755), not private to root.
    (umask 022 && mkdir -p "$(dirname "$p")")
    : >"$p"
    created[$p]=1
  fi
done

# 2. Check: run the daemon's own checker in a private mount namespace where the
# staged files are bind-mounted over the live ones. The live system never sees
# the staged files, so a failing check changes nothing.
if [ ${#checks[@]} -gt 0 ]; then
  binds=""
  for i in "${changed[@]}"; do
    binds+="mount --bind $(printf '%q' "$work/f$i") $(printf '%q' "${paths[$i]}") && "
  done
  # Inside a chroot (the sandbox) "/" is no mount point and cannot be made
  # private; there the enclosing mount namespace is already private, so the
  # bind mounts stay in ours either way.
  isolate=(unshare --mount --propagation private)
  "${isolate[@]}" true 2>/dev/null || isolate=(unshare --mount --propagation unchanged)
  for c in "${checks[@]}"; do
    if ! out=$("${isolate[@]}" bash -c "${binds}${c}" 2>&1 9>&-); then
      cleanup_created
      die "$name: check failed, nothing changed: $c"$'\n'"$out"
    fi
  done
fi

# 3. Back up the live files, then swap the staged ones in. Each file lands with
# a rename inside its own directory, so readers see the old or the new file.
mkdir -p "$work/backup"
for i in "${changed[@]}"; do
  [ -n "${created[${paths[$i]}]:-}" ] || cp -a "${paths[$i]}" "$work/backup/f$i"
done
swap_in() { # index source
  local p=${paths[$1]} tmp
  tmp="$(dirname "${paths[$1]}")/.mailstack-swap.$$.$1"
  cp -a "$2" "$tmp"
  mv -f "$tmp" "$p"
}
for i in "${changed[@]}"; do swap_in "$i" "$work/f$i"; done

rollback() {
  local i
  for i in "${changed[@]}"; do
    if [ -e "$work/backup/f$i" ]; then swap_in "$i" "$work/backup/f$i"; else rm -f "${paths[$i]}"; fi
  done
  if [ -n "$reload" ]; then with_lib "$reload" </dev/null >/dev/null 2>&1 9>&- || true; fi
}

# 4. Reload the service, then run the post-reload checks. 5. Any failure puts
# the previous files back and reloads again, so the daemon keeps its old config.
# Their output goes to a file, not a pipe: a daemon a reload starts may keep
# the descriptors it inherited, and reading a pipe would wait for it to exit.
run_step() { with_lib "$1" </dev/null >"$work/out" 2>&1 9>&-; }
if [ -n "$reload" ] && ! run_step "$reload"; then
  out=$(cat "$work/out")
  rollback
  die "$name: reload failed, previous files restored: $reload"$'\n'"$out"
fi
for v in "${verifies[@]}"; do
  if ! run_step "$v"; then
    out=$(cat "$work/out")
    rollback
    die "$name: verification failed after reload, previous files restored: $v"$'\n'"$out"
  fi
done

list=""
for i in "${changed[@]}"; do list+=" ${paths[$i]}"; done
say "$name: updated${list}${reload:+; ran: $reload}"
