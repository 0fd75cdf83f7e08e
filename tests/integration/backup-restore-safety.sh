#!/bin/bash
# spectrum backup restore of a forged or stolen repository gives nobody
# root: a restore of a store leaves out what a store never holds
# (setuid/setgid bits, device nodes, security.*, trusted.* and system.*
# attributes), says so in one line, makes every entry the store owner's,
# forces the store's top directories to 0700 and writes --to only into a
# directory nobody else can enter; a snapshot whose counts wrap the
# restore's limits is refused.  Forged unencrypted repositories
# (backup-forge.py privileged: setuid-root and cap_setuid=ep copies of
# dash, /dev/mem as a 0666 device, data/ 0755, trusted.* and an ACL) in
# place, of one instance, and --to; a real encrypted backup of a store
# that root made such files in, --to and in place.  Afterwards: no
# setuid/setgid bit (find -perm /6000), no device node, no security.* or
# trusted.* or system.* attribute (getfattr), and uid 65534 cannot read
# data/ (EACCES) nor run the copies.  A forged SPBKTR02 tree whose
# repeat counts wrap the byte total or repeat a 1-byte chunk, a chain of
# 4100 directories under a 1 MiB stack, nested listings of 285 MB along
# one path: each refused in one line, at once.  Hard-link groups whose
# copies disagree on setuid; a C1 control and a bidi override in a name
# (shown escaped); an instance started after an in-place restore still
# writes its home, as the store owner.
#
# Usage: backup-restore-safety.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

unset SPECTRUM_BACKUP_REPO SPECTRUM_PASSPHRASE
setup_store
# uid 65534 may pass through the test's directory: what keeps it out of
# a restored store must be the store's own modes.
chmod 0711 "$T"

FORGE=$(dirname "$0")/backup-forge.py
DASH=$(command -v dash) || { echo "Bail out! no dash to copy"; exit 1; }
# The system's python3, which uid 65534 can run (one in root's home,
# e.g. pyenv's, it cannot).
PY_NOBODY=/usr/bin/python3
[ -x "$PY_NOBODY" ] || { echo "Bail out! no $PY_NOBODY"; exit 1; }

# bk STORE ARGS...: `spectrum --state-dir STORE backup ARGS...`, bounded
# in time, without a terminal; sets RC, OUT, ERR.
bk() {
	local store=$1
	shift
	timeout -k 5 120 setsid -w "$SPECTRUM" --state-dir "$store" --run-dir "$RUNDIR" backup "$@" \
		</dev/null >"$T/bk.out" 2>"$T/bk.err"
	RC=$?
	OUT=$(cat "$T/bk.out")
	ERR=$(cat "$T/bk.err")
}

as_nobody() {
	timeout -k 5 20 setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# What uid 65534 gets when it lists (a directory) or opens PATH: "allowed"
# or the errno's name.  With "exec": when it runs PATH as a shell that
# keeps a setuid euid (-p), what that shell prints (its euid, a line of
# /etc/shadow), or the errno's name.  The process tries it itself, not
# setpriv: setpriv still holds root's capabilities when it execs.
nobody_try() {
	as_nobody "$PY_NOBODY" -c '
import errno, os, sys
p = sys.argv[1]
try:
    if len(sys.argv) > 2:
        sys.stdout.flush()
        os.execv(p, [p, "-p", "-c", "id -u; head -n 1 /etc/shadow"])
    if os.path.isdir(p):
        os.listdir(p)
    else:
        os.close(os.open(p, os.O_RDONLY))
    print("allowed")
except OSError as e:
    print(errno.errorcode[e.errno])' "$@" 2>&1
}

# safe WHAT DIR OWNER: what no restore of a store may leave under DIR,
# whose entries must all be owned by OWNER (uid:gid).
safe() {
	local what=$1 dir=$2 owner=$3 got
	got=$(find "$dir" -perm /6000 -printf '%m %p\n' 2>&1)
	check "$what: no setuid/setgid bit (find -perm /6000)" "$got" test -z "$got"
	got=$(find "$dir" \( -type b -o -type c \) -printf '%y %p\n' 2>&1)
	check "$what: no device node (find -type b -o -type c)" "$got" test -z "$got"
	got=$(getfattr -d -m - -R --absolute-names "$dir" 2>&1 | grep -E '^(security|trusted|system)\.')
	check "$what: no security.*, trusted.* or system.* attribute (getfattr -d -m - -R)" "$got" test -z "$got"
	got=$(find "$dir" -mindepth 1 \( ! -uid "${owner%:*}" -o ! -gid "${owner#*:}" \) -printf '%U:%G %p\n' 2>&1)
	check "$what: every entry is owned by $owner" "$got" test -z "$got"
}

# top_modes WHAT DIR: the store's top directories there are 0700.
top_modes() {
	local got
	got=$(stat -c '%n %a' "$2/data" "$2/state" "$2/generations" 2>&1 | sed "s|$2/||" | tr '\n' ' ')
	check "$1: data/, state/, generations/ are 0700 (snapshot: 0755)" "$got" \
		test "$got" = "data 700 state 700 generations 700 "
}

# nobody_out WHAT STORE: uid 65534 can neither read data/ nor run the
# copies in it.
nobody_out() {
	local what=$1 store=$2 got
	got=$(nobody_try "$store/data")
	check "$what: uid 65534 cannot list data/ (EACCES)" "got: $got" test "$got" = EACCES
	got=$(nobody_try "$store/data/sh-suid")
	check "$what: uid 65534 cannot open data/sh-suid (EACCES)" "got: $got" test "$got" = EACCES
	got=$(nobody_try "$store/data/sh-suid" exec)
	check "$what: uid 65534 cannot run data/sh-suid (EACCES; no root shell)" "got: $got" test "$got" = EACCES
}

# =====================================================================
# 1. A forged unencrypted repository, --to a new directory.
# =====================================================================

S1=$T/s1
R1=$T/r1
mkdir -p "$S1/data"
bk "$S1" init --repo "$R1"
check "forged: init (unencrypted): exit 0" "exit $RC; $ERR" test "$RC" -eq 0
FORGED=$(python3 "$FORGE" privileged "$R1" "$DASH" 2>&1)
check "forged: backup-forge.py privileged writes a snapshot" "$FORGED" grep -qE '^[0-9a-f]{64}$' <<<"$FORGED"
# What the forger asked for, summed: sh-suid, sh-sgid, state/w and
# state/w/sh are setuid/setgid; mem and sda devices; sh-cap, trusted and
# acl one attribute each.
DROPPED="spectrum: backup restore: dropped 9 things a store never holds: 4 setuid/setgid modes, 2 device nodes, 1 system.posix_acl_access attribute, 1 security.capability attribute, 1 trusted.forged attribute"

bk "$S1" restore latest --to "$T/out1" --repo "$R1"
check "forged --to a new dir: exit 0, 'restored snapshot ...' on stdout" "exit $RC; $OUT; $ERR" \
	test "$RC" -eq 0 -a "$OUT" = "restored snapshot ${FORGED:0:8} to $T/out1"
check "forged --to: one line on stderr says what was dropped, how many of each" "$ERR" test "$ERR" = "$DROPPED"
check "forged --to: the target was made 0700" "$(stat -c %a "$T/out1" 2>&1)" test "$(stat -c %a "$T/out1" 2>&1)" = 700
safe "forged --to" "$T/out1" 0:0
top_modes "forged --to" "$T/out1"
check "forged --to: data/sh-suid is a 0755 copy of dash" "$(stat -c %a "$T/out1/data/sh-suid" 2>&1)" \
	test "$(stat -c %a "$T/out1/data/sh-suid" 2>&1)" = 755
check "forged --to: data/sh-suid has dash's bytes" "$(cmp "$DASH" "$T/out1/data/sh-suid" 2>&1)" \
	cmp -s "$DASH" "$T/out1/data/sh-suid"
check "forged --to: data/sh-cap has no capability (getcap prints nothing)" \
	"$(getcap "$T/out1/data/sh-cap" 2>&1)" test -z "$(getcap "$T/out1/data/sh-cap" 2>&1)"
check "forged --to: mem and sda were not made" "$(ls -la "$T/out1/data" 2>&1)" \
	test ! -e "$T/out1/data/mem" -a ! -L "$T/out1/data/mem" -a ! -e "$T/out1/data/sda"
got=$(getfattr --absolute-names -n user.note --only-values "$T/out1/data/user-ok" 2>&1)
check "forged --to: a user.* attribute is kept (user.note = kept)" "$got" test "$got" = kept
got=$(stat -c '%a %U:%G' "$T/out1/data/owned" "$T/out1/state/w" 2>&1 | tr '\n' ' ')
check "forged --to: owners 1234:5678 of the snapshot become root:root" "$got" \
	test "$got" = "644 root:root 755 root:root "
# Used as a store (its root 0711, as the store makes it).
chmod 0711 "$T/out1"
nobody_out "forged --to, root made 0711" "$T/out1"
got=$(nobody_try "$T/out1/data/acl")
check "forged --to: the ACL that let uid 65534 read data/acl is gone (EACCES)" "got: $got" test "$got" = EACCES

# An existing directory: only an empty one of ours that nobody else enters.
mkdir -m 0755 "$T/open"
bk "$S1" restore latest --to "$T/open" --repo "$R1"
check "forged --to an existing empty 0755 dir: exit 1, refused in one line" "exit $RC; $ERR" \
	test "$RC" -eq 1 -a "$ERR" = "spectrum: backup restore: $T/open: mode 0755 lets other users in: restore into a new directory, or \`chmod 700' this one"
check "forged --to 0755: nothing written there" "$(ls -A "$T/open" 2>&1)" test -z "$(ls -A "$T/open" 2>&1)"
mkdir -m 0700 "$T/theirs"
chown 65534:65534 "$T/theirs"
bk "$S1" restore latest --to "$T/theirs" --repo "$R1"
check "forged --to an empty 0700 dir of uid 65534: exit 1, refused in one line" "exit $RC; $ERR" \
	test "$RC" -eq 1 -a "$ERR" = "spectrum: backup restore: $T/theirs: owned by uid 65534, not by the user restoring (0): refusing it"
check "forged --to uid 65534's dir: nothing written there" "$(ls -A "$T/theirs" 2>&1)" test -z "$(ls -A "$T/theirs" 2>&1)"
# A symlink to an empty 0700 directory of ours is not followed.
mkdir -m 0700 "$T/linked"
ln -s linked "$T/link"
bk "$S1" restore latest --to "$T/link" --repo "$R1"
check "forged --to a symlink to an empty 0700 dir: exit 1, refused in one line" "exit $RC; $ERR" \
	test "$RC" -eq 1 -a "$ERR" = "spectrum: backup restore: $T/link: Not a directory"
check "forged --to a symlink: nothing written where it points" "$(ls -A "$T/linked" 2>&1)" \
	test -z "$(ls -A "$T/linked" 2>&1)"
mkdir -m 0700 "$T/mine"
bk "$S1" restore latest --to "$T/mine" --repo "$R1" --quiet
check "forged --to an existing empty 0700 dir of ours: exit 0, the line said even with --quiet" "exit $RC; $ERR" \
	test "$RC" -eq 0 -a "$ERR" = "$DROPPED"
safe "forged --to an existing 0700 dir" "$T/mine" 0:0

# =====================================================================
# 2. The same repository in place, into a store owned by 4321:4321 (whose
#    files are that owner's, however an instance wrote them).
# =====================================================================

S2=$T/s2
mkdir -p "$S2/data/old" "$S2/state" "$S2/generations" "$S2/log"
chown -R 4321:4321 "$S2"
chmod 0711 "$S2"
bk "$S2" restore latest --repo "$R1"
check "forged, in place: exit 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
check "forged, in place: the same line on stderr" "$ERR" test "$ERR" = "$DROPPED"
check "forged, in place: data/ is the snapshot's (sh-suid there, old gone)" "$(ls "$S2/data" 2>&1)" \
	test -f "$S2/data/sh-suid" -a ! -e "$S2/data/old"
safe "forged, in place" "$S2" 4321:4321
top_modes "forged, in place" "$S2"
nobody_out "forged, in place" "$S2"
check "forged, in place: nothing left beside the store (.restore-*)" "$(ls -A "$S2" 2>&1)" \
	test -z "$(find "$S2" -maxdepth 1 -name '.restore-*' 2>&1)"

# One instance's home, in place: made 0700 and the owner's, as the store
# makes homes.
bk "$S2" restore latest --instance w --repo "$R1"
check "forged --instance w, in place: exit 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
check "forged --instance w: one line: 2 setuid/setgid modes (state/w, state/w/sh)" "$ERR" \
	test "$ERR" = "spectrum: backup restore: dropped 2 things a store never holds: 2 setuid/setgid modes"
got=$(stat -c '%a %u:%g' "$S2/state/w" "$S2/state/w/sh" 2>&1 | tr '\n' ' ')
check "forged --instance w: state/w 0700, state/w/sh 0755, both 4321:4321 (snapshot: 04755 1234:5678)" "$got" \
	test "$got" = "700 4321:4321 755 4321:4321 "
safe "forged --instance w, in place" "$S2/state" 4321:4321

# =====================================================================
# 3. Counts that wrap the restore's limits: 2 * (files + dirs) + 1024 is
#    2^64, 0 once meant "no limit".
# =====================================================================

WRAP=9223372036854775296
forged=$(python3 "$FORGE" dag "$R1" --levels 2 --fanout 4 --files "$WRAP" --dirs 0 --bytes 1 2>&1)
bk "$S1" restore "$forged" --to "$T/out3" --repo "$R1"
check "counts that wrap (files $WRAP): exit 1, refused in one line" "exit $RC; $ERR" \
	test "$RC" -eq 1 -a "$ERR" = "spectrum: backup restore: the snapshot's counts ($WRAP files, 0 directories, 1 bytes) are impossible (a damaged or forged repository)"
check "counts that wrap: nothing restored" "$(find "$T/out3" 2>&1 | head -n 5)" \
	test -z "$(find "$T/out3" -mindepth 1 2>/dev/null)"

# =====================================================================
# 4. A real encrypted backup of a store in which root made what an
#    instance cannot: the key's holder gets no more than the store.
# =====================================================================

S4=$T/s4
R4=$T/r4
mkdir -p "$S4/data" "$S4/state/w" "$S4/generations/1" "$S4/log"
chmod 0755 "$S4/data" "$S4/state" "$S4/generations"
cp "$DASH" "$S4/data/sh-suid"
chmod 4755 "$S4/data/sh-suid"
cp "$DASH" "$S4/data/sh-sgid"
chmod 2755 "$S4/data/sh-sgid"
cp "$DASH" "$S4/data/sh-cap"
setcap cap_setuid=ep "$S4/data/sh-cap"
mknod -m 0666 "$S4/data/mem" c 1 1
echo "root's" >"$S4/data/trusted"
setfattr -n trusted.forged -v y "$S4/data/trusted"
echo "a user attribute" >"$S4/data/user-ok"
setfattr -n user.note -v kept "$S4/data/user-ok"
cp "$DASH" "$S4/state/w/sh"
chmod 4755 "$S4/state/w/sh"
ln -s generations/1 "$S4/current"
note "encrypted source: $(find "$S4" -perm /6000 | wc -l) setuid/setgid files, $(getcap -r "$S4" 2>/dev/null | wc -l) with capabilities, $(find "$S4" -type c | wc -l) device"
printf 'correct horse battery staple\n' >"$T/pass"
bk "$S4" init --repo "$R4" --encrypt --passphrase-file "$T/pass"
check "encrypted: init --encrypt: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
bk "$S4" create --repo "$R4" --passphrase-file "$T/pass"
check "encrypted: create: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
DROPPED4="spectrum: backup restore: dropped 6 things a store never holds: 3 setuid/setgid modes, 1 device node, 1 security.capability attribute, 1 trusted.forged attribute"

SPECTRUM_PASSPHRASE='correct horse battery staple' bk "$S4" restore latest --to "$T/out4" --repo "$R4"
check "encrypted --to: exit 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
check "encrypted --to: one line on stderr says what was dropped" "$ERR" test "$ERR" = "$DROPPED4"
safe "encrypted --to" "$T/out4" 0:0
top_modes "encrypted --to" "$T/out4"
got=$(getfattr --absolute-names -n user.note --only-values "$T/out4/data/user-ok" 2>&1)
check "encrypted --to: user.note is kept" "$got" test "$got" = kept
chmod 0711 "$T/out4"
nobody_out "encrypted --to, root made 0711" "$T/out4"

chmod 0711 "$S4"
SPECTRUM_PASSPHRASE='correct horse battery staple' bk "$S4" restore latest --repo "$R4"
check "encrypted, in place: exit 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
check "encrypted, in place: the same line on stderr" "$ERR" test "$ERR" = "$DROPPED4"
safe "encrypted, in place" "$S4" 0:0
top_modes "encrypted, in place" "$S4"
nobody_out "encrypted, in place" "$S4"
check "encrypted, in place: the copies are still there, plain (0755, dash's bytes)" \
	"$(stat -c '%n %a' "$S4/data/sh-suid" "$S4/state/w/sh" 2>&1)" \
	test "$(stat -c %a "$S4/data/sh-suid" "$S4/state/w/sh" 2>&1 | tr '\n' ' ')" = "755 755 "

# =====================================================================
# 5. Repeat counts (SPBKTR02) against the byte budget: a count that
#    wraps the running total, and a tiny chunk repeated, each a restore
#    that would write (one byte per call) without end.
# =====================================================================

# rbk NAME ARGS...: `backup restore` bounded by 20 s (a restore that
# loops is the failure, not a hang of the suite).
rbk() {
	timeout -k 5 20 setsid -w "$SPECTRUM" --state-dir "$S1" --run-dir "$RUNDIR" backup restore "$@" --repo "$R1" \
		--quiet </dev/null >"$T/bk.out" 2>"$T/bk.err"
	RC=$?
	ERR=$(cat "$T/bk.err")
}

# data/a (128 KiB) puts 2^17 in the running total; data/b, 128 KiB
# repeated 2^47 - 1 times and claiming as much, made it wrap to 0 (under
# every limit).  The snapshot claims 128 KiB in all: the limit is
# 128 KiB * 9/8 + 64 MiB.  (Zeros, a hole: with any other byte the
# unfixed restore wrote until the disk was full.)
forged=$(python3 "$FORGE" runs "$R1" --lead 131072 --chunk-len 131072 --byte 0 --times 140737488355327 \
	--bytes 131072 2>&1)
rbk "$forged" --to "$T/out5"
check "repeat count that wraps the byte total: exit 1 at once, refused in one line naming data/b" "exit $RC; $ERR" \
	test "$RC" -eq 1 -a "$ERR" = "spectrum: backup restore: restore to $T/out5: data/b: the snapshot holds more than the 67256320 bytes it says (a damaged or forged repository)"
got=$(stat -c %s "$T/out5/data/b" 2>&1)
check "repeat count that wraps: nothing of data/b written (0 bytes)" "$got" test "$got" = 0

# One byte repeated 2^20 times, every count honest: a million writes of
# one byte.  The chunker never cuts a chunk shorter than 128 KiB but at
# a file's end, so no chunk that short is ever repeated.
forged=$(python3 "$FORGE" runs "$R1" --times 1048576 2>&1)
rbk "$forged" --to "$T/out6"
check "a 1-byte chunk repeated 2^20 times: exit 1, refused in one line" "exit $RC; $ERR" \
	test "$RC" -eq 1 -a "$ERR" = "spectrum: backup restore: restore to $T/out6: data/b: chunk 1 of 1: 1 bytes repeated 1048576 times: a chunk is never repeated below 131072 bytes (a damaged or forged repository)"

# What create writes: 128 KiB of zeros repeated 10^6 times (122 GiB) is
# a hole, restored sparse; 128 KiB of "A" 600 times is written.
forged=$(python3 "$FORGE" runs "$R1" --chunk-len 131072 --byte 0 --times 1000000 2>&1)
rbk "$forged" --to "$T/out7"
got=$(stat -c '%s %b' "$T/out7/data/b" 2>&1)
check "128 KiB of zeros repeated 10^6 times: exit 0, 131072000000 bytes, sparse (< 64 blocks)" "exit $RC; $ERR; $got" \
	test "$RC" -eq 0 -a "${got% *}" = 131072000000 -a "${got#* }" -lt 64
forged=$(python3 "$FORGE" runs "$R1" --chunk-len 131072 --times 600 2>&1)
rbk "$forged" --to "$T/out8"
got=$( (for _ in $(seq 600); do head -c 131072 /dev/zero | tr '\0' A; done) | cmp - "$T/out8/data/b" 2>&1)
check "128 KiB of 'A' repeated 600 times: exit 0, the 78643200 bytes as written" "exit $RC; $ERR; $got" \
	test "$RC" -eq 0 -a -z "$got"
rm -rf "$T/out7" "$T/out8"

# A chain of 4100 directories (create never writes more than 1024 below
# the store's top), restored with a 1 MiB stack: an error, not SIGSEGV.
# AddressSanitizer's frames are several times larger: its build gets the
# default 8 MiB, still far less than 4100 levels would need.
STACK_KIB=1024
if ldd "$SPECTRUM" 2>/dev/null | grep -q libasan; then
	STACK_KIB=8192
fi
forged=$(python3 "$FORGE" dag "$R1" --levels 4100 --fanout 1 2>&1)
(
	ulimit -s "$STACK_KIB"
	rbk "$forged" --to "$T/out10"
	exit "$RC"
) >"$T/deep.out" 2>&1
RC=$?
ERR=$(cat "$T/bk.err")
check "4100 levels under a small stack ($STACK_KIB KiB): exit 1 with one line, not a crash" "exit $RC; $(cat "$T/deep.out"); ${ERR:0:200}" \
	test "$RC" -eq 1 -a "$(wc -l <"$T/bk.err")" -eq 1 -a \
	"${ERR%%.../d00/*}" = "spectrum: backup restore: restore to $T/out10: " -a \
	"${ERR##*/d00: }" = "more than 1100 levels of directories (a damaged or forged snapshot)"
rm -rf "$T/out10"

# Every directory above the one being restored keeps its listing in
# memory.  Six nested listings of 500000 fifos (47 MB each, 5 MiB of
# repository in all) held 3 million entries; 1100 of 64 MiB, 200 GB.
forged=$(python3 "$FORGE" widechain "$R1" --levels 6 --width 500000 --files 10 --dirs 10 2>&1)
rbk "$forged" --to "$T/out12"
check "nested listings of 285 MB along one path: exit 1, refused in one line before the sixth is read" \
	"exit $RC; $ERR" \
	test "$RC" -eq 1 -a "$ERR" = "spectrum: backup restore: restore to $T/out12: a/a/a/a/a: the listings down to here take more than 256 MiB together (a damaged or forged repository)"
rm -rf "$T/out12"

# Hard-link groups whose copies disagree: a later copy's setuid mode
# does not reach the inode through the link, a first copy's is dropped.
forged=$(python3 "$FORGE" linkmodes "$R1" 2>&1)
rbk "$forged" --to "$T/out11"
got=$(stat -c '%n %a %h' "$T/out11/data/"[abcd] 2>&1 | sed "s|$T/out11/data/||" | tr '\n' ' ')
check "hard-link groups 0644+04755, 06755+0644: exit 0, linked, 0644 and 0755, 2 setid dropped" "exit $RC; $ERR; $got" \
	test "$RC" -eq 0 -a "$got" = "a 644 2 b 644 2 c 755 2 d 755 2 " -a \
	"$ERR" = "spectrum: backup restore: dropped 2 things a store never holds: 2 setuid/setgid modes"
safe "hard-link groups" "$T/out11" 0:0
rm -rf "$T/out11"

# =====================================================================
# 6. Names in restore's messages come from the repository: C1 controls
#    (CSI as c2 9b) and bidi overrides are shown escaped, as everywhere.
# =====================================================================

S6=$T/s6
R6=$T/r6
mkdir -p "$S6/data"
echo x >"$S6/data/f"
setfattr -n "$(printf 'trusted.a\302\2332J\342\200\256b')" -v y "$S6/data/f"
bk "$S6" init --repo "$R6"
bk "$S6" create --repo "$R6"
check "C1 and bidi in an attribute name: create exit 0" "exit $RC; $ERR" test "$RC" -eq 0
bk "$S6" restore latest --to "$T/out9" --repo "$R6"
check "C1 and bidi in an attribute name: the dropped line shows them escaped" "exit $RC; $(cat -v "$T/bk.err")" \
	test "$RC" -eq 0 -a "$ERR" = 'spectrum: backup restore: dropped 1 thing a store never holds: 1 trusted.a\xc2\x9b2J\u202eb attribute'
check "C1 and bidi in an attribute name: no byte c2 9b nor e2 80 ae on stderr" "$(od -c "$T/bk.err" | head -n 5)" \
	test "$(LC_ALL=C grep -c -e "$(printf '\302\233')" -e "$(printf '\342\200\256')" "$T/bk.err")" = 0

# =====================================================================
# 7. Owners forced to the store's: an instance started after an in-place
#    restore (whole store, then its home alone) still reads and writes
#    its home, and what it writes lands as the store owner's.
# =====================================================================

S10=$T/s10
R10=$T/r10
# Instance names are global on the host (cgroups): one of this test's own.
W10=rsafe-$$
{
	echo '{ "instances": {'
	echo "  \"$W10\":"
	instance_json ''
	echo '} }'
} >"$CONF"
mkdir -p "$S10/data/tools" "$S10/state/$W10/docs"
install -m 0755 "$PROBE" "$S10/data/tools/probe"
echo v1 >"$S10/state/$W10/docs/notes"
chmod 0700 "$S10/state/$W10" "$S10/state/$W10/docs"
chown -R 4321:4321 "$S10"
chmod 0711 "$S10"
bk "$S10" init --repo "$R10"
bk "$S10" create --repo "$R10"
check "instance after restore: create exit 0" "exit $RC; $ERR" test "$RC" -eq 0
echo v2 >"$S10/state/$W10/docs/notes"
bk "$S10" restore latest --repo "$R10"
check "instance after restore: restore in place exit 0" "exit $RC; $ERR" test "$RC" -eq 0
sp10() {
	timeout -k 5 60 "$SPECTRUM" --state-dir "$S10" --run-dir "$RUNDIR" run --config "$CONF" "$W10" -- /usr/bin/sh -c "$1" \
		</dev/null >"$T/run.out" 2>&1
	RC=$?
	OUT=$(cat "$T/run.out")
}
sp10 'cd /home/user && cat docs/notes && echo v3 >>docs/notes && echo new >docs/new && mkdir d2'
check "instance after a whole-store restore: reads v1, appends, makes a file and a directory (exit 0)" \
	"exit $RC; $OUT" test "$RC" -eq 0 -a "$OUT" = v1
got=$(stat -c '%u:%g' "$S10/state/$W10/docs/notes" "$S10/state/$W10/docs/new" "$S10/state/$W10/d2" | sort -u)
check "instance after a whole-store restore: what it wrote is 4321:4321" "$got" test "$got" = 4321:4321
bk "$S10" restore latest --instance "$W10" --repo "$R10"
check "instance after restore: restore --instance in place exit 0" "exit $RC; $ERR" test "$RC" -eq 0
sp10 'cd /home/user && cat docs/notes && echo v4 >>docs/notes && touch x && ls'
check "instance after its home's restore: reads v1 again, writes (exit 0)" "exit $RC; $OUT" \
	test "$RC" -eq 0 -a "$OUT" = "v1
docs
x"

finish
