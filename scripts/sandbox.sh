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

# One file per part, in scripts/sandbox/ (see its README.md).
# shellcheck source=scripts/sandbox/common.sh
source "$SCRIPT_DIR/sandbox/common.sh"
# shellcheck source=scripts/sandbox/services.sh
source "$SCRIPT_DIR/sandbox/services.sh"
# shellcheck source=scripts/sandbox/network.sh
source "$SCRIPT_DIR/sandbox/network.sh"
# shellcheck source=scripts/sandbox/mail-host.sh
source "$SCRIPT_DIR/sandbox/mail-host.sh"
# shellcheck source=scripts/sandbox/ldap-host.sh
source "$SCRIPT_DIR/sandbox/ldap-host.sh"
# shellcheck source=scripts/sandbox/commands.sh
source "$SCRIPT_DIR/sandbox/commands.sh"

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
