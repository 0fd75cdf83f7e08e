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

echo "# trying: probe alloc 200 with memory 32M"
start=$SECONDS
SP_TIMEOUT=120 run_in "$MEM" "$P" alloc 200
echo "#   exit $RC after $((SECONDS - start)) s; stdout: $OUT; stderr: $ERR"
check "memory 32M, allocating 200 MiB: exit 137" "exit $RC; stdout: $OUT" test "$RC" -eq 137
check "memory 32M: stderr reports the out-of-memory kill" "stderr: $ERR" grep -qi 'out of memory' <<<"$ERR"
check "memory 32M: the allocation never completed" "stdout: $OUT" bash -c '! grep -q ALLOWED <<<"$1"' _ "$OUT"
no_leftovers "$MEM" "/opt/tools/probe alloc"
check "the host is fine after the OOM kill (it still runs commands)" "" /bin/true
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

echo "# control: probe busy 2 without a cpu limit"
run_in "$FREE" "$P" busy 2
echo "#   $OUT"
free_cpu=$(sed -n 's/.*cpu_ms=\([0-9]*\).*/\1/p' <<<"$OUT")
check "control: a 2 s busy loop without a cpu limit uses more than 1 s of cpu" "$OUT" \
	test "${free_cpu:-0}" -gt 1000

echo "# trying: probe busy 2 with cpus 0.2"
run_in "$CPU" "$P" busy 2
echo "#   $OUT"
cpu=$(sed -n 's/.*cpu_ms=\([0-9]*\).*/\1/p' <<<"$OUT")
wall=$(sed -n 's/.*wall_ms=\([0-9]*\).*/\1/p' <<<"$OUT")
check "cpus 0.2: the busy loop ran (exit 0, wall >= 2 s)" "exit $RC; $OUT; $(first_line "$ERR")" \
	bash -c '[ "$1" -eq 0 ] && [ "${2:-0}" -ge 2000 ]' _ "$RC" "$wall"
check "cpus 0.2: 2 s of wall time used at most 0.8 s of cpu (${cpu:-?} ms)" "$OUT" \
	test "${cpu:-999999}" -le 800
no_leftovers "$CPU" "/opt/tools/probe busy"

finish
