#!/bin/bash
# The admin's terminal and an instance (issue 13 §4 and §5).
#
# §4: a hostile loop inside the instance (tty-thief.py, started through
# `spectrum exec` without a terminal) tries, again and again, every
# /dev/pts/N, every descriptor of every other process through
# /proc/PID/fd/N and through pidfd_getfd(), reads what it reaches and
# writes a fake prompt to it.  Meanwhile an admin types a secret into an
# interactive shell, through `spectrum exec` and through `spectrum run`,
# each with a real terminal made by script(1).  The loop must open
# nothing, read nothing and show nothing; positive controls: it does open
# and reopen a pty of its own, it does try the shell's descriptors, and
# the shell gets the secret.
#
# The engine killed with SIGKILL (`spectrum exec`, `spectrum run` on a
# terminal): the admin's terminal gets its modes back (a watcher process
# restores them), instead of staying raw without echo.
#
# §5: what an instance prints (a title change, an OSC 52 clipboard write,
# a screen clear) reaches the admin's terminal from `spectrum logs`
# escaped; `logs --raw` gives the bytes.
#
# Usage: terminal.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016,SC2059 # single-quoted bash -c scripts take their values as arguments; the payloads are printf formats
set -u

. "$(dirname "$0")/lib.sh" "$@"

setup_store
install -m 0755 "$(dirname "$0")/tty-thief.py" "$STATE/data/tools/tty-thief.py"
mkdir -p "$STATE/data/drop-work" "$STATE/data/drop-tty"
chmod 0777 "$STATE/data/drop-work" "$STATE/data/drop-tty"

{
	echo '{ "instances": {'
	echo '  "work":'
	instance_json '{"path": "drop-work", "at": "/home/user/drop", "mode": "rw"}'
	echo '  ,"tty":'
	instance_json '{"path": "drop-tty", "at": "/home/user/drop", "mode": "rw"}'
	echo '} }'
} >"$CONF"

SECRET="typed-secret-$RANDOM$RANDOM"
MARKER="FAKE-PROMPT-$RANDOM$RANDOM"

# ---- §4: the admin's terminal ----

# start_thief NAME: the hostile loop in the running instance NAME, through
# exec without a terminal; its report goes to $T/thief-NAME.out.  (What
# the instance or the screen holds is shown through `cat -v` here: the
# test's own output must not drive whoever reads it.)
start_thief() {
	"$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" exec --config "$CONF" "$1" -- \
		/usr/bin/python3 /opt/tools/tty-thief.py 90 "$MARKER" /home/user/drop/stop \
		</dev/null >"$T/thief-$1.out" 2>&1 &
	THIEF=$!
	BG_PIDS+=("$THIEF")
	wait_for 20 grep -q '^ready' "$T/thief-$1.out"
}

# start_screen CMD: CMD under script(1), the admin's terminal; what
# reaches the admin's screen goes to $T/screen-$2, and keys are typed
# into it with `type_line`.
start_screen() {
	rm -f "$T/keys"
	mkfifo "$T/keys"
	exec {KEYS}<>"$T/keys"
	timeout -k 5 90 script -qec "$1" /dev/null <"$T/keys" >"$T/screen-$2" 2>&1 &
	SCREEN=$!
	BG_PIDS+=("$SCREEN")
}
type_line() {
	printf '%s\n' "$1" >&"$KEYS"
}
screen_has() {
	tr -d '\r' <"$1" | grep -q -- "$2"
}

# session NAME SCREEN: the admin's shell is running in $T/screen-SCREEN and
# the thief in NAME: the admin types, then everything is checked.
session() {
	local name=$1 screen=$T/screen-$2 thief=$T/thief-$1.out what=$3 spid
	check "$what: the admin's shell prompts" "$(cat "$screen")" wait_for 20 screen_has "$screen" '\$ $'
	type_line 'echo "shell-pid:$$"; [ -t 0 ] && echo "shell-stdin:tty"; stat -L -c "shell-fd0:%d" /proc/$$/fd/0; stat -c "shell-devpts:%d" /dev/pts/ptmx'
	wait_for 10 screen_has "$screen" '^shell-devpts:[0-9]'
	spid=$(tr -d '\r' <"$screen" | sed -n 's/^shell-pid:\([0-9]*\)$/\1/p' | head -n 1)
	# Let the thief see the shell: it has tried its stdin (or taken the
	# terminal) and scanned a few times more.
	wait_for 10 grep -qE "^(OPENED|try /proc/$spid/fd/0:)" "$thief"
	sleep 1
	type_line 'read -r x'
	sleep 0.5
	type_line "$SECRET"
	sleep 0.5
	type_line 'echo "shell-got:$x"'
	wait_for 10 screen_has "$screen" "^shell-got:$SECRET"
	sleep 1
	# The thief ends first: with `run`, the shell's exit ends the instance.
	touch "$STATE/data/drop-$name/stop"
	wait_gone "$THIEF" 20 || kill -TERM "$THIEF"
	type_line 'exit'
	wait_gone "$SCREEN" 20 || kill -TERM "$SCREEN"
	exec {KEYS}>&-
	local out shown
	out=$(cat "$thief")
	shown=$(tr -d '\r' <"$screen")
	echo "# the thief in $name:"
	note "$(grep -v '^try /proc/[0-9]*/fd/[0-9]*: ENOENT' <<<"$out" | head -n 40)"
	echo "# the admin's screen:"
	note "$(cat -v <<<"$shown")"

	check "$what: the thief ran: it opened and reopened a pty of its own (by name and /proc/PID/fd)" "$out" \
		grep -q "^control: opened my own pty /dev/pts/[0-9]* by name and through /proc/[0-9]*/fd/[0-9]*, read back b'by-name by-proc'$" <<<"$out"
	check "$what: the thief scanned until told to stop" "$out" \
		bash -c 'n=$(sed -n "s/^done scans=//p" <<<"$1"); [ -n "$n" ] && [ "$n" -ge 10 ]' _ "$out"
	check "$what: the shell's stdin is a terminal" "$(cat -v <<<"$shown")" grep -q '^shell-stdin:tty$' <<<"$shown"
	check "$what: the shell got what the admin typed" "$(cat -v <<<"$shown")" grep -q "^shell-got:$SECRET$" <<<"$shown"
	check "$what: its terminal is of no devpts of the instance" "$(grep '^shell-' <<<"$shown" | cat -v)" \
		bash -c 'a=$(sed -n "s/^shell-fd0://p" <<<"$1"); b=$(sed -n "s/^shell-devpts://p" <<<"$1");
			[ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ]' _ "$shown"
	check "$what: the thief tried the shell's stdin through /proc/$spid/fd/0: EACCES" "$out" \
		grep -q "^try /proc/$spid/fd/0: EACCES$" <<<"$out"
	check "$what: the thief tried to take it with pidfd_getfd($spid, 0): EPERM" "$out" \
		grep -q "^getfd $spid/0: EPERM$" <<<"$out"
	check "$what: the thief opened no terminal but its own" "$(grep '^OPENED' <<<"$out")" \
		bash -c '! grep -q "^OPENED" <<<"$1"' _ "$out"
	check "$what: the thief read nothing the admin typed" "$(grep '^READ' <<<"$out")" \
		bash -c '! grep -q "^READ" <<<"$1" && ! grep -q -- "$2" <<<"$1"' _ "$out" "$SECRET"
	check "$what: nothing of the thief's reached the admin's screen" "$(grep -- "$MARKER" <<<"$shown" | cat -v)" \
		bash -c '! grep -q -- "$2" <<<"$1"' _ "$shown" "$MARKER"
}

# The admin's shell through `spectrum exec` into a running instance whose
# own command is the thief (the app itself is hostile).
"$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" work -- \
	/usr/bin/python3 /opt/tools/tty-thief.py 90 "$MARKER" /home/user/drop/stop \
	</dev/null >"$T/thief-work.out" 2>&1 &
ENGINE=$!
THIEF=$ENGINE
BG_PIDS+=("$ENGINE")
if wait_for 20 grep -q '^ready' "$T/thief-work.out"; then
	start_screen "$(printf '%q ' "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" exec --config "$CONF" work -- /usr/bin/sh -i)" exec
	session work exec "exec"
else
	not_ok "the instance work starts with the thief as its command" "$(cat "$T/thief-work.out")"
fi
kill -TERM "$ENGINE" 2>/dev/null
wait_gone "$ENGINE" 20

# The admin's shell is the instance's own command (`spectrum run` with a
# terminal); the thief joins it through `spectrum exec`.
start_screen "$(printf '%q ' "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" tty -- /usr/bin/sh -i)" run
if wait_for 20 test -s "$RUNDIR/instances/tty/pid" && start_thief tty; then
	session tty run "run"
else
	not_ok "the instance tty starts, with the thief" "$(cat "$T/screen-run" "$T/thief-tty.out" 2>&1)"
fi

# ---- the admin's terminal when the engine is killed ----

# killed_modes WHAT MARK SPECTRUM-ARGS...: `spectrum SPECTRUM-ARGS` (its
# command `/bin/sh -c 'sleep 30' MARK`) on a terminal made by script(1),
# killed with SIGKILL once its command runs; then the shell that started
# it prints the terminal's modes.  Left raw, the admin's terminal would
# read "-icanon -echo": no line editing, nothing typed shown.
killed_modes() {
	local what=$1 mark=$2 s eng f=$T/killed-${1// /-}
	shift 2
	{
		printf '%q ' "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" "$@" -- /bin/sh -c 'sleep 30' "$mark"
		echo
		printf '%s\n' 'sleep 1; stty -a | tr " ;" "\n\n" | grep -x -e -icanon -e icanon -e -echo -e echo | tr "\n" " "; echo "<modes"'
	} >"$f.sh"
	timeout -k 5 60 script -qec "sh $f.sh" /dev/null </dev/null >"$f" 2>&1 &
	s=$!
	BG_PIDS+=("$s")
	wait_for 20 bash -c 'pgrep -f -- "$1" >/dev/null' _ "^/bin/sh -c sleep 30 $mark"
	# The engine: the child of the shell that started it (its watcher,
	# janitor and helpers have the same command line).
	eng=$(pgrep -P "$(pgrep -x -f -- "sh $f.sh" | head -n 1)" -f -- "^$SPECTRUM .* $mark\$")
	[ -n "$eng" ] && kill -KILL "$eng"
	wait_gone "$s" 30 || kill -TERM "$s"
	check "$what killed with SIGKILL: the admin's terminal is back in its modes (icanon echo)" \
		"$(tr -d '\r' <"$f" | cat -v)" \
		bash -c '[ -n "$2" ] && tr -d "\r" <"$1" | grep -qx "icanon echo <modes"' _ "$f" "$eng"
}
"$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" work -- /bin/sleep 120 \
	</dev/null >"$T/work-sleep.out" 2>&1 &
ENGINE=$!
BG_PIDS+=("$ENGINE")
wait_for 20 test -s "$RUNDIR/instances/work/pid"
killed_modes "spectrum exec" "exec-mark-$RANDOM" exec --config "$CONF" work
kill -TERM "$ENGINE" 2>/dev/null
wait_gone "$ENGINE" 20
killed_modes "spectrum run" "run-mark-$RANDOM" run --config "$CONF" tty
wait_for 20 engine_procs_gone
check "no spectrum process (engine, terminal watcher, janitor) is left" "$(engine_procs)" engine_procs_gone

# ---- §5: what an instance prints reaches `spectrum logs` escaped ----

trap 'stop_svscan; lib_cleanup' EXIT

# What the instance prints: a window title (OSC 0), a clipboard write
# (OSC 52), a screen clear and cursor home, a tab, a C1 CSI (U+009B).
PAYLOAD='start\n\033]0;owned-title\007\033]52;c;b3duZWQ=\007\033[2J\033[Htab\there\n\302\2332J\nend\n'
SHOWN='start\n\\e]0;owned-title\\x07\\e]52;c;b3duZWQ=\\x07\\e[2J\\e[Htab\there\n\\xc2\\x9b2J\nend\n'
printf "$PAYLOAD" >"$T/payload"
printf "$SHOWN" >"$T/shown"
{
	echo '{ "instances": { "noisy": {'
	echo '  "software": ["host"], "restart": "no",'
	printf '  "command": ["/bin/sh", "-c", "printf %s; exec sleep 600"] } } }\n' "'${PAYLOAD//\\/\\\\}'"
} >"$T/noisy.json"
sp switch "$T/noisy.json" >"$T/switch.out" 2>&1
sp start noisy >"$T/start.out" 2>&1
check "the instance noisy starts under supervision" "$(cat "$T/switch.out" "$T/start.out")" \
	wait_for 20 grep -q end "$STATE/log/noisy/current"

# s6-log puts a timestamp before each line.
untimed() {
	LC_ALL=C sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.]+ +//'
}
cmd=$(printf '%q ' "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" logs noisy)
timeout -k 5 30 script -qec "$cmd" /dev/null </dev/null >"$T/logs-tty"
tr -d '\r' <"$T/logs-tty" | untimed >"$T/logs-tty.text"
echo "# spectrum logs noisy, on a terminal:"
note "$(cat -v "$T/logs-tty.text")"
check "logs on a terminal: no ESC, BEL or C1 byte reaches it" "$(od -c "$T/logs-tty" | head -n 5)" \
	bash -c '! LC_ALL=C grep -q "[$(printf "\033\007")]" "$1" && ! LC_ALL=C grep -q "$(printf "\302\233")" "$1"' _ "$T/logs-tty"
check "logs on a terminal: each one shown escaped (\\e, \\xHH), newlines and tabs kept" \
	"$(cat -v "$T/logs-tty.text")" cmp -s "$T/logs-tty.text" "$T/shown"
sp logs noisy 2>&1 | untimed >"$T/logs-pipe.text"
check "logs into a pipe: escaped as well (a pipe often ends at a terminal: grep, less)" \
	"$(cat -v "$T/logs-pipe.text")" cmp -s "$T/logs-pipe.text" "$T/shown"
sp logs --raw noisy 2>&1 | untimed >"$T/logs-raw"
check "logs --raw gives the bytes" "$(od -c "$T/logs-raw" | head -n 8)" cmp -s "$T/logs-raw" "$T/payload"
sp stop noisy >/dev/null 2>&1
stop_svscan

finish
