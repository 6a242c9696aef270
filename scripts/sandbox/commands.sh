# shellcheck shell=bash
# The subcommands up, reboot, down and status, and what down takes apart.
# Sourced by scripts/sandbox.sh, whose settings it reads.

# -------------------------------------------------------------- subcommands ---

setup_network() {
  make_bridge
  make_host "$MAIL_NETNS" "$MAIL_ADDR" "$MAIL_HOSTNAME"
  make_host "$LDAP_NETNS" "$LDAP_ADDR" "$LDAP_HOSTNAME"
}

setup_services() {
  start_apt_proxy
  start_dns
  start_acme
  start_s3
}

setup_rootfs() {
  extract_rootfs
  configure_rootfs
}

cmd_up() {
  local t0=$EPOCHREALTIME
  take_lock
  # $STATE/pulumi is the file:// backend of stacks deployed to this host.
  mkdir -p "$STATE" "$STATE/pulumi" "$RUN_DIR" "$LOG_DIR" "$HOSTS_DIR" "$CACHE"
  chmod 700 "$CACHE"
  phase host-packages "check the host's apt (apt-get update; apt-get install ${HOST_PKGS[*]})" \
    install_host_pkgs
  phase network "check that the kernel has bridge, veth and netns support (modprobe bridge veth)" \
    setup_network
  phase services "see the logs in $LOG_DIR and $ACNG_DIR/log" setup_services
  phase rootfs-image "remove $TARBALL and retry; see $LOG_DIR/debootstrap.log" build_tarball
  phase rootfs "remove $ROOTFS and $TARBALL and retry" setup_rootfs
  phase init "see $LOG_DIR/$MAIL_NETNS.init.log; bash $0 down && bash $0 up" \
    start_init "$MAIL_NETNS" "$MAIL_HOSTNAME"
  phase sshd "see $LOG_DIR/$MAIL_NETNS.sshd.log" start_sshd
  phase database "see $LOG_DIR/postgresql.log" start_database
  phase boot "see $LOG_DIR/boot.log" boot_services
  phase checks "bash $0 down && bash $0 up; logs in $LOG_DIR" check_sandbox
  phase ldap-image "remove $LDAP_TARBALL and retry; see $LOG_DIR/ldap-image.log" build_ldap_tarball
  phase ldap-rootfs "remove $LDAP_ROOTFS and $LDAP_TARBALL and retry" setup_ldap_rootfs
  phase ldap-init "see $LOG_DIR/$LDAP_NETNS.init.log; bash $0 down && bash $0 up" \
    start_init "$LDAP_NETNS" "$LDAP_HOSTNAME"
  phase slapd "see $LOG_DIR/slapd.log" setup_slapd
  phase ldap-checks "bash $0 status; logs in $LOG_DIR" check_ldap
  write_env
  log "$(printf '%-14s %6.2fs' total "$(elapsed "$t0")")"
  log "ready: ssh -i $KEY root@$MAIL_ADDR   (settings: $ENV_FILE)"
}

# cmd_reboot: the mail host loses power and boots again: its init ends (the
# kernel kills every process of its PID namespace at once, so nothing shuts
# down cleanly), then it starts as `up` starts it, services included.
cmd_reboot() {
  local pid
  take_lock
  pid=$(init_pid "$MAIL_NETNS") || die "the mail host is not running" "run: bash $0 up"
  stop_pid "$pid"
  phase init "see $LOG_DIR/$MAIL_NETNS.init.log; bash $0 down && bash $0 up" \
    start_init "$MAIL_NETNS" "$MAIL_HOSTNAME"
  phase sshd "see $LOG_DIR/$MAIL_NETNS.sshd.log" start_sshd
  phase database "see $LOG_DIR/postgresql.log" start_database
  phase boot "see $LOG_DIR/boot.log" boot_services
  write_env
}

# stop_hosts: every sandbox host made by make_host (plus the mail host, in case
# its record was lost): its processes, netns and veth pair.
stop_hosts() {
  local f name pid i
  local -A hosts=(["$MAIL_NETNS"]=$(veth_name "$MAIL_ADDR") ["$LDAP_NETNS"]=$(veth_name "$LDAP_ADDR"))
  for f in "$HOSTS_DIR"/*; do
    hosts[$(basename "$f")]=$(sed -n 's/^VETH=//p' "$f")
  done
  for name in "${!hosts[@]}"; do
    # The init is PID 1 of its PID namespace: when it ends, the kernel kills
    # every process in the namespace and the namespace's mounts go away.
    if pid=$(init_pid "$name"); then stop_pid "$pid"; fi
    if netns_exists "$name"; then
      # Whatever else runs in our netns is ours too (e.g. an interrupted debootstrap).
      for ((i = 0; i < 50; i++)); do
        [[ -n $(ip netns pids "$name") ]] || break
        # shellcheck disable=SC2046  # one PID per word
        kill -KILL $(ip netns pids "$name") 2>/dev/null || true
        sleep 0.1
      done
      ip netns del "$name"
    fi
    # Deleting the netns destroys the veth pair; this catches a half-made one.
    if [[ -n ${hosts[$name]} ]] && ip link show "${hosts[$name]}" >/dev/null 2>&1; then
      ip link del "${hosts[$name]}"
    fi
    rm -f "$HOSTS_DIR/$name" "$RUN_DIR/$name.init.pid"
  done
}

stop_bridge() {
  ! ip link show "$BRIDGE" >/dev/null 2>&1 || ip link del "$BRIDGE"
}

stop_services() {
  local pid pids=()
  if pid=$(pid_alive "$RUN_DIR/apt-cacher-ng.pid" /usr/sbin/apt-cacher-ng); then pids+=("$pid"); fi
  if pid=$(pid_alive "$RUN_DIR/dnsmasq.pid" /usr/sbin/dnsmasq); then pids+=("$pid"); fi
  if pid=$(pid_alive "$RUN_DIR/pebble.pid" "$PEBBLE"); then pids+=("$pid"); fi
  if pid=$(pid_alive "$RUN_DIR/minio.pid" "$MINIO"); then pids+=("$pid"); fi
  # They take a second or two to exit: stop them side by side.
  for pid in "${pids[@]}"; do stop_pid "$pid" & done
  wait
  rm -f "$RUN_DIR"/apt-cacher-ng.* "$RUN_DIR/dnsmasq.pid" "$RUN_DIR/pebble.pid" "$RUN_DIR/minio.pid" "$DNS_HOSTS" "$ENV_FILE"
  # A fresh host gets a fresh bucket.
  rm -rf --one-file-system "$S3_DATA" "$STATE/mc"
}

# remove_rootfs KEEP: unmount leftovers under the state dir, then delete the
# extracted rootfs unless KEEP is 1.
remove_rootfs() {
  # The sandbox's mounts live only in its own mount namespace; if an older or
  # crashed run left one in the host's, unmount it rather than delete through it.
  awk -v r="$STATE/" 'index($5 "/", r) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  if (($1)); then
    log "kept $ROOTFS and $LDAP_ROOTFS"
  else
    # The file:// Pulumi backend (scripts/pulumi-env.sh) describes this host:
    # it goes with it, so the next stack on a fresh host starts from nothing.
    rm -rf --one-file-system "$ROOTFS" "$ROOTFS.new" "$LDAP_ROOTFS" "$LDAP_ROOTFS.new" "$STATE/pulumi"
  fi
}

cmd_down() {
  local keep_rootfs=0 t0=$EPOCHREALTIME
  case "${1:-}" in
    --keep-rootfs) keep_rootfs=1 ;;
    "") ;;
    *) die "unknown option for down: $1" "usage: $0 down [--keep-rootfs]" ;;
  esac
  take_lock
  phase stop-hosts "check 'ip netns list', 'ip netns pids NAME' by hand, then run down again" stop_hosts
  phase bridge "check 'ip link show $BRIDGE', then run down again" stop_bridge
  phase services "check 'ss -lntup', then run down again" stop_services
  phase rootfs "check 'findmnt -R $STATE', then run down again" remove_rootfs "$keep_rootfs"
  log "$(printf '%-14s %6.2fs' total "$(elapsed "$t0")")"
  log "down (cached images, key and LDAP passwords kept in $CACHE)"
}

# Predicates for `status`.
bridge_up() { ip -4 addr show dev "$BRIDGE" 2>/dev/null | grep -q "inet $BRIDGE_ADDR/"; }
netns_up() { ip -n "$MAIL_NETNS" -4 addr show dev eth0 2>/dev/null | grep -q "inet $MAIL_ADDR/"; }
proxy_up() {
  pid_alive "$RUN_DIR/apt-cacher-ng.pid" /usr/sbin/apt-cacher-ng >/dev/null &&
    listening tcp "$BRIDGE_ADDR" "$PROXY_PORT"
}
dns_up() { pid_alive "$RUN_DIR/dnsmasq.pid" /usr/sbin/dnsmasq >/dev/null && listening udp "$BRIDGE_ADDR" 53; }
s3_up() { pid_alive "$RUN_DIR/minio.pid" "$MINIO" >/dev/null && listening tcp "$BRIDGE_ADDR" "$S3_PORT"; }
acme_up() { pid_alive "$RUN_DIR/pebble.pid" "$PEBBLE" >/dev/null && listening tcp "$BRIDGE_ADDR" "$ACME_PORT"; }
host_pkgs_ok() { [[ -z $(missing_host_pkgs) ]]; }
sshd_up() { init_pid "$MAIL_NETNS" >/dev/null && sshd_running; }
init_up() { init_pid "$MAIL_NETNS" >/dev/null; }
ldap_netns_up() { ip -n "$LDAP_NETNS" -4 addr show dev eth0 2>/dev/null | grep -q "inet $LDAP_ADDR/"; }
ldap_init_up() { init_pid "$LDAP_NETNS" >/dev/null; }
slapd_up() { ldap_init_up && slapd_running && slapd_listening; }

cmd_status() {
  local failed=0 pid
  # check WHAT CMD...: one line per part, "ok" or "DOWN".
  check() {
    local what=$1
    shift
    if "$@"; then
      printf 'ok    %s\n' "$what"
    else
      printf 'DOWN  %s\n' "$what"
      failed=1
    fi
  }
  check "host packages (${HOST_PKGS[*]})" host_pkgs_ok
  check "bridge $BRIDGE $BRIDGE_ADDR/$NET_LEN" bridge_up
  check "netns $MAIL_NETNS $MAIL_ADDR" netns_up
  check "apt proxy $PROXY_URL" proxy_up
  check "dns $BRIDGE_ADDR:53 (zone $ZONE)" dns_up
  check "acme https://$BRIDGE_ADDR:$ACME_PORT/dir (pebble)" acme_up
  check "s3 http://$BRIDGE_ADDR:$S3_PORT/$S3_BUCKET (minio)" s3_up
  check "image $TARBALL" test -s "$TARBALL"
  check "rootfs $ROOTFS" test -f "$ROOTFS/etc/debian_version"
  pid=$(init_pid "$MAIL_NETNS") || pid="-"
  check "sandbox init (pid $pid)" init_up
  check "sshd in the sandbox" sshd_up
  check "ssh root@$MAIL_ADDR" ssh_ok
  check "netns $LDAP_NETNS $LDAP_ADDR" ldap_netns_up
  check "ldap image $LDAP_TARBALL" test -s "$LDAP_TARBALL"
  check "ldap rootfs $LDAP_ROOTFS" test -f "$LDAP_ROOTFS/etc/debian_version"
  pid=$(init_pid "$LDAP_NETNS") || pid="-"
  check "ldap init (pid $pid)" ldap_init_up
  check "slapd on $LDAP_URI ($LDAP_SUFFIX)" slapd_up
  check "env file $ENV_FILE" test -s "$ENV_FILE"
  return "$failed"
}
