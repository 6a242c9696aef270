#!/bin/bash
# Local sandbox "mail host" for testing the mailstack deployment over SSH.
#
#   sandbox.sh up                  build (first time) and start the sandbox; idempotent
#   sandbox.sh down [--keep-rootfs] stop it and remove what `up` made (keeps caches)
#   sandbox.sh status              show each part; exit 0 only if all are up
#   sandbox.sh reboot              power-cycle the mail host: kill it, boot it again
#   sandbox.sh exec [CMD...]       run CMD (default: bash) inside the sandbox
#   sandbox.sh ldap-exec [CMD...]  the same inside the test LDAP host
#   sandbox.sh ldap-stop|ldap-start  stop/start only slapd (fail-over tests)
#
# The sandbox is a Debian 12 chroot running in its own network, UTS, IPC, mount
# and PID namespaces, reachable only over the bridge msbr0 (10.213.0.0/24):
#   10.213.0.1  host side: apt-cacher-ng (:3142), dnsmasq (:53, zone example.test)
#               and Pebble, the test ACME server (:14000, management :15000)
#               and MinIO, the backups' S3 server (:9000)
#   10.213.0.2  netns mailstack-mail: the mail host, sshd on :22
#   10.213.0.3  netns mailstack-ldap: the company LDAP server (slapd, :389),
#               suffix dc=corp,dc=example,dc=test, in the same kind of chroot
# The namespaces have no default route and the host does no NAT or forwarding,
# so the sandbox can reach nothing but the bridge. Only apt-cacher-ng, on the
# host, fetches packages from the Debian mirror (the host's normal apt path).
# More test hosts (LDAP, clients) can join the bridge with make_host.
#
# After `up`, ${MAILSTACK_STATE}/sandbox.env holds SANDBOX_* variables for tests.
# This is a test fixture, not a security boundary: the sandbox's root is the
# host's root with a few capabilities dropped.
set -euo pipefail
shopt -s nullglob

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS_INIT="$SCRIPT_DIR/sandbox/ns-init.sh"

CACHE="${MAILSTACK_CACHE:-$HOME/.cache/mailstack}/sandbox"
# PostgreSQL is in the image as on a host where the DBA installed it (the
# mission's preprovisioned database); start_database plays that DBA.
DEBOOTSTRAP_INCLUDE=openssh-server,ca-certificates,iproute2,procps,sudo,less,apt-utils,netbase,init-system-helpers,postgresql
STATE="${MAILSTACK_STATE:-/var/lib/mailstack-sandbox}"
ROOTFS="$STATE/rootfs"
# The image's name carries its package list, so changing the list rebuilds it.
TARBALL="$CACHE/bookworm-rootfs-$(printf '%s' "$DEBOOTSTRAP_INCLUDE" | sha256sum | cut -c1-12).tar.zst"
KEY="$CACHE/id_ed25519"
ENV_FILE="$STATE/sandbox.env"
RUN_DIR="$STATE/run"      # pid files of what we started
LOG_DIR="$STATE/log"
HOSTS_DIR="$STATE/hosts"  # one file per make_host, so `down` finds them all
DNS_HOSTS="$STATE/dns-hosts"
ACNG_DIR="$CACHE/apt-cacher-ng"
LOCK_FILE=/run/lock/mailstack-sandbox.lock

# The test ACME server: Pebble, built from its Go module by toolchain.sh. Its
# HTTPS listener has a certificate from a CA made here once per machine; the
# stack trusts that CA through mailstack:acmeCaBundlePath, as a host would
# trust a private ACME server's. Pebble validates HTTP-01 challenges by asking
# dnsmasq for the name and fetching it from the mail host's port 80.
ACME_DIR="$CACHE/acme"
ACME_CA="$ACME_DIR/ca.pem"
ACME_PORT=14000
ACME_MGMT_PORT=15000
PEBBLE="${MAILSTACK_CACHE:-$HOME/.cache/mailstack}/toolchain/bin/pebble"
# The names the mail host's certificate covers besides mail.example.test, for
# the sandbox stack's domains (Pulumi.sandbox.yaml): the MTA-STS, autoconfig
# and autodiscover hosts, CNAMEs of the mail host as the stack's zones say.
SANDBOX_MAIL_DOMAINS=(example.test example.org corp.example.test)

# The backups' S3: a MinIO server built from its Go module, holding the bucket
# the sandbox stack backs up into (its external-S3 mode: an existing bucket and
# a key that may use it). Its root credentials are made once per machine and
# never leave $CACHE or MinIO's environment; the backup key is a public test
# credential, like the test accounts' passwords, stored in Pulumi.sandbox.yaml.
S3_PORT=9000
S3_DATA="$STATE/minio"
S3_ROOT_FILE="$CACHE/minio-root"
MINIO="${MAILSTACK_CACHE:-$HOME/.cache/mailstack}/toolchain/bin/minio"
MC="${MAILSTACK_CACHE:-$HOME/.cache/mailstack}/toolchain/bin/mc"
S3_BUCKET=mail-example-test
S3_KEY_ID=mailstack-sandbox-backup
S3_KEY_SECRET=mailstack-sandbox-backup-secret

SUITE=bookworm
# Same mirror as the host's /etc/apt/sources.list.d/debian.sources.
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security

BRIDGE=msbr0
NET_PREFIX=10.213.0
BRIDGE_ADDR=$NET_PREFIX.1
NET_LEN=24
PROXY_PORT=3142
PROXY_URL="http://$BRIDGE_ADDR:$PROXY_PORT"
ZONE=example.test
MAIL_NETNS=mailstack-mail
MAIL_ADDR=$NET_PREFIX.2
MAIL_HOSTNAME=mail
SSH_PORT=22

# The test LDAP server: slapd in a small image of its own (debootstrap minbase
# plus ldap-utils, then slapd installed unconfigured; we write its config).
LDAP_NETNS=mailstack-ldap
LDAP_ADDR=$NET_PREFIX.3
LDAP_HOSTNAME=ldap
LDAP_ROOTFS="$STATE/ldap-rootfs"
LDAP_DEBOOTSTRAP_INCLUDE=ldap-utils,netbase
LDAP_APT_INSTALL=slapd
LDAP_PRESEED="slapd slapd/no_configuration boolean true"
LDAP_TARBALL="$CACHE/bookworm-ldap-$(printf '%s|%s|%s' "$LDAP_DEBOOTSTRAP_INCLUDE" "$LDAP_APT_INSTALL" "$LDAP_PRESEED" |
  sha256sum | cut -c1-12).tar.zst"
LDAP_URI=ldap://$LDAP_ADDR
LDAP_SUFFIX=dc=corp,dc=example,dc=test
LDAP_ADMIN_DN=cn=admin,$LDAP_SUFFIX
LDAP_BIND_DN=cn=mailserver,$LDAP_SUFFIX
LDAP_PEOPLE=ou=people,$LDAP_SUFFIX
# Made once per machine, mode 600, no trailing newline (ldap* -y and
# slappasswd -T use the whole file). Never printed, never on a command line.
LDAP_ADMIN_PW_FILE="$CACHE/ldap-admin-pw"
LDAP_BIND_PW_FILE="$CACHE/ldap-bind-pw"
# Test users of the LDAP domain: uid:password (public test passwords).
LDAP_USERS=(carol:carol-ldap-pw dan:dan-ldap-pw)
LDAP_MAIL_DOMAIN=corp.example.test
# Capabilities the sandbox's root must not have: they act on the whole machine
# (kernel modules, the clock, reboot, raw I/O), not on one namespace.
CAPDROP=-sys_module,-sys_time,-sys_boot,-sys_rawio,-wake_alarm
SANDBOX_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SSH_OPTS=(-i "$KEY" -p "$SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR)

export DEBIAN_FRONTEND=noninteractive LC_ALL=C

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

# --------------------------------------------------------- 1. host packages ---

HOST_PKGS=(debootstrap debian-archive-keyring apt-cacher-ng iproute2 dnsmasq-base zstd
  openssh-client util-linux procps)

missing_host_pkgs() {
  local p
  for p in "${HOST_PKGS[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || echo "$p"
  done
}

install_host_pkgs() {
  local missing p policy_made=0
  mapfile -t missing < <(missing_host_pkgs)
  ((${#missing[@]})) || return 0
  log "installing host packages: ${missing[*]}"

  # apt-get update only when some missing package has no install candidate
  # (never-updated or outdated package lists).
  for p in "${missing[@]}"; do
    if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]'; then
      apt-get update -qq
      break
    fi
  done

  # Package postinsts must not start a system-wide apt-cacher-ng listening on
  # every interface: policy-rc.d exit 101 forbids service starts during the
  # install. Only add one if the host has none, and remove it afterwards.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, from mailstack scripts/sandbox.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_made=1
  fi
  local rc=0
  apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >"$LOG_DIR/apt-host.log" 2>&1 || rc=$?
  ((policy_made)) && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || die "apt-get install ${missing[*]} failed (see $LOG_DIR/apt-host.log)" \
    "check the host's apt: apt-get update && apt-get install ${missing[*]}"

  # On a systemd host the package also enables apt-cacher-ng for the next
  # boot, where it would listen on all interfaces. We run our own instance.
  if [[ " ${missing[*]} " == *" apt-cacher-ng "* && -d /run/systemd/system ]]; then
    systemctl disable --now apt-cacher-ng.service >/dev/null 2>&1 || true
  fi
}

# --------------------------------------------------------------- 3. network ---

make_bridge() {
  local route
  route=$(ip -4 route show "$NET_PREFIX.0/$NET_LEN" 2>/dev/null)
  if [[ -n $route && $route != *"dev $BRIDGE "* ]]; then
    die "$NET_PREFIX.0/$NET_LEN is already routed on this host: $route" \
      "free that network or change NET_PREFIX in $0"
  fi
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    # No STP and no forward delay: ports forward as soon as they are up.
    ip link add "$BRIDGE" type bridge stp_state 0 forward_delay 0
  fi
  # IPv4 only on the test network: no IPv6 link-local chatter or SLAAC.
  no_ipv6 "" "$BRIDGE"
  ip addr replace "$BRIDGE_ADDR/$NET_LEN" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# no_ipv6 NETNS IFACE: disable IPv6 on IFACE (in NETNS, or the host if "").
no_ipv6() {
  local ns=$1 f=/proc/sys/net/ipv6/conf/$2/disable_ipv6
  if [[ -z $ns ]]; then
    [[ ! -w $f ]] || echo 1 >"$f"
  else
    ip netns exec "$ns" sh -c "[ ! -w $f ] || echo 1 >$f"
  fi
}

# make_host NAME ADDR [DNSNAME]: a network namespace NAME attached to the bridge
# with ADDR/24 on its eth0, lo up and no default route. DNSNAME (default: NAME
# without "mailstack-") gets an A and PTR record in the zone. Idempotent.
make_host() {
  local name=$1 addr=$2 dnsname=${3:-${1#mailstack-}} veth
  veth=$(veth_name "$addr")
  netns_exists "$name" || ip netns add "$name"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip -n "$name" link del eth0 2>/dev/null || true
    ip link add "$veth" type veth peer name "${veth}p" netns "$name"
    ip -n "$name" link set "${veth}p" name eth0
  fi
  no_ipv6 "" "$veth"
  ip link set "$veth" master "$BRIDGE" up
  no_ipv6 "$name" eth0
  ip -n "$name" addr replace "$addr/$NET_LEN" dev eth0
  ip -n "$name" link set lo up
  ip -n "$name" link set eth0 up
  if [[ -n $(ip -n "$name" route show default) ]]; then
    die "netns $name has a default route; the sandbox must not reach beyond $BRIDGE" \
      "run: bash $0 down && bash $0 up"
  fi
  printf 'NAME=%q\nADDR=%q\nVETH=%q\n' "$name" "$addr" "$veth" | write_file "$HOSTS_DIR/$name" 644
  add_dns_record "$addr" "$dnsname"
}

# --------------------------------------------------- apt proxy and test DNS ---

start_apt_proxy() {
  local pid
  mkdir -p "$ACNG_DIR/conf" "$ACNG_DIR/cache" "$ACNG_DIR/log"
  # Our own config: bound to the bridge address only, and ForceManaged so it
  # proxies nothing but the two Debian repositories below.
  write_file "$ACNG_DIR/conf/acng.conf" 644 <<EOF
# written by mailstack scripts/sandbox.sh
CacheDir: $ACNG_DIR/cache
LogDir: $ACNG_DIR/log
SupportDir: /usr/lib/apt-cacher-ng
BindAddress: $BRIDGE_ADDR
Port: $PROXY_PORT
PidFile: $RUN_DIR/apt-cacher-ng.pid
SocketPath: $RUN_DIR/apt-cacher-ng.socket
ForeGround: 0
ForceManaged: 1
Remap-debrep: ${MIRROR#http://} /debian ; ${MIRROR#http://}
Remap-secdeb: ${SECURITY_MIRROR#http://} /debian-security ; ${SECURITY_MIRROR#http://}
ReportPage: acng-report.html
ExThreshold: 4
EOF
  if pid=$(pid_alive "$RUN_DIR/apt-cacher-ng.pid" /usr/sbin/apt-cacher-ng) &&
    listening tcp "$BRIDGE_ADDR" "$PROXY_PORT"; then
    return 0
  fi
  [[ -z ${pid:-} ]] || stop_pid "$pid"
  port_free tcp "$PROXY_PORT" "apt-cacher-ng"
  spawn "$LOG_DIR/apt-cacher-ng.log" /usr/sbin/apt-cacher-ng -c "$ACNG_DIR/conf"
  wait_for "apt-cacher-ng on $BRIDGE_ADDR:$PROXY_PORT" listening tcp "$BRIDGE_ADDR" "$PROXY_PORT"
}

# port_free PROTO PORT WHAT: fail clearly if another program already holds PORT
# on our address or on a wildcard address (then we could not bind it).
port_free() {
  local flag=-ltnp
  [[ $1 == udp ]] && flag=-lunp
  local holders
  holders=$(ss -H "$flag" sport = ":$2" 2>/dev/null |
    awk -v a="$BRIDGE_ADDR:$2" '$4 == a || $4 ~ /^(0\.0\.0\.0|\*|\[::\]):/' || true)
  [[ -z $holders ]] || die "port $2/$1 for $3 is taken: $holders" \
    "stop that program or bind it to 127.0.0.1 only (for the system apt-cacher-ng: BindAddress: 127.0.0.1 in /etc/apt-cacher-ng/acng.conf, then restart it)"
}

# add_dns_record ADDR NAME: A + PTR for NAME.$ZONE; dnsmasq rereads on HUP.
add_dns_record() {
  local addr=$1 name=$2 pid
  [[ -e $DNS_HOSTS ]] || : >"$DNS_HOSTS"
  if ! grep -qxF "$addr $name.$ZONE $name" "$DNS_HOSTS"; then
    grep -v -e "^$addr " -e " $name.$ZONE " "$DNS_HOSTS" >"$DNS_HOSTS.tmp" || true
    echo "$addr $name.$ZONE $name" >>"$DNS_HOSTS.tmp"
    mv "$DNS_HOSTS.tmp" "$DNS_HOSTS"
    if pid=$(pid_alive "$RUN_DIR/dnsmasq.pid" /usr/sbin/dnsmasq); then kill -HUP "$pid"; fi
  fi
}

start_dns() {
  local pid user=nobody d web_zones=() web_names=()
  for d in "${SANDBOX_MAIL_DOMAINS[@]}"; do
    [[ $d == "$ZONE" || $d == *".$ZONE" ]] || web_zones+=(--local="/$d/")
    web_names+=("mta-sts.$d" "autoconfig.$d" "autodiscover.$d")
  done
  add_dns_record "$BRIDGE_ADDR" gw
  if pid=$(pid_alive "$RUN_DIR/dnsmasq.pid" /usr/sbin/dnsmasq) &&
    listening udp "$BRIDGE_ADDR" 53; then
    return 0
  fi
  [[ -z ${pid:-} ]] || stop_pid "$pid"
  port_free udp 53 dnsmasq
  getent passwd dnsmasq >/dev/null && user=dnsmasq
  # Authoritative-only test DNS: bound to the bridge address alone, no
  # upstream servers (--no-resolv), no /etc/hosts, answers only example.test
  # (+ its reverse zone); any other name is refused, never forwarded.
  spawn "$LOG_DIR/dnsmasq.out" /usr/sbin/dnsmasq \
    --conf-file=/dev/null --keep-in-foreground --user="$user" \
    --pid-file="$RUN_DIR/dnsmasq.pid" --log-facility="$LOG_DIR/dnsmasq.log" --log-queries \
    --bind-interfaces --listen-address="$BRIDGE_ADDR" --port=53 \
    --no-resolv --no-hosts --no-poll --addn-hosts="$DNS_HOSTS" \
    --local="/$ZONE/" --local="/0.${NET_PREFIX#*.}.${NET_PREFIX%%.*}.in-addr.arpa/" \
    "${web_zones[@]}" --cname="$(IFS=,; echo "${web_names[*]}"),$MAIL_HOSTNAME.$ZONE" \
    --domain-needed --bogus-priv \
    --mx-host="$ZONE,$MAIL_HOSTNAME.$ZONE,10"
  wait_for "dnsmasq on $BRIDGE_ADDR:53" listening udp "$BRIDGE_ADDR" 53
}

# The policy the stack itself would give the backup key (components/storage.ts).
print_backup_policy() { node "$SCRIPT_DIR/sandbox/backup-policy.js" "$1"; }

# mc as MinIO's root, without the credentials on any command line.
mc_root() {
  local user pw
  { read -r user && read -r pw; } <"$S3_ROOT_FILE"
  MC_CONFIG_DIR="$STATE/mc" MC_HOST_sandbox="http://$user:$pw@$BRIDGE_ADDR:$S3_PORT" "$MC" --quiet "$@"
}

start_s3() {
  local pid
  [[ -x $MINIO && -x $MC ]] ||
    die "minio or mc is missing in the toolchain cache" "run: bash $SCRIPT_DIR/toolchain.sh servers"
  if [[ ! -s $S3_ROOT_FILE ]]; then
    (umask 077 && printf 'mailstack-root\n%s\n' "$(openssl rand -hex 24)" >"$S3_ROOT_FILE")
  fi
  mkdir -p "$S3_DATA"
  if ! { pid=$(pid_alive "$RUN_DIR/minio.pid" "$MINIO") && listening tcp "$BRIDGE_ADDR" "$S3_PORT"; }; then
    [[ -z ${pid:-} ]] || stop_pid "$pid"
    port_free tcp "$S3_PORT" minio
    (
      { read -r MINIO_ROOT_USER && read -r MINIO_ROOT_PASSWORD; } <"$S3_ROOT_FILE"
      export MINIO_ROOT_USER MINIO_ROOT_PASSWORD MINIO_BROWSER=off
      spawn "$LOG_DIR/minio.log" "$MINIO" server --quiet --address "$BRIDGE_ADDR:$S3_PORT" "$S3_DATA"
    )
    wait_for "minio on $BRIDGE_ADDR:$S3_PORT" listening tcp "$BRIDGE_ADDR" "$S3_PORT"
    pgrep -n -x -f "$MINIO server --quiet --address $BRIDGE_ADDR:$S3_PORT $S3_DATA" >"$RUN_DIR/minio.pid"
  fi
  # The bucket an S3 admin would hand the mail team: versioned, with a key
  # limited to it by the stack's own backup policy.
  local policy="$STATE/mail-server-policy.json"
  print_backup_policy "$S3_BUCKET" >"$policy"
  {
    mc_root mb --ignore-existing "sandbox/$S3_BUCKET"
    mc_root version enable "sandbox/$S3_BUCKET"
    mc_root admin policy create sandbox mail-server-policy "$policy"
    printf '%s\n' "$S3_KEY_SECRET" | mc_root admin user add sandbox "$S3_KEY_ID"
    mc_root admin policy attach sandbox mail-server-policy --user "$S3_KEY_ID" || true
  } >>"$LOG_DIR/minio-setup.log" 2>&1 ||
    die "setting up the bucket on minio failed (log: $LOG_DIR/minio-setup.log)" "bash $0 down && bash $0 up"
}

# The test ACME server's own TLS: a CA and a certificate for its address,
# made once per machine (keys mode 600 in the cache, never printed).
make_acme_certs() {
  [[ -s $ACME_CA && -s $ACME_DIR/listener.pem && -s $ACME_DIR/listener.key ]] && return 0
  mkdir -p "$ACME_DIR"
  chmod 700 "$ACME_DIR"
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=mailstack sandbox ACME CA" -keyout "$ACME_DIR/ca.key" -out "$ACME_DIR/ca.pem.tmp"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=acme.$ZONE" -keyout "$ACME_DIR/listener.key" -out "$ACME_DIR/listener.csr"
    printf 'subjectAltName=IP:%s,DNS:acme.%s\n' "$BRIDGE_ADDR" "$ZONE" >"$ACME_DIR/listener.ext"
    openssl x509 -req -in "$ACME_DIR/listener.csr" -CA "$ACME_DIR/ca.pem.tmp" -CAkey "$ACME_DIR/ca.key" \
      -CAcreateserial -days 3650 -extfile "$ACME_DIR/listener.ext" -out "$ACME_DIR/listener.pem"
  ) >>"$LOG_DIR/acme-certs.log" 2>&1
  chmod 644 "$ACME_DIR/ca.pem.tmp"
  mv -f "$ACME_DIR/ca.pem.tmp" "$ACME_CA"
}

start_acme() {
  local pid
  # Built (or found cached) from its Go module; stdout is only a PATH line.
  bash "$SCRIPT_DIR/toolchain.sh" servers >/dev/null 2>>"$LOG_DIR/toolchain.log" ||
    die "building the test servers (pebble, minio, mc) failed (log: $LOG_DIR/toolchain.log)" \
      "run: bash $SCRIPT_DIR/toolchain.sh servers   (needs Go and the Go module proxy)"
  make_acme_certs
  write_file "$STATE/pebble.json" 644 <<EOF
{
  "pebble": {
    "listenAddress": "$BRIDGE_ADDR:$ACME_PORT",
    "managementListenAddress": "$BRIDGE_ADDR:$ACME_MGMT_PORT",
    "certificate": "$ACME_DIR/listener.pem",
    "privateKey": "$ACME_DIR/listener.key",
    "httpPort": 80,
    "tlsPort": 443,
    "externalAccountBindingRequired": false,
    "keyAlgorithm": "ecdsa",
    "profiles": { "default": { "description": "sandbox", "validityPeriod": 7776000 } }
  }
}
EOF
  if pid=$(pid_alive "$RUN_DIR/pebble.pid" "$PEBBLE") && listening tcp "$BRIDGE_ADDR" "$ACME_PORT"; then
    return 0
  fi
  [[ -z ${pid:-} ]] || stop_pid "$pid"
  port_free tcp "$ACME_PORT" pebble
  port_free tcp "$ACME_MGMT_PORT" "pebble's management API"
  # No sleeps before validations and no deliberately rejected nonces: the
  # tests want real validations, not Pebble's client-robustness drills.
  spawn "$LOG_DIR/pebble.log" env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
    "$PEBBLE" -config "$STATE/pebble.json" -dnsserver "$BRIDGE_ADDR:53"
  wait_for "pebble on $BRIDGE_ADDR:$ACME_PORT" listening tcp "$BRIDGE_ADDR" "$ACME_PORT"
  pgrep -f -n -x "$PEBBLE -config $STATE/pebble.json -dnsserver $BRIDGE_ADDR:53" >"$RUN_DIR/pebble.pid"
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

# ---------------------------------------------------------------- 2. rootfs ---

# The tarball is built once (minutes) and reused; extraction takes seconds.
# debootstrap runs inside the sandbox's netns, so it can reach only the apt
# proxy, and in fresh mount and PID namespaces, so its mounts and any daemon
# a postinst might start vanish with it instead of leaking into the host.
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

# ------------------------------------------------------ 7. test LDAP server ---

# ldap_image_steps BUILD SUITE MIRROR INCLUDE PKGS PRESEED: run by bash -c in
# the LDAP host's netns and fresh mount/PID namespaces (see build_ldap_tarball):
# a minbase debootstrap, then the packages that need debconf answers first.
ldap_image_steps() {
  set -euo pipefail
  local build=$1 suite=$2 mirror=$3 include=$4 pkgs=$5 preseed=$6
  debootstrap --variant=minbase --include="$include" --components=main \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$suite" "$build" "$mirror"
  mount -t proc proc "$build/proc"
  # No service starts during the build (slapd is configured by sandbox.sh).
  printf '#!/bin/sh\nexit 101\n' >"$build/usr/sbin/policy-rc.d"
  chmod 755 "$build/usr/sbin/policy-rc.d"
  echo "$preseed" | chroot "$build" debconf-set-selections
  # apt uses $http_proxy (the sandbox's apt-cacher-ng) and debootstrap's lists.
  # shellcheck disable=SC2086  # one package per word
  chroot "$build" apt-get install -y -q --no-install-recommends \
    -o Acquire::Check-Valid-Until=false $pkgs
  umount "$build/proc"
  rm -f "$build/usr/sbin/policy-rc.d"
}

# The LDAP image: built once (a minute or two), cached like the mail image.
build_ldap_tarball() {
  [[ -s $LDAP_TARBALL ]] && return 0
  local build
  log "building $LDAP_TARBALL (first run only, takes a minute or two)"
  build=$(mktemp -d "$CACHE/build-ldap.XXXXXX")
  # shellcheck disable=SC2064  # expand $build now
  trap "rm -rf --one-file-system '$build'" EXIT
  chmod 755 "$build"
  if ! ip netns exec "$LDAP_NETNS" unshare --mount --pid --fork --kill-child --mount-proc \
    env http_proxy="$PROXY_URL" DEBIAN_FRONTEND=noninteractive \
    bash -c "$(declare -f ldap_image_steps); ldap_image_steps \"\$@\"" ldap-image \
    "$build" "$SUITE" "$MIRROR" "$LDAP_DEBOOTSTRAP_INCLUDE" "${LDAP_APT_INSTALL//,/ }" "$LDAP_PRESEED" \
    >"$LOG_DIR/ldap-image.log" 2>&1; then
    tail -n 15 "$LOG_DIR/ldap-image.log" >&2
    die "building the LDAP image failed (full log: $LOG_DIR/ldap-image.log; apt proxy log: $ACNG_DIR/log)" \
      "check that the host reaches $MIRROR (apt-get update on the host) and that apt-cacher-ng runs"
  fi
  # Small: no docs, man pages or translations; no build-host leftovers.
  rm -f "$build/etc/resolv.conf" "$build/etc/hostname"
  rm -rf "$build"/var/cache/apt/archives/*.deb "$build"/var/cache/apt/*.bin "$build"/var/lib/apt/lists/*_* \
    "$build"/usr/share/doc/* "$build"/usr/share/man/* "$build"/usr/share/info/* "$build"/usr/share/locale/*
  tar --numeric-owner --xattrs --xattrs-include='*' -C "$build" -cf - . |
    zstd -q -T0 -10 -o "$LDAP_TARBALL.tmp"
  mv -f "$LDAP_TARBALL.tmp" "$LDAP_TARBALL"
  rm -rf --one-file-system "$build"
  trap - EXIT
}

# make_secret FILE: a random password, made once, mode 600, no newline.
make_secret() {
  local file=$1
  if [[ ! -s $file ]]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '\n' | tr '+/' '-_' >"$file.tmp")
    mv -f "$file.tmp" "$file"
  fi
  chmod 600 "$file"
}

setup_ldap_rootfs() {
  extract_rootfs "$LDAP_TARBALL" "$LDAP_ROOTFS"
  write_file "$LDAP_ROOTFS/etc/resolv.conf" 644 <<EOT
search $ZONE
nameserver $BRIDGE_ADDR
EOT
  echo "$LDAP_HOSTNAME" | write_file "$LDAP_ROOTFS/etc/hostname" 644
  write_file "$LDAP_ROOTFS/etc/hosts" 644 <<EOT
127.0.0.1 localhost
$LDAP_ADDR $LDAP_HOSTNAME.$ZONE $LDAP_HOSTNAME
EOT
  # Read by /etc/init.d/slapd: the bridge address only (no wildcard), plus
  # the local socket for administration as root (SASL EXTERNAL).
  write_file "$LDAP_ROOTFS/etc/default/slapd" 644 <<EOT
# written by mailstack scripts/sandbox.sh
SLAPD_CONF=
SLAPD_USER="openldap"
SLAPD_GROUP="openldap"
SLAPD_PIDFILE=
SLAPD_SERVICES="$LDAP_URI/ ldapi:///"
SLAPD_SENTINEL_FILE=/etc/ldap/noslapd
SLAPD_OPTIONS=""
EOT
  write_file "$LDAP_ROOTFS/etc/ldap/ldap.conf" 644 <<EOT
# written by mailstack scripts/sandbox.sh
BASE $LDAP_SUFFIX
URI ldapi:///
EOT
  mkdir -p "$CACHE"
  make_secret "$LDAP_ADMIN_PW_FILE"
  make_secret "$LDAP_BIND_PW_FILE"
}

# ldap_config_ldif ADMIN_HASH: cn=config (loaded with slapadd -n 0).
ldap_config_ldif() {
  cat <<EOT
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: /run/slapd/slapd.pid
olcArgsFile: /run/slapd/slapd.args
olcLogLevel: none
olcToolThreads: 1

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500
olcAccess: {0}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break
olcAccess: {1}to dn.exact="" by * read
olcAccess: {2}to dn.base="cn=Subschema" by * read

dn: olcDatabase=config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: config
olcAccess: to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break
olcRootDN: cn=admin,cn=config

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: olcDatabase=mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: mdb
olcDbMaxSize: 67108864
olcDbCheckpoint: 512 30
olcLastMod: TRUE
olcSuffix: $LDAP_SUFFIX
olcDbDirectory: /var/lib/ldap
olcRootDN: $LDAP_ADMIN_DN
olcRootPW: $1
olcDbIndex: objectClass eq
olcDbIndex: cn,uid,mail eq
olcAccess: {0}to attrs=userPassword
  by anonymous auth
  by * none
olcAccess: {1}to dn.subtree="$LDAP_PEOPLE"
  by dn.exact="$LDAP_BIND_DN" read
  by self read
  by * none
olcAccess: {2}to *
  by self read
  by * none
EOT
}

# ldap_data_ldif BIND_HASH USER_HASH...: the directory (slapadd -b SUFFIX).
ldap_data_ldif() {
  local bind_hash=$1 u uid i=2 dc=${LDAP_SUFFIX%%,*} cn=${LDAP_BIND_DN%%,*}
  cat <<EOT
dn: $LDAP_SUFFIX
objectClass: dcObject
objectClass: organization
o: $LDAP_MAIL_DOMAIN
dc: ${dc#dc=}

dn: $LDAP_BIND_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: ${cn#cn=}
description: read-only account of the mail server
userPassword: $bind_hash

dn: $LDAP_PEOPLE
objectClass: organizationalUnit
ou: people

EOT
  for u in "${LDAP_USERS[@]}"; do
    uid=${u%%:*}
    cat <<EOT
dn: uid=$uid,$LDAP_PEOPLE
objectClass: inetOrgPerson
uid: $uid
cn: ${uid^}
sn: ${uid^}
mail: $uid@$LDAP_MAIL_DOMAIN
userPassword: ${!i}

EOT
    i=$((i + 1))
  done
}

# hash_pw: an {SSHA} hash of the password on stdin, made by the LDAP host's
# slappasswd (the secret goes through a pipe, never onto a command line).
hash_pw() { sandbox_exec "$LDAP_NETNS" slappasswd -n -h '{SSHA}' -T /dev/stdin; }

# What the directory is made from: the two LDIF generators and the passwords.
# Stored (600) in the LDAP rootfs, so a warm `up` rebuilds nothing, and a
# changed generator or password file rebuilds the directory.
ldap_config_sum() {
  { declare -f ldap_config_ldif ldap_data_ldif; printf '%s\n' "${LDAP_USERS[@]}"
    cat "$LDAP_ADMIN_PW_FILE" "$LDAP_BIND_PW_FILE"; } | sha256sum | cut -d' ' -f1
}

slapd_running() {
  # shellcheck disable=SC2016  # expanded by the LDAP host's sh
  sandbox_exec "$LDAP_NETNS" sh -c 'pid=$(cat /run/slapd/slapd.pid 2>/dev/null) && kill -0 "$pid"' 2>/dev/null
}

# listening_in NETNS ADDR PORT: a TCP listener on exactly ADDR:PORT in NETNS.
listening_in() {
  nsenter --net="/run/netns/$1" ss -H -ltn src "$2:$3" 2>/dev/null | grep -q .
}
slapd_listening() { listening_in "$LDAP_NETNS" "$LDAP_ADDR" 389; }
slapd_closed() { ! slapd_listening; }

slapd_stop() {
  sandbox_exec "$LDAP_NETNS" /etc/init.d/slapd stop >>"$LOG_DIR/slapd.log" 2>&1 ||
    die "slapd did not stop (log: $LOG_DIR/slapd.log)" "bash $0 ldap-exec /etc/init.d/slapd stop"
  wait_for "slapd to close $LDAP_ADDR:389" slapd_closed
}

slapd_start() {
  if ! slapd_running; then
    sandbox_exec "$LDAP_NETNS" /etc/init.d/slapd start >>"$LOG_DIR/slapd.log" 2>&1 ||
      die "slapd did not start (log: $LOG_DIR/slapd.log)" \
        "check the config with: bash $0 ldap-exec slaptest -F /etc/ldap/slapd.d"
  fi
  wait_for "slapd on $LDAP_ADDR:389 (log: $LOG_DIR/slapd.log)" slapd_listening
}

# configure_slapd: cn=config and the directory, loaded offline with slapadd,
# only when the sum differs (first run, or changed LDIF/passwords).
configure_slapd() {
  local sum sumfile="$LDAP_ROOTFS/etc/ldap/mailstack.sum" u hashes=()
  sum=$(ldap_config_sum)
  [[ -f $sumfile && $(<"$sumfile") == "$sum" ]] && return 0
  log "loading slapd's config and directory ($LDAP_SUFFIX)"
  if slapd_running; then slapd_stop; fi
  rm -f "$sumfile"
  rm -rf --one-file-system "$LDAP_ROOTFS/etc/ldap/slapd.d" "$LDAP_ROOTFS/var/lib/ldap"
  for u in "${LDAP_USERS[@]}"; do hashes+=("$(printf '%s' "${u#*:}" | hash_pw)"); done
  ldap_config_ldif "$(hash_pw <"$LDAP_ADMIN_PW_FILE")" |
    sandbox_exec "$LDAP_NETNS" sh -c 'install -d -m 755 /etc/ldap/slapd.d && install -d -m 700 /var/lib/ldap &&
      slapadd -q -n 0 -F /etc/ldap/slapd.d' >>"$LOG_DIR/slapd.log" 2>&1 ||
    die "slapadd of cn=config failed (log: $LOG_DIR/slapd.log)" "fix ldap_config_ldif in $0"
  ldap_data_ldif "$(hash_pw <"$LDAP_BIND_PW_FILE")" "${hashes[@]}" |
    sandbox_exec "$LDAP_NETNS" slapadd -q -F /etc/ldap/slapd.d -b "$LDAP_SUFFIX" >>"$LOG_DIR/slapd.log" 2>&1 ||
    die "slapadd of $LDAP_SUFFIX failed (log: $LOG_DIR/slapd.log)" "fix ldap_data_ldif in $0"
  sandbox_exec "$LDAP_NETNS" chown -R openldap:openldap /etc/ldap/slapd.d /var/lib/ldap
  echo "$sum" | write_file "$sumfile" 600
}

setup_slapd() {
  configure_slapd
  slapd_start
}

# The mail host reaches slapd over the bridge, the mail server's account binds,
# and the LDAP host has no route off the machine.
check_ldap() {
  sandbox_exec "$MAIL_NETNS" timeout 5 bash -c "exec 3<>/dev/tcp/$LDAP_ADDR/389" ||
    die "the mail host cannot reach $LDAP_ADDR:389" "check 'bash $0 status' and 'ip -n $LDAP_NETNS addr'"
  sandbox_exec "$LDAP_NETNS" ldapwhoami -x -o nettimeout=5 -H "$LDAP_URI" -D "$LDAP_BIND_DN" -y /dev/stdin \
    <"$LDAP_BIND_PW_FILE" >/dev/null 2>>"$LOG_DIR/slapd.log" ||
    die "$LDAP_BIND_DN cannot bind to $LDAP_URI (log: $LOG_DIR/slapd.log)" \
      "rebuild the directory: rm $LDAP_ROOTFS/etc/ldap/mailstack.sum; bash $0 up"
  if ip -n "$LDAP_NETNS" route get 192.0.2.1 >/dev/null 2>&1; then
    die "netns $LDAP_NETNS has a route off the machine" "bash $0 down && bash $0 up"
  fi
}

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

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  [[ $EUID -eq 0 ]] || die "must run as root (it makes namespaces and a bridge)" "sudo bash $0 $*"
  local cmd=${1:-}
  [[ $# -eq 0 ]] || shift
  case "$cmd" in
    up) [[ $# -eq 0 ]] || usage; cmd_up ;;
    down) cmd_down "$@" ;;
    status) cmd_status || exit 1 ;;
    reboot) [[ $# -eq 0 ]] || usage; cmd_reboot ;;
    exec)
      STEP=exec HINT="run: bash $0 up"
      (($#)) || set -- bash -l
      # exec: the command's exit status is ours, even a failing one.
      trap - ERR
      sandbox_exec "$MAIL_NETNS" "$@"
      ;;
    ldap-exec)
      STEP=ldap-exec HINT="run: bash $0 up"
      (($#)) || set -- bash -l
      trap - ERR
      sandbox_exec "$LDAP_NETNS" "$@"
      ;;
    ldap-stop)
      [[ $# -eq 0 ]] || usage
      take_lock
      init_pid "$LDAP_NETNS" >/dev/null || die "the LDAP host is not running" "run: bash $0 up"
      phase slapd-stop "see $LOG_DIR/slapd.log" slapd_stop
      ;;
    ldap-start)
      [[ $# -eq 0 ]] || usage
      take_lock
      init_pid "$LDAP_NETNS" >/dev/null || die "the LDAP host is not running" "run: bash $0 up"
      phase slapd-start "see $LOG_DIR/slapd.log" slapd_start
      ;;
    *) usage ;;
  esac
}

main "$@"
