# shellcheck shell=bash
# The test LDAP host: its image and rootfs, slapd's config and directory, and
# its checks. Sourced by scripts/sandbox.sh, whose settings it reads.

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
# shellcheck disable=SC2153 # SUITE and MIRROR are settings of scripts/sandbox.sh
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
