#!/bin/bash
# Issue 13, section 8: inside an instance, and in a command joined with
# `spectrum exec`, /proc/self/cgroup reads "/" in every hierarchy (v1 ones
# included: the cgroup namespace is made after they are joined); and `run`
# of an instance that already runs, unsupervised or under supervision,
# says so at once (exit 1) instead of waiting 10 s on its lock.
#
# Usage: cgroup-view.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted bash -c scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

setup_store
SFX=$$
A=view-$SFX
S=super-$SFX

# shellcheck disable=SC2034 # lib.sh's cleanup reads them
SVSCAN_PID=""
# shellcheck disable=SC2034
EXTRA_CLEANUP='[ -n "$SVSCAN_PID" ] && kill -KILL "$SVSCAN_PID" 2>/dev/null; true'
trap 'stop_svscan; lib_cleanup' EXIT

{
	echo '{ "instances": {'
	echo "  \"$A\":"
	instance_json '' '{"memory": "128M", "pids": 32}'
	echo "  ,\"$S\": { \"software\": [\"host\"], \"command\": [\"/opt/tools/probe\", \"sleep\", \"600\"],"
	echo '    "data": [{"path": "tools", "at": "/opt/tools", "mode": "ro"}], "stop_timeout": 3,'
	echo '    "resources": {"memory": "128M", "pids": 32} }'
	echo '} }'
} >"$CONF"

# Every line "N:CONTROLLERS:/" and at least one.
all_root() {
	[ -n "$1" ] && ! grep -qvE '^[0-9]+:[^:]*:/$' <<<"$1"
}
note "host: $(tr '\n' ' ' </proc/self/cgroup)"

run_in "$A" "$P" cat /proc/self/cgroup
note "inside: $(tr '\n' ' ' <<<"$OUT")"
check "inside an instance every line of /proc/self/cgroup ends in :/ ($(wc -l <<<"$OUT") hierarchies)" \
	"exit $RC; $OUT; $(first_line "$ERR")" all_root "$OUT"

# ---- an unsupervised instance that runs ----
"$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" "$A" -- "$P" sleep 120 \
	</dev/null >"$T/bg.out" 2>"$T/bg.err" &
BG=$!
BG_PIDS+=("$BG")
wait_for 20 test -s "$RUNDIR/instances/$A/pid"

OUT=$(sp exec --config "$CONF" "$A" -- "$P" cat /proc/self/cgroup </dev/null 2>&1)
RC=$?
note "exec: $(tr '\n' ' ' <<<"$OUT")"
check "through spectrum exec every line of /proc/self/cgroup ends in :/" "exit $RC; $OUT" all_root "$OUT"

OUT=$(sp exec --config "$CONF" "$A" -- /bin/sh -c 'echo "files $(ulimit -Sn) $(ulimit -Hn)"' </dev/null 2>&1)
RC=$?
check "through spectrum exec the default open files limit holds too (1024 soft and hard; ours: $(ulimit -Sn) $(ulimit -Hn))" \
	"exit $RC; $OUT" test "$OUT" = "files 1024 1024"

want_running() {
	echo "spectrum: $1: already running (started by spectrum start or another spectrum run); spectrum exec $1 -- CMD runs a command inside it"
}
start=$SECONDS
OUT=$(sp run --config "$CONF" "$A" -- "$P" hostname </dev/null 2>&1)
RC=$?
took=$((SECONDS - start))
check "run of a running instance: exit 1 at once (${took} s) with \"already running\" and exec suggested" \
	"exit $RC; $OUT" bash -c '[ "$1" = 1 ] && [ "$2" -le 2 ] && [ "$3" = "$4" ]' _ "$RC" "$took" "$OUT" "$(want_running "$A")"
check "... and the running instance is untouched" "$(cat "$T/bg.err")" kill -0 "$BG"
kill -TERM "$BG"
wait "$BG"
rc=$?
check "the first run still ends normally on SIGTERM (exit 143)" "exit $rc; $(cat "$T/bg.err")" test "$rc" = 143
wait_for 10 cgroups_gone "$A"
run_in "$A" "$P" hostname
check "once it has ended, run works again" "exit $RC; $OUT; $(first_line "$ERR")" \
	bash -c '[ "$1" = 0 ] && [ "$2" = "$3" ]' _ "$RC" "$OUT" "$A"

# ---- an instance under supervision ----
sp switch "$CONF" >"$T/out" 2>&1
rc=$?
check "switch to the configuration exits 0" "exit $rc: $(cat "$T/out")" test "$rc" = 0
sp start "$S" >"$T/out" 2>&1
rc=$?
check "start under supervision exits 0" "exit $rc: $(cat "$T/out")" test "$rc" = 0
start=$SECONDS
OUT=$(sp run "$S" </dev/null 2>&1)
RC=$?
took=$((SECONDS - start))
check "run of a supervised running instance: exit 1 at once (${took} s), exact text" \
	"exit $RC; $OUT" bash -c '[ "$1" = 1 ] && [ "$2" -le 2 ] && [ "$3" = "$4" ]' _ "$RC" "$took" "$OUT" "$(want_running "$S")"
OUT=$(sp exec "$S" -- "$P" cat /proc/self/cgroup </dev/null 2>&1)
RC=$?
check "exec into the supervised instance: every line of /proc/self/cgroup ends in :/" "exit $RC; $OUT" all_root "$OUT"
sp stop "$S" >"$T/out" 2>&1
rc=$?
check "stop of the supervised instance exits 0" "exit $rc: $(cat "$T/out")" test "$rc" = 0
wait_for 10 cgroups_gone "$S"
check "no cgroup of it is left" "$(cgroups_of "$S")" cgroups_gone "$S"
stop_svscan

finish
