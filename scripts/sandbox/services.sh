# shellcheck shell=bash
# The host's side of the sandbox: its packages, and the services on the bridge
# address (apt-cacher-ng, the test DNS, MinIO, Pebble). Sourced by
# scripts/sandbox.sh, whose settings it reads.

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

# The policy the stack itself would give the backup key (src/concerns/backup/storage.ts).
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
