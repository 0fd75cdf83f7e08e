#!/bin/bash
# VM instances (issue 5): real QEMU guests (TCG here, or KVM where the
# probe says it boots) with the Debian kernel, the generated initramfs and
# the agent, virtiofs shares for software, home and grants.
#
#   - a VM reads its read-only grant, writes its home and its rw grant,
#     exits 7: `run` returns 7 and the host sees the writes in the store
#   - it cannot write the read-only grant, cannot see another instance's
#     home or the host's files, runs its own kernel, cannot reach the
#     control port or mount anything
#   - inside the guest, the command is confined as a container's command
#     (issue 13): escape.sh's probe gives the same answers in the VM as
#     in a container instance with the same grants
#   - stdin, stdout, stderr and signals pass through
#   - QEMU killed with SIGKILL, or the engine killed, leaves no process,
#     cgroup, socket or file behind
#   - virtiofsd runs in a user namespace of the instance's leased ids,
#     not as host root (issue 13), and guest writes still land owned by
#     the store's owner
#   - bad VM configuration gives one clear line and starts nothing
#
# Usage: vm.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted sh -c scripts run in the guest
set -u

. "$(dirname "$0")/lib.sh" "$@"

if ! command -v qemu-system-x86_64 >/dev/null || ! ls /boot/vmlinuz-* >/dev/null 2>&1; then
	echo "1..0 # SKIP qemu-system-x86 or linux-image-amd64 is not installed (scripts/install-deps installs both)"
	exit 0
fi

setup_store
# A TCG boot takes seconds; a hung guest is stopped by the engine itself.
export SP_TIMEOUT=180
export SPECTRUM_VM_BOOT_TIMEOUT=120

SECRET="other-secret-$RANDOM$RANDOM"
HOST_MARK=/etc/spectrum-vm-test-mark-$$
EXTRA_CLEANUP="rm -f $HOST_MARK"
echo "host-only" >"$HOST_MARK"
mkdir -p "$STATE/data/ro" "$STATE/data/rw" "$STATE/state/other"
echo "read-only-input" >"$STATE/data/ro/in.txt"
echo "$SECRET" >"$STATE/state/other/secret.txt"

write_config() {
	local vm=${1:-'{ "memory": "256M", "vcpus": 1 }'}
	cat >"$CONF" <<EOF
{ "instances": {
    "vmone": {
      "isolation": "vm",
      "vm": $vm,
      "software": ["host"],
      "command": ["/bin/true"],
      "data": [
        {"path": "tools", "at": "/opt/tools", "mode": "ro"},
        {"path": "ro", "at": "/mnt/ro", "mode": "ro"},
        {"path": "rw", "at": "/home/user/rw", "mode": "rw"}
      ],
      "env": {"SPECTRUM_TEST_ENV": "from-config"}
    },
    "other": {
      "software": ["host"],
      "command": ["/bin/true"]
    },
    "ctr": {
      "software": ["host"],
      "command": ["/bin/true"],
      "data": [
        {"path": "tools", "at": "/opt/tools", "mode": "ro"},
        {"path": "ro", "at": "/mnt/ro", "mode": "ro"},
        {"path": "rw", "at": "/home/user/rw", "mode": "rw"}
      ]
    }
} }
EOF
}
write_config ""


# 1. The round trip through the store, and the status.
run_in vmone /bin/sh -c 'cat /mnt/ro/in.txt; echo home-write >/home/user/h.txt; echo rw-write >/home/user/rw/out.txt; echo to-stderr >&2; exit 7'
check "run of a VM instance returns the command's status (7)" "rc $RC; err: $ERR" [ "$RC" -eq 7 ]
check "the guest read its read-only grant" "out: $OUT" grep -qx "read-only-input" <<<"$OUT"
check "stderr comes back on stderr, not stdout" "out: $OUT; err: $ERR" \
	bash -c '[[ $1 == *to-stderr* ]] && [[ $2 != *to-stderr* ]]' _ "$ERR" "$OUT"
check "the host sees the write to the home in the store" "$(ls -la "$STATE/state/vmone" 2>&1)" \
	grep -qx "home-write" "$STATE/state/vmone/h.txt"
check "the host sees the write to the rw grant in the store" "$(ls -la "$STATE/data/rw" 2>&1)" \
	grep -qx "rw-write" "$STATE/data/rw/out.txt"
owner=$(stat -c %u:%g "$STATE/data/rw/out.txt" 2>/dev/null)
want=$(stat -c %u:%g "$STATE")
check "what the guest wrote is owned by the store's owner on disk ($want)" "owner $owner" [ "$owner" = "$want" ]

# Rename and hard link in the home and a rw grant.  virtiofsd makes these
# under its own ids, not the guest's: those must be the ids its idmapped
# export gives the store's owner, or every one fails with EOVERFLOW (so
# did every `mv` and every editor's save-by-rename in a VM).
run_in vmone /bin/sh -c 'cd /home/user && echo a >mv-a && mv mv-a mv-b && mkdir mv-d && mv mv-d mv-e && ln mv-b mv-c &&
	cd rw && echo r >mv-r1 && mv mv-r1 mv-r2 && cat /home/user/mv-c mv-r2'
check "in a VM, rename of a file and a directory and a hard link work in the home and a rw grant" \
	"rc $RC; out: $OUT; err: $ERR" bash -c '[ "$1" -eq 0 ] && [ "$2" = "$(printf "a\nr")" ]' _ "$RC" "$OUT"
check "the host sees the renames and the link, owned by the store's owner" "$(ls -lani "$STATE/state/vmone" 2>&1)" \
	bash -c '[ -d "$1/mv-e" ] && [ ! -e "$1/mv-a" ] && [ "$1/mv-b" -ef "$1/mv-c" ] && [ -f "$2/mv-r2" ] && [ ! -e "$2/mv-r1" ] &&
		[ "$(stat -c %u:%g "$1/mv-b" "$1/mv-e" "$2/mv-r2" | sort -u)" = "$3" ]' _ "$STATE/state/vmone" "$STATE/data/rw" "$want"

# 2. Isolation.
run_in vmone /bin/sh -c 'echo x >/mnt/ro/new.txt'
check "writing to the read-only grant fails" "rc $RC; err: $ERR" [ "$RC" -ne 0 ]
check "nothing was written to the read-only grant on the host" "" [ ! -e "$STATE/data/ro/new.txt" ]
run_in vmone /bin/sh -c 'rm /mnt/ro/in.txt'
check "removing from the read-only grant fails" "rc $RC" [ "$RC" -ne 0 ]
check "the read-only grant's file is still there" "" [ -e "$STATE/data/ro/in.txt" ]

run_in vmone /bin/sh -c 'find / -path /usr -prune -o -path /proc -prune -o -path /sys -prune -o -type f -print 2>/dev/null | xargs grep -l "$1" 2>/dev/null; ls /home; ls -a /var/lib/spectrum 2>&1; true' _ "$SECRET"
check "another instance's home is nowhere in the guest" "out: $OUT" bash -c '! grep -q -- "$1" <<<"$2" && ! grep -q other <<<"$2"' _ "secret" "$OUT"
check "the guest sees only its own home under /home" "out: $OUT" grep -qx "user" <<<"$OUT"

run_in vmone /bin/sh -c 'cat "$1"; uname -r; cat /proc/1/cmdline | tr "\0" " "; echo; id -u; id -g' _ "$HOST_MARK"
check "the host's /etc is not the guest's (a file put there on the host is absent)" "out: $OUT" \
	bash -c '! grep -q host-only <<<"$1"' _ "$OUT"
guest_release=$(sed -n 1p <<<"$OUT")
check "the guest runs its own kernel ($guest_release, host $(uname -r))" "out: $OUT" \
	bash -c '[ -n "$1" ] && [ "$1" != "$(uname -r)" ]' _ "$guest_release"
check "the command's PID 1 is the agent's (its reaper, a fork of /init)" "out: $OUT" grep -q "^/init" <<<"$OUT"
check "the command runs as uid and gid 1000 in the guest" "out: $OUT" \
	bash -c '[ "$(tail -n 2 <<<"$1" | tr "\n" " ")" = "1000 1000 " ]' _ "$OUT"

run_in vmone /bin/sh -c 'env'
check "the guest's environment is the plan's (config variable present)" "out: $OUT" grep -qx "SPECTRUM_TEST_ENV=from-config" <<<"$OUT"
check "no host variable leaks into the guest" "out: $OUT" bash -c '! grep -q SPECTRUM_LEAK_CANARY <<<"$1"' _ "$OUT"

for port in /dev/vport1p1 /dev/vport0p1 /dev/vport2p1; do
	run_in vmone /bin/sh -c 'if [ -e "$1" ]; then cat "$1" </dev/null >/dev/null 2>&1 && echo OPENED || echo refused; else echo absent; fi' _ "$port"
	check "the command cannot open the control port $port" "out: $OUT" bash -c '! grep -q OPENED <<<"$1"' _ "$OUT"
done
# What the guest writes lands owned by the store's owner (root): a setuid
# or setgid bit set from inside would make a root setuid program on the
# host, in data/ where other host users may reach it.  virtiofsd runs
# under a filter of Spectrum's that refuses those bits, whatever the
# guest's kernel lets through.
run_in vmone /bin/sh -c 'cp /bin/true ~/su; chmod u+s ~/su; echo "u+s $?"; chmod g+s ~/su; echo "g+s $?";
	cp /bin/true ~/rw/su; chmod 4755 ~/rw/su; echo "rw-4755 $?"; mkdir ~/sgdir && chmod 2775 ~/sgdir; echo "dir-g+s $?";
	install -m 4755 /bin/true ~/rw/inst 2>/dev/null; echo "install $?"; true'
check "chmod u+s, g+s and install -m 4755 are refused in the guest" "out: $OUT" \
	bash -c '! grep -E -q " 0$" <<<"$1" && [ "$(grep -c . <<<"$1")" -eq 5 ]' _ "$OUT"
setid=$(find "$STATE" -perm /6000 2>/dev/null)
check "no setuid or setgid file or directory landed in the store" "found: $setid" [ -z "$setid" ]
run_in vmone /bin/sh -c 'ln -s /etc/hostname ~/hn && cat ~/hn; ln -s / ~/root && ls ~/root/home'
check "a symlink the guest makes resolves in the guest, not on the host" "out: $OUT" \
	bash -c '[ "$(sed -n 1p <<<"$1")" = vmone ] && [ "$(sed -n 2p <<<"$1")" = user ]' _ "$OUT"
check "on the host, that symlink is a plain symlink in the home (not followed)" "" \
	[ "$(readlink "$STATE/state/vmone/hn")" = /etc/hostname ]

# The guest's kernel is the boundary: its root powers are the agent's only,
# and once the agent's modules are in, it loads no other and makes no user
# namespace.
run_in vmone /bin/sh -c 'cat /proc/sys/kernel/modules_disabled /proc/sys/user/max_user_namespaces; unshare -U true && echo USERNS-ALLOWED; echo x >/run/share/f && echo SHARE-WRITABLE; true'
check "the guest kernel takes no more modules and no user namespace" "out: $OUT" \
	bash -c '[ "$(sed -n 1p <<<"$1")" = 1 ] && [ "$(sed -n 2p <<<"$1")" = 0 ] && ! grep -q USERNS-ALLOWED <<<"$1"' _ "$OUT"
check "the per-instance share directory is read-only for the guest" "out: $OUT" bash -c '! grep -q SHARE-WRITABLE <<<"$1"' _ "$OUT"

expect_refused vmone EPERM mount /home/user
expect_refused vmone EPERM finit-module
expect_refused vmone EPERM reboot
expect_refused vmone EPERM kexec
expect_allowed vmone read /opt/tools/probe

# 2b. The command's confinement inside the guest is a container's (issue
# 13): the same seccomp deny list (non-native ABIs included), Landlock,
# no capability in any set, no_new_privs, its own pid, mount, ipc, uts,
# cgroup and network namespaces, no /sys, a minimal /dev.  escape.sh's
# probe runs in one boot of the VM and in a container instance with the
# same grants, and must give the same answer to every attempt.  Left out:
# what only the host's kernel answers (a container's user namespace: the
# guest's initial one is not the host's; /sys, /proc/sysrq-trigger and
# /proc/kcore, which this host's kernel lacks: checked apart below).
PROBES=(
	caps nnp seccomp-mode setuid0 setgid0 "mknod /tmp/spectrum-probe-null" "mknod-block /tmp/spectrum-probe-blk"
	"mknod /dev/shm/spectrum-probe-null" settime keyctl keyring bpf perf tiocsti tioclinux open-by-handle
	i386 x32 personality io-uring userfaultfd finit-module kexec reboot swapon devtty "mount /tmp"
	"bind-root /tmp" fsopen open-tree unshare-user unshare-mnt unshare-net clone-newns clone-newuser clone3
	"setns /proc/1/ns/mnt" "setns /proc/self/ns/mnt" "ptrace 1" "chroot /tmp" dev "proc-sys-write /proc/sys/kernel/core_pattern"
	sys-write "create /usr/spectrum-probe" "create /etc/spectrum-probe" "create /spectrum-probe"
	"mkdir /dev/spectrum-probe" "write /opt/tools/readme.txt" "create /opt/tools/new-tool" "write /proc/self/comm"
	raw-socket packet-socket alg-socket vsock-socket "route 192.0.2.1" "route6 2001:db8::1" netifs
)
echo tools >"$STATE/data/tools/readme.txt"
{
	echo 'while read -r args; do'
	echo '	echo "@@ $args"; /opt/tools/probe $args; echo "@@ rc $?"'
	echo 'done <<"LIST"'
	printf '%s\n' ids sys sysrq userns "${PROBES[@]}"
	echo 'LIST'
	echo 'echo "@@ kcore $(stat -c %F:%t:%T:%s /proc/kcore 2>&1)"'
} >"$STATE/data/tools/batch.sh"

# "ARGS<tab>refused ERRNO rc=N" (or ALLOWED) for each attempt of a batch.
probe_answers() {
	awk '/^@@ rc /{ print args "\t" (res ? res : "no answer") " rc=" $3; args = ""; res = ""; next }
	     /^@@ /{ args = substr($0, 4); next }
	     /^refused: /{ if (!res) { e = $NF; gsub(/[()]/, "", e); res = "refused " e }; next }
	     /^ALLOWED: /{ res = "ALLOWED"; next }' <<<"$1"
}
declare -A VM_ANS CT_ANS
run_in vmone /bin/sh /opt/tools/batch.sh
VM_OUT=$OUT
nv=0
while IFS=$'\t' read -r a r; do VM_ANS[$a]=$r; nv=$((nv + 1)); done < <(probe_answers "$OUT")
run_in ctr /bin/sh /opt/tools/batch.sh
CT_OUT=$OUT
nc=0
while IFS=$'\t' read -r a r; do CT_ANS[$a]=$r; nc=$((nc + 1)); done < <(probe_answers "$OUT")
check "the probe ran every attempt in the VM and in the container ($nv, $nc)" \
	"vm: ${VM_OUT:0:300}" bash -c '[ "$1" -eq "$3" ] && [ "$2" -eq "$3" ]' _ "$nv" "$nc" $((${#PROBES[@]} + 4))
for a in "${PROBES[@]}"; do
	check "[vm] probe $a: ${VM_ANS[$a]:-none}, as in a container" "vm: ${VM_ANS[$a]:-none}; container: ${CT_ANS[$a]:-none}" \
		bash -c '[[ $1 == "refused "*" rc=0" ]] && [ "$1" = "$2" ]' _ "${VM_ANS[$a]:-}" "${CT_ANS[$a]:-}"
done
ids_vm=$(grep -A1 -x '@@ ids' <<<"$VM_OUT" | sed -n 2p)
ids_ct=$(grep -A1 -x '@@ ids' <<<"$CT_OUT" | sed -n 2p)
check "[vm] the command is uid 1000 in its own session under its own PID 1, as in a container" \
	"vm: $ids_vm; container: $ids_ct" bash -c '[ "$1" = "$2" ] && [[ $1 == "pid=3 ppid=2 sid=2 pgid=2 uid=1000 gid=1000 "* ]]' _ "$ids_vm" "$ids_ct"
for a in sys sysrq; do
	check "[vm] probe $a is refused (${VM_ANS[$a]:-none}; container: ${CT_ANS[$a]:-none})" "" \
		bash -c '[[ $1 == "refused "*" rc=0" ]]' _ "${VM_ANS[$a]:-}"
done
kcore=$(sed -n 's/^@@ kcore //p' <<<"$VM_OUT")
check "[vm] the guest's /proc/kcore is masked with /dev/null in the command's /proc" "got: $kcore" \
	[ "$kcore" = "character special file:1:3:0" ]
note "[vm] not compared: userns (vm: ${VM_ANS[userns]:-none}; container: ${CT_ANS[userns]:-none}): the guest's user namespace is its own kernel's"

# 2c. virtiofsd, exploited by a hostile guest, makes no user namespace:
# one would hold every capability over new namespaces of its own, the
# kernel surface a container's filter closes with the same rule.  A
# stand-in for virtiofsd, started exactly as it is (its user namespace,
# Spectrum's filters), tries before it execs the real one; its stderr is
# the console log.
VFS_WRAP=$(mktemp -d /tmp/spectrum-vfs-wrap.XXXXXX)
EXTRA_CLEANUP="$EXTRA_CLEANUP; rm -rf $VFS_WRAP"
chmod 0755 "$VFS_WRAP"
install -m 0755 "$PROBE" "$VFS_WRAP/probe"
printf '#!/bin/sh\n"%s/probe" unshare-user >&2\n"%s/probe" clone-newuser >&2\n"%s/probe" clone3 >&2\nexec %s "$@"\n' \
	"$VFS_WRAP" "$VFS_WRAP" "$VFS_WRAP" /usr/lib/qemu/virtiofsd >"$VFS_WRAP/virtiofsd"
chmod 0755 "$VFS_WRAP/virtiofsd"
SPECTRUM_VIRTIOFSD=$VFS_WRAP/virtiofsd run_in vmone /bin/sh -c 'cat /mnt/ro/in.txt'
vfs_tries=$(grep -E '^(refused|ALLOWED): (unshare|clone)' "$STATE/log/vmone/console" 2>&1)
n_tries=$(grep -c "" <<<"$vfs_tries")
check "the stand-in served the guest (rc $RC) and tried 3 calls in each virtiofsd (6: $n_tries lines)" \
	"rc $RC; out: $OUT; err: $ERR; $vfs_tries" \
	bash -c '[ "$1" -eq 0 ] && [ "$2" = read-only-input ] && [ "$3" -eq 18 ]' _ "$RC" "$OUT" "$n_tries"
check "virtiofsd cannot make a user namespace: unshare and clone EPERM, clone3 ENOSYS" "$vfs_tries" \
	bash -c '[ "$(sort -u <<<"$1")" = "$(printf "%s\n" "refused: clone(CLONE_NEWUSER) (EPERM)" "refused: clone3(CLONE_NEWUSER) (ENOSYS)" "refused: unshare(CLONE_NEWUSER) (EPERM)")" ]' _ "$vfs_tries"

# The engine's pid, not that of `timeout` in front of it.
engine_of() {
	local e
	for _ in $(seq 1 50); do
		e=$(pgrep -P "$1" -f "spectrum" | head -n 1)
		[ -n "$e" ] && { echo "$e"; return; }
		sleep 0.1
	done
}

# 3. stdin, signals.
o=$(echo "through-stdin" | timeout 180 "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" vmone -- /bin/cat 2>&1)
check "stdin reaches the command and its end of file too" "out: $o" grep -qx "through-stdin" <<<"$o"

timeout 180 "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" vmone -- /bin/sleep 100 </dev/null >/dev/null 2>"$T/term.err" &
eng=$!
for _ in $(seq 1 600); do [ -s "$RUNDIR/instances/vmone/pid" ] && break; sleep 0.2; done
kill -TERM "$(engine_of "$eng")"
wait "$eng"
rc=$?
check "SIGTERM to the engine reaches the command: run returns 143" "rc $rc; $(cat "$T/term.err")" [ "$rc" -eq 143 ]

# 4. Teardown when QEMU is killed, and when the engine is.
# What is left of this test's vmone: processes in its cgroups (named
# vmone.HASH, HASH from this store: other stores' instances do not count),
# sockets and directories in the run directory, the cgroups themselves.
ID=""
leftovers() {
	local what="" f
	if [ -n "$ID" ]; then
		for f in /proc/[0-9]*/cgroup; do
			grep -q "/$ID\$" "$f" 2>/dev/null && what+="process:$(tr '\0' ' ' <"${f%/cgroup}/cmdline" | cut -c1-40) "
		done
		find /sys/fs/cgroup -maxdepth 6 -type d -name "$ID" 2>/dev/null | grep -q . && what+="cgroup "
	fi
	[ -n "$(find "$RUNDIR" -type s 2>/dev/null)" ] && what+="sockets:$(find "$RUNDIR" -type s) "
	[ -e "$RUNDIR/shares/vmone" ] && what+="share-dir "
	[ -e "$RUNDIR/instances/vmone" ] && what+="runtime-dir "
	echo "$what"
}

timeout 180 "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" vmone -- /bin/sleep 100 </dev/null >/dev/null 2>"$T/kill.err" 9</etc/hostname &
eng=$!
for _ in $(seq 1 600); do [ -s "$RUNDIR/instances/vmone/pid" ] && break; sleep 0.2; done
qpid=$(cat "$RUNDIR/instances/vmone/pid" 2>/dev/null)
check "the runtime pid file names QEMU" "pid $qpid: $(tr '\0' ' ' <"/proc/$qpid/cmdline" 2>/dev/null | cut -c1-80)" \
	grep -q "qemu-system" "/proc/$qpid/cmdline"
quid=$(stat -c %u "/proc/$qpid" 2>/dev/null)
check "QEMU runs as an unprivileged leased uid ($quid), not root" "" bash -c '[ -n "$1" ] && [ "$1" -ge 1073741824 ]' _ "$quid"
check "QEMU has no capabilities" "$(grep Cap "/proc/$qpid/status")" \
	bash -c 'grep -q "^CapEff:[[:space:]]*0000000000000000" "/proc/$1/status" && grep -q "^CapPrm:[[:space:]]*0000000000000000" "/proc/$1/status"' _ "$qpid"
check "QEMU runs with no_new_privs and a seccomp filter" "$(grep -E 'NoNewPrivs|Seccomp:' "/proc/$qpid/status")" \
	bash -c 'grep -q "^NoNewPrivs:[[:space:]]*1" "/proc/$1/status" && grep -q "^Seccomp:[[:space:]]*2" "/proc/$1/status"' _ "$qpid"
check "QEMU is in the instance's cgroup" "$(cat "/proc/$qpid/cgroup")" grep -q "vmone\." "/proc/$qpid/cgroup"
check "QEMU's root is its own: /usr and a few device nodes, no /home, /var or /root" "$(ls "/proc/$qpid/root/")" \
	bash -c '[ -d "/proc/$1/root/usr/bin" ] && [ ! -e "/proc/$1/root/home" ] && [ ! -e "/proc/$1/root/var" ] && [ ! -e "/proc/$1/root/root" ]' _ "$qpid"
check "QEMU's environment is not the caller's" "$(tr '\0' ' ' <"/proc/$qpid/environ")" \
	bash -c '! grep -q SPECTRUM_LEAK_CANARY "/proc/$1/environ"' _ "$qpid"
check "QEMU inherits no descriptor of the caller (fd 9 is open in the test)" "$(ls -l "/proc/$qpid/fd" | grep -c hostname)" \
	bash -c '! ls -l "/proc/$1/fd" | grep -q "/etc/hostname"' _ "$qpid"
# What the portal will do: a host folder bound into the share directory
# while the instance runs.  Stopping must not empty it.
mkdir -p "$T/precious" "$RUNDIR/shares/vmone/bound" && echo keep >"$T/precious/doc.txt"
mount --bind "$T/precious" "$RUNDIR/shares/vmone/bound"
ID=$(grep -o 'vmone\.[0-9a-f]*$' "/proc/$qpid/cgroup" | head -n 1)
vfs=$(for f in /proc/[0-9]*/cgroup; do grep -q "/$ID\$" "$f" 2>/dev/null && tr '\0' ' ' <"${f%/cgroup}/cmdline" && echo; done | grep -c "virtiofsd --fd=3")
check "one virtiofsd per share runs in the instance's cgroup (5: root, home, 2 grants... plus the share dir)" "got $vfs" [ "$vfs" -ge 5 ]
# virtiofsd is not host root (issue 13): it runs as the guest's user
# (1000) of a user namespace of its own whose ids are the instance's
# leased range past QEMU's id, with capabilities in that namespace only,
# in pid, mount and net namespaces of its own (its sandbox).
vfs_pids=$(for f in /proc/[0-9]*/cgroup; do
	grep -q "/$ID\$" "$f" 2>/dev/null && [ "$(cat "${f%/cgroup}/comm" 2>/dev/null)" = virtiofsd ] && d=${f%/cgroup} && echo "${d#/proc/}"
done)
vfs_status=$(for p in $vfs_pids; do echo "pid $p: $(grep -E '^(Uid|Gid|CapEff|NSpid):' "/proc/$p/status" | tr '\t\n' '  ') userns $(readlink "/proc/$p/ns/user") map $(head -n 1 "/proc/$p/uid_map" | tr -s ' ')"; done)
note "virtiofsd as the host sees it (host userns $(readlink /proc/self/ns/user)):
$vfs_status"
want_uid=$((quid + 1))
proc_uid=$((want_uid + 1000))
check "every virtiofsd runs as host uid $proc_uid (1000 of the lease past QEMU's), not root" "$vfs_status" \
	bash -c '[ -n "$2" ] && for p in $2; do grep -q -P "^Uid:\t$1\t$1\t$1\t$1$" "/proc/$p/status" || exit 1; done' _ "$proc_uid" "$vfs_pids"
check "every virtiofsd is in a user namespace that is not the host's, whose root is host uid $want_uid" "$vfs_status" \
	bash -c '[ -n "$2" ] && for p in $2; do [ "$(readlink "/proc/$p/ns/user")" != "$(readlink /proc/self/ns/user)" ] &&
		[ "$(head -n 1 "/proc/$p/uid_map" | tr -s " ")" = " 0 $1 65535" ] || exit 1; done' _ "$want_uid" "$vfs_pids"
check "the virtiofsd serving the guest is in a pid namespace of its own (NSpid has two levels)" "$vfs_status" \
	bash -c 'for p in $1; do grep -q -P "^NSpid:\t\d+\t\d+$" "/proc/$p/status" && exit 0; done; exit 1' _ "$vfs_pids"
kill -KILL "$qpid"
wait "$eng"
rc=$?
check "QEMU killed with SIGKILL: run returns 137" "rc $rc; $(cat "$T/kill.err")" [ "$rc" -eq 137 ]
check "a folder bound into the share directory survives the teardown" "$(ls -la "$T/precious")" grep -qx keep "$T/precious/doc.txt"
umount "$RUNDIR/shares/vmone/bound" 2>/dev/null
rmdir "$RUNDIR/shares/vmone/bound" "$RUNDIR/shares/vmone" 2>/dev/null
for _ in $(seq 1 25); do [ -z "$(leftovers)" ] && break; sleep 0.2; done
left=$(leftovers)
check "QEMU killed: no process, socket, cgroup or file is left" "left: $left" [ -z "$left" ]

# The status of a QEMU killed from outside is QEMU's, however the engine
# hears of it (issue 13): its virtiofsd processes stop as soon as QEMU's
# exit closes their sockets, and the engine used to take that, when it
# heard of it first (often, under load), for a share gone on its own
# (exit 1).  Twice more, to catch it; and a virtiofsd that really stops
# on its own, QEMU alive, still stops the guest with that message.
for i in 1 2; do
	timeout 180 "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" vmone -- /bin/sleep 100 </dev/null >/dev/null 2>"$T/kill.err" &
	eng=$!
	for _ in $(seq 1 600); do [ -s "$RUNDIR/instances/vmone/pid" ] && break; sleep 0.2; done
	kill -KILL "$(cat "$RUNDIR/instances/vmone/pid")"
	wait "$eng"
	rc=$?
	check "QEMU killed with SIGKILL, again ($i): run returns 137" "rc $rc; $(cat "$T/kill.err")" [ "$rc" -eq 137 ]
done
timeout 180 "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" vmone -- /bin/sleep 100 </dev/null >/dev/null 2>"$T/vfs.err" &
eng=$!
for _ in $(seq 1 600); do [ -s "$RUNDIR/instances/vmone/pid" ] && break; sleep 0.2; done
veng=$(engine_of "$eng")
vfs=$(pgrep -P "$veng" -x virtiofsd | head -n 1)
kill -KILL "$vfs"
wait "$eng"
rc=$?
check "a virtiofsd killed while QEMU runs: run exits 1 saying so" "rc $rc; pid $vfs; $(cat "$T/vfs.err")" \
	bash -c '[ "$1" -eq 1 ] && grep -q "^spectrum: vmone: virtiofsd of the [a-z0-9]* share stopped; the guest was stopped (console: " "$2"' _ "$rc" "$T/vfs.err"
for _ in $(seq 1 50); do [ -z "$(leftovers)" ] && break; sleep 0.2; done
left=$(leftovers)
check "virtiofsd killed: no process, socket, cgroup or file is left" "left: $left" [ -z "$left" ]

timeout 180 "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" run --config "$CONF" vmone -- /bin/sleep 100 </dev/null >/dev/null 2>&1 &
eng=$!
for _ in $(seq 1 600); do [ -s "$RUNDIR/instances/vmone/pid" ] && break; sleep 0.2; done
kill -KILL "$(engine_of "$eng")"
wait "$eng" 2>/dev/null
for _ in $(seq 1 50); do [ -z "$(leftovers)" ] && break; sleep 0.2; done
left=$(leftovers)
check "engine killed: QEMU and virtiofsd die, its janitor removes the cgroups, the share and runtime directories" "left: $left" [ -z "$left" ]

# 5. A terminal: the command gets a pty in the guest with the host
# terminal's size (script(1) gives `run` a terminal here).
if command -v script >/dev/null; then
	o=$(COLUMNS=97 LINES=31 timeout 180 script -qec "stty cols 97 rows 31; $SPECTRUM --state-dir $STATE --run-dir $RUNDIR run --config $CONF vmone -- /bin/sh -c 'tty; stty size; test -t 0 && echo STDIN-IS-TTY'" /dev/null 2>&1 </dev/null)
	check "with a terminal, the command runs on a new pty in the guest" "out: $o" grep -q "/dev/pts/[0-9]" <<<"$o"
	check "the guest's pty has the host terminal's size" "out: $o" grep -q "^31 97" <<<"${o//$'\r'/}"
	check "stdin is that terminal" "out: $o" grep -q "STDIN-IS-TTY" <<<"$o"
else
	skip "a VM instance with a terminal" "no script(1) (util-linux)"
fi

# 6. Supervised: start, list, stop, as for a container.
trap 'stop_svscan; lib_cleanup' EXIT
if command -v s6-svscan >/dev/null; then
	SWITCHED=$T/switched.json
	sed 's|"command": \["/bin/true"\]|"command": ["/bin/sleep", "100000"], "stop_timeout": 5|' "$CONF" >"$SWITCHED"
	sp switch "$SWITCHED" >"$T/sw.out" 2>&1
	rc=$?
	check "switch takes a configuration with a VM instance" "rc $rc: $(cat "$T/sw.out")" [ "$rc" -eq 0 ]
	sp verify vmone >"$T/verify.out" 2>&1
	rc=$?
	check "verify checks a VM instance's software as a container's" "rc $rc: $(tail -n 3 "$T/verify.out")" [ "$rc" -eq 0 ]
	sp start vmone >"$T/start.out" 2>&1
	rc=$?
	check "start of a VM instance waits until its command runs" "rc $rc: $(cat "$T/start.out")" [ "$rc" -eq 0 ]
	state=$(sp list --json | python3 -c 'import json,sys; d={i["name"]: i for i in json.load(sys.stdin)}; i=d["vmone"]; print(i["isolation"], i["state"])' 2>&1)
	check "list shows it as a running vm" "got: $state" [ "$state" = "vm up" ]
	qpid=$(cat "$RUNDIR/instances/vmone/pid" 2>/dev/null)
	check "a supervised VM's QEMU runs" "pid '$qpid'" grep -q qemu-system "/proc/$qpid/cmdline"
	sp stop vmone >"$T/stop.out" 2>&1
	rc=$?
	check "stop of a VM instance" "rc $rc: $(cat "$T/stop.out")" [ "$rc" -eq 0 ]
	for _ in $(seq 1 50); do [ -z "$(leftovers)" ] && break; sleep 0.2; done
	left=$(leftovers)
	check "stopped: no process, socket, cgroup or file is left" "left: $left" [ -z "$left" ]
	stop_svscan
else
	skip "a supervised VM instance" "no s6-svscan (s6)"
fi

# 7. Bad VM configuration: one line naming the key, nothing started.
bad() {
	local what=$1 want_rc=$2 want=$3
	sp run --config "$CONF" vmone </dev/null >"$T/bad.out" 2>"$T/bad.err"
	local rc=$?
	local lines
	lines=$(wc -l <"$T/bad.err")
	check "$what: exit $want_rc, one line naming it" "rc $rc; err: $(cat "$T/bad.err")" \
		bash -c '[ "$1" -eq "$2" ] && [ "$3" -eq 1 ] && grep -q -- "$4" "$5"' _ "$rc" "$want_rc" "$lines" "$want" "$T/bad.err"
}
write_config '{"kernel": "/boot/vmlinuz-does-not-exist"}'
bad "missing kernel" 1 "vm.kernel /boot/vmlinuz-does-not-exist: No such file or directory"
write_config '{"memory": "64M"}'
bad "memory too small" 2 'instances.vmone.vm.memory: expected a size from "128M"'
write_config '{"disk": "1G"}'
bad "unknown key" 2 "instances.vmone.vm.disk: unknown key"
write_config '{"kernel": "/etc/hostname"}'
bad "a kernel that is no kernel" 1 "/etc/hostname"
write_config '{"vcpus": 0}'
bad "zero vcpus" 2 "instances.vmone.vm.vcpus: expected a whole number of virtual CPUs from 1 to 64"
write_config ""
left=$(leftovers)
check "bad configurations left nothing behind" "left: $left" [ -z "$left" ]

finish
