#!/bin/bash
# Lifecycle of `spectrum run` (issue 2): exit status and signals passed
# through, SIGTERM/SIGINT forwarded to the instance, a crash of the engine
# (SIGKILL) leaves no process, cgroup or mount behind, an interactive run
# gets its own pty, and many runs in a row leave nothing behind.
#
# Usage: lifecycle.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted bash -c scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

setup_store

SFX=$$
LC=lc-$SFX

{
	echo '{ "instances": {'
	echo "  \"$LC\":"
	instance_json '' '{"memory": "256M", "pids": 64}'
	echo '} }'
} >"$CONF"

run_in "$LC" "$P" hostname
if [ "$RC" -ne 0 ]; then
	not_ok "spectrum run works" "exit $RC; stderr: $(first_line "$ERR")"
	echo "Bail out! spectrum run does not work; nothing else can be tested"
	finish
fi
ok "spectrum run works"

nothing_left() {
	local what=$1 pattern=$2 procs cgs mnts
	wait_for 10 procs_gone "$pattern"
	procs=$(host_procs "$pattern")
	check "$what: no process of the instance is left" "$procs" test -z "$procs"
	wait_for 10 cgroups_gone "$LC"
	cgs=$(cgroups_of "$LC")
	check "$what: no cgroup spectrum/$LC is left" "$cgs" test -z "$cgs"
	wait_for 10 engine_procs_gone
	procs=$(engine_procs)
	check "$what: no spectrum process (engine, janitor, reaper) is left" "$procs" test -z "$procs"
	mnts=$(mounts_of "$T")
	check "$what: no mount of the instance is in the host's mountinfo" "$mnts" test -z "$mnts"
}

# ---- exit status ----

for status in 0 7 42 255; do
	run_in "$LC" "$P" exit "$status"
	check "exit $status is passed through" "exit $RC; $(first_line "$ERR")" test "$RC" -eq "$status"
done
run_in "$LC" /usr/bin/sh -c 'exit 3'
check "exit 3 of /usr/bin/sh is passed through" "exit $RC; $(first_line "$ERR")" test "$RC" -eq 3
run_in "$LC" /nonexistent-command
check "a command that does not exist: exit 127, 126 or 1, with a message" "exit $RC; stderr: $ERR" \
	bash -c '{ [ "$1" -eq 127 ] || [ "$1" -eq 126 ] || [ "$1" -eq 1 ]; } && [ -n "$2" ]' _ "$RC" "$ERR"

for sig in 15 11 9; do
	run_in "$LC" "$P" selfkill "$sig"
	check "a command killed by signal $sig: exit $((128 + sig))" "exit $RC; $(first_line "$ERR")" \
		test "$RC" -eq $((128 + sig))
done

# ---- signals sent to spectrum reach the instance ----

# Signal dispositions are process state of the host: a signal the host
# ignored (here SIGINT and SIGQUIT, as for any background job of a script)
# must not stay ignored inside, or the reaper's forwarding is lost.
"$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" "$LC" -- \
	"$P" cat /proc/self/status </dev/null >"$T/sigign.out" 2>&1 &
pid=$!
BG_PIDS+=("$pid")
wait_gone "$pid" 30 || kill -KILL "$pid"
wait "$pid"
sigign=$(sed -n 's/^SigIgn:[[:space:]]*//p' "$T/sigign.out")
echo "# started from a background job (SIGINT, SIGQUIT ignored there): inside SigIgn=${sigign:-?}"
check "signals ignored on the host are not ignored inside (SigIgn 0)" "SigIgn=${sigign:-?}; $(head -n 3 "$T/sigign.out")" \
	test "${sigign:-x}" = 0000000000000000

# bg_run TAG: starts spectrum running `probe sleep TAG` in the background
# (spectrum itself, not under timeout(1), so that BG is its pid; the sleep
# bounds it and the exit trap kills it); wants the instance's process
# visible on the host within 15 s.
bg_run() {
	local tag=$1
	# A background job of a script starts with SIGINT and SIGQUIT ignored;
	# give spectrum the dispositions of a foreground command.
	env --default-signal=INT,QUIT "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" \
		run --config "$CONF" "$LC" -- "$P" sleep "$tag" </dev/null >"$T/bg.out" 2>"$T/bg.err" &
	BG=$!
	BG_PIDS+=("$BG")
	wait_for 15 procs_running "^/opt/tools/probe sleep $tag\$"
}

for sig in TERM INT; do
	case $sig in TERM) n=15 tag=101 ;; INT) n=2 tag=102 ;; esac
	echo "# trying: SIGTERM/SIGINT forwarding, kill -$sig spectrum running probe sleep $tag"
	if ! bg_run "$tag"; then
		not_ok "SIG$sig: the instance started" "$(cat "$T/bg.err")"
		kill -KILL "$BG" 2>/dev/null
		continue
	fi
	kill -"$sig" "$BG"
	if wait_gone "$BG" 10; then
		wait "$BG"
		rc=$?
		check "SIG$sig sent to spectrum: it exits $((128 + n)) within 10 s" "exit $rc; $(cat "$T/bg.err")" \
			test "$rc" -eq $((128 + n))
	else
		not_ok "SIG$sig sent to spectrum: it exits $((128 + n)) within 10 s" "still running after 10 s"
		kill -KILL "$BG" 2>/dev/null
	fi
	nothing_left "SIG$sig" "^/opt/tools/probe sleep $tag\$"
done

# ---- a crash of the engine ----

echo "# trying: SIGKILL of the engine while the instance runs probe sleep 103"
if bg_run 103; then
	ok "crash: the instance started"
	inner=$(pgrep -f -- "^/opt/tools/probe sleep 103\$" | head -n 1)
	echo "# engine pid $BG, instance command pid ${inner:-?}, its cgroups:"
	[ -n "$inner" ] && note "$(cat "/proc/$inner/cgroup" 2>/dev/null)"
	echo "# cgroup directories of the instance while it runs:"
	note "$(cgroups_of "$LC")"
	check "crash: the instance's cgroup spectrum/$LC exists while it runs (control)" "" \
		test -n "$(cgroups_of "$LC")"
	kill -KILL "$BG"
	wait_gone "$BG" 10
	wait "$BG" 2>/dev/null
	nothing_left "crash" "^/opt/tools/probe sleep 103\$"
	run_in "$LC" "$P" hostname
	check "crash: the instance runs again afterwards" "exit $RC; $(first_line "$ERR")" test "$RC" -eq 0
else
	not_ok "crash: the instance started" "$(cat "$T/bg.err")"
	kill -KILL "$BG" 2>/dev/null
fi

# ---- an interactive run gets a new pty ----

# in_script CMD: runs the shell command CMD under script(1), which gives it a
# terminal on the host's devpts.  Its stdin stays open (at EOF script would
# type an end-of-file character into the terminal, which the instance's
# terminal then echoes).
in_script() {
	local out fd pid
	exec {fd}< <(exec sleep 60 2>/dev/null)
	pid=$!
	out=$(timeout 60 script -qec "$1" /dev/null <&"$fd" | tr -d '\r')
	exec {fd}<&-
	kill "$pid" 2>/dev/null
	printf '%s\n' "$out"
}

host_ctty=$(in_script "$PROBE ctty")
echo "# on the host, under script:"
note "$host_ctty"
host_devpts=$(stat -c '%Hd:%Ld' /dev/pts/ptmx)
check "control: under script the host's stdin is a tty of the host's devpts ($host_devpts)" "$host_ctty" \
	grep -q "^fd0 /dev/pts/[0-9]* dev=$host_devpts " <<<"$host_ctty"

cmd=$(printf '%q ' "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" "$LC" -- "$P" ctty)
inner_ctty=$(in_script "$cmd")
echo "# inside, under script:"
note "$inner_ctty"
# The pty is made on the host side: its slave is in no devpts of the
# instance, so it has no name inside (terminal.sh tries to steal it).
check "interactive: the instance's stdin is its controlling terminal, with no /dev/pts name inside" "$inner_ctty" \
	bash -c 'grep -q "^fd0 notty$" <<<"$1" && grep -q "^devtty open$" <<<"$1"' _ "$inner_ctty"
host_rdev=$(in_script "stat -L -c rdev=%t:%T /proc/self/fd/0")
cmd=$(printf '%q ' "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" "$LC" -- /usr/bin/stat -L -c rdev=%t:%T /proc/self/fd/0)
inner_rdev=$(in_script "$cmd")
check "interactive: its terminal is a new pty, not the host's ($host_rdev)" "$inner_rdev" \
	bash -c '[[ $1 == rdev=* && $2 == rdev=* && $1 != "$2" ]]' _ "$host_rdev" "$inner_rdev"
cmd=$(printf '%q ' "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" "$LC" -- "$P" tiocsti)
inner=$(in_script "$cmd")
echo "# inside, under script: $inner"
check "interactive: TIOCSTI on its terminal is refused (EPERM)" "$inner" \
	grep -q '^refused: .*(EPERM)' <<<"$inner"

# ---- many runs in a row ----

fails=0
for ((i = 0; i < 20; i++)); do
	run_in "$LC" "$P" exit 0
	[ "$RC" -eq 0 ] || fails=$((fails + 1))
done
check "20 runs in a row all succeed" "$fails failed" test "$fails" -eq 0
nothing_left "20 runs" "^/opt/tools/probe "

finish
