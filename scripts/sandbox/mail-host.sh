# shellcheck shell=bash
# The mail host: its image (debootstrap, cached), its rootfs and settings, the
# namespace init both hosts use, sshd, PostgreSQL, its boot, its checks and
# sandbox.env. Sourced by scripts/sandbox.sh, whose settings it reads.

# ---------------------------------------------------------------- 2. rootfs ---

# The tarball is built once (minutes) and reused; extraction takes seconds.
# debootstrap runs inside the sandbox's netns, so it can reach only the apt
# proxy, and in fresh mount and PID namespaces, so its mounts and any daemon
# a postinst might start vanish with it instead of leaking into the host.
# shellcheck disable=SC2153 # TARBALL is a setting of scripts/sandbox.sh
build_tarball() {
  [[ -s $TARBALL ]] && return 0
  local build
  log "building $TARBALL with debootstrap (first run only, takes a few minutes)"
  mkdir -p "$CACHE"
  build=$(mktemp -d "$CACHE/build.XXXXXX")
  # shellcheck disable=SC2064  # expand $build now
  trap "rm -rf --one-file-system '$build'" EXIT
  chmod 755 "$build"
  if ! ip netns exec "$MAIL_NETNS" unshare --mount --pid --fork --kill-child --mount-proc \
    env http_proxy="$PROXY_URL" \
    debootstrap --variant=minbase --include="$DEBOOTSTRAP_INCLUDE" --components=main \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    "$SUITE" "$build" "$MIRROR" >"$LOG_DIR/debootstrap.log" 2>&1; then
    tail -n 15 "$LOG_DIR/debootstrap.log" >&2
    die "debootstrap failed (full log: $LOG_DIR/debootstrap.log; apt proxy log: $ACNG_DIR/log)" \
      "check that the host reaches $MIRROR (apt-get update on the host) and that apt-cacher-ng runs"
  fi
  # Not in the image: host keys (each sandbox makes its own), the build host's
  # resolv.conf and hostname, downloaded packages and lists.
  rm -f "$build"/etc/ssh/ssh_host_*key* "$build/etc/resolv.conf" "$build/etc/hostname"
  rm -rf "$build"/var/cache/apt/archives/*.deb "$build"/var/lib/apt/lists/*_*
  tar --numeric-owner --xattrs --xattrs-include='*' -C "$build" -cf - . |
    zstd -q -T0 -10 -o "$TARBALL.tmp"
  mv -f "$TARBALL.tmp" "$TARBALL"
  rm -rf --one-file-system "$build"
  trap - EXIT
}

# extract_rootfs [TARBALL DIR]: unpack the image (default: the mail host's)
# unless DIR already holds one.
extract_rootfs() {
  local tarball=${1:-$TARBALL} dir=${2:-$ROOTFS}
  [[ -f $dir/etc/debian_version ]] && return 0
  local tmp="$dir.new"
  rm -rf --one-file-system "$tmp"
  mkdir -m 755 "$tmp"
  zstd -q -dc "$tarball" | tar --numeric-owner --xattrs --xattrs-include='*' -C "$tmp" -xf -
  rm -rf --one-file-system "$dir"
  mv "$tmp" "$dir"
}

# ------------------------------------------------------ 4. sandbox settings ---

configure_rootfs() {
  local f
  # apt: through the proxy on the bridge, the only way out of the sandbox.
  write_file "$ROOTFS/etc/apt/apt.conf.d/01mailstack-proxy" 644 <<EOF
// written by mailstack scripts/sandbox.sh: the sandbox reaches only this proxy
Acquire::http::Proxy "$PROXY_URL";
EOF
  # Mirror the host's validity settings: when the host's mirror is a dated
  # snapshot, its Release files are "expired" and apt would refuse them.
  {
    echo "// copied from the host's apt config by mailstack scripts/sandbox.sh"
    for f in Check-Valid-Until Check-Date; do
      if [[ $(apt-config dump "Acquire::$f" | sed -n "s/^Acquire::$f \"\\(.*\\)\";$/\\1/p") == false ]]; then
        echo "Acquire::$f \"false\";"
      fi
    done
  } | write_file "$ROOTFS/etc/apt/apt.conf.d/02mailstack-validity" 644
  write_file "$ROOTFS/etc/apt/sources.list.d/debian.sources" 644 <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -f "$ROOTFS/etc/apt/sources.list"

  # There is no systemd and no runlevel here, so invoke-rc.d would refuse to
  # start services that packages install ("No init system and policy-rc.d
  # missing! Defaulting to block."). Allow it, as on a real host.
  write_file "$ROOTFS/usr/sbin/policy-rc.d" 755 <<EOF
#!/bin/sh
# written by mailstack scripts/sandbox.sh: let package scripts start services
exit 0
EOF

  write_file "$ROOTFS/etc/resolv.conf" 644 <<EOF
search $ZONE
nameserver $BRIDGE_ADDR
EOF
  echo "$MAIL_HOSTNAME" | write_file "$ROOTFS/etc/hostname" 644
  write_file "$ROOTFS/etc/hosts" 644 <<EOF
127.0.0.1 localhost
$MAIL_ADDR $MAIL_HOSTNAME.$ZONE $MAIL_HOSTNAME
::1 localhost ip6-localhost ip6-loopback
EOF

  # The deploy key: made once, reused by every sandbox.
  if [[ ! -s $KEY ]]; then
    mkdir -p "$CACHE"
    chmod 700 "$CACHE"
    ssh-keygen -q -t ed25519 -N '' -C mailstack-sandbox-deploy -f "$KEY"
  fi
  chmod 600 "$KEY"
  install -d -m 700 "$ROOTFS/root/.ssh"
  write_file "$ROOTFS/root/.ssh/authorized_keys" 600 <"$KEY.pub"
}

# -------------------------------------------------- 5./6. init, sshd, checks ---

# start_init NAME HOSTNAME: start the namespace init of sandbox host NAME
# (a no-op when it runs). Sets STARTED[NAME]=1 when it had to start it.
declare -A STARTED=()
start_init() {
  local name=$1 hostname=$2 pidfile="$RUN_DIR/$1.init.pid" host_name_before
  init_pid "$name" >/dev/null && return 0
  rm -f "$pidfile"
  host_name_before=$(hostname)
  # Order matters: ip netns exec enters the netns; unshare then makes the
  # UTS, IPC, mount and PID namespaces (--fork: the child is PID 1), so the
  # mounts that ns-init.sh makes exist only in that private mount namespace.
  spawn "$LOG_DIR/$name.init.log" ip netns exec "$name" \
    unshare --uts --ipc --mount --pid --fork --propagation private \
    bash "$NS_INIT" "$(readlink -f "$(rootfs_of "$name")")" "$hostname" "$pidfile" "$CAPDROP"
  wait_for "the init of sandbox host $name (log: $LOG_DIR/$name.init.log)" init_pid "$name" >/dev/null
  [[ $(hostname) == "$host_name_before" ]] ||
    die "starting the sandbox changed the host's hostname to $(hostname)" "hostname $host_name_before"
  STARTED[$name]=1
}

# sshd_running: the sshd named by the sandbox's /run/sshd.pid is alive.
sshd_running() {
  # shellcheck disable=SC2016  # expanded by the sandbox's sh
  sandbox_exec "$MAIL_NETNS" sh -c 'pid=$(cat /run/sshd.pid 2>/dev/null) && kill -0 "$pid"' 2>/dev/null
}

start_sshd() {
  # Fresh host keys per rootfs (not in the tarball); -A makes only missing ones.
  sandbox_exec "$MAIL_NETNS" ssh-keygen -A >/dev/null
  if ! sshd_running; then
    # The init script writes /run/sshd.pid, so `service ssh reload` works later.
    sandbox_exec "$MAIL_NETNS" /etc/init.d/ssh start >>"$LOG_DIR/$MAIL_NETNS.sshd.log" 2>&1 ||
      die "sshd did not start in the sandbox (log: $LOG_DIR/$MAIL_NETNS.sshd.log)" \
        "check with: bash $0 exec sshd -t"
  fi
}

# The DBA's part of a preprovisioned database: PostgreSQL running, and the
# roles and database of files/postgres/roles.sql (idempotent) in place.
start_database() {
  sandbox_exec "$MAIL_NETNS" sh -c 'pg_lsclusters -h | grep -q online || service postgresql start' \
    >>"$LOG_DIR/postgresql.log" 2>&1 || die "PostgreSQL did not start in the sandbox (log: $LOG_DIR/postgresql.log)" \
    "check with: bash $0 exec pg_lsclusters"
  sandbox_exec "$MAIL_NETNS" runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres -f - \
    <"$SCRIPT_DIR/../files/postgres/roles.sql" >>"$LOG_DIR/postgresql.log" 2>&1 ||
    die "files/postgres/roles.sql failed in the sandbox (log: $LOG_DIR/postgresql.log)" "bash $0 down && bash $0 up"
}

# boot_services: what the host's init system does at boot, for a sandbox
# host that was (re)started on a rootfs the stack has configured: rsyslogd
# first (Debian ships it with a systemd unit only), then every enabled
# /etc/rc2.d/S* script in order. A script that fails is reported, as a boot
# would, and the rest still start.
boot_services() {
  ((${STARTED[$MAIL_NETNS]:-0})) || return 0
  local failed
  # shellcheck disable=SC2016  # expanded by the sandbox's sh
  failed=$(sandbox_exec "$MAIL_NETNS" sh -c '
    if command -v rsyslogd >/dev/null && ! pgrep -x rsyslogd >/dev/null; then rsyslogd; fi
    for s in /etc/rc2.d/S*; do "$s" start >&2 || echo "${s##*/}"; done' \
    </dev/null 2>>"$LOG_DIR/boot.log")
  [[ -z $failed ]] || log "warning: these boot scripts failed in the sandbox: $failed (log: $LOG_DIR/boot.log)"
}

ssh_ok() { ssh "${SSH_OPTS[@]}" "root@$MAIL_ADDR" true </dev/null 2>/dev/null; }

check_sandbox() {
  local leaked
  wait_for "ssh root@$MAIL_ADDR with $KEY" ssh_ok
  # Nothing the sandbox mounted may be visible in the host's mount namespace.
  leaked=$(awk -v r="$(readlink -f "$ROOTFS")/" 'index($5 "/", r) == 1 { print $5 }' /proc/self/mountinfo)
  [[ -z $leaked ]] || die "sandbox mounts leaked into the host: $leaked" "bash $0 down, then report a bug"
  # The deployment sets the hostname, so check the namespace, not the name:
  # the sandbox must have a UTS namespace of its own.
  [[ $(sandbox_exec "$MAIL_NETNS" readlink /proc/self/ns/uts) != "$(readlink /proc/self/ns/uts)" ]] ||
    die "the sandbox shares the host's UTS namespace: a hostname change would hit the host" "bash $0 down && bash $0 up"
  [[ $(sandbox_exec "$MAIL_NETNS" getent hosts "$MAIL_HOSTNAME.$ZONE") == "$MAIL_ADDR"* ]] ||
    die "the sandbox cannot resolve $MAIL_HOSTNAME.$ZONE via $BRIDGE_ADDR" "see $LOG_DIR/dnsmasq.log"
  # apt through the proxy: checked whenever the sandbox was (re)started, so a
  # warm `up` stays fast and does not touch the package lists.
  if ((${STARTED[$MAIL_NETNS]:-0})); then
    sandbox_exec "$MAIL_NETNS" apt-get update -q >"$LOG_DIR/apt-sandbox.log" 2>&1 ||
      die "apt-get update inside the sandbox failed (log: $LOG_DIR/apt-sandbox.log)" \
        "check apt-cacher-ng: $ACNG_DIR/log and that the host can reach $MIRROR"
    ! grep -qE '^(W|E):' "$LOG_DIR/apt-sandbox.log" ||
      die "apt-get update inside the sandbox reported errors: $(grep -E '^(W|E):' "$LOG_DIR/apt-sandbox.log" | head -3)" \
        "see $LOG_DIR/apt-sandbox.log and $ACNG_DIR/log"
  fi
}

write_env() {
  local pid
  pid=$(init_pid "$MAIL_NETNS")
  {
    printf 'SANDBOX_HOST=%q\n' "$MAIL_ADDR"
    printf 'SANDBOX_SSH_PORT=%q\n' "$SSH_PORT"
    printf 'SANDBOX_USER=%q\n' root
    printf 'SANDBOX_KEY=%q\n' "$KEY"
    printf 'SANDBOX_PROXY=%q\n' "$PROXY_URL"
    printf 'SANDBOX_DNS=%q\n' "$BRIDGE_ADDR"
    printf 'SANDBOX_ACME_DIRECTORY=%q\n' "https://$BRIDGE_ADDR:$ACME_PORT/dir"
    printf 'SANDBOX_ACME_CA=%q\n' "$ACME_CA"
    printf 'SANDBOX_S3_ENDPOINT=%q\n' "http://$BRIDGE_ADDR:$S3_PORT"
    printf 'SANDBOX_S3_BUCKET=%q\n' "$S3_BUCKET"
    printf 'SANDBOX_S3_DATA=%q\n' "$S3_DATA"
    # Pebble makes a new root at each start; this URL serves the current one.
    printf 'SANDBOX_ACME_ROOT_URL=%q\n' "https://$BRIDGE_ADDR:$ACME_MGMT_PORT/roots/0"
    printf 'SANDBOX_NETNS=%q\n' "$MAIL_NETNS"
    printf 'SANDBOX_INIT_PID=%q\n' "$pid"
    # DNs as they are: %q would escape their commas, and `=` and `,` need no
    # quoting when the file is sourced.
    printf 'SANDBOX_LDAP_HOST=%s\n' "$LDAP_ADDR"
    # The LDAP host's namespace doubles as a second client address (fail2ban tests).
    printf 'SANDBOX_LDAP_NETNS=%q\n' "$LDAP_NETNS"
    printf 'SANDBOX_LDAP_URI=%s\n' "$LDAP_URI"
    printf 'SANDBOX_LDAP_BASE=%s\n' "$LDAP_SUFFIX"
    printf 'SANDBOX_LDAP_BIND_DN=%s\n' "$LDAP_BIND_DN"
    printf 'SANDBOX_LDAP_BIND_PW_FILE=%q\n' "$LDAP_BIND_PW_FILE"
  } | write_file "$ENV_FILE" 644
}
