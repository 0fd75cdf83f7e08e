#!/bin/bash
# src/net's rtnetlink code, driven by nettool in network namespaces made
# here (and only those): a veth pair across two namespaces with the
# addresses and MAC a client gets, traffic between them, a bridge, a
# default route, and nothing left after removal.  TAP.
set -uo pipefail

tool=$(readlink -f "$1")
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "# $2"; }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else not_ok "$what" "$*"; fi; }

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
if ! command -v ip >/dev/null; then
	echo "1..0 # SKIP iproute2 (ip) is not installed"
	exit 0
fi

a=sp-nl-a-$$ b=sp-nl-b-$$
cleanup() { ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null; }
trap cleanup EXIT
ip netns add "$a" && ip netns add "$b" || { echo "Bail out! ip netns add failed"; exit 1; }
in_a() { ip netns exec "$a" "$@"; }
in_b() { ip netns exec "$b" "$@"; }

# The addresses a provider's clients get.
out=$("$tool" macfor writer-work writer-home browser)
check "macfor: every MAC has the OUI 0a:b3:ec" bash -c '[ "$(grep -c " 0a:b3:ec:" <<<"$1")" = 3 ]' _ "$out"
check "macfor: the address is 100.64.X.Y from the MAC's last two bytes" bash -c '
	while read -r name mac addr; do
		x=$((16#${mac:12:2})) y=$((16#${mac:15:2}))
		[ "$addr" = "100.64.$x.$y" ] || exit 1
	done <<<"$1"' _ "$out"
check "macfor: stable (the same again)" bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$out" "$("$tool" macfor writer-work writer-home browser)"
check "macfor: a name keeps its MAC whatever other names there are" \
	bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$(grep '^browser ' <<<"$out")" "$("$tool" macfor browser | grep '^browser ')"

# A client link: veth, the peer in B (the client), the other end in A (the provider).
check "veth pair made with its peer in another namespace" in_a "$tool" veth prov0 eth0 "/run/netns/$b"
check "the peer is in B" in_b ip link show eth0
check "and not in A" bash -c "! ip netns exec $a ip link show eth0"
mac=$(awk '$1 == "writer-work" { print $2 }' <<<"$out")
addr=$(awk '$1 == "writer-work" { print $3 }' <<<"$out")
check "MAC set" in_b "$tool" mac eth0 "$mac"
check "the MAC is what was set" bash -c "ip netns exec $b ip link show eth0 | grep -q 'link/ether $mac '"
check "client address set" in_b "$tool" addr eth0 "$addr/16"
check "provider address set" in_a "$tool" addr prov0 100.64.0.1/16
check "client link up" in_b "$tool" up eth0
check "provider link up" in_a "$tool" up prov0
check "lo up in both" bash -c "ip netns exec $a $tool up lo && ip netns exec $b $tool up lo"
check "the address is on eth0" bash -c "ip netns exec $b ip -4 addr show eth0 | grep -q 'inet $addr/16'"
check "default route via the provider" in_b "$tool" route 100.64.0.1
check "the route is there" bash -c "ip netns exec $b ip route show default | grep -q 'via 100.64.0.1 dev eth0'"

# Traffic: a TCP connection from the client to the provider, bounded.
in_a python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("100.64.0.1", 7777)); s.listen(1); s.settimeout(10)
c, _ = s.accept(); c.sendall(b"hello from the provider\n"); c.close()' &
server=$!
sleep 0.3
got=$(in_b timeout 10 python3 -c '
import socket
s = socket.create_connection(("100.64.0.1", 7777), timeout=5); print(s.recv(100).decode().strip())' 2>&1)
wait "$server"
check "client reaches the provider over TCP" test "$got" = "hello from the provider"

# A bridge in the provider, the link as its port.
check "bridge made" in_a "$tool" bridge br0
check "link made a port of it" in_a "$tool" master prov0 br0
check "the port's master is br0" bash -c "ip netns exec $a ip link show prov0 | grep -q 'master br0'"
check "link taken off the bridge" in_a "$tool" master prov0 ""
check "no master any more" bash -c "! ip netns exec $a ip link show prov0 | grep -q master"

# What keeps a provider's clients apart (issue 23): no IGMP snooping, an
# isolated port, its alias, policy routing rules.
check "the bridge has no multicast snooping" bash -c "ip netns exec $a ip -d link show br0 | grep -q 'mcast_snooping 0'"
check "link made a port again" in_a "$tool" master prov0 br0
check "port isolated" in_a "$tool" isolate prov0
check "the port is isolated" bash -c "ip netns exec $a ip -d link show prov0 | grep -q 'isolated on'"
check "alias set" in_a "$tool" alias prov0 "spectrum x.1 100.64.1.2 1"
check "the link list shows it" bash -c "ip netns exec $a $tool links | grep -qx 'prov0 spectrum x.1 100.64.1.2 1'"
check "a prohibit rule added" in_a "$tool" rule add br0 0.0.0.0/0 100.64.0.0/16 10001 prohibit
check "a lookup rule added" in_a "$tool" rule add br0 100.64.1.2/32 100.64.3.4/32 10000 lookup
check "adding it again is no error" in_a "$tool" rule add br0 100.64.1.2/32 100.64.3.4/32 10000 lookup
check "both are there, once each" bash -c "
	r=\$(ip netns exec $a ip rule show)
	[ \"\$(grep -c '^10001:.*to 100.64.0.0/16 iif br0 prohibit' <<<\"\$r\")\" = 1 ] &&
	[ \"\$(grep -c '^10000:.*from 100.64.1.2 to 100.64.3.4 iif br0 lookup main' <<<\"\$r\")\" = 1 ]"
check "the rules removed" bash -c "ip netns exec $a $tool rule del br0 100.64.1.2/32 100.64.3.4/32 10000 lookup && ip netns exec $a $tool rule del br0 0.0.0.0/0 100.64.0.0/16 10001 prohibit"
check "removing them again is no error" in_a "$tool" rule del br0 0.0.0.0/0 100.64.0.0/16 10001 prohibit
check "no rule of ours is left" bash -c "! ip netns exec $a ip rule show | grep -q br0"
check "link taken off the bridge again" in_a "$tool" master prov0 ""

# Errors name the link, and change nothing.
err=$(in_a "$tool" addr nosuch0 100.64.0.9/16 2>&1)
check "unknown link: one line naming it" bash -c '[ "$(wc -l <<<"$1")" = 1 ] && grep -q nosuch0 <<<"$1"' _ "$err"
err=$(in_a "$tool" veth prov0 x0 2>&1)
check "a name taken: refused, naming it" grep -q 'prov0' <<<"$err"

# Removal: the veth goes from both namespaces; a second removal is fine.
check "veth removed" in_a "$tool" del prov0
check "gone from A" bash -c "! ip netns exec $a ip link show prov0"
check "its peer gone from B" bash -c "! ip netns exec $b ip link show eth0"
check "removing it again is no error" in_a "$tool" del prov0
check "bridge removed" in_a "$tool" del br0
check "nothing but lo left in A" bash -c "[ \"\$(ip netns exec $a ip -o link show | grep -vc ': lo:')\" = 0 ]"
check "nothing but lo left in B" bash -c "[ \"\$(ip netns exec $b ip -o link show | grep -vc ': lo:')\" = 0 ]"

echo "1..$n"
[ "$failed" = 0 ]
