#!/bin/bash
# Supervision with s6 (issue 4): start, stop, restart, list, logs; restart
# policies with the app or Spectrum's own engine killed; switch restarting
# only what changed; and 100 start/stop cycles leaving nothing behind.
#
# Usage: supervise.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

setup_store
SCAN=$RUNDIR/s6/scan
SFX=$$

# The s6-svscan this test starts (through `spectrum start`) is stopped
# before the temporary directory goes, and killed by pid as a last resort.
SVSCAN_PID=""
EXTRA_CLEANUP='[ -n "$SVSCAN_PID" ] && kill -KILL "$SVSCAN_PID" 2>/dev/null; true'
trap 'stop_svscan; lib_cleanup' EXIT

A=sa-$SFX   # restart always
F=sf-$SFX   # restart on-failure
N=sn-$SFX   # restart no
B=sb-$SFX   # a command that fails at once
C=sc-$SFX   # for the 100 cycles

# inst NAME POLICY MEMORY COMMAND-JSON
inst() {
	cat <<EOF
  "$1": { "software": ["host"], "command": $4, "restart": "$2", "stop_timeout": 3,
          "data": [{"path": "tools", "at": "/opt/tools", "mode": "ro"}],
          "resources": {"memory": "$3", "pids": 64} }
EOF
}
# The app: says hello, then waits; SIGTERM makes it exit 0.
APP='["/bin/sh", "-c", "echo hello from $0; trap \"exit 0\" TERM; sleep 100000 & wait", "app"]'
config() {
	local f=$T/cfg-$1.json
	{
		echo '{ "instances": {'
		inst "$A" always "$2" "$APP"; echo ,
		inst "$F" on-failure 64M "$APP"; echo ,
		[ "$1" = 1 ] && { inst "$N" no 64M "$APP"; echo ,; }
		inst "$B" no 64M '["/bin/sh", "-c", "echo failing; exit 3"]'; echo ,
		inst "$C" no 64M '["/bin/sh", "-c", "exec sleep 100000"]'
		echo '} }'
	} >"$f"
	echo "$f"
}

C1=$(config 1 64M)
sp switch "$C1" >"$T/out" 2>&1
check "switch without supervision in use starts nothing and says so" "$(cat "$T/out")" \
	bash -c 'grep -q "not in use" "$1" && [ -z "$(pgrep -f -x "s6-svscan -d 3 $2")" ]' _ "$T/out" "$SCAN"

pid_of() { cat "$RUNDIR/instances/$1/pid" 2>/dev/null; }
state_of() { sp list --json | python3 -c 'import json,sys; d={i["name"]: i for i in json.load(sys.stdin)}; i=d[sys.argv[1]]; print(i["state"], i["pid"], i["last_exit"])' "$1"; }
app_of() { pgrep -P "$(pid_of "$1")" | head -n 1; }
is_up() { [ "$(state_of "$1" | cut -d' ' -f1)" = up ]; }
is_down_state() { [ "$(state_of "$1" | cut -d' ' -f1)" = "$2" ]; }

# ---- start, list, logs ----
sp start "$A" "$F" >"$T/out" 2>&1
rc=$?
check "start of two instances exits 0" "exit $rc: $(cat "$T/out")" test "$rc" = 0
check "an s6-svscan runs for the run directory" "" test -n "$(svscan_pid)"
PA=$(pid_of "$A")
check "the started instance's PID 1 is recorded and alive" "pid '$PA'" \
	bash -c '[ -n "$1" ] && [ "$(cat /proc/$1/comm)" = spectrum-init ]' _ "$PA"
sp list --json >"$T/list.json" 2>&1
check "list --json is valid JSON" "$(head -c 300 "$T/list.json")" \
	bash -c 'python3 -m json.tool "$1" >/dev/null' _ "$T/list.json"
check "list --json matches reality: $A up with its PID 1" "$(state_of "$A")" test "$(state_of "$A")" = "up $PA None"
check "list --json: memory from the cgroup, network none, grants 1" "$(head -c 400 "$T/list.json")" \
	python3 -c 'import json,sys; i=[x for x in json.load(open(sys.argv[1])) if x["name"]==sys.argv[2]][0]; assert i["memory"] > 0 and i["network"]["mode"] == "none" and i["grants"] == 1 and i["uptime"] >= 0 and i["isolation"] == "container"' "$T/list.json" "$A"
check "list --json: a never started instance is down" "$(state_of "$N")" test "$(state_of "$N")" = "down None None"
OUT=$(sp list 2>&1)
check "list prints a table with the state and pid" "$OUT" bash -c 'grep -qE "^$1 +container +up +$2 " <<<"$3"' _ "$A" "$PA" "$OUT"
wait_for 5 bash -c '"$@" logs "$0" 2>/dev/null | grep -q "hello from app"' "$A" "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR"
OUT=$(sp logs "$A" 2>&1)
check "logs shows what the instance printed" "$OUT" grep -q "hello from app" <<<"$OUT"
timeout -s INT 1 "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" logs -f "$A" >"$T/follow" 2>&1
check "logs -f follows and stops on SIGINT" "$(cat "$T/follow")" grep -q "hello from app" "$T/follow"

# ---- errors ----
sp start "nosuch-$SFX" >"$T/out" 2>&1
rc=$?
check "start of an unknown instance: exit 2, one line" "exit $rc: $(cat "$T/out")" \
	bash -c '[ "$1" = 2 ] && [ "$(wc -l <"$2")" = 1 ] && grep -q "no such instance in generation" "$2"' _ "$rc" "$T/out"
sp stop "$N" >"$T/out" 2>&1
rc=$?
check "stop of a stopped instance: exit 1, one line" "exit $rc: $(cat "$T/out")" \
	bash -c '[ "$1" = 1 ] && [ "$(wc -l <"$2")" = 1 ] && grep -q "is not running" "$2"' _ "$rc" "$T/out"
sp start "$B" >"$T/out" 2>&1
rc=$?
# Ready means "its command has been started" (DESIGN.md): a command that
# exits at once may be seen ready first (exit 0, "started") or not (exit
# 1 naming its status), depending on timing; either way list then says
# it failed, with its status.
check "start of a command that fails at once: exit 1 with its status, or started" "exit $rc: $(cat "$T/out")" \
	bash -c '{ [ "$1" = 1 ] && grep -q "status 3" "$2"; } || { [ "$1" = 0 ] && grep -q "started" "$2"; }' _ "$rc" "$T/out"
wait_for 10 is_down_state "$B" failed
check "... and list shows it failed with exit status 3" "$(state_of "$B")" test "$(state_of "$B")" = "failed None 3"

# ---- restart policies: the app killed ----
APPA=$(app_of "$A")
kill -KILL "$APPA"
wait_for 15 bash -c 'p=$(cat "$1" 2>/dev/null); [ -n "$p" ] && [ "$p" != "$2" ]' "$RUNDIR/instances/$A/pid" "$PA"
wait_for 10 is_up "$A"
PA2=$(pid_of "$A")
check "always: the app killed with SIGKILL is restarted" "$(state_of "$A")" \
	bash -c '[ "$1" != "$2" ] && [ -n "$2" ] && [ "$(cat /proc/$2/comm)" = spectrum-init ]' _ "$PA" "$PA2"
check "... and list shows the last exit status 137" "$(state_of "$A")" test "$(state_of "$A")" = "up $PA2 137"

PF=$(pid_of "$F")
kill -KILL "$(app_of "$F")"
wait_for 15 bash -c 'p=$(cat "$1" 2>/dev/null); [ -n "$p" ] && [ "$p" != "$2" ]' "$RUNDIR/instances/$F/pid" "$PF"
wait_for 10 is_up "$F"
PF2=$(pid_of "$F")
check "on-failure: the app killed with SIGKILL is restarted" "$(state_of "$F")" \
	bash -c '[ -n "$2" ] && [ "$1" != "$2" ]' _ "$PF" "$PF2"
kill -TERM "$(app_of "$F")"
wait_for 10 is_down_state "$F" down
sleep 2
check "on-failure: the app exiting 0 stays down" "$(state_of "$F")" test "$(state_of "$F")" = "down None 0"

sp start "$N" >/dev/null 2>&1
PN=$(pid_of "$N")
kill -KILL "$(app_of "$N")"
wait_for 10 is_down_state "$N" failed
sleep 2
check "no: the app killed with SIGKILL stays down, failed with 137" "$(state_of "$N")" \
	test "$(state_of "$N")" = "failed None 137"
check "... and nothing of it is left" "$(cgroups_of "$N"; ls "$RUNDIR/instances")" \
	bash -c '[ -z "$1" ] && [ ! -e "$2" ] && ! kill -0 "$3" 2>/dev/null' _ "$(cgroups_of "$N")" "$RUNDIR/instances/$N" "$PN"

# ---- Spectrum's engine killed ----
PA=$(pid_of "$A")
ENG=$(ps -o ppid= -p "$PA" | tr -d ' ')
check "the engine of $A runs under s6-supervise" "engine $ENG" \
	bash -c '[ "$(ps -o comm= -p "$(ps -o ppid= -p "$1" | tr -d " ")")" = s6-supervise ]' _ "$ENG"
kill -KILL "$ENG"
wait_for 20 bash -c 'p=$(cat "$1" 2>/dev/null); [ -n "$p" ] && [ "$p" != "$2" ]' "$RUNDIR/instances/$A/pid" "$PA"
wait_for 10 is_up "$A"
PA3=$(pid_of "$A")
inits=$(for p in $(pgrep -f -- "run --notify-fd 3 $A\$"); do pgrep -P "$p" -x spectrum-init; done | sort -u)
v2=$(cgroups_of "$A" | grep -F "$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)/")
check "the engine killed with SIGKILL: s6 restarts it, and the instance is back" "pid $PA -> $PA3" \
	bash -c '[ -n "$2" ] && [ "$1" != "$2" ] && ! kill -0 "$1" 2>/dev/null' _ "$PA" "$PA3"
check "... clean: one PID 1, one cgroup holding it" "inits: $inits; v2 cgroups: $v2" \
	bash -c '[ "$1" = "$2" ] && [ "$(wc -l <<<"$3")" = 1 ] && grep -qx "$2" "$3/cgroup.procs"' _ "$inits" "$PA3" "$v2"

# ---- switch: only the changed instance restarts ----
sp start "$F" >/dev/null 2>&1
PA=$(pid_of "$A")
PF=$(pid_of "$F")
sp start "$N" >/dev/null 2>&1
C2=$(config 2 96M)
sp switch "$C2" >"$T/out" 2>&1
rc=$?
OUT=$(cat "$T/out")
check "switch with supervision in use exits 0" "exit $rc: $OUT" test "$rc" = 0
check "switch restarts the changed instance ($A: pid changed)" "$OUT" \
	bash -c '[ -n "$2" ] && [ "$1" != "$2" ] && grep -q "$3 *restarted" <<<"$4"' _ "$PA" "$(pid_of "$A")" "$A" "$OUT"
check "switch leaves the unchanged one running ($F: same pid)" "$OUT" \
	bash -c '[ "$1" = "$2" ] && grep -q "$3 *unchanged" <<<"$4"' _ "$PF" "$(pid_of "$F")" "$F" "$OUT"
check "switch stops a removed instance and removes its service directory" "$OUT" \
	bash -c 'grep -q "$1 *stopped (removed)" <<<"$2" && [ ! -e "$3" ] && [ ! -e "$4" ]' _ "$N" "$OUT" \
	"$RUNDIR/s6/services/$N" "$SCAN/$N"
sp stop "$A" "$F" >"$T/out" 2>&1
rc=$?
check "stop of two running instances exits 0" "exit $rc: $(cat "$T/out")" test "$rc" = 0

# ---- 100 start/stop cycles ----
# Processes of the spectrum binary serving this test's run directory:
# engines and janitors (their command line names it) and the PID 1s they
# started.  (Not all of the binary's: other tests may run meanwhile.)
spectrum_procs() {
	local d pid n=0 engines=" "
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$(readlink "$d/exe" 2>/dev/null)" = "$SPECTRUM" ] || continue
		tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "--run-dir $RUNDIR " || continue
		engines="$engines$pid "
		n=$((n + 1))
	done
	for pid in $(pgrep -x spectrum-init); do
		[[ $engines == *" $(ps -o ppid= -p "$pid" | tr -d ' ') "* ]] && n=$((n + 1))
	done
	echo "$n"
}
count() {
	echo "procs=$(spectrum_procs) mounts=$(wc -l </proc/self/mountinfo) cgroups=$(cgroups_of "$C" | wc -l) files=$(find "$RUNDIR/instances" -mindepth 1 2>/dev/null | wc -l)"
}
before=$(count)
fails=""
start_ns=$(date +%s%N)
for i in $(seq 1 100); do
	sp start "$C" >/dev/null 2>"$T/err" || { fails="$fails start $i: $(head -n 1 "$T/err");"; break; }
	sp stop "$C" >/dev/null 2>"$T/err" || { fails="$fails stop $i: $(head -n 1 "$T/err");"; break; }
done
note "100 start/stop cycles took $((($(date +%s%N) - start_ns) / 1000000)) ms"
check "100 start/stop cycles all succeed" "$fails" test -z "$fails"
after=$(count)
check "... and leave no process, mount, cgroup or runtime file behind" "before: $before; after: $after" \
	test "$before" = "$after"

san=$(grep -rl "Sanitizer" "$STATE/log" 2>/dev/null)
check "no sanitizer report in any supervised instance's log (sanitized builds)" "$san" test -z "$san"

stop_svscan
check "s6-svscanctl -t stops the supervision tree" "$(pgrep -a -f "$SCAN")" procs_gone "$SCAN"
finish
