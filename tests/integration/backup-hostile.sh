#!/bin/bash
# spectrum backup against what an instance can do to its own files
# (issue 13 §2, and §5 for file names in messages): whatever it does, a
# backup of the store completes.  An entry that cannot be read
# consistently is left out with one warning line naming it (control
# characters escaped, a long path shortened keeping its end, the reason
# whole), the snapshot is saved and says it is incomplete (`backup list`,
# `--json`), and `backup create` exits 3.
#
#   - a home with directories nested 1100 deep;
#   - a 15 TiB sparse file: read by its data extents, backed up in
#     seconds, restored sparse;
#   - a file and a directory swapped with renameat2(RENAME_EXCHANGE) in a
#     loop while 10 backups run: each saves a snapshot (exit 0 or 3,
#     never 1);
#   - a file (its name full of escape sequences) removed between the
#     listing of its directory and its reading.
#
# Each scenario has its own store (data/ and state/ written directly, as
# an instance's grants and home would be) and repository.
#
# Usage: backup-hostile.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

unset SPECTRUM_BACKUP_REPO SPECTRUM_PASSPHRASE
setup_store

MiB=$((1024 * 1024))
ESC=$'\033'
BEL=$'\007'

. "$(dirname "$0")/backuplib.sh"

# new_store NAME: an empty store $T/NAME with data/ and state/, and an
# initialised repository $T/NAME.repo.
new_store() {
	mkdir -p "$T/$1/data" "$T/$1/state"
	bk "$T/$1" init --repo "$T/$1.repo"
	[ "$RC" -eq 0 ] || not_ok "$1: backup init" "exit $RC: $ERR"
}

# A field of the one snapshot of REPO, from `backup list --json`.
list_field() {
	local store=$1 repo=$2 expr=$3
	bk "$store" list --repo "$repo" --json
	python3 -c 'import json, sys; s = json.load(sys.stdin)[-1]; print(json.dumps(eval(sys.argv[1])))' "$expr" <<<"$OUT"
}

# ---- 1. directories nested 1100 deep ----

new_store deep
# The home's first directory has a name that sets the terminal's title.
NEST="nest/title${ESC}]0;owned${BEL}"
mkdir -p "$T/deep/state/$NEST"
echo kept >"$T/deep/state/$NEST/keep.txt"
python3 - "$T/deep/state/$NEST" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for _ in range(1100):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
with open(os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
    f.write("bottom\n")
EOF
bk "$T/deep" create --repo "$T/deep.repo"
SNAP=$(snap_id "$OUT")
check "1100 deep: backup create saves a snapshot (exit 3: saved, but incomplete)" "exit $RC; stdout: $OUT; stderr: ${ERR:0:300}" \
	test "$RC" -eq 3 -a -n "$SNAP"
# The 1023rd "d" is the first beyond 1024 levels below the store (state,
# nest, title..., 1021 d's): left out, named once, by its start (the
# instance) and its end.
WARN=$(grep -c '^spectrum: backup create: skipped ' <<<"$ERR")
LINE=$(grep '^spectrum: backup create: skipped ' <<<"$ERR" | head -n 1)
check "1100 deep: one warning line, naming the directory by its start (state/nest/) and end, with the reason whole" \
	"$WARN lines: $(cat -v <<<"${LINE:0:200} ... ${LINE: -120}")" \
	bash -c '[ "$1" -eq 1 ] && [[ "$2" == "spectrum: backup create: skipped state/nest/..."*"/d/d/d: deeper than 1024 directories" ]] && [ "${#2}" -le 480 ]' _ "$WARN" "$LINE"
check "1100 deep: no control character of the names reaches stderr" "$(cat -v "$T/bk.err" | cut -c 1-200)" \
	bash -c '! LC_ALL=C grep -q "[[:cntrl:]]" "$1"' _ "$T/bk.err"
check "1100 deep: a last line says the snapshot is incomplete" "$ERR" \
	grep -qx "spectrum: backup create: snapshot ${SNAP:0:8} is incomplete: 1 entry could not be read consistently and was left out (named above)" <<<"$ERR"
SKIPPED=$(list_field "$T/deep" "$T/deep.repo" '[s["complete"], s["skipped"], len(s["skipped_paths"]), s["skipped_paths"][0][:14], s["skipped_paths"][0][-6:]]')
check "1100 deep: backup list --json records it incomplete, with the path" "$SKIPPED" \
	test "$SKIPPED" = '[false, 1, 1, "state/nest/...", "/d/d/d"]'
bk "$T/deep" list --repo "$T/deep.repo"
check "1100 deep: backup list marks it incomplete" "$OUT" grep -q "^${SNAP:0:8} .* incomplete: 1 skipped\$" <<<"$OUT"
bk "$T/deep" restore latest --repo "$T/deep.repo" --to "$T/deep.restored"
LEVELS=$(cd "$T/deep.restored/state/$NEST" 2>/dev/null && find . -type d -name d | wc -l)
check "1100 deep: the snapshot restores, with everything above the cut (keep.txt, 1021 levels)" \
	"restore exit $RC: $ERR; levels: $LEVELS" \
	bash -c '[ "$1" -eq 0 ] && [ "$(cat "$2/keep.txt")" = kept ] && [ "$3" -eq 1021 ]' _ "$RC" "$T/deep.restored/state/$NEST" "$LEVELS"

# ---- 2. a 15 TiB sparse file ----

new_store sparse
mkdir -p "$T/sparse/state/app"
BIG=$T/sparse/state/app/sparse
SIZE=$((15 * 1024 * 1024 * MiB))
head -c "$MiB" /dev/urandom >"$T/first.mib"
head -c "$MiB" /dev/urandom >"$T/last.mib"
if truncate -s 15T "$BIG" && dd if="$T/first.mib" of="$BIG" conv=notrunc status=none &&
	dd if="$T/last.mib" of="$BIG" bs="$MiB" seek=$((SIZE / MiB - 1)) conv=notrunc status=none; then
	ok "sparse: a 15 TiB file with 1 MiB of data at each end ($(du -k "$BIG" | cut -f 1) KiB on disk)"
else
	not_ok "sparse: a 15 TiB sparse file can be made in $T" "$(df -T "$T" | tail -n 1)"
fi
START=$(date +%s%N)
bk "$T/sparse" create --repo "$T/sparse.repo"
MS=$((($(date +%s%N) - START) / 1000000))
note "backup create of the 15 TiB sparse file: $MS ms"
check "sparse: backup create completes (within the 120 s timeout) with exit 0" "exit $RC after $MS ms; $OUT; $ERR" \
	test "$RC" -eq 0 -a -n "$(snap_id "$OUT")"
BYTES=$(list_field "$T/sparse" "$T/sparse.repo" 's["bytes"]')
check "sparse: the snapshot holds all 15 TiB" "bytes: $BYTES" test "$BYTES" = "$SIZE"
bk "$T/sparse" create --repo "$T/sparse.repo"
check "sparse: a second backup (the file unchanged) exits 0 too" "exit $RC; $ERR" test "$RC" -eq 0
bk "$T/sparse" verify --repo "$T/sparse.repo" --read-data
check "sparse: backup verify --read-data finds the repository whole" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
START=$(date +%s%N)
bk "$T/sparse" restore latest --repo "$T/sparse.repo" --to "$T/sparse.restored"
MS=$((($(date +%s%N) - START) / 1000000))
R=$T/sparse.restored/state/app/sparse
note "backup restore of the 15 TiB sparse file: exit $RC, $MS ms; $(du -k "$R" 2>&1 | cut -f 1) KiB on disk"
check "sparse: the restore exits 0, the file has the same size, the same first and last MiB, and stays sparse (< 16 MiB on disk)" \
	"exit $RC: $ERR" \
	bash -c '[ "$1" -eq 0 ] && [ "$(stat -c %s "$2")" = "$3" ] && cmp -n "$4" "$2" "$5" &&
		tail -c "$4" "$2" | cmp - "$6" && [ "$(du -k "$2" | cut -f 1)" -lt 16384 ]' _ \
	"$RC" "$R" "$SIZE" "$MiB" "$T/first.mib" "$T/last.mib"

# ---- 3. a file and a directory swapped while backups run ----

new_store swap
mkdir -p "$T/swap/data/race"
for i in $(seq 1 40); do
	head -c $((256 * 1024)) /dev/urandom >"$T/swap/data/race/f$i"
	mkdir "$T/swap/data/race/d$i"
	echo "in d$i" >"$T/swap/data/race/d$i/inner"
done
# The swapper: RENAME_EXCHANGE of f$i and d$i, round after round, until
# told to stop (or at most 120 s); it prints how many swaps it made.
cat >"$T/swapper.py" <<'EOF'
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
RENAME_EXCHANGE = 2
AT_FDCWD = -100
race, stop = sys.argv[1], sys.argv[2]
pairs = [(os.fsencode(f"{race}/f{i}"), os.fsencode(f"{race}/d{i}")) for i in range(1, 41)]
n, end = 0, time.monotonic() + 120
while not os.path.exists(stop) and time.monotonic() < end:
    for a, b in pairs:
        if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
            sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
        n += 1
print(n)
EOF
python3 "$T/swapper.py" "$T/swap/data/race" "$T/swap.stop" >"$T/swap.count" 2>"$T/swap.err" &
SWAPPER=$!
BG_PIDS+=("$SWAPPER")
CODES=()
SAVED=0
SKIPS=0
for i in $(seq 1 10); do
	bk "$T/swap" create --repo "$T/swap.repo"
	CODES+=("$RC")
	[ -n "$(snap_id "$OUT")" ] && SAVED=$((SAVED + 1))
	SKIPS=$((SKIPS + $(grep -c -e ': changed type while being read$' -e ': replaced while being read$' -e ': vanished while being read$' <<<"$ERR")))
	if [ "$RC" -ne 0 ] && [ "$RC" -ne 3 ]; then
		note "swap: create $i: exit $RC: ${ERR:0:300}"
	fi
done
touch "$T/swap.stop"
wait "$SWAPPER"
SWAPS=$(cat "$T/swap.count")
note "swap: exit codes ${CODES[*]}; $SKIPS entries left out as changed while read; $SWAPS swaps"
check "swap: all 10 backups save a snapshot and exit 0 or 3, never 1" "exit codes: ${CODES[*]}; saved: $SAVED" \
	bash -c '[ "$1" -eq 10 ] && ! grep -qvx "[03]" <<<"$2"' _ "$SAVED" "$(printf '%s\n' "${CODES[@]}")"
check "swap: the swapper ran all along (more than 1000 swaps, no error)" "swaps: $SWAPS; $(cat "$T/swap.err")" \
	bash -c '[ -n "$1" ] && [ "$1" -gt 1000 ] && [ ! -s "$2" ]' _ "$SWAPS" "$T/swap.err"
bk "$T/swap" verify --repo "$T/swap.repo"
check "swap: the repository verifies whole afterwards" "exit $RC; $OUT; $ERR" test "$RC" -eq 0

# ---- 4. a file removed between the listing and its reading ----

new_store gone
mkdir -p "$T/gone/data/many"
for i in $(seq -w 0 599); do
	head -c $((32 * 1024)) /dev/urandom >"$T/gone/data/many/a$i"
done
GONE="zz-gone${ESC}]0;pwned${BEL}${ESC}[2J"$'\n'"x"
echo doomed >"$T/gone/data/many/$GONE"
# Removes the file as soon as the backup opens the first file of the
# directory: its listing is complete by then, and the file's turn comes
# after the 600 others.
cat >"$T/remover.py" <<'EOF'
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
IN_OPEN = 0x20
d, first, victim, ready = sys.argv[1], os.fsencode(sys.argv[2]), os.fsencode(sys.argv[3]), sys.argv[4]
fd = libc.inotify_init1(0)
if fd < 0 or libc.inotify_add_watch(fd, os.fsencode(d), IN_OPEN) < 0:
    sys.exit("inotify: " + os.strerror(ctypes.get_errno()))
open(ready, "w").close()
while True:
    buf = os.read(fd, 65536)
    off = 0
    while off < len(buf):
        wd, mask, cookie, length = struct.unpack_from("iIII", buf, off)
        name = buf[off + 16:off + 16 + length].rstrip(b"\0")
        off += 16 + length
        if name == first:
            os.unlink(os.path.join(os.fsencode(d), victim))
            print("removed")
            sys.exit(0)
EOF
timeout 60 python3 "$T/remover.py" "$T/gone/data/many" a000 "$GONE" "$T/remover.ready" >"$T/remover.out" 2>&1 &
REMOVER=$!
BG_PIDS+=("$REMOVER")
for _ in $(seq 1 100); do
	[ -e "$T/remover.ready" ] && break
	sleep 0.05
done
bk "$T/gone" create --repo "$T/gone.repo"
wait "$REMOVER"
check "vanished: the file was removed during the backup" "$(cat "$T/remover.out")" grep -qx removed "$T/remover.out"
check "vanished: backup create saves a snapshot, exit 3" "exit $RC; $OUT; $ERR" test "$RC" -eq 3 -a -n "$(snap_id "$OUT")"
check "vanished: one warning names the file, its escape sequences shown escaped" "$(cat -v <<<"$ERR")" \
	grep -qxF 'spectrum: backup create: skipped data/many/zz-gone\e]0;pwned\x07\e[2J\nx: vanished while being read' <<<"$ERR"
check "vanished: no control character of the name reaches stderr" "$(cat -v <<<"$ERR")" \
	bash -c '! LC_ALL=C grep -q "[[:cntrl:]]" "$1"' _ "$T/bk.err"
FILES=$(list_field "$T/gone" "$T/gone.repo" '[s["files"], s["skipped"], s["skipped_paths"]]')
check "vanished: the snapshot holds the 600 others and names the one left out" "$FILES" \
	test "$FILES" = '[600, 1, ["data/many/zz-gone\\e]0;pwned\\x07\\e[2J\\nx"]]'

finish
