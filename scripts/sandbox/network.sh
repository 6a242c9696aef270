# shellcheck shell=bash
# The sandbox's network: the bridge, and one network namespace with a veth
# pair per sandbox host. Sourced by scripts/sandbox.sh, whose settings it reads.

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
