#!/bin/bash
# Escape and leak attempts from inside container instances (issue 2).
#
# Two instances, "work" and "home", with host software, each granted its
# own folder of data/Documents (rw), the tools folder with the probe (ro)
# and a Reference folder (ro).  Secrets are planted in home's documents, in
# home's private state and on the host; a host process, an abstract unix
# socket and a loopback TCP port are set up on the host.  Then every
# attempt of probe.c runs in "work" (a few in "home") and must be refused.
# Positive controls show that each instance does reach what it was granted,
# so a refusal means confinement and not a broken setup.
#
# Usage: escape.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted bash -c scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

setup_store

SECRET_DOC="home-document-secret-$RANDOM$RANDOM"
SECRET_STATE="home-state-secret-$RANDOM$RANDOM"
SECRET_WORK="work-document-secret-$RANDOM$RANDOM"
SECRET_HOST="host-secret-$RANDOM$RANDOM"

mkdir -p "$STATE/data/Documents/work" "$STATE/data/Documents/home" \
	"$STATE/data/Reference" "$STATE/state/home"
echo "$SECRET_DOC" >"$STATE/data/Documents/home/secret.txt"
echo "$SECRET_STATE" >"$STATE/state/home/secret.txt"
echo "$SECRET_WORK" >"$STATE/data/Documents/work/work.txt"
echo "reference text" >"$STATE/data/Reference/ref.txt"
echo "tools" >"$STATE/data/tools/readme.txt"

HOST_ROOT_FILE=/root/spectrum-itest-canary-$$
HOST_VARTMP_FILE=/var/tmp/spectrum-itest-canary-$$
echo "$SECRET_HOST" >"$HOST_ROOT_FILE"
echo "$SECRET_HOST" >"$HOST_VARTMP_FILE"
# shellcheck disable=SC2034 # run by lib_cleanup
EXTRA_CLEANUP='rm -f "$HOST_ROOT_FILE" "$HOST_VARTMP_FILE"'

{
	echo '{ "instances": {'
	echo '  "work":'
	instance_json '{"path": "Documents/work", "at": "/home/user/Documents", "mode": "rw"},
	  {"path": "Reference", "at": "/home/user/Reference", "mode": "ro"}'
	echo '  ,"home":'
	instance_json '{"path": "Documents/home", "at": "/home/user/Documents", "mode": "rw"},
	  {"path": "Reference", "at": "/home/user/Reference", "mode": "ro"}'
	echo '} }'
} >"$CONF"

# Host-side targets: a process with a recognisable name, an abstract unix
# socket and a loopback TCP listener (all only on the host).
install -m 0755 "$PROBE" "$T/hostcanary"
"$T/hostcanary" sleep 600 &
HOST_PID=$!
BG_PIDS+=("$HOST_PID")

ABSTRACT=spectrum-itest-$$-$RANDOM
PORT=$((20000 + RANDOM % 30000))
"$PROBE" unix-listen "$ABSTRACT" 600 >"$T/unix-listen.out" 2>&1 &
BG_PIDS+=($!)
"$PROBE" tcp-listen "$PORT" 600 >"$T/tcp-listen.out" 2>&1 &
BG_PIDS+=($!)
wait_for 5 grep -q listening "$T/unix-listen.out"
wait_for 5 grep -q listening "$T/tcp-listen.out"

echo "# store: $STATE"
echo "# host canaries: $HOST_ROOT_FILE $HOST_VARTMP_FILE, process $HOST_PID, @$ABSTRACT, 127.0.0.1:$PORT"

# ---- the engine works at all, and the controls ----

run_in work "$P" hostname
if [ "$RC" -ne 0 ]; then
	not_ok "spectrum run works (probe hostname in work)" "exit $RC; stderr: $(first_line "$ERR")"
	echo "Bail out! spectrum run does not work; nothing else can be tested"
	finish
fi
check "hostname inside work is \"work\"" "got: $OUT" test "$OUT" = work

run_in home "$P" hostname
check "hostname inside home is \"home\"" "got: $OUT" test "$OUT" = home

# The host-side targets are reachable from the host: each refusal below
# therefore comes from the confinement.
host=$("$PROBE" unix-connect "$ABSTRACT")
check "control: the host reaches its abstract socket @$ABSTRACT" "$host" grep -q '^ALLOWED' <<<"$host"
host=$("$PROBE" tcp-connect "$PORT")
check "control: the host reaches 127.0.0.1:$PORT" "$host" grep -q '^ALLOWED' <<<"$host"

expect_allowed home read /home/user/Documents/secret.txt
expect_allowed home read /home/user/secret.txt
expect_allowed work read /home/user/Reference/ref.txt
expect_allowed work write /home/user/Documents/work-note.txt
expect_allowed work create /tmp/spectrum-probe-file
expect_allowed work find-string "$SECRET_WORK" /

# ---- identity, environment, descriptors, processes ----

run_in work "$P" ids
echo "# [work] ids: $OUT"
check "the user inside is uid 1000 gid 1000" "$OUT" grep -q 'uid=1000 gid=1000 euid=1000 egid=1000' <<<"$OUT"
check "the command is pid 2 (pid 1 is the reaper)" "$OUT" grep -q '^pid=2 ' <<<"$OUT"
sid=$(sed -n 's/.* sid=\([0-9-]*\) .*/\1/p' <<<"$OUT")
check "the command's session is one of the instance (sid $sid visible, not 0)" "$OUT" test "${sid:-0}" -gt 0

run_in work "$P" env
echo "# [work] environment:"
note "$OUT"
check "host variable SPECTRUM_LEAK_CANARY is not visible" "$OUT" \
	bash -c '! grep -q -e SPECTRUM_LEAK_CANARY -e "$1" <<<"$2"' _ "$SPECTRUM_LEAK_CANARY" "$OUT"
check "no host path of the store leaks through the environment" "$OUT" \
	bash -c '! grep -q -F "$1" <<<"$2"' _ "$T" "$OUT"
check "HOME is /home/user" "$OUT" grep -qx 'HOME=/home/user' <<<"$OUT"
check "the configured env reaches the instance (control)" "$OUT" grep -qx 'SPECTRUM_TEST_ENV=from-config' <<<"$OUT"

run_in work "$P" env-of 1
check "the reaper's environment has no host variable" "$OUT" \
	bash -c '! grep -q -e SPECTRUM_LEAK_CANARY -e "$1" <<<"$2"' _ "$SPECTRUM_LEAK_CANARY" "$OUT"

exec 7</etc/hostname
run_in work "$P" fds
echo "# [work] descriptors (the test holds fd 7 on /etc/hostname):"
note "$OUT"
fds=$(awk '{ print $1 }' <<<"$OUT" | sort -n | tr '\n' ' ')
check "only descriptors 0 1 2 are open (fd 7 not inherited)" "got: $fds" test "$fds" = "0 1 2 "
run_in work "$P" fds-of 1
check "the reaper holds no host descriptor" "$OUT" \
	bash -c '! grep -q -e /etc/hostname -e "$1" <<<"$2"' _ "$T" "$OUT"
exec 7<&-

run_in work "$P" list-pids
echo "# [work] processes visible:"
note "$OUT"
host_init=$(cat /proc/1/comm)
pid1=$(awk '$1 == 1 { print $2 }' <<<"$OUT")
check "pid 1 inside is not the host's init ($host_init)" "pid 1 is: $pid1" \
	bash -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$pid1" "$host_init"
npids=$(grep -c . <<<"$OUT")
check "only the instance's processes are visible ($npids)" "$OUT" \
	bash -c '[ "$1" -le 4 ] && ! grep -q -e hostcanary -e "^$2 " <<<"$3"' _ "$npids" "$HOST_PID" "$OUT"

# ---- files of the host and of the other instance ----

expect_refused work ENOENT read /etc/shadow
expect_refused work ENOENT read "$HOST_ROOT_FILE"
expect_refused work ENOENT read "$HOST_VARTMP_FILE"
expect_refused work ENOENT read "$STATE/data/Documents/home/secret.txt"
expect_refused work ENOENT read "$STATE/state/home/secret.txt"
expect_refused work EACCES read "/proc/1/root$STATE/state/home/secret.txt"
expect_refused work EACCES read "/proc/1/root$HOST_ROOT_FILE"
expect_refused work - find-string "$SECRET_DOC" /
expect_refused work - find-string "$SECRET_STATE" /
expect_refused work - find-string "$SECRET_HOST" /
expect_refused home - find-string "$SECRET_WORK" /
expect_refused work ENOENT symlink-out /home/user/.probe-link "$HOST_ROOT_FILE"
expect_refused work ENOENT symlink-out /home/user/.probe-link "$STATE/state/home/secret.txt"
expect_refused work ENOENT sys
expect_refused work ENOENT dev
expect_refused work ENOENT kcore

# ---- writes outside the instance's own places ----

expect_refused work EROFS write /home/user/Reference/ref.txt
expect_refused work EROFS create /home/user/Reference/new.txt
expect_refused work EROFS write /opt/tools/readme.txt
expect_refused work EROFS create /opt/tools/new-tool
expect_refused work EROFS create /usr/spectrum-probe
expect_refused work EROFS create /etc/spectrum-probe
expect_refused work EROFS create /spectrum-probe
expect_refused work EROFS mkdir /dev/spectrum-probe
expect_refused work - sysrq
expect_refused work - proc-sys-write /proc/sys/kernel/core_pattern
expect_refused work - sys-write
check "the ro grant is unchanged on disk" "$(cat "$STATE/data/Reference/ref.txt")" \
	test "$(cat "$STATE/data/Reference/ref.txt")" = "reference text"
check "nothing was created in the ro grant on disk" "$(ls "$STATE/data/Reference")" \
	test "$(ls "$STATE/data/Reference")" = ref.txt
check "the tools grant is unchanged on disk" "$(ls "$STATE/data/tools")" \
	bash -c '[ "$(cat "$1/readme.txt")" = tools ] && [ "$(find "$1" -mindepth 1 | wc -l)" -eq 2 ]' _ "$STATE/data/tools"

# ---- mounts and namespaces ----

expect_refused work EPERM mount /tmp
expect_refused work EPERM bind-root /tmp
expect_refused work EPERM fsopen
expect_refused work EPERM open-tree
expect_refused work EPERM unshare-user
expect_refused work EPERM unshare-mnt
expect_refused work EPERM unshare-net
expect_refused work EPERM clone-newns
expect_refused work EPERM clone-newuser
expect_refused work ENOSYS clone3
expect_refused work - setns /proc/1/ns/mnt
expect_refused work EPERM setns /proc/self/ns/mnt
expect_refused work EPERM chroot /tmp
expect_refused work - userns

# ---- host processes ----

expect_refused work - ptrace "$HOST_PID"
expect_refused work - kill-host "$HOST_PID"

# ---- privileges ----

expect_refused work EPERM setuid0
expect_refused work EPERM setgid0
expect_refused work EPERM caps
expect_refused work EPERM nnp
expect_refused work EPERM seccomp-mode
expect_refused work EACCES mknod /tmp/spectrum-probe-null
expect_refused work EACCES mknod-block /tmp/spectrum-probe-blk
expect_refused work EACCES mknod /dev/shm/spectrum-probe-null
expect_refused work EPERM settime

# ---- kernel interfaces behind the seccomp filter ----

expect_refused work EPERM keyctl
expect_refused work EPERM keyring
expect_refused work EPERM bpf
expect_refused work EPERM perf
expect_refused work EPERM tiocsti
expect_refused work EPERM tioclinux
expect_refused work EPERM open-by-handle
expect_refused work ENOSYS i386
expect_refused work ENOSYS x32
expect_refused work EPERM personality
expect_refused work EPERM io-uring
expect_refused work EPERM userfaultfd
expect_refused work EPERM finit-module
expect_refused work EPERM kexec
expect_refused work EPERM reboot
expect_refused work EPERM swapon
expect_refused work - devtty

# ---- network: loopback only ----

expect_refused work EPERM raw-socket
expect_refused work EAFNOSUPPORT packet-socket
expect_refused work EAFNOSUPPORT alg-socket
expect_refused work EAFNOSUPPORT vsock-socket
expect_refused work ENETUNREACH route 192.0.2.1
expect_refused work ENETUNREACH route6 2001:db8::1
expect_refused work ENOENT netifs
expect_refused work - unix-connect "$ABSTRACT"
expect_refused work - tcp-connect "$PORT"

# ---- each layer on its own ----
#
# Most attempts above are refused by several layers at once (mount flags,
# file modes, Landlock, seccomp, capabilities).  The checks below look at
# one layer each, so that a build with any one layer missing fails here
# (tests/mutation/run shows which check catches which layer).

# Mount flags, read from inside: the options of the top mount at each place.
run_in work "$P" cat /proc/self/mountinfo
MOUNTINFO=$OUT
expect_mount() {
	local mp=$1 opts o missing=""
	shift
	opts=$(awk -v m="$mp" '$5 == m { o = $6 } END { print o }' <<<"$MOUNTINFO")
	for o in "$@"; do
		[[ ,$opts, == *",$o,"* ]] || missing="$missing $o"
	done
	check "[work] mountinfo: $mp is mounted $(IFS=,; echo "$*")" "options: ${opts:-(not mounted)}; missing:$missing" \
		test -n "$opts" -a -z "$missing"
}
expect_mount / ro nosuid nodev
expect_mount /usr ro nosuid nodev
[ -e /etc/ld.so.cache ] && expect_mount /etc/ld.so.cache ro nosuid nodev
expect_mount /opt/tools ro nosuid nodev idmapped
expect_mount /home/user/Reference ro nosuid nodev idmapped
expect_mount /home/user rw nosuid nodev idmapped
expect_mount /home/user/Documents rw nosuid nodev idmapped
expect_mount /tmp rw nosuid nodev
expect_mount /dev ro nosuid nodev noexec
expect_mount /dev/shm rw nosuid nodev noexec
expect_mount /proc rw nosuid nodev noexec
expect_mount /proc/sys ro nosuid nodev noexec

# Landlock: attempts where the mount is read-write and the file modes
# allow them, so that Landlock alone refuses them (EACCES).  A whiteout
# (character device 0:0) needs no capability on a tmpfs, and /tmp is one
# (mode 1777, the control above creates a file there); Landlock lets no
# instance make a device node.
run_in work /usr/bin/mknod /tmp/spectrum-whiteout c 0 0
check "[work] Landlock: mknod of a whiteout (0:0, no capability needed) in /tmp is refused: EACCES" \
	"exit $RC; $(first_line "$ERR")" bash -c '[ "$1" -ne 0 ] && grep -q "Permission denied" <<<"$2"' _ "$RC" "$ERR"
# /proc/self/comm is the process's own file (mode 0644, /proc mounted rw);
# only Landlock's read-only rule for everything outside the writable
# places refuses writing it.
expect_refused work EACCES write /proc/self/comm

# The loaded seccomp program, read from the host (seccomp-dump.c): every
# rule, i386 and x32 included.  From inside, an x32 call gives ENOSYS on
# this kernel even with no filter at all, so the probe's x32 attempt above
# proves nothing by itself.
SECCOMP_DUMP=$(dirname "$PROBE")/seccomp-dump
dump=$("$SECCOMP_DUMP" "$HOST_PID" 2>&1)
rc=$?
check "control: seccomp-dump of a host process without a filter says so (exit 1)" "exit $rc; $dump" \
	bash -c '[ "$1" = 1 ] && grep -q "^WRONG no seccomp filter" <<<"$2"' _ "$rc" "$dump"
NAP=$((400 + RANDOM % 400))
sp run --config "$CONF" work -- "$P" sleep "$NAP" </dev/null >"$T/nap.out" 2>&1 &
BG_PIDS+=($!)
NAPPID=""
nap_running() {
	NAPPID=$(pgrep -x -f -- "$P sleep $NAP" | head -n 1)
	[ -n "$NAPPID" ]
}
if wait_for 15 nap_running; then
	st=$(grep -E '^(NoNewPrivs|Seccomp|Seccomp_filters):' "/proc/$NAPPID/status")
	check "host view: the instance's command has NoNewPrivs 1, Seccomp 2, one filter" "$st" \
		bash -c 'grep -qx "NoNewPrivs:[[:space:]]*1" <<<"$1" && grep -qx "Seccomp:[[:space:]]*2" <<<"$1" &&
			grep -qx "Seccomp_filters:[[:space:]]*1" <<<"$1"' _ "$st"
	dump=$("$SECCOMP_DUMP" "$NAPPID" 2>&1)
	rc=$?
	note "$(grep -v '^ok ' <<<"$dump")"
	check "the loaded seccomp program is the library's, and each rule holds ($(tail -n 1 <<<"$dump"))" \
		"exit $rc; $(grep -v '^ok ' <<<"$dump" | head -n 5)" test "$rc" -eq 0
	check "... it refuses x32 numbers (0x40000000|nr) with ENOSYS" "$(grep x32 <<<"$dump")" \
		test "$(grep -c '^ok x32 .*ERRNO(ENOSYS)$' <<<"$dump")" -eq 3
	check "... it refuses the i386 ABI (AUDIT_ARCH_I386) with ENOSYS" "$(grep i386 <<<"$dump")" \
		test "$(grep -c '^ok i386 .*ERRNO(ENOSYS)$' <<<"$dump")" -eq 3
	kill -TERM "$NAPPID"
else
	not_ok "an instance's command runs for the seccomp dump (setup)" "$(cat "$T/nap.out")"
fi

# IPC namespace: a System V segment of the host is not seen inside.
SHMID=$(ipcmk -M 4096 2>/dev/null | awk '{ print $NF }')
# shellcheck disable=SC2034 # run by lib_cleanup
EXTRA_CLEANUP=$EXTRA_CLEANUP'; [ -n "$SHMID" ] && ipcrm -m "$SHMID"'
check "control: the host sees its shared memory segment $SHMID" "$(cat /proc/sysvipc/shm)" \
	awk -v id="$SHMID" '$2 == id { f = 1 } END { exit !f }' /proc/sysvipc/shm
run_in work "$P" cat /proc/sysvipc/shm
check "[work] ipc namespace: no System V segment of the host is visible (only the header)" \
	"exit $RC; $OUT; $(first_line "$ERR")" \
	bash -c '[ "$1" = 0 ] && [ "$(grep -c . <<<"$2")" -eq 1 ] && grep -q shmid <<<"$2"' _ "$RC" "$OUT"
# Cgroup namespace: every hierarchy's root is the instance's own cgroup.
run_in work "$P" cat /proc/self/cgroup
check "[work] cgroup namespace: /proc/self/cgroup shows / on every line" "exit $RC; $OUT; $(first_line "$ERR")" \
	bash -c '[ "$1" = 0 ] && grep -q "^0::/$" <<<"$2" && ! grep -qv ":/$" <<<"$2"' _ "$RC" "$OUT"

# ---- the other direction: home cannot reach work ----

expect_refused home ENOENT read "$STATE/data/Documents/work/work.txt"
expect_refused home ENOENT read /home/user/Documents/work.txt

finish
