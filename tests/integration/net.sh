#!/bin/bash
# Compartment networking (issue 7): a provider and its clients, run by the
# real engine, with traffic tried from inside the instances.
#
# Everything happens in network namespaces this test makes: HOST stands in
# for the host (every spectrum command runs in it through nsenter, so the
# uplink's link, NAT and forwarding are made there, not on the machine),
# WORLD is a test host reachable from HOST only, at an address of the
# internet's (198.51.100.2, TEST-NET-2) and one of a LAN (10.77.0.2).  Traffic goes
# only to loopback and to those namespaces; every wait is bounded.
#
# Usage: net.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

. "$(dirname "$0")/netlib.sh" sp-host sp-world

cat >"$CONF" <<EOF
{ "instances": {
  $(inst netvm ', "provides": ["net"], "uplink": "host"'),
  $(inst netvm2 ', "provides": ["net"]'),
  $(inst c1 ', "net": {"provider": "netvm", "allow": ["tcp/8001", "icmp"]}'),
  $(inst c2 ', "net": {"provider": "netvm"}'),
  $(inst c3 ', "net": {"provider": "netvm2"}'),
  $(inst c4 ', "net": {"provider": "netvm", "allow": []}'),
  $(inst p1 ', "net": {"provider": "netvm", "peers": ["p2"]}'),
  $(inst p2 ', "net": {"provider": "netvm", "peers": ["p1"]}'),
  $(inst iso '')
} }
EOF

in_provider() { nsenter -t "$(pid_of "$1")" -n "${@:2}"; }

for n in netvm netvm2; do
	check "provider $n starts" "$(cat "$T/$n.log" 2>/dev/null)" start "$n"
done
for n in c1 c2 c3 c4 p1 p2 iso; do
	check "client $n starts" "$(cat "$T/$n.log" 2>/dev/null)" start "$n"
done

# ---- what a client and a provider get ----
C1=$(addr_of c1) C2=$(addr_of c2) C4=$(addr_of c4) P1=$(addr_of p1) P2=$(addr_of p2)
note "c1=$C1 c2=$C2 c4=$C4 p1=$P1 p2=$P2"
inside c2 ip -o link show dev eth0
MAC=$(grep -o 'link/ether [0-9a-f:]*' <<<"$OUT" | cut -d' ' -f2)
check "c2's eth0 has a MAC with the OUI 0a:b3:ec" "$OUT" bash -c '[[ $1 == 0a:b3:ec:* ]]' _ "$MAC"
check "c2's address is 100.64.X.Y from its MAC's last two octets" "mac $MAC addr $C2" \
	bash -c '[ "$2" = "100.64.$((16#${1:12:2})).$((16#${1:15:2}))" ]' _ "$MAC" "$C2"
inside c2 ip -4 -o addr show dev eth0
check "c2's address has the prefix /16" "$OUT" grep -q "inet $C2/16" <<<"$OUT"
inside c2 ip route show default
check "c2's default route is via its provider" "$OUT" grep -q "default via 100.64.0.1 dev eth0" <<<"$OUT"
inside c2 cat /etc/resolv.conf
check "c2's resolv.conf names its provider" "$OUT" grep -qx "nameserver 100.64.0.1" <<<"$OUT"
check "every client address is different" "$C1 $C2 $C4 $P1 $P2" \
	bash -c '[ "$(printf "%s\n" "$@" | grep -c .)" = 5 ] && [ "$(printf "%s\n" "$@" | sort -u | wc -l)" = 5 ]' _ "$C1" "$C2" "$C4" "$P1" "$P2"
out=$(in_provider netvm ip -4 -o addr show dev sp-clients 2>&1)
check "the provider's bridge has 100.64.0.1/16" "$out" grep -q "inet 100.64.0.1/16" <<<"$out"
out=$(in_provider netvm cat /proc/sys/net/ipv4/ip_forward 2>&1)
check "the provider forwards" "$out" test "$out" = 1
inside c2 ip -6 -o addr
check "no IPv6 address on a client (its filters are IPv4's)" "$OUT" bash -c '! grep -q "eth0.*inet6" <<<"$1"' _ "$OUT"

# ---- a client reaches its provider ----
in_provider netvm timeout 40 python3 "$STATE/data/tools/nethelper.py" serve 7000 35 >"$T/prov.out" 2>&1 &
BG_PIDS+=("$!")
wait_for 5 grep -q listening "$T/prov.out"
inside c2 python3 $NH connect 100.64.0.1 7000
check "TCP: c2 connects to its provider" "$OUT" test "$RC" = 0
inside c2 ping -c 1 -W 2 100.64.0.1
check "ICMP: c2 pings its provider" "$OUT" test "$RC" = 0
inside c2 ip neigh show 100.64.0.1
check "the gateway's MAC is the provider's own, 0a:b3:ec:00:00:01" "$OUT" grep -q "lladdr 0a:b3:ec:00:00:01" <<<"$OUT"
check "the provider sees c2's own address" "$(cat "$T/prov.out")" grep -qx "$C2" "$T/prov.out"

# ---- clients of one provider cannot reach each other ----
for n in c2 p2; do
	spn exec --config "$CONF" "$n" -- timeout 40 python3 $NH serve 9000 35 </dev/null >"$T/$n.srv" 2>&1 &
	BG_PIDS+=("$!")
	wait_for 10 grep -q listening "$T/$n.srv"
done
out=$(in_provider netvm timeout 10 python3 "$STATE/data/tools/nethelper.py" connect "$C2" 9000 2>&1)
check "control: the provider reaches c2's server" "$out" grep -q connected <<<"$out"
inside c1 python3 $NH connect "$C2" 9000
check "c1 cannot connect to c2" "$OUT" test "$RC" = 1
inside c4 python3 $NH connect "$C2" 9000
check "c4 cannot connect to c2" "$OUT" test "$RC" = 1
inside c1 ping -c 1 -W 2 "$C2"
check "c1 cannot ping c2" "$OUT" test "$RC" != 0
inside p1 python3 $NH connect "$C2" 9000
check "p1 cannot connect to c2 (not its peer)" "$OUT" test "$RC" = 1
inside p1 python3 $NH connect "$P2" 9000
check "declared peers: p1 connects to p2" "$OUT" test "$RC" = 0
inside c2 python3 $NH connect "$P2" 9000
check "c2 cannot connect to p2 (p2's peers are p1 only)" "$OUT" test "$RC" = 1
out=$(timeout 10 nsenter --net="/run/netns/$HOST" ip route add 100.64.0.0/16 via "$(in_provider netvm ip -4 -o addr show dev uplink0 | awk '{ sub("/.*", "", $4); print $4 }')" 2>&1)
out=$(in_host timeout 10 python3 "$STATE/data/tools/nethelper.py" connect "$C2" 9000 2>&1)
check "nothing new from the host side into a client (routed at the provider)" "$out" bash -c '! grep -q connected <<<"$1"' _ "$out"

# ---- what an instance cannot change about its own network ----
inside c2 ip addr add 100.64.0.1/16 dev eth0
check "a client cannot add an address" "$OUT" test "$RC" != 0
inside c2 ip link set eth0 address 0a:b3:ec:00:00:01
check "a client cannot change its MAC" "$OUT" test "$RC" != 0
inside c2 ip route add 10.0.0.0/8 dev eth0
check "a client cannot add a route" "$OUT" test "$RC" != 0
inside c2 python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'
check "a client cannot open a raw packet socket" "$OUT" test "$RC" != 0
inside c2 nft list ruleset
check "a client cannot read or change nftables" "$OUT" test "$RC" != 0

# ---- net: none ----
inside iso ip -o link
check "net none: loopback only" "$OUT" bash -c '[ "$(grep -c . <<<"$1")" = 1 ] && grep -q ": lo:" <<<"$1"' _ "$OUT"
inside iso ip -4 route
check "net none: no route" "$OUT" test -z "$OUT"
counters() { # packets seen by every link of HOST and WORLD
	{ in_host cat /proc/net/dev; in_world cat /proc/net/dev; in_provider netvm cat /proc/net/dev; } |
		awk -F'[: ]+' '/:/ && $2 != "lo" { s += $4 + $12 } END { print s + 0 }'
}
before=$(counters)
inside iso python3 $NH connect 198.51.100.2 8001
r1=$RC
inside iso python3 $NH connect 100.64.0.1 7000
r2=$RC
inside iso python3 $NH udp 198.51.100.1 53
after=$(counters)
check "net none: connections fail inside" "$r1 $r2" test "$r1$r2" = 11
check "net none: no packet reached any link outside (counters $before -> $after)" "" test "$before" = "$after"

# ---- egress policy and the uplink ----
for port in 8001 8002; do
	in_world timeout 60 python3 "$STATE/data/tools/nethelper.py" serve $port 55 >"$T/world.$port" 2>&1 &
	BG_PIDS+=("$!")
	wait_for 5 grep -q listening "$T/world.$port"
done
in_host timeout 60 python3 "$STATE/data/tools/nethelper.py" serve 8003 55 >"$T/host.8003" 2>&1 &
BG_PIDS+=("$!")
wait_for 5 grep -q listening "$T/host.8003"
inside c1 python3 $NH connect 198.51.100.2 8001
check "egress: c1 (allow tcp/8001) reaches the world on 8001" "$OUT" test "$RC" = 0
inside c1 python3 $NH connect 198.51.100.2 8002
check "egress: c1 is refused on 8002" "$OUT" test "$RC" = 1
inside c1 ping -c 1 -W 2 198.51.100.2
check "egress: c1 (allow icmp) pings the world" "$OUT" test "$RC" = 0
inside c2 python3 $NH connect 198.51.100.2 8002
check "egress: c2 (no allow) reaches the world on 8002" "$OUT" test "$RC" = 0
inside c4 python3 $NH connect 198.51.100.2 8001
check "egress: c4 (allow []) does not reach the world" "$OUT" test "$RC" = 1
inside c4 python3 $NH connect 100.64.0.1 7000
check "egress: c4 (allow []) still reaches its provider" "$OUT" test "$RC" = 0
inside c3 python3 $NH connect 198.51.100.2 8001
check "no uplink: c3 (provider netvm2) does not reach the world" "$OUT" test "$RC" = 1
inside c2 python3 $NH connect 198.51.100.1 8003
check "uplink: a client does not reach the host itself" "$OUT" test "$RC" = 1
inside c2 python3 $NH connect 10.77.0.2 8002
check "uplink: a client does not reach a private (LAN) address beyond the host" "$OUT" test "$RC" = 1
out=$(in_host cat /proc/sys/net/ipv4/ip_forward; ip netns exec "$HOST" nft list tables)
check "the host forwards, with the guard that forwards nothing but uplinks" "$out" \
	bash -c 'grep -qx 1 <<<"$1" && grep -q "table ip spectrum-forward" <<<"$1"' _ "$out"
sleep 0.5
seen=$(cat "$T/world.8001" "$T/world.8002" | grep -v listening)
check "uplink: the world saw connections" "$seen" test -n "$seen"
check "uplink: every one from the host's address (NAT), none from 100.64/100.65" "$seen" \
	bash -c '! grep -v -x "198.51.100.1" <<<"$1"' _ "$seen"
host_seen=$(grep -v listening "$T/host.8003")
check "uplink: the host's own server saw nothing" "$host_seen" test -z "$host_seen"

# ---- list and inspect ----
out=$(spn inspect --config "$CONF" c2 --json 2>&1)
check "inspect --json: c2's address, MAC and provider" "$out" python3 -c '
import json, sys
n = json.loads(sys.argv[1])["network"]
assert n["mode"] == "client" and n["provider"] == "netvm" and n["address"] == sys.argv[2] + "/16", n
assert n["mac"] == sys.argv[3] and n["gateway"] == "100.64.0.1" and n["allow"] is None, n' "$out" "$C2" "$MAC"
out=$(spn inspect --config "$CONF" p1 2>&1)
check "inspect: p1's peers and address" "$out" bash -c 'grep -q "peers.*p2" <<<"$1" && grep -q "$2" <<<"$1"' _ "$out" "$P1"
out=$(spn inspect --config "$CONF" c1 --json 2>&1)
check "inspect --json: c1's egress policy" "$out" python3 -c '
import json, sys
n = json.loads(sys.argv[1])["network"]
assert n["allow"] == ["tcp/8001", "icmp"], n' "$out"
out=$(spn inspect --config "$CONF" netvm --json 2>&1)
check "inspect --json: netvm provides net with the uplink and its clients" "$out" python3 -c '
import json, sys
n = json.loads(sys.argv[1])["network"]
assert n["mode"] == "provider" and n["address"] == "100.64.0.1/16" and n["uplink"] == "host", n
assert sorted(n["clients"]) == ["c1", "c2", "c4", "p1", "p2"], n' "$out"

# ---- removal when an instance stops or crashes ----
port_of() { # NAME: the name of its link in its provider
	local mac
	mac=$(spn inspect --config "$CONF" "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["mac"])')
	echo "spc-${mac:9:2}${mac:12:2}${mac:15:2}"
}
PORT2=$(port_of c2)
PORT4=$(port_of c4)
out=$(in_provider netvm ip -o link show dev "$PORT2" 2>&1)
check "c2's port $PORT2 is a port of the provider's bridge" "$out" grep -q "master sp-clients" <<<"$out"
stop c2
out=$(in_provider netvm ip -o link 2>&1; in_provider netvm nft list tables 2>&1)
check "c2 stopped: its port and tables are gone from the provider" "$out" \
	wait_for 10 bash -c '! { nsenter -t "$1" -n ip -o link; nsenter -t "$1" -n nft list tables; } | grep -q "$2"' _ "$(pid_of netvm)" "$PORT2"
kill -KILL "${ENGINE[c4]}"
wait "${ENGINE[c4]}" 2>/dev/null
check "c4's engine SIGKILLed: the janitor removes its port and tables" "$PORT4" \
	wait_for 10 bash -c '! { nsenter -t "$1" -n ip -o link; nsenter -t "$1" -n nft list tables; } | grep -q "$2"' _ "$(pid_of netvm)" "$PORT4"
for n in c1 c3 p1 p2 iso netvm2; do stop "$n"; done
kill -KILL "${ENGINE[netvm]}"
wait "${ENGINE[netvm]}" 2>/dev/null
check "netvm's engine SIGKILLed: the host's uplink link and table are removed" "" \
	wait_for 10 bash -c '! { ip -n "$1" -o link; ip netns exec "$1" nft list tables; } | grep -q "spu-\|spectrum"' _ "$HOST"

# ---- a client whose provider is not running ----
out=$(spn run --config "$CONF" c3 -- true 2>&1 </dev/null)
rc=$?
check "a client whose provider does not run: exit 1, one line naming it" "rc $rc: $out" \
	bash -c '[ "$1" = 1 ] && [ "$(grep -c . <<<"$2")" = 1 ] && grep -q "provider netvm2 is not running" <<<"$2"' _ "$rc" "$out"

# ---- 50 start/stop cycles leave nothing ----
link_names() { awk -F': ' '{ split($2, a, "@"); print a[1] }' | sort | tr '\n' ' '; }
fails=0
for ((i = 0; i < 50; i++)); do
	start netvm || { fails=$((fails + 1)); note "cycle $i: $(cat "$T/netvm.log")"; continue; }
	out=$(spn run --config "$CONF" c1 -- true </dev/null 2>&1) || { fails=$((fails + 1)); note "cycle $i: $out"; }
	if [ "$i" = 49 ]; then
		# A stopped client's port goes with its namespace, which the
		# kernel frees a moment after its last process.
		for ((k = 0; k < 50; k++)); do
			left=$(in_provider netvm ip -o link | link_names)
			[ "$left" = "lo sp-clients uplink0 " ] && break
			sleep 0.1
		done
		tables=$(in_provider netvm nft list tables | tr '\n' ' ')
	fi
	stop netvm
done
check "50 cycles of provider start, client run, provider stop: all succeeded" "$fails failed" test "$fails" = 0
check "after 50 client runs the provider has lo, its bridge and its uplink only" "$left" \
	test "$left" = "lo sp-clients uplink0 "
check "after 50 client runs the provider has its own table only" "$tables" test "${tables% }" = "table inet spectrum"
out=$(ip -n "$HOST" -o link | link_names; ip netns exec "$HOST" nft list ruleset)
check "after 50 cycles the host has lo and wan0 only, and no nftables rule" "$out" test "$out" = "lo wan0 "
addrs=$(ip -n "$HOST" -4 -o addr | awk '{ print $2, $4 }' | tr '\n' ' ')
check "after 50 cycles the host has its own addresses only" "$addrs" test "$addrs" = "lo 127.0.0.1/8 wan0 198.51.100.1/24 wan0 10.77.0.1/24 "
out=$(in_host cat /proc/sys/net/ipv4/ip_forward)
check "after the last uplink the host no longer forwards (it did not before)" "$out" test "$out" = 0

# ---- supervised: a client's start starts its provider; a provider's stop is reported ----
EXTRA_CLEANUP="stop_svscan; $EXTRA_CLEANUP"
out=$(spn switch "$CONF" 2>&1)
rc=$?
check "switch records the configuration (nothing autostarts)" "rc $rc: $out" test "$rc" = 0
out=$(spn start c2 2>&1)
check "start c2: its provider netvm is started first" "$out" \
	bash -c 'grep -q "c2: starting its net provider netvm first" <<<"$1" && grep -q "^netvm started" <<<"$1" && grep -q "^c2 started" <<<"$1"' _ "$out"
inside c2 ping -c 1 -W 2 100.64.0.1
check "supervised c2 pings its provider" "$OUT" test "$RC" = 0
out=$(spn list --json 2>&1)
check "list --json: c2 connected, with its address and provider" "$out" python3 -c '
import json, sys
i = {x["name"]: x for x in json.loads(sys.argv[1])}
n = i["c2"]["network"]
assert n["mode"] == "client" and n["connected"] is True and n["provider"] == "netvm" and n["address"] == sys.argv[2] + "/16", n
assert i["netvm"]["network"]["mode"] == "provider" and i["iso"]["network"]["mode"] == "none", i' "$out" "$C2"
out=$(spn list 2>&1)
check "list: c2's network column" "$out" grep -q "^c2 .*$C2 via netvm " <<<"$out"
out=$(spn stop netvm 2>&1)
check "stop netvm reports c2 as without network" "$out" grep -q "c2: no network now (its provider netvm stopped" <<<"$out"
out=$(spn list --json 2>&1)
check "list --json: c2 no longer connected" "$out" python3 -c '
import json, sys
i = {x["name"]: x for x in json.loads(sys.argv[1])}
assert i["c2"]["network"]["connected"] is False, i["c2"]' "$out"
out=$(spn list 2>&1)
check "list: c2 shown as down" "$out" grep -q "^c2 .*$C2 via netvm (down)" <<<"$out"
inside c2 ping -c 1 -W 2 100.64.0.1
check "c2 indeed has no network" "$OUT" test "$RC" != 0
out=$(spn start netvm 2>&1)
check "netvm starts again" "$out" grep -q "^netvm started" <<<"$out"
relinked() { inside c2 ping -c 1 -W 1 100.64.0.1; [ "$RC" = 0 ]; }
check "c2 is linked again to the restarted provider within seconds (same address)" "$OUT" wait_for 10 relinked
inside c2 ip -4 -o addr show dev eth0
check "c2's address after the relink is its own" "$OUT" grep -q "inet $C2/16" <<<"$OUT"
out=$(spn list --json 2>&1)
check "list --json: c2 connected again" "$out" python3 -c '
import json, sys
i = {x["name"]: x for x in json.loads(sys.argv[1])}
assert i["c2"]["network"]["connected"] is True, i["c2"]' "$out"
PORT2=$(port_of c2)
out=$(nsenter -t "$(spn list --json | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin) if x["name"] == "netvm"][0]["pid"])')" -n nft list tables 2>&1)
check "the relinked client's tables are in the new provider" "$out" grep -q "table bridge spectrum-$PORT2" <<<"$out"
spn stop netvm >/dev/null 2>&1
spn stop c2 >/dev/null 2>&1
stop_svscan

# ---- bad network configuration ----
bad() { # WHAT EXPECTED-MESSAGE-PART INSTANCES-JSON
	printf '{ "instances": { %s } }\n' "$3" >"$T/bad.json"
	out=$(spn run --config "$T/bad.json" a -- true 2>&1 </dev/null)
	rc=$?
	check "bad config: $1: exit 2, one line naming the file and key" "rc $rc: $out" \
		bash -c '[ "$1" = 2 ] && [ "$(grep -c . <<<"$2")" = 1 ] && grep -qF -- "$3" <<<"$2" && grep -qF "bad.json: " <<<"$2"' _ "$rc" "$out" "$2"
}
A='"software": ["host"], "command": ["true"]'
bad "unknown provider" 'instances.a.net.provider: no instance "nope"' "\"a\": {$A, \"net\": {\"provider\": \"nope\"}}"
bad "provider that does not provide net" 'instances.a.net.provider: "b" does not provide net' \
	"\"a\": {$A, \"net\": {\"provider\": \"b\"}}, \"b\": {$A}"
bad "peer that does not list back" 'instances.a.net.peers[0]: "c" does not list "a"' \
	"\"a\": {$A, \"net\": {\"provider\": \"b\", \"peers\": [\"c\"]}}, \"b\": {$A, \"provides\": [\"net\"]}, \"c\": {$A, \"net\": {\"provider\": \"b\"}}"
bad "peer of another provider" 'is not a client of "b"' \
	"\"a\": {$A, \"net\": {\"provider\": \"b\", \"peers\": [\"c\"]}}, \"b\": {$A, \"provides\": [\"net\"]}, \"d\": {$A, \"provides\": [\"net\"]}, \"c\": {$A, \"net\": {\"provider\": \"d\", \"peers\": [\"a\"]}}"
bad "an egress rule that is not one" 'instances.a.net.allow[1]: expected a port from 1 to 65535' \
	"\"a\": {$A, \"net\": {\"provider\": \"b\", \"allow\": [\"tcp/443\", \"tcp/99999\"]}}, \"b\": {$A, \"provides\": [\"net\"]}"
bad "uplink on an instance that does not provide net" 'instances.a.uplink: only for an instance with "provides": ["net"]' \
	"\"a\": {$A, \"uplink\": \"host\"}"
bad "a VM client" 'instances.a.net: network for VM instances is not supported yet' \
	"\"a\": {$A, \"isolation\": \"vm\", \"net\": {\"provider\": \"b\"}}, \"b\": {$A, \"provides\": [\"net\"]}"

finish
