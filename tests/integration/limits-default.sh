#!/bin/bash
# Default limits (issue 13, section 3): an instance that declares no
# resources still has a memory limit, a pids limit that leaves the host
# room, an explicit open files limit, and a sized /tmp and /dev/shm; inspect
# shows them, the configuration overrides each.  Two hostile instances with
# only the defaults fill /tmp and /dev/shm, open files to their limit and
# fork to their limit (every child opening files to its limit too), all at
# once, while an unprivileged host user still forks, opens files and
# allocates 256 MiB; then both are stopped cleanly.
#
# Usage: limits-default.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted bash -c scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

setup_store

SFX=$$
H1=hostile1-$SFX
H2=hostile2-$SFX
TUNED=tuned-$SFX

{
	echo '{ "instances": {'
	echo "  \"$H1\":"
	instance_json '' '{}'
	echo "  ,\"$H2\":"
	instance_json '' '{}'
	echo "  ,\"$TUNED\":"
	instance_json '' '{"memory": "128M", "pids": 40, "files": 256, "tmp": "8M", "shm": "4M"}'
	echo "  ,\"floor-$SFX\":"
	instance_json '' '{"memory": "128M", "pids": 40, "files": 64, "tmp": "2M"}'
	echo '} }'
} >"$CONF"
FLOOR=floor-$SFX

# ---- the defaults, from this host's facts (src/plan/limits.c) ----
MIB=$((1 << 20))
GIB=$((1 << 30))
RAM=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024))
PID_MAX=$(cat /proc/sys/kernel/pid_max)
FILE_MAX=$(cat /proc/sys/fs/file-max)
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }
max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }
WANT_MEM=$(max "$(min $((RAM / 4)) $((4 * GIB)))" $((64 * MIB)))
WANT_FILES=1024
WANT_PIDS=$(max "$(min 1024 "$(min $((PID_MAX / 16)) $((FILE_MAX / (4 * WANT_FILES))))")" 64)
WANT_TMP=$((WANT_MEM / 4))
note "host: RAM $RAM, pid_max $PID_MAX, file-max $FILE_MAX; expected defaults: memory $WANT_MEM, pids $WANT_PIDS, files $WANT_FILES, /tmp and /dev/shm $WANT_TMP"

sp inspect --config "$CONF" "$H1" --json >"$T/inspect.json" 2>"$T/err"
check "inspect --json: the default limits (memory, pids, files, /tmp, /dev/shm) and which are defaults" \
	"$(head -c 600 "$T/inspect.json") $(cat "$T/err")" \
	python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))["limits"]
want = dict(memory_bytes=int(sys.argv[2]), pids=int(sys.argv[3]), files=int(sys.argv[4]),
            tmp_bytes=int(sys.argv[5]), shm_bytes=int(sys.argv[5]), cpu_quota_us=0)
for k, v in want.items():
    assert l[k] == v, (k, l[k], v)
assert l["defaults"] == ["memory", "pids", "files", "tmp", "shm"], l["defaults"]
assert 0 < l["all_instances"]["memory_bytes"] < int(sys.argv[6]), l
assert l["all_instances"]["pids"] == int(sys.argv[7]) // 2, l
assert l["pids"] * l["files"] <= int(sys.argv[8]) // 4
' "$T/inspect.json" "$WANT_MEM" "$WANT_PIDS" "$WANT_FILES" "$WANT_TMP" "$RAM" "$PID_MAX" "$FILE_MAX"

sp inspect --config "$CONF" "$H1" >"$T/inspect.txt" 2>&1
check "inspect: the limits in words, none unlimited but cpu" "$(sed -n '/^limits/,/^$/p' "$T/inspect.txt")" \
	bash -c 'l=$(sed -n "/^limits/,/^\$/p" "$1")
		grep -qE "^  memory +[0-9]+[KMG]? \(default: RAM/4, at most 4G\)$" <<<"$l" &&
		grep -qE "^  pids +$2 \(default: " <<<"$l" &&
		grep -qE "^  files +1024 \(default: open files per process, soft and hard\)$" <<<"$l" &&
		grep -qE "^  /tmp +[0-9]+[KMG]? \(default: memory/4\)$" <<<"$l" &&
		grep -qE "^  /dev/shm +[0-9]+[KMG]? \(default: memory/4\)$" <<<"$l" &&
		grep -qE "^  host +every instance together: memory [0-9]+[KMG]? .*, pids [0-9]+ \(pid_max/2\)$" <<<"$l" &&
		[ "$(grep -c unlimited <<<"$l")" = 1 ] && grep -qE "^  cpu +unlimited$" <<<"$l"' _ "$T/inspect.txt" "$WANT_PIDS"

sp inspect --config "$CONF" "$TUNED" --json >"$T/tuned.json" 2>&1
check "inspect --json: declared limits replace the defaults" "$(head -c 600 "$T/tuned.json")" \
	python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))["limits"]
assert (l["memory_bytes"], l["pids"], l["files"], l["tmp_bytes"], l["shm_bytes"]) == (128 << 20, 40, 256, 8 << 20, 4 << 20), l
assert l["defaults"] == [], l' "$T/tuned.json"

# A /tmp or /dev/shm declared above the default memory limit (the
# configuration refuses it only above a declared one) is sized at that
# limit: larger, filling it ends in the OOM killer instead of ENOSPC.
{ echo '{ "instances": { "bigtmp":'; instance_json '' '{"tmp": "64G", "shm": "64G"}'; echo '} }'; } >"$T/bigtmp.json"
sp inspect --config "$T/bigtmp.json" bigtmp --json >"$T/bigtmp.out" 2>&1
check "tmp and shm 64G with the default memory limit: sized at that limit ($WANT_MEM)" "$(head -c 600 "$T/bigtmp.out")" \
	python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))["limits"]
assert (l["tmp_bytes"], l["shm_bytes"], l["memory_bytes"]) == (int(sys.argv[2]),) * 3, l' "$T/bigtmp.out" "$WANT_MEM"

# ---- bad values: exit 2, one line naming the key ----
bad() {
	local what=$1 resources=$2 want=$3 f=$T/bad.json
	{ echo '{ "instances": { "b":'; instance_json '' "$resources"; echo '} }'; } >"$f"
	sp inspect --config "$f" b >"$T/out" 2>&1
	local rc=$?
	check "bad $what: exit 2 and \"$want\"" "exit $rc: $(cat "$T/out")" \
		bash -c '[ "$1" = 2 ] && [ "$(wc -l <"$2")" = 1 ] && [ "$(cat "$2")" = "spectrum: $3: $4" ]' _ "$rc" "$T/out" "$f" "$want"
}
bad "files" '{"files": 10}' 'instances.b.resources.files: expected a whole number of open files from 64 to 1048576'
bad "tmp" '{"tmp": "1K"}' 'instances.b.resources.tmp: expected a size such as "64M" (at least 1M)'
bad "shm above memory" '{"memory": "64M", "shm": "128M"}' 'instances.b.resources.shm: expected at most resources.memory'

# ---- the declared limits are the ones in force ----
run_in "$TUNED" /bin/sh -c 'echo "files $(ulimit -Sn) $(ulimit -Hn)"; exec /opt/tools/probe exhaust 0'
note "$OUT"
check "declared files 256: RLIMIT_NOFILE 256 soft and hard" "exit $RC; $OUT; $(first_line "$ERR")" \
	grep -qx "files 256 256" <<<"$OUT"
check "declared tmp 8M: /tmp is full at 8 MiB (ENOSPC)" "$OUT" \
	grep -qx "refused: fill /tmp (wrote 8 MiB) (ENOSPC)" <<<"$OUT"
check "declared shm 4M: /dev/shm is full at 4 MiB (ENOSPC)" "$OUT" \
	grep -qx "refused: fill /dev/shm (wrote 4 MiB) (ENOSPC)" <<<"$OUT"
check "declared files 256: open files stop below 256 (EMFILE)" "$OUT" \
	grep -qE "^refused: open files \(opened 25[0-5]\) \(EMFILE\)$" <<<"$OUT"
check "declared pids 40: forks stop below 40 (EAGAIN)" "$OUT" \
	grep -qE "^refused: fork \(forked 3[0-9] processes\) \(EAGAIN\)$" <<<"$OUT"

# The lowest files limit the configuration accepts (64), in `run` and in
# `exec` (each moved its descriptors to 100 and up once the limit was set:
# "move descriptors", nothing started); in both the instance cannot raise it.
FLOOR_SH='echo "files $(ulimit -Sn) $(ulimit -Hn)"; ulimit -Hn 65 2>&1 || :; df -k /tmp | sed -n "2s/^[^ ]* *\([0-9]*\) .*/tmp \1 KiB/p"'
run_in "$FLOOR" /bin/sh -c "$FLOOR_SH"
check "run, declared files 64: starts; RLIMIT_NOFILE 64 soft and hard" "exit $RC; $OUT; $(first_line "$ERR")" \
	bash -c '[ "$1" = 0 ] && grep -qx "files 64 64" <<<"$2"' _ "$RC" "$OUT"
check "run, declared files 64: raising the hard limit is refused (EPERM)" "$OUT" \
	grep -qx "/bin/sh: 1: ulimit: error setting limit (Operation not permitted)" <<<"$OUT"
"$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" "$FLOOR" -- /bin/sleep 120 \
	</dev/null >"$T/floor.out" 2>&1 &
FLOOR_RUN=$!
BG_PIDS+=("$FLOOR_RUN")
wait_for 20 test -s "$RUNDIR/instances/$FLOOR/pid"
o=$(sp exec --config "$CONF" "$FLOOR" -- /bin/sh -c "$FLOOR_SH" </dev/null 2>&1)
rc=$?
check "exec, declared files 64: starts; RLIMIT_NOFILE 64 soft and hard" "exit $rc; $o; $(cat "$T/floor.out")" \
	bash -c '[ "$1" = 0 ] && grep -qx "files 64 64" <<<"$2"' _ "$rc" "$o"
check "exec, declared files 64: raising the hard limit is refused (EPERM)" "$o" \
	grep -qx "/bin/sh: 1: ulimit: error setting limit (Operation not permitted)" <<<"$o"
check "exec, declared tmp 2M: the command's /tmp is the instance's, 2048 KiB" "$o" grep -qx "tmp 2048 KiB" <<<"$o"
kill -TERM "$FLOOR_RUN" 2>/dev/null
wait_gone "$FLOOR_RUN" 20

# ---- two hostile instances with only the defaults, at once ----
HOLD=90
start_hostile() {
	"$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" "$1" -- "$P" exhaust "$HOLD" \
		</dev/null >"$T/$1.out" 2>"$T/$1.err" &
	BG_PIDS+=($!)
}
holding() { grep -q "^holding for" "$T/$1.out"; }
start_hostile "$H1"
RUN1=$!
start_hostile "$H2"
RUN2=$!
wait_for 120 holding "$H1"
wait_for 60 holding "$H2"
for h in "$H1" "$H2"; do
	note "[$h] $(cat "$T/$h.out" "$T/$h.err")"
done
for h in "$H1" "$H2"; do
	o=$(cat "$T/$h.out")
	check "[$h] /tmp fills up to its default size and no further (ENOSPC)" "$o" \
		grep -qx "refused: fill /tmp (wrote $((WANT_TMP / MIB)) MiB) (ENOSPC)" <<<"$o"
	check "[$h] /dev/shm fills up to its default size and no further (ENOSPC)" "$o" \
		grep -qx "refused: fill /dev/shm (wrote $((WANT_TMP / MIB)) MiB) (ENOSPC)" <<<"$o"
	check "[$h] open files stop at the default 1024 (EMFILE)" "$o" \
		grep -qE "^refused: open files \(opened 10[12][0-9]\) \(EMFILE\)$" <<<"$o"
	forked=$(sed -n 's/^refused: fork (forked \([0-9]*\) processes) (EAGAIN)$/\1/p' <<<"$o")
	check "[$h] forks stop just below the default pids $WANT_PIDS (EAGAIN; forked ${forked:-?})" "$o" \
		bash -c '[ -n "$1" ] && [ "$1" -lt "$2" ] && [ "$1" -ge $(($2 - 5)) ]' _ "$forked" "$WANT_PIDS"
	files=$(sed -n 's/^children hold \([0-9]*\) open files$/\1/p' <<<"$o")
	check "[$h] its children hold ${files:-?} open files: at most a quarter of fs.file-max" "$o" \
		bash -c '[ -n "$1" ] && [ "$1" -gt 0 ] && [ "$1" -le $(($2 / 4)) ]' _ "$files" "$FILE_MAX"
done
# The limits the kernel enforces: the instance's cgroups, and the
# ceilings on "spectrum", the parent of every instance's.
ALL_MEM=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["limits"]["all_instances"]["memory_bytes"])' "$T/inspect.json")
cg_limits() {
	local d f
	for d in $(cgroups_of "$1"); do
		for f in memory.max memory.limit_in_bytes pids.max; do
			[ -f "$d/$f" ] && echo "$f $(cat "$d/$f") $(cat "$(dirname "$d")/$f")"
		done
	done
}
CGL=$(cg_limits "$H1")
note "[$H1] cgroup files: instance value, spectrum/ value: $(tr '\n' ';' <<<"$CGL")"
check "[$H1] the kernel has its memory limit $WANT_MEM, and every instance together $ALL_MEM" "$CGL" \
	grep -qE "^memory\.(max|limit_in_bytes) $WANT_MEM $ALL_MEM$" <<<"$CGL"
check "[$H1] the kernel has its pids limit $WANT_PIDS, and every instance together $((PID_MAX / 2))" "$CGL" \
	grep -qx "pids.max $WANT_PIDS $((PID_MAX / 2))" <<<"$CGL"
check "both hostile instances still hold everything" "" bash -c 'kill -0 "$1" && kill -0 "$2"' _ "$RUN1" "$RUN2"
note "host: $(cat /proc/sys/fs/file-nr) open files (allocated, free, max); $(find /proc -maxdepth 1 -name '[0-9]*' | wc -l) processes"

# Meanwhile an unprivileged host user (fs.file-max binds only those
# without CAP_SYS_ADMIN) forks, opens files and allocates 256 MiB.
install -m 0755 "$PROBE" "$T/hostprobe"
chmod 0711 "$T"
as_nobody() { timeout 30 setpriv --reuid=65534 --regid=65534 --clear-groups -- "$T/hostprobe" "$@" 2>&1; }
o=$(as_nobody forkbomb 5 200)
check "host: an unprivileged user forks 200 processes" "$o" grep -qx "ALLOWED: fork without limit (forked 200 processes)" <<<"$o"
o=$(as_nobody open-files 4000)
check "host: an unprivileged user opens 4000 files" "$o" grep -qx "ALLOWED: open 4000 files" <<<"$o"
o=$(as_nobody alloc 256)
check "host: an unprivileged user allocates and touches 256 MiB" "$o" grep -qx "ALLOWED: allocated and touched 256 MiB" <<<"$o"

# ---- stopped cleanly ----
start=$SECONDS
kill -TERM "$RUN1" "$RUN2"
wait "$RUN1"
rc1=$?
wait "$RUN2"
rc2=$?
took=$((SECONDS - start))
check "SIGTERM stops both hostile instances (exit 143 each, in ${took} s)" "exit $rc1 and $rc2; $(cat "$T/$H1.err" "$T/$H2.err")" \
	bash -c '[ "$1" = 143 ] && [ "$2" = 143 ] && [ "$3" -lt 60 ]' _ "$rc1" "$rc2" "$took"
wait_for 20 procs_gone "/opt/tools/probe exhaust"
check "no process of the hostile instances is left" "$(host_procs "/opt/tools/probe exhaust")" procs_gone "/opt/tools/probe exhaust"
wait_for 10 engine_procs_gone
check "no spectrum process (engine, janitor, reaper) is left" "$(engine_procs)" engine_procs_gone
for h in "$H1" "$H2"; do
	wait_for 10 cgroups_gone "$h"
	check "[$h] no cgroup is left" "$(cgroups_of "$h")" cgroups_gone "$h"
done
check "no tmpfs of theirs is left mounted on the host" "$(mounts_of "$T")" bash -c '[ -z "$(grep -F -- "$1" /proc/self/mountinfo)" ]' _ "$T"

finish
