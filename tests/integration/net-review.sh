#!/bin/bash
# A review's attacks on the network compartments of issue 23, beyond
# net-attacks.sh: a hostile provider that tries to undo its clients'
# bridge port isolation; a host firewall reload while a client keeps
# trying the LAN and the host (the moment between the flush and the
# restore); a dead peer's address taken by another configuration's client;
# two configurations whose clients take one port name at the same moment;
# the kernel's line alone (isolation, routing rule) with the provider's
# nftables gone.
#
# As in net-attacks.sh, everything happens in network namespaces this
# test makes: HOST stands in for the host (every spectrum command runs in
# it), WORLD is beyond it (10.77.0.2 a LAN).  Every wait is bounded.
#
# Usage: net-review.sh SPECTRUM PROBE NETTOOL        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"
NETTOOL=$(realpath -e "${3:-}") || { echo "Bail out! no nettool at ${3:-}"; exit 1; }

. "$(dirname "$0")/netlib.sh" sp-rhost sp-rworld
# The LAN's hosts route through the host (so an open router would be seen).
ip -n "$WORLD" route add default via 10.77.0.1

cat >"$CONF" <<EOF
{ "instances": {
  $(inst netvm ', "provides": ["net"], "uplink": "host"'),
  $(inst ca ', "net": {"provider": "netvm"}'),
  $(inst cb ', "net": {"provider": "netvm"}'),
  $(inst pa ', "net": {"provider": "netvm", "peers": ["pb"]}'),
  $(inst pb ', "net": {"provider": "netvm", "peers": ["pa"]}')
} }
EOF

in_prov() { nsenter -t "$(pid_of netvm)" -n "$@"; }

for n in netvm ca; do
	check "$n starts" "$(cat "$T/$n.log" 2>/dev/null)" start "$n"
done
check "ca reaches its provider" "" wait_for 10 reaches_provider ca
PORT=$(in_prov ip -o link show master sp-clients | awk -F': ' 'NR == 1 { split($2, a, "@"); print a[1] }')
note "ca's port: $PORT"

# ---- a hostile provider: its clients' ports are not its to change ----
inside netvm ip link set dev "$PORT" type bridge_slave isolated off
check "the provider cannot turn its client's port isolation off (EPERM)" "rc $RC: $OUT" \
	bash -c '[ "$1" != 0 ] && grep -q "Operation not permitted" <<<"$2"' _ "$RC" "$OUT"
inside netvm ip link set dev "$PORT" nomaster
check "nor take the port off the bridge" "rc $RC: $OUT" \
	bash -c '[ "$1" != 0 ] && grep -q "Operation not permitted" <<<"$2"' _ "$RC" "$OUT"
inside netvm ip link set dev "$PORT" alias "spectrum other 100.64.9.9 1"
check "nor write the alias by which collisions are told" "rc $RC: $OUT" \
	bash -c '[ "$1" != 0 ] && grep -q "Operation not permitted" <<<"$2"' _ "$RC" "$OUT"
inside netvm ip rule del pref 10001
check "nor remove the rule that refuses routing between clients" "rc $RC: $OUT" \
	bash -c '[ "$1" != 0 ] && grep -q "Operation not permitted" <<<"$2"' _ "$RC" "$OUT"
out=$(in_prov ip -d link show dev "$PORT"; in_prov ip rule show pref 10001)
check "the port is still isolated and the rule still there" "$out" \
	bash -c 'grep -q "isolated on" <<<"$1" && grep -q "from all to 100.64.0.0/16 iif sp-clients prohibit" <<<"$1"' _ "$out"

# ---- a firewall reload while a client keeps trying the LAN ----
# ca tries the LAN's 10.77.0.2:8002 and the host's own 198.51.100.1:8003
# in turn every 10 ms for 4 s; the host's ruleset is flushed 1 s into it.
# The moment until the engine sees it must not be an open router, nor
# open the host: neither server sees anything at all.
in_world timeout 30 python3 "$STATE/data/tools/nethelper.py" serve 8002 25 >"$T/world.8002" 2>&1 &
BG_PIDS+=("$!")
in_host timeout 30 python3 "$STATE/data/tools/nethelper.py" serve 8003 25 >"$T/host.8003" 2>&1 &
BG_PIDS+=("$!")
wait_for 5 grep -q listening "$T/world.8002"
wait_for 5 grep -q listening "$T/host.8003"
SP_TIMEOUT=20 spn exec --config "$CONF" ca -- python3 -c '
import socket, time
end = time.monotonic() + 4
tries = 0
print("trying", flush=True)
while time.monotonic() < end:
    s = socket.socket()
    s.settimeout(0.05)
    try:
        s.connect(("10.77.0.2", 8002) if tries % 2 else ("198.51.100.1", 8003))
    except OSError:
        pass
    s.close()
    tries += 1
    time.sleep(0.01)
print("tries", tries)' </dev/null >"$T/ca.tries" 2>&1 &
TRIER=$!
BG_PIDS+=("$!")
wait_for 10 grep -qs trying "$T/ca.tries"
sleep 1
in_host nft flush ruleset
wait "$TRIER"
check "ca tried the LAN throughout ($(grep tries "$T/ca.tries"))" "$(cat "$T/ca.tries")" \
	test "$(awk '/^tries/ { print $2 }' "$T/ca.tries")" -gt 40
seen=$(grep -v listening "$T/world.8002")
check "a flush of the host's ruleset: not one of ca's tries reached the LAN" "$seen" test -z "$seen"
seen=$(grep -v listening "$T/host.8003")
check "nor the host itself" "$seen" test -z "$seen"
restored() { in_host nft list tables | grep -q "spectrum-up-" && in_host nft list tables | grep -q "spectrum-forward"; }
check "the host's tables are back" "$(in_host nft list tables 2>&1)" wait_for 3 restored
check "ca still reaches its provider" "" wait_for 5 reaches_provider ca

# ---- a peer's address, taken after its holder died with no cleanup ----
# pa and pb are peers.  pa's engine, janitor and PID 1 are killed at once:
# nothing of Spectrum's removes its routes to pb.  Another configuration's
# client with pa's address (not its MAC) must not reach pb through them.
for n in pa pb; do
	check "$n starts" "$(cat "$T/$n.log" 2>/dev/null)" start "$n"
done
PA=$(spn exec --config "$CONF" pa -- ip -4 -o addr show dev eth0 </dev/null | awk '{ sub("/.*", "", $4); print $4 }')
PB=$(spn exec --config "$CONF" pb -- ip -4 -o addr show dev eth0 </dev/null | awk '{ sub("/.*", "", $4); print $4 }')
spn exec --config "$CONF" pb -- timeout 40 python3 $NH serve 9000 35 </dev/null >"$T/pb.srv" 2>&1 &
BG_PIDS+=("$!")
wait_for 10 grep -q listening "$T/pb.srv"
check "control: pa (pb's peer) connects to pb" "" wait_for 10 inside pa python3 $NH connect "$PB" 9000
old=$(pid_of pa)
kill -KILL "${ENGINE[pa]}" $(pgrep -P "${ENGINE[pa]}")
wait "${ENGINE[pa]}" 2>/dev/null
wait_gone "$old" 20
MACPA=$(spn inspect --config "$CONF" pa --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["mac"])')
EVIL=$("$NETTOOL" collide addr "$MACPA")
note "pa $PA ($MACPA), pb $PB; $EVIL has pa's address"
cat >"$T/evil.json" <<EOF
{ "instances": {
  $(inst netvm ', "provides": ["net"], "uplink": "host"'),
  $(inst "$EVIL" ', "net": {"provider": "netvm"}')
} }
EOF
out=$(spn run --config "$T/evil.json" "$EVIL" -- sh -c \
	"ip -4 -o addr show dev eth0 | grep -q 'inet $PA/' || exit 7; exec python3 $NH connect $PB 9000" </dev/null 2>&1)
rc=$?
check "$EVIL, at pa's address $PA, cannot connect to pa's peer pb (exit 1)" "rc $rc: $out" test "$rc" = 1
out=$(in_prov ip rule show pref 10000)
check "pa's routes to pb are gone from the provider" "$out" bash -c '! grep -q "from $2 to $3" <<<"$1"' _ "$out" "$PA" "$PB"
out=$(in_prov nft list set inet spectrum peers 2>&1)
check "and so is pa's element of the provider's set of peers (pb's own is left)" "$out" \
	bash -c '! grep -q "$2 \. $3\b" <<<"$1" && grep -q "$3 \. $2\b" <<<"$1"' _ "$out" "$PA" "$PB"
stop pb

# ---- two configurations' clients with one port name, at one moment ----
# ca and x<N> have one MAC (hence one port name), each in a configuration
# of its own.  Linked at the same moment, exactly one must be refused, and
# the other keep its link (before: both passed the check, and the later
# one deleted the earlier one's port).
MACA=$(spn inspect --config "$CONF" ca --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["mac"])')
X=$("$NETTOOL" collide mac "$MACA")
note "ca and $X share the MAC $MACA"
stop ca
other() { # FILE NAME
	cat >"$1" <<EOF
{ "instances": {
  $(inst netvm ', "provides": ["net"], "uplink": "host"'),
  $(inst "$2" ', "net": {"provider": "netvm"}')
} }
EOF
}
other "$T/r1.json" ca
other "$T/r2.json" "$X"
race() { # FILE NAME OUT
	spn run --config "$1" "$2" -- sh -c 'sleep 1.5; ping -c 1 -W 2 100.64.0.1 >/dev/null && echo reached' \
		</dev/null >"$3" 2>&1
	echo "rc $?" >>"$3"
}
good=0
for i in 1 2 3 4 5 6; do
	race "$T/r1.json" ca "$T/race1" &
	p1=$!
	race "$T/r2.json" "$X" "$T/race2" &
	p2=$!
	wait "$p1" "$p2"
	o=$(cat "$T/race1" "$T/race2")
	note "round $i: $(tr '\n' ' ' <<<"$o")"
	# The winner reached its provider; the loser was refused at once, in
	# one line (not linked first and then cut: "link eth0: No such
	# device", or a "relink" refused after its port was taken over).
	taken="its port spc-${MACA:9:2}${MACA:12:2}${MACA:15:2} is taken by"
	refused1="spectrum: ca: network of ca (provider netvm): $taken $X, another instance of that provider"
	refused2="spectrum: $X: network of $X (provider netvm): $taken ca, another instance of that provider"
	case "$o" in
	"reached"$'\n'"rc 0"$'\n'"$refused2"$'\n'"rc 1" | "$refused1"$'\n'"rc 1"$'\n'"reached"$'\n'"rc 0")
		good=$((good + 1)) ;;
	esac
done
check "6 rounds of two same-port clients linked at once: each time one linked, one refused ($good of 6)" "" \
	test "$good" = 6
# (A port goes with its client's namespace, which the kernel frees a
# moment after the client's end.)
no_ports() { [ -z "$(in_prov ip -o link show master sp-clients)" ]; }
check "no port is left on the bridge after them" "$(in_prov ip -o link show master sp-clients)" wait_for 5 no_ports

# ---- the kernel's line alone: the provider's nftables gone ----
# What a dying provider's namespace is like for a moment (its nftables
# hooks go first): the test removes its whole ruleset.  Bridge port
# isolation and the routing rule must still keep ca and cb apart.
for n in ca cb; do
	check "$n starts" "$(cat "$T/$n.log" 2>/dev/null)" start "$n"
done
both_linked() { reaches_provider ca && reaches_provider cb; }
check "ca and cb reach their provider" "" wait_for 10 both_linked
CA=$(spn exec --config "$CONF" ca -- ip -4 -o addr show dev eth0 </dev/null | awk '{ sub("/.*", "", $4); print $4 }')
out=$(in_prov nft flush ruleset 2>&1; in_prov nft list tables 2>&1)
check "the provider's ruleset is gone" "$out" test -z "$out"
spn exec --config "$CONF" ca -- timeout 20 python3 $NH count 9999 4 </dev/null >"$T/ca.count" 2>&1 &
BG_PIDS+=("$!")
spn exec --config "$CONF" ca -- timeout 20 python3 $NH serve 9000 6 </dev/null >"$T/ca.srv" 2>&1 &
BG_PIDS+=("$!")
wait_for 10 grep -q listening "$T/ca.count"
wait_for 10 grep -q listening "$T/ca.srv"
inside cb timeout 10 python3 $NH spray 100.64.255.255 9999 2
# Its last line only ("sent N failed M"): a TAP name is one line.
spray=$(tail -n 1 <<<"$OUT")
inside cb python3 $NH connect "$CA" 9000
check "no nftables in the provider: cb cannot connect to ca (the routing rule)" "rc $RC: $OUT" test "$RC" = 1
wait_for 10 grep -q "^count" "$T/ca.count"
got=$(awk '/^count/ { print $2 }' "$T/ca.count")
check "no nftables in the provider: not one of cb's broadcasts reaches ca (port isolation; $spray)" \
	"$(cat "$T/ca.count")" test "${got:-x}" = 0
sleep 0.5
check "ca's server saw no one" "$(cat "$T/ca.srv")" bash -c '! grep -v listening "$1" | grep -q .' _ "$T/ca.srv"
stop ca
stop cb

out=$(ip -n "$HOST" rule show)
check "while the uplink runs, the host has its routing rules ($(grep -c spu- <<<"$out"))" "$out" \
	test "$(grep -c 'iif spu-.* prohibit' <<<"$out")" = 10
stop netvm
out=$(ip -n "$HOST" rule show)
check "the provider stopped: none of its routing rules is left on the host" "$out" bash -c '! grep -q spu- <<<"$1"' _ "$out"
finish
