#!/bin/bash
# spectrum exec (issue 4): a command joined to a running instance is as
# confined as the instance's own command.
#
# Instance "work" runs in the background (`spectrum run ... probe sleep`);
# then the escape attempts of escape.sh run again through `spectrum exec`
# and must all be refused, with positive controls.  The host side is
# checked from the host: the joined process is in every namespace and
# cgroup of the instance, fully confined, holds no host descriptor, and no
# helper of spectrum's lingers in the instance's user namespace.  Errors:
# exec into a stopped instance exits 1 with one line, an unknown one 2.
#
# Usage: exec.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted bash -c scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

setup_store

SECRET_DOC="home-document-secret-$RANDOM$RANDOM"
SECRET_STATE="home-state-secret-$RANDOM$RANDOM"
SECRET_HOST="host-secret-$RANDOM$RANDOM"

mkdir -p "$STATE/data/Documents/work" "$STATE/data/Documents/home" "$STATE/data/Reference" "$STATE/state/home"
echo "$SECRET_DOC" >"$STATE/data/Documents/home/secret.txt"
echo "$SECRET_STATE" >"$STATE/state/home/secret.txt"
echo "reference text" >"$STATE/data/Reference/ref.txt"
echo "tools" >"$STATE/data/tools/readme.txt"
HOST_ROOT_FILE=/root/spectrum-itest-exec-canary-$$
echo "$SECRET_HOST" >"$HOST_ROOT_FILE"
# shellcheck disable=SC2034 # run by lib_cleanup
EXTRA_CLEANUP='rm -f "$HOST_ROOT_FILE"'

{
	echo '{ "instances": {'
	echo '  "work":'
	instance_json '{"path": "Documents/work", "at": "/home/user/Documents", "mode": "rw"},
	  {"path": "Reference", "at": "/home/user/Reference", "mode": "ro"}'
	echo '  ,"home":'
	instance_json '{"path": "Documents/home", "at": "/home/user/Documents", "mode": "rw"}'
	echo '} }'
} >"$CONF"

# Host-side targets: a process, an abstract unix socket, a TCP port.
install -m 0755 "$PROBE" "$T/hostcanary"
"$T/hostcanary" sleep 600 &
HOST_PID=$!
BG_PIDS+=("$HOST_PID")
ABSTRACT=spectrum-itest-exec-$$-$RANDOM
PORT=$((20000 + RANDOM % 30000))
"$PROBE" unix-listen "$ABSTRACT" 600 >"$T/unix-listen.out" 2>&1 &
BG_PIDS+=($!)
"$PROBE" tcp-listen "$PORT" 600 >"$T/tcp-listen.out" 2>&1 &
BG_PIDS+=($!)
wait_for 5 grep -q listening "$T/unix-listen.out"
wait_for 5 grep -q listening "$T/tcp-listen.out"

# exec_in NAME CMD...: runs CMD in the running instance NAME through
# `spectrum exec`; sets OUT, ERR, RC.  stdin is /dev/null: no pty.
exec_in() {
	local name=$1
	shift
	local o e
	o=$(mktemp "$T/out.XXXXXX")
	e=$(mktemp "$T/err.XXXXXX")
	sp exec --config "$CONF" "$name" -- "$@" </dev/null >"$o" 2>"$e"
	RC=$?
	OUT=$(cat "$o")
	ERR=$(cat "$e")
	rm -f "$o" "$e"
}

# x_refused ERRNO PROBE-ARGS...: the attempt through exec in work is refused.
x_refused() {
	local want=$1 line
	shift
	exec_in work "$P" "$@"
	line=$(grep -E '^(refused|ALLOWED):' <<<"$OUT" | head -n 1)
	if [ "$RC" -eq 0 ] && [[ $line == refused:* ]] && { [ "$want" = - ] || [[ $line == *"($want)" ]]; }; then
		ok "exec: probe $* is refused: ${line#refused: }"
	else
		local with=""
		[ "$want" = - ] || with=" with $want"
		not_ok "exec: probe $* is refused$with" "exit $RC; stdout: ${OUT:0:300}; stderr: ${ERR:0:300}"
	fi
}

# x_allowed PROBE-ARGS...: a positive control through exec in work.
x_allowed() {
	exec_in work "$P" "$@"
	if [ "$RC" -eq 1 ] && grep -q '^ALLOWED:' <<<"$OUT"; then
		ok "exec: control: probe $* works"
	else
		not_ok "exec: control: probe $* works" "exit $RC; stdout: ${OUT:0:300}; stderr: ${ERR:0:300}"
	fi
}

# ---- errors before anything runs ----

exec_in work "$P" hostname
check "exec into a stopped instance exits 1" "exit $RC; $ERR" test "$RC" -eq 1
check "... with one line: spectrum: exec: work is not running" "$ERR" \
	test "$ERR" = "spectrum: exec: work is not running"
exec_in nosuch "$P" hostname
check "exec into an unknown instance exits 2" "exit $RC; $ERR" test "$RC" -eq 2
check "... with one line naming it" "$ERR" \
	bash -c '[ "$(grep -c . <<<"$1")" -eq 1 ] && grep -q nosuch <<<"$1"' _ "$ERR"
sp exec --config "$CONF" work </dev/null >/dev/null 2>"$T/usage.err"
rc=$?
check "exec without a command exits 2" "exit $rc; $(cat "$T/usage.err")" test "$rc" -eq 2

# A stale pid file: a live process, but one of the host's.
mkdir -p "$RUNDIR/instances/home"
echo $$ >"$RUNDIR/instances/home/pid"
exec_in home "$P" hostname
check "a pid file naming a host process is stale: exit 1, not running" "exit $RC; $ERR" \
	test "$RC" -eq 1 -a "$ERR" = "spectrum: exec: home is not running"
rm -f "$RUNDIR/instances/home/pid"

# ---- the instance runs ----

# Started directly (not through `sp ... &`, whose $! is a subshell's), so
# that the cleanup's SIGKILL reaches the engine; its command ends by
# itself in 240 s at most.
"$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" work -- "$P" sleep 240 \
	</dev/null >"$T/work.out" 2>&1 &
ENGINE=$!
BG_PIDS+=("$ENGINE")
PIDFILE=$RUNDIR/instances/work/pid
if ! wait_for 20 test -s "$PIDFILE"; then
	not_ok "the instance work starts (pid file $PIDFILE)" "$(cat "$T/work.out")"
	echo "Bail out! the instance does not start; nothing else can be tested"
	finish
fi
PID1=$(cat "$PIDFILE")
INSTANCE_ID=$(grep -o 'spectrum/work\.[0-9a-f]*' "/proc/$PID1/cgroup" | head -n 1)
INSTANCE_ID=${INSTANCE_ID#spectrum/}
ok "the instance work runs (PID 1 is host pid $PID1)"

exec_in work "$P" hostname
if [ "$RC" -ne 0 ]; then
	not_ok "spectrum exec works (probe hostname in work)" "exit $RC; stderr: $(first_line "$ERR")"
	echo "Bail out! spectrum exec does not work"
	finish
fi
check "exec: hostname is the instance's name" "got: $OUT" test "$OUT" = work

exec_in work "$P" exit 7
check "exec: exit status passes through (7)" "exit $RC" test "$RC" -eq 7
exec_in work "$P" selfkill 15
check "exec: death by signal 15 exits 143" "exit $RC" test "$RC" -eq 143
exec_in work /nonexistent
check "exec: a missing command exits 127 with one line" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 127 ] && [ "$(grep -c . <<<"$2")" -eq 1 ] && grep -q "cannot execute" <<<"$2"' _ "$RC" "$ERR"

# ---- identity, environment, descriptors, processes ----

exec_in work "$P" ids
echo "# ids: $OUT"
check "exec: uid/gid 1000 inside" "$OUT" grep -q 'uid=1000 gid=1000 euid=1000 egid=1000' <<<"$OUT"
check "exec: its own session (sid = its pid)" "$OUT" \
	bash -c 'p=$(sed -n "s/^pid=\([0-9]*\) .*/\1/p" <<<"$1"); grep -q " sid=$p " <<<"$1"' _ "$OUT"

exec_in work "$P" cat /proc/self/status
status=$OUT
for f in CapInh CapPrm CapEff CapBnd CapAmb; do
	check "exec: /proc/self/status $f is 0" "$(grep "^$f" <<<"$status")" \
		grep -qx "$f:[[:space:]]*0*" <<<"$status"
done
check "exec: /proc/self/status NoNewPrivs 1" "$(grep NoNewPrivs <<<"$status")" \
	grep -qx 'NoNewPrivs:[[:space:]]*1' <<<"$status"
check "exec: /proc/self/status Seccomp 2" "$(grep '^Seccomp:' <<<"$status")" \
	grep -qx 'Seccomp:[[:space:]]*2' <<<"$status"

exec_in work "$P" env
check "exec: no host variable (SPECTRUM_LEAK_CANARY) in the environment" "$OUT" \
	bash -c '! grep -q -e SPECTRUM_LEAK_CANARY -e "$1" <<<"$2"' _ "$SPECTRUM_LEAK_CANARY" "$OUT"
check "exec: HOME=/home/user and the configured env (control)" "$OUT" \
	bash -c 'grep -qx HOME=/home/user <<<"$1" && grep -qx SPECTRUM_TEST_ENV=from-config <<<"$1"' _ "$OUT"
check "exec: no TERM without a terminal" "$OUT" bash -c '! grep -q ^TERM= <<<"$1"' _ "$OUT"

exec_in work "$P" ctty
check "exec: no controlling terminal without a pty" "$OUT" grep -q '^devtty ENXIO' <<<"$OUT"

exec 7</etc/hostname
exec_in work "$P" fds
fds=$(awk '{ print $1 }' <<<"$OUT" | sort -n | tr '\n' ' ')
check "exec: only descriptors 0 1 2 (fd 7 of the caller not inherited)" "got: $fds" test "$fds" = "0 1 2 "
exec 7<&-

exec_in work "$P" list-pids
echo "# processes visible through exec:"
note "$OUT"
check "exec: sees the instance's PID 1 (spectrum-init)" "$OUT" grep -qx '1 spectrum-init' <<<"$OUT"
check "exec: sees the instance's command (pid 2)" "$OUT" grep -qx '2 probe' <<<"$OUT"
check "exec: sees nothing of the host (at most 4 processes, no hostcanary)" "$OUT" \
	bash -c '[ "$(grep -c . <<<"$1")" -le 4 ] && ! grep -q -e hostcanary -e "^$2 " <<<"$1"' _ "$OUT" "$HOST_PID"

# ---- the home: what exec writes, the instance sees, owned by the store's owner ----

x_allowed write /home/user/from-exec.txt
owner=$(stat -c %u:%g "$STATE")
file=$STATE/state/work/from-exec.txt
check "exec: the file lands in the instance's home on disk" "$(ls -la "$STATE/state/work" 2>&1)" test -f "$file"
check "exec: ... owned by the store's owner ($owner)" "$(stat -c %u:%g "$file" 2>&1)" \
	test "$(stat -c %u:%g "$file" 2>/dev/null)" = "$owner"
seen=$(cat "/proc/$PID1/root/home/user/from-exec.txt" 2>&1)
check "exec: ... and visible in the instance's own mount namespace" "$seen" test -n "$seen"
x_allowed write /home/user/Documents/from-exec.txt
x_allowed create /tmp/spectrum-exec-probe
x_allowed read /home/user/Reference/ref.txt

# ---- the escape attempts of escape.sh, through exec ----

x_refused ENOENT read /etc/shadow
x_refused ENOENT read "$HOST_ROOT_FILE"
x_refused ENOENT read "$STATE/data/Documents/home/secret.txt"
x_refused ENOENT read "$STATE/state/home/secret.txt"
x_refused EACCES read "/proc/1/root$HOST_ROOT_FILE"
x_refused - find-string "$SECRET_DOC" /
x_refused - find-string "$SECRET_STATE" /
x_refused - find-string "$SECRET_HOST" /
x_refused EROFS write /home/user/Reference/ref.txt
x_refused EROFS create /home/user/Reference/new.txt
x_refused EROFS create /opt/tools/new-tool
x_refused EROFS create /usr/spectrum-exec-probe
x_refused EROFS create /etc/spectrum-exec-probe
x_refused EROFS mkdir /dev/spectrum-exec-probe
x_refused ENOENT sys
x_refused ENOENT kcore
# Landlock alone (the mount is rw, the modes allow it): see escape.sh.
x_refused EACCES write /proc/self/comm
exec_in work /usr/bin/mknod /tmp/spectrum-exec-whiteout c 0 0
check "exec: Landlock: mknod of a whiteout (0:0, no capability needed) in /tmp is refused: EACCES" \
	"exit $RC; $(first_line "$ERR")" bash -c '[ "$1" -ne 0 ] && grep -q "Permission denied" <<<"$2"' _ "$RC" "$ERR"
x_refused - proc-sys-write /proc/sys/kernel/core_pattern
x_refused EPERM mount /tmp
x_refused EPERM bind-root /tmp
x_refused EPERM fsopen
x_refused EPERM open-tree
x_refused EPERM unshare-user
x_refused EPERM unshare-mnt
x_refused EPERM unshare-net
x_refused EPERM clone-newns
x_refused EPERM clone-newuser
x_refused ENOSYS clone3
x_refused - setns /proc/1/ns/mnt
x_refused EPERM chroot /tmp
x_refused - userns
x_refused - ptrace "$HOST_PID"
x_refused - kill-host "$HOST_PID"
x_refused - ptrace 1
# The instance's own processes are reachable from exec, as from its
# command: only the namespaces set the bounds, the same for both.
exec_in work "$P" kill-host 2
check "exec can signal the instance's own process 2" "exit $RC: $OUT $ERR" \
	bash -c '[ "$1" = 1 ] && grep -q "^ALLOWED" <<<"$2"' _ "$RC" "$OUT"
x_refused EPERM setuid0
x_refused EPERM setgid0
x_refused EPERM caps
x_refused EPERM nnp
x_refused EPERM seccomp-mode
x_refused EACCES mknod /tmp/spectrum-exec-null
x_refused EPERM settime
x_refused EPERM keyctl
x_refused EPERM keyring
x_refused EPERM bpf
x_refused EPERM perf
x_refused EPERM tiocsti
x_refused EPERM open-by-handle
x_refused ENOSYS i386
x_refused ENOSYS x32
x_refused EPERM personality
x_refused EPERM io-uring
x_refused EPERM userfaultfd
x_refused EPERM finit-module
x_refused EPERM kexec
x_refused EPERM reboot
x_refused EPERM swapon
x_refused - devtty
x_refused EPERM raw-socket
x_refused EAFNOSUPPORT packet-socket
x_refused ENETUNREACH route 192.0.2.1
x_refused - unix-connect "$ABSTRACT"
x_refused - tcp-connect "$PORT"
check "the ro grant is unchanged on disk" "$(ls "$STATE/data/Reference")" \
	test "$(cat "$STATE/data/Reference/ref.txt")" = "reference text" -a "$(ls "$STATE/data/Reference")" = ref.txt

# ---- a joined process, seen from the host ----

# exec_bg ARGS...: spectrum exec in the background, $! its own pid (not a
# subshell's, as with `sp ... &`), with SIGINT not ignored (bash ignores
# it in the jobs it starts in the background).
exec_bg() {
	env --default-signal=INT "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" exec --config "$CONF" "$@" \
		</dev/null >"$T/sleeper.out" 2>&1 &
}

exec_bg work -- "$P" sleep 60
SLEEPER=$!
BG_PIDS+=("$SLEEPER")
joined=""
find_joined() {
	local p
	for p in $(pgrep -x probe); do
		[ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = "$P sleep 60 " ] || continue
		[ "$(readlink "/proc/$p/ns/user")" = "$(readlink "/proc/$PID1/ns/user")" ] || continue
		joined=$p
		return 0
	done
	return 1
}
if wait_for 10 find_joined; then
	ok "a joined command runs (host pid $joined)"
	same=0
	for ns in user mnt pid net ipc uts cgroup; do
		[ "$(readlink "/proc/$joined/ns/$ns")" = "$(readlink "/proc/$PID1/ns/$ns")" ] && same=$((same + 1))
	done
	check "host view: it is in all 7 namespaces of the instance's PID 1" "$same of 7" test "$same" -eq 7
	check "host view: it is in every cgroup of the instance's PID 1" \
		"$(diff "/proc/$joined/cgroup" "/proc/$PID1/cgroup")" diff -q "/proc/$joined/cgroup" "/proc/$PID1/cgroup"
	check "host view: its root is the instance's root" "$(stat -L -c %d:%i "/proc/$joined/root/")" \
		test "$(stat -L -c %d:%i "/proc/$joined/root/")" = "$(stat -L -c %d:%i "/proc/$PID1/root/")"
	check "host view: its cwd is the instance's /home/user" "$(ls "/proc/$joined/cwd/" 2>&1)" \
		test -f "/proc/$joined/cwd/from-exec.txt"
	st=$(cat "/proc/$joined/status")
	check "host view: no capability, no_new_privs, seccomp filter" "$(grep -E '^(Cap|NoNew|Seccomp:)' <<<"$st")" \
		bash -c '! grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb):" <<<"$1" | grep -vq ":[[:space:]]*0*$" &&
			grep -qx "NoNewPrivs:[[:space:]]*1" <<<"$1" && grep -qx "Seccomp:[[:space:]]*2" <<<"$1"' _ "$st"
	# Its seccomp program, read with ptrace and checked rule by rule
	# (seccomp-dump.c), i386 and x32 included.
	dump=$("$(dirname "$PROBE")/seccomp-dump" "$joined" 2>&1)
	rc=$?
	note "$(grep -v '^ok ' <<<"$dump")"
	check "host view: its loaded seccomp program is the library's, and each rule holds ($(tail -n 1 <<<"$dump"))" \
		"exit $rc; $(grep -v '^ok ' <<<"$dump" | head -n 5)" test "$rc" -eq 0
	fds=$(ls "/proc/$joined/fd" | sort -n | tr '\n' ' ')
	check "host view: it holds descriptors 0 1 2 only" "got: $fds" test "$fds" = "0 1 2 "
	# Every process in the instance's user namespace is inside its pid
	# namespace: no helper of spectrum's lingers on the host side.
	outside=""
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/ns/user" 2>/dev/null)" = "$(readlink "/proc/$PID1/ns/user")" ] || continue
		[ "$(readlink "$d/ns/pid" 2>/dev/null)" = "$(readlink "/proc/$PID1/ns/pid")" ] && continue
		[ "$d" = "/proc/$PID1" ] && continue
		outside="$outside ${d#/proc/}($(cat "$d/comm" 2>/dev/null))"
	done
	check "no process of the instance's user namespace lives outside its pid namespace" "$outside" \
		test -z "$outside"
	inner=$(awk '/^NSpid:/ { print $NF }' "/proc/$joined/status")
	x_refused - read "/proc/$inner/root$HOST_ROOT_FILE"
	x_refused - read "/proc/$inner/root$STATE/state/home/secret.txt"
	kill -TERM "$SLEEPER"
	rc=timeout
	if wait_gone "$SLEEPER" 10; then
		wait "$SLEEPER"
		rc=$?
	fi
	check "SIGTERM to spectrum exec reaches the command: exit 143" "exit $rc" test "$rc" = 143
	check "... and the command is gone" "pid $joined" wait_gone "$joined" 5
else
	not_ok "a joined command runs" "$(cat "$T/sleeper.out")"
fi

exec_bg work -- "$P" sleep 60
SLEEPER=$!
BG_PIDS+=("$SLEEPER")
if wait_for 10 find_joined; then
	kill -INT "$SLEEPER"
	rc=timeout
	if wait_gone "$SLEEPER" 10; then
		wait "$SLEEPER"
		rc=$?
	fi
	check "SIGINT to spectrum exec reaches the command: exit 130" "exit $rc" test "$rc" = 130
else
	not_ok "SIGINT to spectrum exec reaches the command" "no joined command"
fi

# ---- with a terminal: a pty made on the host side (terminal.sh tries to steal it) ----

in_script() {
	local out fd pid
	exec {fd}< <(exec sleep 60 2>/dev/null)
	pid=$!
	# A terminal has a TERM, even when this test runs with an empty
	# environment (env -i): the TERM check below needs one to pass on.
	out=$(TERM=${TERM:-vt100} timeout 60 script -qec "$1" /dev/null <&"$fd" | tr -d '\r')
	exec {fd}<&-
	kill "$pid" 2>/dev/null
	printf '%s\n' "$out"
}
cmd=$(printf '%q ' "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" exec --config "$CONF" work -- "$P" ctty)
inner=$(in_script "$cmd")
note "$inner"
# Its slave is in no devpts the instance has: no name for it inside.
check "exec with a terminal: stdin has no /dev/pts name inside (the pty is the host side's)" "$inner" \
	grep -q '^fd0 notty$' <<<"$inner"
check "exec with a terminal: it is the controlling terminal" "$inner" grep -q '^devtty open' <<<"$inner"
cmd=$(printf '%q ' "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" exec --config "$CONF" work -- "$P" tiocsti)
inner=$(in_script "$cmd")
check "exec with a terminal: TIOCSTI is refused (EPERM)" "$inner" grep -q '^refused: .*(EPERM)' <<<"$inner"
cmd=$(printf '%q ' "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" exec --config "$CONF" work -- "$P" env)
inner=$(in_script "$cmd")
check "exec with a terminal: TERM is passed, nothing else of the host" "$inner" \
	bash -c 'grep -q "^TERM=" <<<"$1" && ! grep -q SPECTRUM_LEAK_CANARY <<<"$1"' _ "$inner"

# ---- the instance still runs its own command; exec left nothing ----

check "the instance's PID 1 is still there" "pid $PID1" kill -0 "$PID1"
check "no spectrum exec process is left" "$(pgrep -a -f "$STATE.* exec " || true)" \
	bash -c '[ -z "$(pgrep -f "$1.* exec ")" ]' _ "$STATE"
kill -TERM "$ENGINE"
check "the instance stops on SIGTERM with exec'd processes gone before" "engine $ENGINE" wait_gone "$ENGINE" 20
check "... and no cgroup of it ($INSTANCE_ID) is left" "$(cgroups_of "$INSTANCE_ID")" \
	wait_for 10 cgroups_gone "$INSTANCE_ID"

finish
