#!/bin/bash
# Attacks on compartment networking (issue 23), each one of the issue's
# reproductions: clients that meet while their provider stops, is killed
# or restarts; a host firewall reload that flushes Spectrum's host tables;
# a second configuration whose client takes a running client's port name
# or address; the bridge's multicast database filled by a client.
#
# As in net.sh, everything happens in network namespaces this test makes:
# HOST stands in for the host (every spectrum command runs in it), WORLD
# is beyond it (198.51.100.2 the internet, 10.77.0.2 a LAN).  Traffic goes
# only to those namespaces and to the instances; every wait is bounded.
#
# Usage: net-attacks.sh SPECTRUM PROBE NETTOOL        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"
NETTOOL=$(realpath -e "${3:-}") || { echo "Bail out! no nettool at ${3:-}"; exit 1; }

. "$(dirname "$0")/netlib.sh" sp-ahost sp-aworld
# The LAN's hosts route through the host (so an open router would be seen).
ip -n "$WORLD" route add default via 10.77.0.1

cat >"$CONF" <<EOF
{ "instances": {
  $(inst netvm ', "provides": ["net"], "uplink": "host"'),
  $(inst ca ', "net": {"provider": "netvm"}'),
  $(inst cb ', "net": {"provider": "netvm"}'),
  $(inst pa ', "net": {"provider": "netvm", "peers": ["pb"], "allow": ["tcp/8001"]}'),
  $(inst pb ', "net": {"provider": "netvm", "peers": ["pa"]}')
} }
EOF

mac_of() {
	spn inspect --config "$CONF" "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["mac"])'
}
all_linked() { for n in "$@"; do reaches_provider "$n" || return 1; done; }

for n in netvm ca cb pa pb; do
	check "$n starts" "$(cat "$T/$n.log" 2>/dev/null)" start "$n"
done
CA=$(addr_of ca) CB=$(addr_of cb) PA=$(addr_of pa) PB=$(addr_of pb)
note "ca=$CA cb=$CB pa=$PA pb=$PB"

# ---- 1. no frame between non-peers, at any moment of the provider's life ----
out=$(nsenter -t "$(pid_of netvm)" -n ip -d link show dev "$(nsenter -t "$(pid_of netvm)" -n ip -o link show master sp-clients | awk -F': ' 'NR == 1 { split($2, a, "@"); print a[1] }')" 2>&1)
check "a client's port is isolated on the provider's bridge (the kernel's rule)" "$out" grep -q "isolated on" <<<"$out"

# Control: cb's broadcasts do reach the provider.
spn exec --config "$CONF" netvm -- timeout 20 python3 $NH count 9999 4 </dev/null >"$T/prov.count" 2>&1 &
BG_PIDS+=("$!")
wait_for 10 grep -q listening "$T/prov.count"
inside cb timeout 10 python3 $NH spray 100.64.255.255 9999 2
wait_for 10 grep -q "^count" "$T/prov.count"
n=$(awk '/^count/ { print $2 }' "$T/prov.count")
check "control: cb's broadcasts reach its provider ($n)" "$(cat "$T/prov.count")" test "${n:-0}" -gt 100

# ca counts what reaches it on 9999 (cb's spray) while the provider is
# stopped, restarted, killed; the count runs in ca, which lives on.
# Both stop when the test makes tools/stop (their timeouts bound them).
SPRAY=150
SP_TIMEOUT=$((SPRAY + 20)) spn exec --config "$CONF" ca -- python3 $NH count 9999 $SPRAY /opt/tools/stop \
	</dev/null >"$T/ca.count" 2>&1 &
COUNTER=$!
BG_PIDS+=("$!")
wait_for 10 grep -q listening "$T/ca.count"
SP_TIMEOUT=$((SPRAY + 20)) spn exec --config "$CONF" cb -- python3 $NH spray 100.64.255.255 9999 $SPRAY \
	/opt/tools/stop </dev/null >"$T/cb.spray" 2>&1 &
SPRAYER=$!
BG_PIDS+=("$!")
wait_for 10 grep -q spraying "$T/cb.spray"
cycles=0 relinked=0
for how in stop stop stop kill-pid1 kill-pid1 kill-pid1 kill-engine kill-engine kill-all kill-all; do
	case $how in
	stop) stop netvm ;;
	kill-pid1)
		kill -KILL "$(pid_of netvm)"
		wait_gone "${ENGINE[netvm]}" 20
		wait "${ENGINE[netvm]}" 2>/dev/null
		;;
	kill-engine)
		# The instance goes with its engine (PDEATHSIG); the janitor cleans up.
		old=$(pid_of netvm)
		kill -KILL "${ENGINE[netvm]}"
		wait "${ENGINE[netvm]}" 2>/dev/null
		wait_gone "$old" 20
		;;
	kill-all)
		# Engine, janitor and instance at once: the namespace dies with
		# nothing of Spectrum's left to run; the kernel's isolation of
		# the ports and its routing rules are all that hold then.
		old=$(pid_of netvm)
		kill -KILL "${ENGINE[netvm]}" $(pgrep -P "${ENGINE[netvm]}")
		wait "${ENGINE[netvm]}" 2>/dev/null
		wait_gone "$old" 20
		;;
	esac
	start netvm && cycles=$((cycles + 1))
	wait_for 15 all_linked ca cb && relinked=$((relinked + 1))
done
check "10 provider cycles (3 stops, 3 SIGKILLs of its PID 1, 2 of its engine, 2 of engine, janitor and instance), each restarted" "$cycles" test "$cycles" = 10
check "after each, ca and cb are linked again to the new provider" "$relinked" test "$relinked" = 10
touch "$STATE/data/tools/stop"
wait "$SPRAYER"
wait "$COUNTER"
sent=$(awk '/^sent/ { print $2 }' "$T/cb.spray")
got=$(awk '/^count/ { print $2 }' "$T/ca.count")
check "cb sprayed broadcasts throughout ($(grep "^sent" "$T/cb.spray"): those refused had no link then)" \
	"$(cat "$T/cb.spray")" test "${sent:-0}" -gt 1000
check "not one of them reached ca (not its peer) across the 10 cycles (got ${got:-none})" \
	"$(cat "$T/ca.count")" test "${got:-x}" = 0

# Peers meet through the provider, and only they.
spn exec --config "$CONF" pb -- timeout 30 python3 $NH serve 9000 25 </dev/null >"$T/pb.srv" 2>&1 &
BG_PIDS+=("$!")
spn exec --config "$CONF" ca -- timeout 30 python3 $NH serve 9000 25 </dev/null >"$T/ca.srv" 2>&1 &
BG_PIDS+=("$!")
wait_for 10 grep -q listening "$T/pb.srv"
wait_for 10 grep -q listening "$T/ca.srv"
inside pa python3 $NH connect "$PB" 9000
check "peers: pa connects to pb (its egress policy does not apply to its peer)" "$OUT" test "$RC" = 0
inside pa ping -c 1 -W 2 "$PB"
check "peers: pa pings pb (icmp is not in pa's allow: a peer is no egress)" "$OUT" test "$RC" = 0
inside pb ping -c 1 -W 2 "$PA"
check "peers: pb pings pa" "$OUT" test "$RC" = 0
inside pa python3 $NH connect "$CA" 9000
check "pa cannot connect to ca (not its peer)" "$OUT" test "$RC" = 1
inside cb python3 $NH connect "$CA" 9000
check "cb cannot connect to ca" "$OUT" test "$RC" = 1
inside cb ping -c 1 -W 2 "$PB"
check "cb cannot ping pb" "$OUT" test "$RC" != 0
inside cb ip neigh show "$CA"
check "cb's ARP for ca gets no answer (nothing routes between them)" "$OUT" bash -c '! grep -q lladdr <<<"$1"' _ "$OUT"
sleep 0.5
check "pb's server saw pa's own address" "$(cat "$T/pb.srv")" grep -qx "$PA" "$T/pb.srv"
check "ca's server saw no one" "$(cat "$T/ca.srv")" bash -c '! grep -v listening "$1" | grep -q .' _ "$T/ca.srv"

# The multicast database: snooping off, so a client's joins fill nothing.
inside cb python3 -c '
import socket, struct, time
socks = []
for i in range(250):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for k in range(20):
        g = socket.inet_aton("239.1.%d.%d" % (i % 250, k + 1))
        try:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, g + socket.inet_aton("0.0.0.0"))
        except OSError:
            break
    socks.append(s)
time.sleep(2)
print("joined")'
snooping=$(nsenter -t "$(pid_of netvm)" -n ip -d link show dev sp-clients | grep -o "mcast_snooping [01]")
groups=$(nsenter -t "$(pid_of netvm)" -n bridge mdb show | grep -c "grp 239")
check "mdb flood: cb joined 5000 groups ($OUT)" "$OUT" test "$RC" = 0
check "mdb flood: the bridge has multicast snooping off ($snooping), its database holds none of them ($groups)" "" \
	test "$snooping $groups" = "mcast_snooping 0 0"

# ---- 2. a host firewall reload ----
for port in 8001 8002; do
	in_world timeout 60 python3 "$STATE/data/tools/nethelper.py" serve $port 55 >"$T/world.$port" 2>&1 &
	BG_PIDS+=("$!")
	wait_for 5 grep -q listening "$T/world.$port"
done
in_host timeout 60 python3 "$STATE/data/tools/nethelper.py" serve 8003 55 >"$T/host.8003" 2>&1 &
BG_PIDS+=("$!")
wait_for 5 grep -q listening "$T/host.8003"
inside cb python3 $NH connect 198.51.100.2 8001
check "control: cb reaches the world through the uplink" "$OUT" test "$RC" = 0
inside cb python3 $NH connect 10.77.0.2 8002
check "control: cb does not reach the LAN" "$OUT" test "$RC" = 1
# (Not listed right after: the provider's engine sees the flush at once.)
out=$(in_host nft flush ruleset 2>&1)
rc=$?
check "the stand-in host's ruleset is flushed (as Debian's nftables.conf does)" "rc $rc: $out" test "$rc $out" = "0 "
restored() { in_host nft list tables | grep -q "spectrum-up-" && in_host nft list tables | grep -q "spectrum-forward"; }
check "within 3 s the provider's engine restores the host's tables" "$(in_host nft list tables 2>&1)" wait_for 3 restored
inside cb python3 $NH connect 10.77.0.2 8002
check "after the flush: cb does not reach the LAN" "$OUT" test "$RC" = 1
inside cb python3 $NH connect 198.51.100.1 8003
check "after the flush: cb does not reach the host itself" "$OUT" test "$RC" = 1
inside cb python3 $NH connect 198.51.100.2 8001
check "after the flush: cb still reaches the world (NAT restored)" "$OUT" test "$RC" = 0
check "the provider's log says so" "$(cat "$T/netvm.log")" \
	grep -q "the host's tables of its uplink were removed: restored" "$T/netvm.log"
seen=$(grep -v listening "$T/world.8002" "$T/host.8003")
check "neither the LAN's nor the host's server saw anything" "$seen" test -z "$seen"
# A flush right before the last uplink stops: forwarding still goes off.
in_host nft flush ruleset
stop netvm
out=$(in_host cat /proc/sys/net/ipv4/ip_forward)
check "a flush, then the last uplink stops: the host no longer forwards (Spectrum had turned it on)" "$out" test "$out" = 0
out=$(in_host nft list ruleset 2>&1)
check "and no Spectrum table is left on the host" "$out" test -z "$out"
check "netvm starts again" "$(cat "$T/netvm.log")" start netvm
out=$(in_host nft list tables 2>&1)
check "the next start installs the forwarding guard again" "$out" grep -q "table ip spectrum-forward" <<<"$out"
check "ca and cb are linked again" "" wait_for 15 all_linked ca cb
inside cb python3 $NH connect 10.77.0.2 8002
check "and cb does not reach the LAN" "$OUT" test "$RC" = 1

# ---- 3. another configuration's client on the same provider ----
MACA=$(mac_of ca)
SAME_MAC=$("$NETTOOL" collide mac "$MACA")
SAME_ADDR=$("$NETTOOL" collide addr "$MACA")
note "ca $MACA; same MAC: $SAME_MAC, same address: $SAME_ADDR"
# Each in a configuration of its own (together, one would move the other's
# address): assigned in that configuration alone, they take ca's.
other() { # NAME: a configuration with the provider and NAME
	cat >"$T/$1.json" <<EOF
{ "instances": {
  $(inst netvm ', "provides": ["net"], "uplink": "host"'),
  $(inst "$1" ', "net": {"provider": "netvm"}')
} }
EOF
}
other "$SAME_MAC"
other "$SAME_ADDR"
PORTA="spc-${MACA:9:2}${MACA:12:2}${MACA:15:2}"
out=$(spn run --config "$T/$SAME_MAC.json" "$SAME_MAC" -- true </dev/null 2>&1)
rc=$?
check "a client with ca's MAC (port $PORTA) is refused: exit 1, one line" "rc $rc: $out" \
	bash -c '[ "$1" = 1 ] && [ "$2" = "spectrum: $3: network of $3 (provider netvm): its port $4 is taken by ca, another instance of that provider" ]' _ "$rc" "$out" "$SAME_MAC" "$PORTA"
out=$(spn run --config "$T/$SAME_ADDR.json" "$SAME_ADDR" -- true </dev/null 2>&1)
rc=$?
check "a client with ca's address ($CA) is refused: exit 1, one line" "rc $rc: $out" \
	bash -c '[ "$1" = 1 ] && [ "$2" = "spectrum: $3: network of $3 (provider netvm): its address $4 is taken by ca, another instance of that provider" ]' _ "$rc" "$out" "$SAME_ADDR" "$CA"
inside ca ip -4 -o addr show dev eth0
check "ca keeps its eth0 and address" "$OUT" grep -q "inet $CA/16" <<<"$OUT"
out=$(nsenter -t "$(pid_of netvm)" -n nft list tables 2>&1)
check "ca's tables are still in the provider" "$out" grep -q "table bridge spectrum-$PORTA" <<<"$out"
check "ca still reaches its provider" "$OUT" reaches_provider ca
# Its port removed from under it: the relink check sees it, not only the provider's pid.
nsenter -t "$(pid_of netvm)" -n ip link del "$PORTA"
check "ca's port removed in the provider: ca is linked again within seconds" "" wait_for 10 reaches_provider ca
out=$(cat "$RUNDIR/instances/ca/net" 2>&1)
check "ca's record names the provider it is linked to" "$out" test "$out" = "$(pid_of netvm)"

# ---- hardening ----
inside ca cat /proc/sys/net/ipv4/conf/all/accept_redirects /proc/sys/net/ipv4/conf/eth0/accept_redirects \
	/proc/sys/net/ipv4/conf/all/accept_source_route
check "a client takes no redirects and no source routes" "$OUT" test "$(tr -d '\n' <<<"$OUT")" = 000
out=$(nsenter -t "$(pid_of netvm)" -n cat /proc/sys/net/ipv4/conf/all/send_redirects \
	/proc/sys/net/ipv4/conf/sp-clients/send_redirects /proc/sys/net/ipv4/conf/default/accept_source_route 2>&1)
check "a provider sends no redirects and takes no source routes" "$out" test "$(tr -d '\n' <<<"$out")" = 000
# Connection tracking: one client's share of its provider's table is bounded.
inside cb python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in range(20000, 29500):
    try:
        s.sendto(b"x", ("100.64.0.1", port))
    except OSError:
        pass
print("sent")'
out=$(nsenter -t "$(pid_of netvm)" -n cat /proc/sys/net/netfilter/nf_conntrack_count 2>&1)
check "conntrack: 9500 new flows from cb leave at most 8192 + a few in its provider's table ($out)" "$OUT" \
	test "$out" -ge 8000 -a "$out" -le 8300
spu=$(ip -n "$HOST" -o link | awk -F': ' '$2 ~ /^spu-/ { split($2, a, "@"); print a[1] }')
out=$(in_host cat "/proc/sys/net/ipv6/conf/$spu/disable_ipv6" 2>&1; ip -n "$HOST" -6 addr show dev "$spu" 2>&1)
check "the host's end of the uplink ($spu) has no IPv6" "$out" bash -c '[ "$(head -n 1 <<<"$1")" = 1 ] && ! grep -q inet6 <<<"$1"' _ "$out"

for n in ca cb pa pb netvm; do stop "$n"; done
out=$(in_host cat /proc/sys/net/ipv4/ip_forward; ip -n "$HOST" -o link | grep -c "spu-")
check "everything stopped: the host does not forward and has no uplink" "$out" test "$(tr -d '\n' <<<"$out")" = 00

finish
