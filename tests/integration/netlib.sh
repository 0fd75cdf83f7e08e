# Network namespaces for the compartment networking tests (net.sh,
# net-attacks.sh, net-review.sh); sourced after lib.sh, not a test:
#
#   . "$(dirname "$0")/netlib.sh" HOST-NAME WORLD-NAME
#
# skips the test without nft, ip or python3; makes the store (with
# nethelper.py in its tools, NH its path inside) and two namespaces:
# HOST (HOST-NAME-PID) stands in for the host, WORLD (WORLD-NAME-PID)
# is beyond it, joined by a veth: wan0 in HOST (198.51.100.1/24,
# 10.77.0.1/24), eth0 in WORLD (198.51.100.2/24, 10.77.0.2/24), both
# removed at exit.  Then in_host, in_world, spn (spectrum in HOST with the
# test's store) and inst (one instance's JSON for the test's config);
# start/stop/pid_of (engines in HOST), inside/addr_of/reaches_provider.

# shellcheck shell=bash disable=SC2016,SC2034 # single-quoted scripts take their values as arguments; the tests read what is set here

if ! command -v nft >/dev/null || ! command -v ip >/dev/null || ! command -v python3 >/dev/null; then
	echo "1..0 # SKIP needs nft, ip and python3 (scripts/install-deps)"
	exit 0
fi

setup_store
install -m 0755 "$(dirname "$0")/nethelper.py" "$STATE/data/tools/nethelper.py"
NH=/opt/tools/nethelper.py
SFX=$$
HOST=$1-$SFX
WORLD=$2-$SFX
EXTRA_CLEANUP='ip netns del "$HOST" 2>/dev/null; ip netns del "$WORLD" 2>/dev/null; true'

ip netns add "$HOST" && ip netns add "$WORLD" || { echo "Bail out! ip netns add failed"; exit 1; }
ip -n "$HOST" link set lo up
ip -n "$WORLD" link set lo up
ip -n "$HOST" link add wan0 type veth peer name eth0 netns "$WORLD"
ip -n "$HOST" addr add 198.51.100.1/24 dev wan0
ip -n "$HOST" addr add 10.77.0.1/24 dev wan0
ip -n "$HOST" link set wan0 up
ip -n "$WORLD" addr add 198.51.100.2/24 dev eth0
ip -n "$WORLD" addr add 10.77.0.2/24 dev eth0
ip -n "$WORLD" link set eth0 up

in_host() { nsenter --net="/run/netns/$HOST" "$@"; }
in_world() { nsenter --net="/run/netns/$WORLD" "$@"; }

# spectrum in HOST, with the test's store.
spn() {
	timeout -k 5 "${SP_TIMEOUT:-60}" nsenter --net="/run/netns/$HOST" \
		"$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" "$@"
}

APP='["/bin/sh", "-c", "exec sleep 100000"]'
TOOLS='"data": [{"path": "tools", "at": "/opt/tools", "mode": "ro"}]'
inst() { # NAME EXTRA-JSON
	echo "\"$1\": { \"software\": [\"host\"], \"command\": $APP, $TOOLS, \"resources\": {\"pids\": 64} $2 }"
}

# The engines the test starts, by instance name (start, stop).
declare -A ENGINE
# start NAME [CONFIG]: its engine in the background, in HOST; waits until
# its command runs.
start() {
	# A SIGKILLed engine leaves its pid file (stale, which `exec` and a
	# client's engine see): the new one is waited for.
	rm -f "$RUNDIR/instances/$1/pid"
	# Not under timeout: $! must be the engine itself (nsenter execs it),
	# which the crash tests SIGKILL.  lib.sh kills what is left at exit.
	nsenter --net="/run/netns/$HOST" "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" \
		run --config "${2:-$CONF}" "$1" </dev/null >"$T/$1.log" 2>&1 &
	ENGINE[$1]=$!
	BG_PIDS+=("$!")
	wait_for 20 test -s "$RUNDIR/instances/$1/pid"
}
pid_of() { cat "$RUNDIR/instances/$1/pid"; }
# stop NAME: SIGTERM to its engine, which ends the instance and cleans up.
stop() {
	kill -TERM "${ENGINE[$1]}" 2>/dev/null
	wait_gone "${ENGINE[$1]}" 20
	wait "${ENGINE[$1]}" 2>/dev/null
	true
}
# inside NAME CMD...: CMD run in instance NAME (spectrum exec); sets OUT, RC.
inside() {
	local name=$1
	shift
	OUT=$(spn exec --config "$CONF" "$name" -- "$@" </dev/null 2>&1)
	RC=$?
}
addr_of() { # NAME: its eth0 address, as the instance sees it
	spn exec --config "$CONF" "$1" -- ip -4 -o addr show dev eth0 </dev/null 2>/dev/null |
		awk '{ sub("/.*", "", $4); print $4 }'
}
reaches_provider() { inside "$1" ping -c 1 -W 1 100.64.0.1; [ "$RC" = 0 ]; }
