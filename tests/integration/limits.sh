#!/bin/bash
# Resource limits of container instances (issue 2): memory (an out-of-memory
# kill that run reports with status 137), pids (a fork bomb stops at the
# limit) and cpu (a quota), and neither disturbs the host.
#
# Usage: limits.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted bash -c scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

setup_store

# Unique names: cgroups are named spectrum/NAME on the whole host.
SFX=$$
MEM=mem-$SFX
PIDS=pids-$SFX
CPU=cpu-$SFX
FREE=free-$SFX

{
	echo '{ "instances": {'
	echo "  \"$MEM\":"
	instance_json '' '{"memory": "32M", "pids": 64}'
	echo "  ,\"$PIDS\":"
	instance_json '' '{"memory": "256M", "pids": 32}'
	echo "  ,\"$CPU\":"
	instance_json '' '{"memory": "256M", "cpus": 0.2, "pids": 64}'
	echo "  ,\"$FREE\":"
	instance_json '' '{"memory": "512M", "pids": 64}'
	echo '} }'
} >"$CONF"

run_in "$FREE" "$P" hostname
if [ "$RC" -ne 0 ]; then
	not_ok "spectrum run works" "exit $RC; stderr: $(first_line "$ERR")"
	echo "Bail out! spectrum run does not work; nothing else can be tested"
	finish
fi
ok "spectrum run works"

no_leftovers() {
	local name=$1 pattern=$2 procs cgs
	wait_for 10 procs_gone "$pattern"
	procs=$(host_procs "$pattern")
	check "$name: no process of the instance is left on the host" "$procs" test -z "$procs"
	wait_for 10 engine_procs_gone
	procs=$(engine_procs)
	check "$name: no spectrum process (engine, janitor, reaper) is left" "$procs" test -z "$procs"
	wait_for 10 cgroups_gone "$name"
	cgs=$(cgroups_of "$name")
	check "$name: no cgroup spectrum/$name is left" "$cgs" test -z "$cgs"
}

# ---- memory ----

# Control: the same allocation succeeds under a larger limit.
echo "# control: probe alloc 200 with memory 512M"
run_in "$FREE" "$P" alloc 200
check "control: 200 MiB can be allocated under a 512M limit" "exit $RC; $OUT $(first_line "$ERR")" \
	bash -c '[ "$1" -eq 1 ] && grep -q "^ALLOWED: allocated" <<<"$2"' _ "$RC" "$OUT"

"$PROBE" sleep 300 &
CANARY=$!
BG_PIDS+=("$CANARY")
echo "# trying: probe alloc 200 with memory 32M"
start=$SECONDS
SP_TIMEOUT=120 run_in "$MEM" "$P" alloc 200
echo "#   exit $RC after $((SECONDS - start)) s; stdout: $OUT; stderr: $ERR"
check "memory 32M, allocating 200 MiB: exit 137" "exit $RC; stdout: $OUT" test "$RC" -eq 137
check "memory 32M: stderr reports the out-of-memory kill" "stderr: $ERR" grep -qi 'out of memory' <<<"$ERR"
check "memory 32M: the allocation never completed" "stdout: $OUT" bash -c '! grep -q ALLOWED <<<"$1"' _ "$OUT"
no_leftovers "$MEM" "/opt/tools/probe alloc"
# The kill stayed inside the instance's cgroup: a host process started
# before it is alive, and the host still allocates and touches memory.
check "the OOM kill took no host process (the canary started before it is alive)" "pid $CANARY" \
	kill -0 "$CANARY"
host=$("$PROBE" alloc 64)
check "the host allocates and touches 64 MiB after the OOM kill" "$host" grep -q '^ALLOWED: allocated' <<<"$host"
run_in "$MEM" "$P" hostname
check "the instance runs again after its OOM kill" "exit $RC; $(first_line "$ERR")" test "$RC" -eq 0

# ---- pids ----

echo "# control: probe forkbomb with pids 64 forks more than 32"
run_in "$FREE" "$P" forkbomb 5 40
echo "#   $OUT"
check "control: 40 processes can be forked under a 64 pids limit" "exit $RC; $OUT" \
	bash -c '[ "$1" -eq 1 ] && grep -q "forked 40 processes" <<<"$2"' _ "$RC" "$OUT"

echo "# trying: probe forkbomb 10 1000 with pids 32"
start=$SECONDS
SP_TIMEOUT=60 run_in "$PIDS" "$P" forkbomb 10 1000
took=$((SECONDS - start))
echo "#   exit $RC after $took s: $OUT $(first_line "$ERR")"
forked=$(sed -n 's/.*forked \([0-9]*\) processes.*/\1/p' <<<"$OUT")
check "pids 32: the fork bomb is stopped (EAGAIN)" "exit $RC; $OUT; $(first_line "$ERR")" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^refused: .*(EAGAIN)" <<<"$2"' _ "$RC" "$OUT"
check "pids 32: it stopped at the limit (forked ${forked:-?} < 32)" "$OUT" test "${forked:-999}" -lt 32
check "pids 32: the run ended (in ${took} s)" "" test "$took" -lt 55
no_leftovers "$PIDS" "/opt/tools/probe forkbomb"

# ---- cpu ----

# No check rests on how much cpu a loop gets on a loaded machine (2 cores,
# other tests): the quota is read from the host, the kernel's throttling
# count shows that it engaged, and the loop's own cpu time has an upper
# bound only, which load can only lower.
echo "# for comparison: probe busy 2 without a cpu limit"
run_in "$FREE" "$P" busy 2
echo "#   $OUT"

echo "# trying: probe busy 2 with cpus 0.2"
sp run --config "$CONF" "$CPU" -- "$P" busy 2 </dev/null >"$T/busy.out" 2>"$T/busy.err" &
BUSY=$!
quota="" throttled=""
read_cpu_cgroup() {
	local d
	for d in $(cgroups_of "$CPU"); do
		[ -f "$d/cpu.cfs_quota_us" ] && quota="$(cat "$d/cpu.cfs_quota_us" "$d/cpu.cfs_period_us" | paste -sd ' ')"
		[ -f "$d/cpu.max" ] && quota=$(cat "$d/cpu.max")
		[ -f "$d/cpu.stat" ] && throttled=$(awk '$1 == "nr_throttled" { print $2 }' "$d/cpu.stat")
	done
	[ -n "$quota" ]
}
wait_for 10 read_cpu_cgroup
sleep 1.5
read_cpu_cgroup
wait "$BUSY"
RC=$?
OUT=$(cat "$T/busy.out")
ERR=$(cat "$T/busy.err")
echo "#   $OUT; quota $quota; throttled ${throttled:-?} times"
check "cpus 0.2: the instance's cgroup has the quota 20000 us per 100000 us" "quota: ${quota:-none}" \
	test "$quota" = "20000 100000"
check "cpus 0.2: the kernel throttled the busy loop (nr_throttled ${throttled:-?} > 0)" "${throttled:-no cpu.stat}" \
	test "${throttled:-0}" -gt 0
cpu=$(sed -n 's/.*cpu_ms=\([0-9]*\).*/\1/p' <<<"$OUT")
wall=$(sed -n 's/.*wall_ms=\([0-9]*\).*/\1/p' <<<"$OUT")
check "cpus 0.2: the busy loop ran (exit 0, wall >= 2 s)" "exit $RC; $OUT; $(first_line "$ERR")" \
	bash -c '[ "$1" -eq 0 ] && [ "${2:-0}" -ge 2000 ]' _ "$RC" "$wall"
check "cpus 0.2: 2 s of wall time used at most 0.8 s of cpu (${cpu:-?} ms)" "$OUT" \
	test "${cpu:-999999}" -le 800
no_leftovers "$CPU" "/opt/tools/probe busy"

finish
