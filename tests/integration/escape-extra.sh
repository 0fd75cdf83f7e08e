#!/bin/bash
# More escape, leak and interference attempts (security review): what
# escape.sh and grants.sh do not cover.
#
#  - links, renames and O_TMPFILE across the instance's mounts, chmod and
#    xattrs in read-only grants, file capabilities;
#  - PID 1 (the reaper): ptrace, memory, environment, descriptors;
#  - stdio descriptors that are host files or directories;
#  - abstract unix sockets between two running instances;
#  - the home changed between runs: a grant's mount point replaced by a
#    symlink or a FIFO;
#  - a rw folder shared by two instances, one racing the other's start;
#  - per-user kernel counters that the instance's user namespace charges
#    to the host's root (inotify instances, queued signals);
#  - setuid and setgid files left on the host's disk;
#  - the terminal relay when the instance stops reading its input;
#  - host paths in /proc/self/mountinfo; core dumps with a piped
#    core_pattern.
#
# Usage: escape-extra.sh SPECTRUM PROBE PROBE_EXTRA        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted bash -c scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

PROBE_EXTRA=$(realpath -e "${3:-}") || { echo "Bail out! no probe-extra binary at ${3:-}"; exit 1; }

setup_store
install -m 0755 "$PROBE_EXTRA" "$STATE/data/tools/probe-extra"
X=/opt/tools/probe-extra

mkdir -p "$STATE/data/Documents/work" "$STATE/data/Documents/home" "$STATE/data/Reference" \
	"$STATE/data/shared/x" "$STATE/data/inner"
echo "reference text" >"$STATE/data/Reference/ref.txt"
echo "a note" >"$STATE/data/note.txt"

{
	echo '{ "instances": {'
	echo '  "work":'
	instance_json '{"path": "Documents/work", "at": "/home/user/Documents", "mode": "rw"},
	  {"path": "Reference", "at": "/home/user/Reference", "mode": "ro"}'
	echo '  ,"home":'
	instance_json '{"path": "Documents/home", "at": "/home/user/Documents", "mode": "rw"}'
	echo '  ,"filegrant":'
	instance_json '{"path": "note.txt", "at": "/home/user/sub/note.txt", "mode": "ro"}'
	echo '  ,"dirgrant":'
	instance_json '{"path": "Reference", "at": "/home/user/sub/ref", "mode": "ro"}'
	echo '  ,"attacker":'
	instance_json '{"path": "shared", "at": "/home/user/shared", "mode": "rw"}'
	echo '  ,"victim":'
	instance_json '{"path": "shared", "at": "/home/user/shared", "mode": "rw"},
	  {"path": "inner", "at": "/home/user/shared/x/spectrum-itest-marker-'$$'", "mode": "rw"}'
	echo '} }'
} >"$CONF"

run_in work "$P" hostname
if [ "$RC" -ne 0 ]; then
	not_ok "spectrum run works (probe hostname in work)" "exit $RC; stderr: $(first_line "$ERR")"
	echo "Bail out! spectrum run does not work; nothing else can be tested"
	finish
fi
ok "spectrum run works"

# expect_x_refused: expect_refused with probe-extra.
expect_x_refused() {
	local name=$1 want=$2
	shift 2
	P=$X expect_refused "$name" "$want" "$@"
}

# ---- links, renames and O_TMPFILE across mounts; ro grants; xattrs ----

expect_x_refused work EXDEV link /home/user/Reference/ref.txt /home/user/ref-link
expect_x_refused work EXDEV link /home/user/Reference/ref.txt /home/user/Documents/ref-link
expect_x_refused work EXDEV link /opt/tools/probe /home/user/probe-link
expect_x_refused work EBUSY rename /home/user/Documents /home/user/moved
run_in work /usr/bin/sh -c 'echo x > /home/user/xattr-target'
expect_x_refused work EXDEV rename /home/user/xattr-target /home/user/Documents/moved
expect_x_refused work EXDEV rename /home/user/xattr-target /tmp/moved
expect_x_refused work EROFS tmpfile-link /home/user /home/user/Reference/new.txt
expect_x_refused work EXDEV tmpfile-link /tmp /home/user/from-tmp.txt
expect_x_refused work EROFS chmod /home/user/Reference/ref.txt 0777
# The setuid bit is refused by seccomp (EPERM) before the mount's read-only
# flag (EROFS) is even looked at.
expect_x_refused work EPERM chmod /opt/tools/probe 4755
expect_x_refused work EPERM chmod /home/user/xattr-target 4755
expect_x_refused work EPERM chmod /home/user/Documents 2777
expect_x_refused work EROFS setxattr /home/user/Reference/ref.txt user.spectrum x
expect_x_refused work EPERM setxattr /home/user/xattr-target security.capability caps
expect_x_refused work EPERM setxattr /home/user/xattr-target trusted.spectrum x
check "the ro grant is unchanged on disk" "$(ls -la "$STATE/data/Reference")" \
	bash -c '[ "$(ls -A "$1")" = ref.txt ] && [ "$(stat -c %a "$1/ref.txt")" = 644 ]' _ "$STATE/data/Reference"

# ---- PID 1: the engine's copy inside ----

expect_x_refused work EPERM ptrace-attach 1
expect_x_refused work - read-mem 1
expect_refused work - read /proc/1/environ
expect_refused work - read /proc/1/fd/3
expect_refused work - read /proc/1/root/etc/hostname
expect_refused work - read /proc/1/cwd/secret
run_in work "$P" cat /proc/1/cmdline
check "pid 1's command line names no host path" "$OUT" \
	bash -c '! grep -q -F -e "$1" -e "$2" <<<"$3"' _ "$T" "$SPECTRUM" "$OUT"

# ---- stdio that is a host directory or a host file ----

HOSTDIR=$T/hostdir
mkdir -p "$HOSTDIR"
echo "host-stdio-secret" >"$HOSTDIR/secret.txt"
chmod 0644 "$HOSTDIR/secret.txt"
chmod 0755 "$T" "$HOSTDIR"

# run_stdin DIR CMD...: like run_in, stdin is DIR (a directory).
run_stdin() {
	local dir=$1 name=$2
	shift 2
	OUT=$(sp run --config "$CONF" "$name" -- "$@" <"$dir" 2>"$T/stdin.err")
	RC=$?
	ERR=$(cat "$T/stdin.err")
}
for attempt in "openat-fd 0 secret.txt" "fchdir-fd 0 secret.txt"; do
	# shellcheck disable=SC2086 # the attempt is split on purpose
	run_stdin "$HOSTDIR" work $X $attempt
	echo "# [work] stdin = host directory; probe-extra $attempt: $OUT"
	check "[work] stdin a host directory: $attempt is refused" "exit $RC; $OUT; $ERR" \
		bash -c '[ "$1" -eq 0 ] && grep -q "^refused:" <<<"$2"' _ "$RC" "$OUT"
done
run_stdin "$HOSTDIR" work "$P" read /proc/self/fd/0/secret.txt
check "[work] stdin a host directory: /proc/self/fd/0/secret.txt is refused" "exit $RC; $OUT" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^refused:" <<<"$2" && ! grep -q host-stdio-secret <<<"$2"' _ "$RC" "$OUT"

# The file's modes let anyone read it (0644, its directories 0755), and
# the host's root is "other" inside: only Landlock refuses (EACCES).
echo "earlier-output-secret" >"$T/out.txt"
chmod 0644 "$T/out.txt"
sp run --config "$CONF" work -- "$P" read /proc/self/fd/1 </dev/null >>"$T/out.txt" 2>"$T/out.err"
RC=$?
out=$(cat "$T/out.txt")
check "[work] stdout a host file: reopening /proc/self/fd/1 to read it is refused by Landlock (EACCES)" "exit $RC; $out" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^refused: .*(EACCES)$" <<<"$2"' _ "$RC" "$out"
chmod 0700 "$T"

# ---- abstract unix sockets between two running instances ----

ABSTRACT=spectrum-itest-extra-$$-$RANDOM
sp run --config "$CONF" home -- "$P" unix-listen "$ABSTRACT" 20 </dev/null >"$T/listen.out" 2>&1 &
LISTEN_PID=$!
BG_PIDS+=("$LISTEN_PID")
if wait_for 10 grep -q listening "$T/listen.out"; then
	expect_refused work - unix-connect "$ABSTRACT"
else
	not_ok "[home] listens on @$ABSTRACT (setup)" "$(cat "$T/listen.out")"
fi
# $! is the subshell of sp(), not the engine: stop the engine itself (its
# command line names the socket), which ends the instance; then wait.
pkill -TERM -f -- "unix-listen $ABSTRACT" 2>/dev/null
wait "$LISTEN_PID" 2>/dev/null

# ---- the home changed between runs ----

# A directory grant's mount point inside the home: the instance moves the
# parent away and puts a symlink to /etc there.  The next run must refuse
# it or mount the grant, never show /etc.
run_in dirgrant /usr/bin/sh -c 'cd /home/user && mv sub sub.old && mkdir sub && ln -s /etc sub/ref'
echo "# [dirgrant] planted sub/ref -> /etc: exit $RC $(first_line "$ERR")"
check "control: the instance planted the symlink at the grant's mount point (exit 0)" "exit $RC; $(first_line "$ERR")" \
	test "$RC" -eq 0
run_in dirgrant /usr/bin/ls -A /home/user/sub/ref
echo "#   next run: exit $RC, $(first_line "$OUT") $(first_line "$ERR")"
check "a grant mount point swapped for a symlink between runs: /etc never shows" "exit $RC; $OUT" \
	bash -c '! grep -q -e passwd -e hostname <<<"$1"' _ "$OUT"
check "a grant mount point swapped for a symlink: the symlink is neither followed nor replaced" \
	"$(ls -la "$STATE/state/dirgrant/sub" 2>&1)" test "$(readlink "$STATE/state/dirgrant/sub/ref")" = /etc

# A file grant's mount point: the instance puts a FIFO there.  The next run
# must end (refused or run), not hang in open(2) on the FIFO.
run_in filegrant /usr/bin/sh -c 'cd /home/user && mv sub sub.old && mkdir sub && mkfifo sub/note.txt'
echo "# [filegrant] planted a FIFO at the mount point: exit $RC $(first_line "$ERR")"
check "control: the instance planted the FIFO at the file grant's mount point (exit 0, a FIFO on disk)" \
	"exit $RC; $(first_line "$ERR"); $(ls -la "$STATE/state/filegrant/sub" 2>&1)" \
	test "$RC" -eq 0 -a -p "$STATE/state/filegrant/sub/note.txt"
start=$SECONDS
SP_TIMEOUT=15 run_in filegrant "$P" hostname
echo "#   next run: exit $RC after $((SECONDS - start)) s: $(first_line "$ERR")"
check "a FIFO at a file grant's mount point does not hang the engine" "exit $RC (124: timeout)" \
	test "$RC" -ne 124 -a "$RC" -ne 137

# ---- a shared rw folder: one instance races the other's start ----

# attacker swaps shared/x (a directory) with shared/x2 (a symlink to
# /var/tmp) while victim starts with a grant mounted at shared/x/MARKER.
# Nothing may appear in the host's /var/tmp.
MARKER=/var/tmp/spectrum-itest-marker-$$
rm -rf "$MARKER"
EXTRA_CLEANUP='rm -rf "$MARKER"'
# The engine itself in the background (not through sp(), whose $! is a
# subshell): its $! is timeout's, which passes SIGTERM on to the engine,
# the engine to the swapper, which then prints how often it swapped.
timeout -k 5 120 "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" attacker -- \
	/usr/bin/sh -c 'cd /home/user/shared && ln -sfn /var/tmp x2 &&
		exec /opt/tools/probe race-swap /home/user/shared/x /home/user/shared/x2 100' \
	</dev/null >"$T/attacker.out" 2>&1 &
ATT_PID=$!
BG_PIDS+=("$ATT_PID")
swapper_running() {
	procs_running "^/opt/tools/probe race-swap /home/user/shared/x "
}
if wait_for 15 swapper_running; then
	ok "control: the attacker's swapper runs before the victim starts"
else
	not_ok "control: the attacker's swapper runs before the victim starts" "$(cat "$T/attacker.out")"
fi
runs=0 failed_runs=0
for ((i = 0; i < 40; i++)); do
	SP_TIMEOUT=10 run_in victim /usr/bin/true
	runs=$((runs + 1))
	[ "$RC" -ne 0 ] && failed_runs=$((failed_runs + 1))
	[ -e "$MARKER" ] && break
done
still=no
swapper_running && still=yes
kill -TERM "$ATT_PID" 2>/dev/null
wait "$ATT_PID" 2>/dev/null
swaps=$(sed -n 's/^\([0-9]*\) exchanges.*/\1/p' "$T/attacker.out")
echo "# race: $runs victim runs ($failed_runs refused); swapper: $(cat "$T/attacker.out")"
check "control: the swapper was still swapping when the last victim run ended" "$(cat "$T/attacker.out")" \
	test "$still" = yes
check "control: the swapper made exchanges all along (${swaps:-none})" "$(cat "$T/attacker.out")" \
	test "${swaps:-0}" -gt 1000
check "a racing instance cannot make another's start create $MARKER on the host" \
	"$(ls -ld "$MARKER" 2>&1) after $runs runs" test ! -e "$MARKER"
check "the attacker's engine ends on SIGTERM (nothing left running after the test)" \
	"$(host_procs "race-swap /home/user/shared/x")" wait_for 10 procs_gone "race-swap /home/user/shared/x"

# ---- kernel counters charged to the host's root ----

# The instance holds as many inotify instances as it can for 3 s; the host's
# root must still get one meanwhile.
sp run --config "$CONF" work -- "$X" inotify-hold 1000 3 </dev/null >"$T/inotify.out" 2>&1 &
HOLD_PID=$!
BG_PIDS+=("$HOLD_PID")
wait_for 10 grep -q 'inotify instances' "$T/inotify.out"
host=$(python3 -c 'import ctypes,sys; l=ctypes.CDLL(None); fd=l.inotify_init1(0); print("ok" if fd>=0 else "EMFILE")' 2>&1 ||
	echo "no python3")
wait "$HOLD_PID" 2>/dev/null
echo "# instance: $(cat "$T/inotify.out"); host root meanwhile: $host"
# The positive control: the instance did take all it may, as many as the
# host's root may have (fs.inotify.max_user_instances): charged to root,
# that would leave root none.
held=$(sed -n 's/^inotify instances: \([0-9]*\)$/\1/p' "$T/inotify.out")
limit=$(cat /proc/sys/fs/inotify/max_user_instances)
check "control: the instance holds $limit inotify instances (max_user_instances), got ${held:-none}" \
	"$(cat "$T/inotify.out")" test "${held:-0}" -ge "$limit"
if [ "$host" = "no python3" ]; then
	skip "inotify instances of an instance are not charged to the host's root" "no python3"
else
	check "inotify instances of an instance are not charged to the host's root" \
		"instance: $(cat "$T/inotify.out"); host root: $host" test "$host" = ok
fi

# The same for queued real-time signals (RLIMIT_SIGPENDING).
sp run --config "$CONF" work -- "$X" sigqueue-hold 10000000 3 </dev/null >"$T/sigq.out" 2>&1 &
HOLD_PID=$!
BG_PIDS+=("$HOLD_PID")
wait_for 20 grep -q 'queued signals' "$T/sigq.out"
host=$(timeout 5 "$PROBE_EXTRA" sigqueue-hold 1 0 2>&1)
wait "$HOLD_PID" 2>/dev/null
echo "# instance: $(cat "$T/sigq.out"); host root meanwhile: $host"
# The positive control: the instance queued as many as the host's root may
# (RLIMIT_SIGPENDING of this shell, which the engine passes on).
held=$(sed -n 's/^queued signals: \([0-9]*\)$/\1/p' "$T/sigq.out")
limit=$(ulimit -i)
check "control: the instance queues $limit signals (RLIMIT_SIGPENDING), got ${held:-none}" \
	"$(cat "$T/sigq.out")" test "${held:-0}" -ge "$limit"
check "queued signals of an instance are not charged to the host's root" \
	"instance: $(cat "$T/sigq.out"); host root: $host" test "$host" = "queued signals: 1"

# ---- setuid and setgid files on the host's disk ----

run_in work /usr/bin/sh -c '
	cp /usr/bin/id /home/user/suid-id; /opt/tools/probe-extra chmod /home/user/suid-id 6755
	cp /usr/bin/id /home/user/Documents/suid-id; /opt/tools/probe-extra chmod /home/user/Documents/suid-id 4755
	/opt/tools/probe-extra creat-mode /home/user/Documents/created 6755
	mkdir /home/user/sgid-dir; /opt/tools/probe-extra chmod /home/user/sgid-dir 2777'
note "$OUT"
found=$(find "$STATE/state/work" "$STATE/data/Documents/work" -perm /6000 -printf '%M %u:%g %p\n' 2>&1)
check "no setuid or setgid file of the instance lands on the host's disk" "$found" test -z "$found"

# ---- the terminal relay when the instance stops reading ----

# Under a pty, the instance puts its terminal in raw mode and reads
# nothing; the host then types 300 KiB.  SIGTERM to the engine must still
# end the instance within 5 s.
if command -v python3 >/dev/null; then
	res=$(timeout 60 python3 - "$SPECTRUM" "$STATE" "$RUNDIR" "$CONF" <<'EOF'
import os, pty, sys, time, signal
spectrum, state, rundir, conf = sys.argv[1:5]
pid, fd = pty.fork()
if pid == 0:
    os.execv(spectrum, [spectrum, "--state-dir", state, "--run-dir", rundir, "run", "--config", conf,
                        "work", "--", "/usr/bin/sh", "-c", "stty raw -echo; exec /usr/bin/sleep 30"])
time.sleep(2)
os.set_blocking(fd, False)
sent, t0 = 0, time.time()
while sent < 300 * 1024 and time.time() - t0 < 3:
    try:
        sent += os.write(fd, b"A" * 1024)
    except BlockingIOError:
        time.sleep(0.01)
    try:
        os.read(fd, 65536)
    except OSError:
        pass
os.kill(pid, signal.SIGTERM)
t0 = time.time()
while time.time() - t0 < 5:
    try:
        os.read(fd, 65536)
    except OSError:
        pass
    if os.waitpid(pid, os.WNOHANG)[0]:
        print("ended after %.1f s (typed %d bytes)" % (time.time() - t0, sent))
        sys.exit(0)
    time.sleep(0.1)
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
print("still running 5 s after SIGTERM (typed %d bytes)" % sent)
EOF
)
	echo "# pty relay: $res"
	check "an instance that stops reading its terminal cannot make the engine ignore SIGTERM" "$res" \
		grep -q '^ended' <<<"$res"
else
	skip "an instance that stops reading its terminal cannot make the engine ignore SIGTERM" "no python3"
fi

# ---- host paths and core dumps ----

# A known leak, kept visible as a TODO: the root field of a bind mount in
# mountinfo is its path on the host filesystem.  Bubblewrap and Flatpak
# show the same; hiding it needs the store on a filesystem of its own.
run_in work "$P" cat /proc/self/mountinfo
if grep -q -F "$STATE" <<<"$OUT"; then
	echo "not ok $((TAP_N + 1)) - /proc/self/mountinfo names no host path of the store # TODO known leak: $(grep -F "$STATE" <<<"$OUT" | head -n 1 | cut -d' ' -f4)"
	TAP_N=$((TAP_N + 1))
else
	ok "/proc/self/mountinfo names no host path of the store"
fi

# RLIMIT_CORE's hard limit is 0 whatever core_pattern is on this host: a
# piped core_pattern elsewhere would start its handler as root.
expect_x_refused work - core-limit

finish
