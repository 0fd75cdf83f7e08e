#!/bin/bash
# spectrum backup: a store with every kind of file comes back from a
# snapshot byte for byte and metadata for metadata (modes with the sticky
# bit, nanosecond times, symlinks, hard links, a sparse file, a fifo,
# user.* xattrs) but for what a store never holds (setuid/setgid bits,
# device nodes, owners other than the store's, top directories others can
# enter: backup-restore-safety.sh tests those); a second snapshot after a small
# change stores little (content-defined chunks survive an insertion), a
# third of an unchanged tree almost nothing; a flipped byte in a pack is
# found by `verify --read-data` naming the snapshot and the file, a flipped
# byte in an index file loses nothing; a backup killed at any moment leaves
# the earlier snapshots whole; the errors (wrong passphrase, no or newer
# repository, no repository given) change nothing; an encrypted repository
# holds no plain text; restore in place of one instance or of everything,
# refused while the instance runs; prune keeps what it says.
#
# Usage: backup.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016,SC2317 # single-quoted scripts take their values as arguments; helpers run through wait_for
set -u

. "$(dirname "$0")/lib.sh" "$@"

unset SPECTRUM_BACKUP_REPO SPECTRUM_PASSPHRASE
setup_store

MiB=$((1024 * 1024))
TOOLS=$T/tools
mkdir -p "$TOOLS"

# ---- helpers ----

. "$(dirname "$0")/backuplib.sh"
# Each backup command here gets 180 s (the other backup tests, 120 s).
BK_DEFAULT_TIMEOUT=180

# snapshot WHAT STORE REPO [ARGS...]: backup create; checks exit 0 and its
# one line; sets SNAP (empty on failure).
snapshot() {
	local what=$1 store=$2 repo=$3
	shift 3
	bk "$store" create --repo "$repo" "$@"
	SNAP=$(snap_id "$OUT")
	if [ "$RC" -eq 0 ] && [ -n "$SNAP" ] && [ "$(wc -l <<<"$OUT")" -eq 1 ]; then
		ok "$what: backup create prints one line \"snapshot ID saved: ...\" (${OUT:0:160})"
	else
		not_ok "$what: backup create succeeds with one line \"snapshot ID saved: ...\"" "exit $RC; stdout: $OUT; stderr: $ERR"
		SNAP=""
	fi
}

# du -sb of a directory (apparent bytes).
size_of() {
	du -sb "$1" | cut -f 1
}

# Every file of a directory with its hash, and every directory: what
# "nothing changed" compares.
listing() {
	(cd "$1" && find . -printf '%y %m %U:%G %s %T@ %p\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# Compares two trees: type, mode (with setuid/setgid/sticky), owner, mtime
# in nanoseconds, size, contents, symlink targets, device numbers, xattrs,
# hard-link groups; the sparse files named stay sparse.  DST is a restore
# of SRC unless --as-is: it holds what a restore of a store makes of SRC
# (no setuid/setgid bits, no device nodes, only user.* xattrs, every entry
# owned by DST's owner, the directories at the top, or the root with
# --root, 0700).
cat >"$TOOLS/cmp.py" <<'EOF'
import os, stat, sys

def usage():
    sys.exit("usage: cmp.py SRC DST [--top a,b [--only-top]] [--root] [--as-is] [--sparse REL:MAXBYTES]...")

args = sys.argv[1:]
if len(args) < 2:
    usage()
src, dst = os.fsencode(args[0]), os.fsencode(args[1])
top = None
only_top = False
with_root = False
as_is = False
sparse = []
i = 2
while i < len(args):
    if args[i] == "--top":
        top = set(os.fsencode(x) for x in args[i + 1].split(",")); i += 2
    elif args[i] == "--only-top":
        only_top = True; i += 1
    elif args[i] == "--root":
        with_root = True; i += 1
    elif args[i] == "--as-is":
        as_is = True; i += 1
    elif args[i] == "--sparse":
        rel, mx = args[i + 1].rsplit(":", 1); sparse.append((os.fsencode(rel), int(mx))); i += 2
    else:
        usage()

def walk(root):
    out = {}
    if with_root:
        out[b"."] = os.lstat(root)
    names = sorted(os.listdir(root))
    for n in names:
        if top is not None and n not in top:
            continue
        p = os.path.join(root, n)
        out[n] = os.lstat(p)
        if stat.S_ISDIR(out[n].st_mode):
            for dp, dns, fns in os.walk(p):
                for m in dns + fns:
                    q = os.path.join(dp, m)
                    out[os.path.relpath(q, root)] = os.lstat(q)
    return out

def extra_top(root):
    if top is None or not only_top:
        return []
    return [n for n in os.listdir(root) if n not in top]

def xattrs(p):
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError:
        return {}
    return {n: os.getxattr(p, n, follow_symlinks=False) for n in names}

def same_content(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True

def kind(m):
    for f, k in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                 (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "chr"), (stat.S_ISBLK, "blk"),
                 (stat.S_ISSOCK, "socket")):
        if f(m):
            return k
    return "?"

def groups(tree, root):
    by_ino = {}
    for rel, st in tree.items():
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            by_ino.setdefault((st.st_dev, st.st_ino), set()).add(rel)
    return set(frozenset(g) for g in by_ino.values() if len(g) > 1)

a, b = walk(src), walk(dst)
diffs = []
owner = os.lstat(dst)

def restored_mode(rel, st):
    """The mode a restore of a store gives an entry of mode ST."""
    if as_is:
        return stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode) and (rel == b"." or (top is not None and os.sep.encode() not in rel)):
        return 0o700
    return stat.S_IMODE(st.st_mode) & ~0o6000

def restored_owner(st):
    return (st.st_uid, st.st_gid) if as_is else (owner.st_uid, owner.st_gid)

def restored_xattrs(x):
    return x if as_is else {n: v for n, v in x.items() if n.startswith("user.")}

if not as_is:
    # Device nodes are not made.
    a = {rel: st for rel, st in a.items() if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode))}
def d(rel, what):
    diffs.append("%s: %s" % (os.fsdecode(rel), what))

for n in extra_top(dst):
    d(n, "extra entry at the top of the restored tree")
for rel in sorted(set(a) - set(b)):
    d(rel, "missing")
for rel in sorted(set(b) - set(a)):
    d(rel, "extra")
for rel in sorted(set(a) & set(b)):
    sa, sb = a[rel], b[rel]
    pa, pb = os.path.join(src, rel), os.path.join(dst, rel)
    if kind(sa.st_mode) != kind(sb.st_mode):
        d(rel, "type %s, restored %s" % (kind(sa.st_mode), kind(sb.st_mode)))
        continue
    if restored_mode(rel, sa) != stat.S_IMODE(sb.st_mode):
        d(rel, "mode %o, restored %o (%o expected)" % (stat.S_IMODE(sa.st_mode), stat.S_IMODE(sb.st_mode),
                                                        restored_mode(rel, sa)))
    if restored_owner(sa) != (sb.st_uid, sb.st_gid):
        d(rel, "owner %d:%d, restored %d:%d (%d:%d expected)" % ((sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid)
                                                               + restored_owner(sa)))
    if sa.st_mtime_ns != sb.st_mtime_ns:
        d(rel, "mtime %d ns, restored %d ns" % (sa.st_mtime_ns, sb.st_mtime_ns))
    if stat.S_ISREG(sa.st_mode):
        if sa.st_size != sb.st_size:
            d(rel, "size %d, restored %d" % (sa.st_size, sb.st_size))
        elif not same_content(pa, pb):
            d(rel, "contents differ")
    if stat.S_ISLNK(sa.st_mode) and os.readlink(pa) != os.readlink(pb):
        d(rel, "symlink target %r, restored %r" % (os.readlink(pa), os.readlink(pb)))
    if (stat.S_ISCHR(sa.st_mode) or stat.S_ISBLK(sa.st_mode)) and sa.st_rdev != sb.st_rdev:
        d(rel, "device %x, restored %x" % (sa.st_rdev, sb.st_rdev))
    xa, xb = restored_xattrs(xattrs(pa)), xattrs(pb)
    if xa != xb:
        d(rel, "xattrs %r, restored %r" % (xa, xb))
ga, gb = groups(a, src), groups(b, dst)
for g in ga - gb:
    diffs.append("hard-link group %s not restored as one" % sorted(os.fsdecode(x) for x in g))
for g in gb - ga:
    diffs.append("restored hard-link group %s is not one in the source" % sorted(os.fsdecode(x) for x in g))
for rel, mx in sparse:
    st = os.lstat(os.path.join(dst, rel))
    if st.st_blocks * 512 > mx:
        diffs.append("%s: not sparse: %d bytes allocated for %d (at most %d wanted)"
                     % (os.fsdecode(rel), st.st_blocks * 512, st.st_size, mx))
if diffs:
    print("%d differences: %s" % (len(diffs), "; ".join(diffs[:25])))
    sys.exit(1)
print("identical: %d entries, %d hard-link groups" % (len(a), len(ga)))
EOF

# same WHAT SRC DST [cmp.py options]: one TAP line.
same() {
	local what=$1 src=$2 dst=$3 out
	shift 3
	if out=$(python3 "$TOOLS/cmp.py" "$src" "$dst" "$@" 2>&1); then
		ok "$what ($out)"
	else
		not_ok "$what" "$out"
	fi
}

# The whole snapshot's layout.
TOP=data,state,generations,current

# flip FILE [OFFSET]: inverts one byte (the middle one by default).
flip() {
	python3 - "$1" "${2:-}" <<'EOF'
import os, sys
p = sys.argv[1]
n = os.path.getsize(p)
off = int(sys.argv[2]) if sys.argv[2] else n // 2
with open(p, "r+b") as f:
    f.seek(off)
    c = f.read(1)
    f.seek(off)
    f.write(bytes([c[0] ^ 0xFF]))
print("flipped byte %d of %d in %s" % (off, n, p))
EOF
}

# json_ids JSON: the ids of `list --json`, one a line, in its order.
json_ids() {
	python3 -c 'import json, sys; [print(s["id"]) for s in json.loads(sys.argv[1])]' "$1" 2>/dev/null
}

# random_file PATH BYTES
random_file() {
	head -c "$2" /dev/urandom >"$1"
}

# text_file PATH BYTES SEED: lines of words, compressible but not trivially.
text_file() {
	python3 - "$1" "$2" "$3" <<'EOF'
import random, sys
path, size, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = random.Random(seed)
words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 10))) for _ in range(5000)]
out, n = [], 0
while n < size:
    line = " ".join(r.choice(words) for _ in range(r.randint(3, 14))) + "\n"
    out.append(line)
    n += len(line)
with open(path, "w") as f:
    f.write("".join(out)[:size])
EOF
}

if ! "$SPECTRUM" backup --help 2>&1 | grep -q 'init'; then
	echo "Bail out! spectrum has no backup command"
	exit 1
fi

# =====================================================================
# 1. Round trip: every kind of file.
# =====================================================================

S1=$T/s1
R1=$T/r1
mkdir -p "$S1/data/deep/a/b/c" "$S1/data/shared" "$S1/data/ro-dir" "$S1/data/owned-dir" "$S1/data/many" \
	"$S1/state/writer-work/Documents" "$S1/state/other/.config" "$S1/generations/1" "$S1/generations/2"
: >"$S1/data/empty"
echo "small file" >"$S1/data/small.txt"
text_file "$S1/data/text.txt" 300000 t1
random_file "$S1/data/random.bin" $((5 * MiB))
echo nested >"$S1/data/deep/a/b/c/nested.txt"
printf 'secret\n' >"$S1/data/secret"
chmod 0600 "$S1/data/secret"
printf '#!/bin/sh\necho hi\n' >"$S1/data/script.sh"
chmod 0755 "$S1/data/script.sh"
printf 'suid\n' >"$S1/data/suid"
chmod 4755 "$S1/data/suid"
printf 'suid, not root\n' >"$S1/data/suid-owned"
chown 1234:5678 "$S1/data/suid-owned"
chmod 6755 "$S1/data/suid-owned"
chmod 1777 "$S1/data/shared"
echo x >"$S1/data/shared/in-sticky"
echo "in a read-only dir" >"$S1/data/ro-dir/f"
echo owned >"$S1/data/owned-dir/f"
chown 1234:5678 "$S1/data/owned-dir" "$S1/data/owned-dir/f"
chmod 0700 "$S1/data/owned-dir"
: >"$S1/data/nothing"
chmod 0000 "$S1/data/nothing"
echo "spaces" >"$S1/data/name with spaces"
echo "unicode" >"$S1/data/ünïcödé-名前"
echo "newline" >"$S1/data/new"$'\n'"line"
echo "long" >"$S1/data/$(printf 'L%.0s' {1..250})"
for i in $(seq 1 300); do echo "file $i" >"$S1/data/many/f$i"; done
ln -s small.txt "$S1/data/link-rel"
ln -s ../../../small.txt "$S1/data/deep/a/b/link-up"
ln -s /etc/hostname "$S1/data/link-abs"
ln -s nonexistent/target "$S1/data/link-dangling"
ln -s deep "$S1/data/link-to-dir"
chown -h 1234:5678 "$S1/data/link-rel"
echo "one inode, three names" >"$S1/data/hard1"
ln "$S1/data/hard1" "$S1/data/deep/a/hard2"
ln "$S1/data/hard1" "$S1/state/writer-work/hard3"
echo "second group" >"$S1/data/deep/hl-x"
ln "$S1/data/deep/hl-x" "$S1/data/deep/a/b/hl-y"
truncate -s 100M "$S1/data/sparse.img"
head -c "$MiB" /dev/urandom | dd of="$S1/data/sparse.img" bs=64K seek=640 conv=notrunc status=none
truncate -s 50M "$S1/data/all-hole.img"
mkfifo -m 0640 "$S1/state/writer-work/fifo"
HAVE_MKNOD=1
mknod -m 0620 "$S1/state/writer-work/nulldev" c 1 3 2>/dev/null || HAVE_MKNOD=0
echo "notes of writer-work" >"$S1/state/writer-work/Documents/notes.txt"
echo "config" >"$S1/state/other/.config/settings"
echo '{"instances": {}}' >"$S1/generations/1/plan.json"
echo '{"instances": {"x": {}}}' >"$S1/generations/2/plan.json"
ln -s generations/2 "$S1/current"
python3 - "$S1" <<'EOF'
import os, sys
r = sys.argv[1]
os.setxattr(r + "/data/small.txt", "user.comment", b"a comment")
os.setxattr(r + "/data/small.txt", "user.empty", b"")
os.setxattr(r + "/data/random.bin", "user.binary", bytes(range(256)))
os.setxattr(r + "/data/deep", "user.dir", b"on a directory")
os.setxattr(r + "/state/writer-work/Documents/notes.txt", "user.origin", b"writer")
EOF
chmod 0555 "$S1/data/ro-dir"
# Times last (deepest first), with nanoseconds, symlinks too.
n=0
while IFS= read -r -d '' p; do
	n=$((n + 1))
	touch -h -d "2001-02-03 04:05:06.$(printf '%09d' $((123456789 + n * 1000003)))" "$p"
done < <(find "$S1/data" "$S1/state" "$S1/generations" "$S1/current" -depth -print0)

note "store 1: $(find "$S1" | wc -l) entries, $(du -sh "$S1" | cut -f 1) on disk; device node: $HAVE_MKNOD"
SRC_SPARSE_BLOCKS=$(stat -c %b "$S1/data/sparse.img")
echo "# source sparse.img: $(stat -c '%s bytes, %b blocks of %B' "$S1/data/sparse.img")"

bk "$S1" init --repo "$R1"
check "init: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
check "init: config, snapshots/, index/, packs/, tmp/ are there" "$(ls -la "$R1" 2>&1)" \
	test -f "$R1/config" -a -d "$R1/snapshots" -a -d "$R1/index" -a -d "$R1/packs" -a -d "$R1/tmp"
check "init: the lock file is there" "$(ls -la "$R1" 2>&1)" test -f "$R1/lock"
check "init: config is JSON with \"format\": 2" "$(cat "$R1/config" 2>&1)" \
	python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); sys.exit(0 if c.get("format") == 2 else 1)' "$R1/config"
before=$(listing "$R1")
bk "$S1" init --repo "$R1"
check "init of an existing repository: exit 1, nothing changed" "exit $RC; $ERR" \
	test "$RC" -eq 1 -a "$before" = "$(listing "$R1")"

snapshot "round trip" "$S1" "$R1"
SNAP1=$SNAP
# The first backup of a store to a repository announces it (issue 22),
# nothing else.
check "round trip: create prints on stderr only the announcement of a new repository" "$ERR" \
	bash -c '[ "$(wc -l <<<"$1")" -eq 1 ] && grep -q "^spectrum: backup create: new repository [0-9a-f]\{32\} at $2 (first backup of this store there), NOT ENCRYPTED$" <<<"$1"' \
	_ "$ERR" "$R1"

bk "$S1" restore "$SNAP1" --to "$T/r1-full" --repo "$R1"
check "round trip: restore --to a new dir: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
same "round trip: the restored store equals the original in every type, mode, owner, time, content, link, xattr" \
	"$S1" "$T/r1-full" --top "$TOP" --only-top --sparse "data/sparse.img:$((4 * MiB))" --sparse "data/all-hole.img:$MiB"
check "round trip: cmp of the 5 MiB random file" "$(cmp "$S1/data/random.bin" "$T/r1-full/data/random.bin" 2>&1)" \
	cmp -s "$S1/data/random.bin" "$T/r1-full/data/random.bin"
check "round trip: cmp of the sparse file" "$(cmp "$S1/data/sparse.img" "$T/r1-full/data/sparse.img" 2>&1)" \
	cmp -s "$S1/data/sparse.img" "$T/r1-full/data/sparse.img"
echo "# restored sparse.img: $(stat -c '%s bytes, %b blocks of %B' "$T/r1-full/data/sparse.img" 2>&1) (source: $SRC_SPARSE_BLOCKS blocks)"
dr=$(diff -r --no-dereference "$S1/data" "$T/r1-full/data" 2>&1)
check "round trip: diff -r of data/" "$dr" test -z "$dr"
# A store never holds setuid/setgid bits, device nodes or another
# owner than its own (backup-restore-safety.sh): they are left out and said.
check "round trip: a 6755 file of 1234:5678 comes back 0755 root:root (stat)" \
	"$(stat -c '%a %u:%g' "$T/r1-full/data/suid-owned" 2>&1)" \
	test "$(stat -c '%a %u:%g' "$T/r1-full/data/suid-owned" 2>&1)" = "755 0:0"
if [ "$HAVE_MKNOD" = 1 ]; then
	dropped="dropped 3 things a store never holds: 2 setuid/setgid modes, 1 device node"
else
	dropped="dropped 2 things a store never holds: 2 setuid/setgid modes"
fi
check "round trip: stderr says in one line what was left out" "$ERR" \
	test "$ERR" = "spectrum: backup restore: $dropped"
check "round trip: the hard link across data/ and state/ (same inode)" \
	"$(stat -c '%i %h %n' "$T/r1-full/data/hard1" "$T/r1-full/state/writer-work/hard3" 2>&1)" \
	test "$(stat -c %i "$T/r1-full/data/hard1" 2>&1)" = "$(stat -c %i "$T/r1-full/state/writer-work/hard3" 2>&1)"
check "round trip: the fifo is a fifo" "$(ls -l "$T/r1-full/state/writer-work" 2>&1)" test -p "$T/r1-full/state/writer-work/fifo"
if [ "$HAVE_MKNOD" = 1 ]; then
	check "round trip: the device node is not made" "$(ls -l "$T/r1-full/state/writer-work" 2>&1)" \
		test ! -e "$T/r1-full/state/writer-work/nulldev" -a ! -L "$T/r1-full/state/writer-work/nulldev"
fi

# Restore by prefix, and of one instance.
bk "$S1" restore "${SNAP1:0:8}" --instance writer-work --to "$T/r1-inst" --repo "$R1"
check "restore by an 8-hex prefix with --instance: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
got=$(cd "$T/r1-inst" 2>/dev/null && find . -maxdepth 2 | sort | tr '\n' ' ')
check "restore --instance --to: only state/writer-work" "got: $got" test "$got" = ". ./state ./state/writer-work "
same "restore --instance --to: state/writer-work equals the original" \
	"$S1/state/writer-work" "$T/r1-inst/state/writer-work" --root

bk "$S1" restore latest --to "$T/r1-latest" --repo "$R1"
check "restore latest: exit 0, the same files" "exit $RC; $ERR" \
	cmp -s "$S1/data/random.bin" "$T/r1-latest/data/random.bin"

mkdir -p "$T/r1-nonempty"
echo keep >"$T/r1-nonempty/keep"
bk "$S1" restore "$SNAP1" --to "$T/r1-nonempty" --repo "$R1"
check "restore --to a non-empty dir: exit 1, the dir unchanged" "exit $RC; $ERR; $(ls -A "$T/r1-nonempty")" \
	test "$RC" -eq 1 -a "$(ls -A "$T/r1-nonempty")" = keep
bk "$S1" restore "${SNAP1:0:7}" --to "$T/r1-short" --repo "$R1"
check "restore of a 7-hex prefix is refused" "exit $RC; $ERR" test "$RC" -ne 0 -a ! -e "$T/r1-short/data"
bk "$S1" restore 0000000000000000 --to "$T/r1-none" --repo "$R1"
check "restore of an unknown snapshot: exit 1" "exit $RC; $ERR" test "$RC" -eq 1
rm -rf "$T/r1-full" "$T/r1-latest" "$T/r1-inst"

# =====================================================================
# 2-3. Dedup: a 400 KiB insertion into a 112 MiB file stores about that
#      (measured: 1-2.2 MiB with 512 KiB chunks; a fixed-size chunker would
#      store the 56 MiB after it again).
# =====================================================================

S2=$T/s2
R2=$T/r2
mkdir -p "$S2/data/text" "$S2/state/app"
random_file "$S2/data/big1.bin" $((112 * MiB))
random_file "$S2/data/big2.bin" $((16 * MiB))
for i in $(seq 1 8); do text_file "$S2/data/text/t$i.txt" $((2 * MiB)) "d$i"; done
for i in 1 2 3; do echo "small $i" >"$S2/state/app/small$i"; done
echo "a small text" >"$S2/data/text/readme"
DATA2=$(size_of "$S2")
note "store 2: $((DATA2 / 1024)) KiB"

bk "$S2" init --repo "$R2"
check "dedup: init" "exit $RC; $ERR" test "$RC" -eq 0
snapshot "dedup 1" "$S2" "$R2"
SNAP2A=$SNAP
size_a=$(size_of "$R2")
note "repository after the first snapshot: $((size_a / 1024)) KiB"

# Insert 400 KiB of random bytes in the middle of big1 (shifting the
# rest), append to two small files, touch a third.
mv "$S2/data/big1.bin" "$T/big1.orig"
{
	head -c $((56 * MiB)) "$T/big1.orig"
	head -c $((400 * 1024)) /dev/urandom
	tail -c +$((56 * MiB + 1)) "$T/big1.orig"
} >"$S2/data/big1.bin"
echo "changed" >>"$S2/state/app/small1"
echo "changed" >>"$S2/data/text/readme"
touch -d '2020-01-01 00:00:00' "$S2/state/app/small2"

snapshot "dedup 2" "$S2" "$R2"
SNAP2B=$SNAP
size_b=$(size_of "$R2")
growth=$((size_b - size_a))
bound=$((DATA2 * 3 / 100))
note "second snapshot after a 400 KiB insertion: the repository grew by $((growth / 1024)) KiB (bound $((bound / 1024)) KiB)"
check "dedup: growth after a 400 KiB insertion <= 3% of the data ($((growth / 1024)) KiB <= $((bound / 1024)) KiB)" \
	"grew by $growth bytes" test "$growth" -le "$bound"
check "dedup: the inserted 400 KiB of random bytes were stored (growth >= 400 KiB)" \
	"grew by $growth bytes" test "$growth" -ge $((400 * 1024))

snapshot "dedup 3 (unchanged)" "$S2" "$R2"
SNAP2C=$SNAP
size_c=$(size_of "$R2")
note "third snapshot of an unchanged store: the repository grew by $((size_c - size_b)) bytes"
check "unchanged: a third snapshot grows the repository by < 64 KiB" \
	"grew by $((size_c - size_b)) bytes" test $((size_c - size_b)) -lt 65536

bk "$S2" list --repo "$R2" --json
LIST2=$OUT
check "list --json: exit 0, an array of 3 with id, time, host, full, instances, files, bytes, added_bytes" \
	"exit $RC; $OUT; $ERR" python3 -c '
import json, sys
l = json.loads(sys.argv[1])
keys = {"id", "time", "host", "full", "instances", "files", "bytes", "added_bytes"}
sys.exit(0 if isinstance(l, list) and len(l) == 3 and all(keys <= set(s) for s in l) else 1)' "$OUT"
check "list --json: the ids are those create printed" "$(json_ids "$LIST2" | tr '\n' ' ')" \
	test "$(json_ids "$LIST2" | sort)" = "$(printf '%s\n' "$SNAP2A" "$SNAP2B" "$SNAP2C" | sort)"
check "list --json: the unchanged snapshot added < 64 KiB, the full ones are full" "$LIST2" python3 -c '
import json, sys
l = {s["id"]: s for s in json.loads(sys.argv[1])}
c = l[sys.argv[2]]
sys.exit(0 if c["added_bytes"] < 65536 and all(s["full"] is True for s in l.values()) else 1)' "$LIST2" "$SNAP2C"
bk "$S2" list --repo "$R2"
check "list (text): exit 0, names the three snapshots by their 8-hex prefix" "exit $RC; $OUT" \
	bash -c '[ "$1" -eq 0 ] && grep -q "${2:0:8}" <<<"$3" && grep -q "${4:0:8}" <<<"$3" && grep -q "${5:0:8}" <<<"$3"' \
	_ "$RC" "$SNAP2A" "$OUT" "$SNAP2B" "$SNAP2C"

bk "$S2" restore "$SNAP2B" --to "$T/r2-b" --repo "$R2"
check "dedup: restore of the second snapshot: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
same "dedup: the second snapshot restores equal to the store" "$S2" "$T/r2-b" --top "$TOP" --only-top
rm -rf "$T/r2-b"
bk "$S2" restore "$SNAP2A" --to "$T/r2-a" --repo "$R2"
check "dedup: the first snapshot restores the file as it was before the insertion (cmp)" \
	"exit $RC; $ERR; $(cmp "$T/big1.orig" "$T/r2-a/data/big1.bin" 2>&1)" \
	cmp -s "$T/big1.orig" "$T/r2-a/data/big1.bin"
rm -rf "$T/r2-a" "$T/big1.orig" "$S2"

# =====================================================================
# 4. Corruption.
# =====================================================================

S4=$T/s4
R4=$T/r4
mkdir -p "$S4/data" "$S4/state/app"
random_file "$S4/data/a.bin" $((8 * MiB))
echo "app state" >"$S4/state/app/f"
bk "$S4" init --repo "$R4"
snapshot "corruption A" "$S4" "$R4"
SNAP4A=$SNAP
cp -a "$S4" "$T/ref4a"
packs_a=$(cd "$R4" && find packs -type f | sort)
random_file "$S4/data/b.bin" $((20 * MiB))
snapshot "corruption B" "$S4" "$R4"
SNAP4B=$SNAP
packs_new=$(cd "$R4" && comm -13 <(echo "$packs_a") <(find packs -type f | sort))
# The largest pack written by B: only b.bin's chunks (and B's trees).
victim=$(cd "$R4" && for p in $packs_new; do echo "$(stat -c %s "$p") $p"; done | sort -n | tail -n 1 | cut -d ' ' -f 2)
note "packs of A: $(tr '\n' ' ' <<<"$packs_a"); new packs of B: $(tr '\n' ' ' <<<"$packs_new"); damaged: $victim"

bk "$S4" verify --repo "$R4"
check "verify of an undamaged repository: exit 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
bk "$S4" verify --read-data --repo "$R4"
check "verify --read-data of an undamaged repository: exit 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0

cp -a "$R4" "$T/r4-pack"
flip "$T/r4-pack/$victim" | note "$(cat)"
bk "$S4" verify --read-data --repo "$T/r4-pack"
echo "# verify --read-data (damaged pack): exit $RC"
note "$OUT"
check "a flipped byte in a pack: verify --read-data exits 1" "exit $RC; $OUT; $ERR" test "$RC" -eq 1
check "a flipped byte in a pack: verify names snapshot B and data/b.bin" "$OUT" \
	grep -qE "^snapshot ${SNAP4B:0:8} .*: data/b\.bin: " <<<"$OUT"
check "a flipped byte in a pack of B only: verify does not call snapshot A damaged" "$OUT" \
	bash -c '! grep -q "^snapshot ${1:0:8} " <<<"$2"' _ "$SNAP4A" "$OUT"
check "a flipped byte in a pack: data/a.bin is not named" "$OUT" bash -c '! grep -qF "data/a.bin" <<<"$1"' _ "$OUT"
bk "$S4" restore "$SNAP4A" --to "$T/r4-pack-a" --repo "$T/r4-pack"
check "a flipped byte in a pack of B only: restore of A: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
same "a flipped byte in a pack of B only: A restores equal" "$T/ref4a" "$T/r4-pack-a" --top "$TOP" --only-top
bk "$S4" restore "$SNAP4B" --to "$T/r4-pack-b" --repo "$T/r4-pack"
rc_b=$RC
cmp -s "$S4/data/b.bin" "$T/r4-pack-b/data/b.bin" 2>/dev/null
cmp_b=$?
echo "# restore of the damaged snapshot B: exit $rc_b; $(first_line "$ERR")"
check "a flipped byte in a pack: restore of B does not succeed with a wrong b.bin" "exit $rc_b, cmp $cmp_b; $ERR" \
	test "$rc_b" -ne 0 -o "$cmp_b" -eq 0
check "a flipped byte in a pack: restore of B fails with a message" "exit $rc_b; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "^spectrum: backup" <<<"$2"' _ "$rc_b" "$ERR"
rm -rf "$T/r4-pack" "$T/r4-pack-a" "$T/r4-pack-b"

cp -a "$R4" "$T/r4-index"
idxfile=$(find "$T/r4-index/index" -mindepth 1 -maxdepth 1 -type f -printf '%f\n' | sort | head -n 1)
note "index files: $(find "$R4/index" -mindepth 1 -printf '%f ')damaged: $idxfile"
flip "$T/r4-index/index/$idxfile" | note "$(cat)"
bk "$S4" verify --read-data --repo "$T/r4-index"
echo "# verify --read-data (damaged index): exit $RC"
note "$OUT"
check "a flipped byte in an index file: verify --read-data exits 1" "exit $RC; $OUT; $ERR" test "$RC" -eq 1
check "a flipped byte in an index file: verify names the index file" "$OUT" grep -qF "$idxfile" <<<"$OUT"
check "a flipped byte in an index file: no snapshot is called damaged" "$OUT" \
	bash -c '! grep -q "^snapshot " <<<"$1"' _ "$OUT"
for s in A B; do
	id=SNAP4$s
	bk "$S4" restore "${!id}" --to "$T/r4-index-$s" --repo "$T/r4-index"
	check "a flipped byte in an index file: restore of $s: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
	if [ "$s" = A ]; then ref=$T/ref4a; else ref=$S4; fi
	same "a flipped byte in an index file: $s restores equal" "$ref" "$T/r4-index-$s" --top "$TOP" --only-top
done
rm -rf "$T"/r4-index* "$T/ref4a" "$S4" "$R4"

# =====================================================================
# 5. A backup killed at any moment.
# =====================================================================

S5=$T/s5
R5=$T/r5
mkdir -p "$S5/data/docs" "$S5/state/app"
for i in $(seq 1 20); do echo "doc $i" >"$S5/data/docs/d$i"; done
random_file "$S5/data/docs/blob" $((512 * 1024))
echo "state" >"$S5/state/app/f"
bk "$S5" init --repo "$R5"
snapshot "killed: the earlier good snapshot" "$S5" "$R5"
SNAP5=$SNAP
cp -a "$S5" "$T/ref5"
cp -a "$R5" "$T/r5-base"
# Each round puts the repository back as it was: the store's record of
# it goes back with it, or the store would see a rollback (issue 22).
cp -a "$S5/.backup" "$T/s5-record-base"
for i in $(seq 1 6); do random_file "$S5/data/big$i.bin" $((10 * MiB)); done
text_file "$S5/data/docs/text" $((2 * MiB)) k5

cp -a "$T/r5-base" "$T/r5-timing"
t0=$(date +%s%N)
bk "$S5" create --repo "$T/r5-timing"
t1=$(date +%s%N)
dur_ms=$(((t1 - t0) / 1000000))
note "an uninterrupted backup of $(du -sh "$S5" | cut -f 1): $dur_ms ms (exit $RC)"
rm -rf "$T/r5-timing"
# Kill times from 50 ms up to the backup's duration (at most 1.5 s).
max_ms=$dur_ms
[ "$max_ms" -gt 1500 ] && max_ms=1500
[ "$max_ms" -lt 200 ] && max_ms=200
killed=0
for i in $(seq 0 14); do
	delay_ms=$((50 + (max_ms - 50) * i / 14))
	rm -rf "$R5" "$S5/.backup"
	cp -a "$T/r5-base" "$R5"
	cp -a "$T/s5-record-base" "$S5/.backup"
	setsid "$SPECTRUM" --state-dir "$S5" --run-dir "$RUNDIR" backup create --repo "$R5" --quiet \
		</dev/null >"$T/kill.out" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
	if kill -KILL "$pid" 2>/dev/null; then
		how="killed after $delay_ms ms"
		killed=$((killed + 1))
	else
		how="finished before $delay_ms ms"
	fi
	wait "$pid" 2>/dev/null
	left=$(find "$R5/tmp" -mindepth 1 2>/dev/null | wc -l)
	bk "$S5" verify --repo "$R5"
	check "killed ($how, $left files left in tmp/): verify exits 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
	bk "$S5" list --repo "$R5" --json
	check "killed ($how): list shows the earlier snapshot" "exit $RC; $OUT; $ERR" \
		bash -c '[ "$1" -eq 0 ] && grep -qx "$2" <<<"$3"' _ "$RC" "$SNAP5" "$(json_ids "$OUT")"
	rm -rf "$T/r5-restore"
	bk "$S5" restore "$SNAP5" --to "$T/r5-restore" --repo "$R5"
	if [ "$RC" -eq 0 ]; then
		same "killed ($how): the earlier snapshot restores equal" "$T/ref5" "$T/r5-restore" --top "$TOP" --only-top
	else
		not_ok "killed ($how): the earlier snapshot restores" "exit $RC; $ERR"
	fi
done
note "$killed of 15 backups were killed while running"
check "killed: at least 5 of the 15 backups were really killed while running" "$killed killed" test "$killed" -ge 5
bk "$S5" verify --read-data --repo "$R5"
check "killed: verify --read-data after the last kill exits 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
snapshot "killed: a backup without a kill after them" "$S5" "$R5"
SNAP5B=$SNAP
left=$(find "$R5/tmp" -mindepth 1 2>/dev/null)
check "killed: tmp/ is empty after a backup that finished" "$left" test -z "$left"
bk "$S5" verify --read-data --repo "$R5"
check "killed: verify --read-data after it exits 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
rm -rf "$T/r5-restore"
bk "$S5" restore "$SNAP5B" --to "$T/r5-restore" --repo "$R5"
same "killed: the new snapshot restores equal to the store" "$S5" "$T/r5-restore" --top "$TOP" --only-top
rm -rf "$T/r5-restore" "$T/r5-base" "$T/ref5" "$S5" "$R5"

# =====================================================================
# 6. Errors, encryption.
# =====================================================================

S6=$T/s6
R6=$T/r6
mkdir -p "$S6/data" "$S6/state/app"
MARKER="plain-text-marker-$$-$RANDOM-$RANDOM-never-in-an-encrypted-repo"
{
	head -c 65536 /dev/urandom
	echo "$MARKER"
	head -c 65536 /dev/urandom
} >"$S6/data/secret.bin"
echo "$MARKER in a small text" >"$S6/state/app/notes"
printf 'correct horse battery staple\n' >"$T/pass"
chmod 600 "$T/pass"
bk "$S6" init --repo "$R6" --encrypt --passphrase-file "$T/pass"
check "encrypted: init --encrypt --passphrase-file: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
snapshot "encrypted (passphrase file)" "$S6" "$R6" --passphrase-file "$T/pass"
SNAP6=$SNAP
SPECTRUM_PASSPHRASE='correct horse battery staple' bk "$S6" restore "$SNAP6" --to "$T/r6-out" --repo "$R6"
check "encrypted: restore with SPECTRUM_PASSPHRASE: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
same "encrypted: restores equal" "$S6" "$T/r6-out" --top "$TOP" --only-top
hits=$(grep -r -a -l -F "$MARKER" "$R6")
check "encrypted: no file of the repository holds the plain text" "$hits" test -z "$hits"
hits=$(grep -r -a -l -F "correct horse" "$R6")
check "encrypted: no file of the repository holds the passphrase" "$hits" test -z "$hits"
# The control: the same store in a repository without encryption holds it
# (written in clear only with --allow-unencrypted: it was encrypted before).
bk "$S6" init --repo "$T/r6-plain"
bk "$S6" create --repo "$T/r6-plain" --allow-unencrypted
hits=$(grep -r -a -l -F "$MARKER" "$T/r6-plain")
check "control: an unencrypted repository of the same store does hold the plain text" "exit $RC; $ERR" test -n "$hits"

before=$(listing "$R6")
SPECTRUM_PASSPHRASE='wrong horse' bk "$S6" create --repo "$R6"
check "encrypted: create with a wrong passphrase: exit 1, the message mentions the passphrase" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -qi passphrase <<<"$2"' _ "$RC" "$ERR"
check "encrypted: a wrong passphrase changes no file of the repository" \
	"$(diff <(echo "$before") <(listing "$R6") | head -n 5)" test "$before" = "$(listing "$R6")"
SPECTRUM_PASSPHRASE='wrong horse' bk "$S6" list --repo "$R6"
check "encrypted: list with a wrong passphrase: exit 1" "exit $RC; $OUT; $ERR" test "$RC" -eq 1
printf 'wrong horse\n' >"$T/wrongpass"
SPECTRUM_PASSPHRASE='correct horse battery staple' bk "$S6" list --repo "$R6" --passphrase-file "$T/wrongpass"
check "encrypted: --passphrase-file wins over SPECTRUM_PASSPHRASE (a wrong file: exit 1)" "exit $RC; $ERR" test "$RC" -eq 1
bk "$S6" list --repo "$R6"
check "encrypted: no passphrase and no terminal: exit 1, nothing hangs" "exit $RC; $ERR" test "$RC" -eq 1
check "encrypted: nothing changed by the refused commands" "" test "$before" = "$(listing "$R6")"

bk "$S6" list --repo "$T/no-such-repo"
check "missing repository: exit 1 naming the path" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -qF "$3" <<<"$2"' _ "$RC" "$ERR" "$T/no-such-repo"
bk "$S6" create --repo "$T/no-such-repo"
check "missing repository: create exits 1 and makes nothing" "exit $RC; $ERR" test "$RC" -eq 1 -a ! -e "$T/no-such-repo"

cp -a "$T/r6-plain" "$T/r6-newer"
python3 - "$T/r6-newer/config" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["format"] = 99
json.dump(c, open(p, "w"))
EOF
before=$(listing "$T/r6-newer")
for cmd in list create verify; do
	bk "$S6" $cmd --repo "$T/r6-newer"
	check "a repository of format 99: $cmd exits 1, the message mentions the newer format" "exit $RC; $ERR" \
		bash -c '[ "$1" -eq 1 ] && grep -qiE "newer|format" <<<"$2"' _ "$RC" "$ERR"
done
check "a repository of format 99: nothing changed" "" test "$before" = "$(listing "$T/r6-newer")"

bk "$S6" create
check "create without --repo and without SPECTRUM_BACKUP_REPO: exit 2" "exit $RC; $ERR" test "$RC" -eq 2
check "errors: one line on stderr \"spectrum: backup ...\"" "$ERR" \
	bash -c '[ "$(wc -l <<<"$1")" -eq 1 ] && grep -q "^spectrum: backup" <<<"$1"' _ "$ERR"
SPECTRUM_BACKUP_REPO=$T/r6-plain bk "$S6" create --quiet --allow-unencrypted
check "create with SPECTRUM_BACKUP_REPO: exit 0" "exit $RC; $ERR" test "$RC" -eq 0 -a -n "$(snap_id "$OUT")"
bk "$S6" create --repo "$T/r6-plain" --no-such-option
check "an unknown option: exit 2" "exit $RC; $ERR" test "$RC" -eq 2
bk "$S6" frobnicate
check "an unknown backup subcommand: exit 2" "exit $RC; $ERR" test "$RC" -eq 2
bk "$S6" restore --repo "$T/r6-plain"
check "restore without a snapshot: exit 2" "exit $RC; $ERR" test "$RC" -eq 2
rm -rf "$T"/r6* "$S6"

# =====================================================================
# 7. In place: one instance, a partial snapshot, everything; refused
#    while the instance runs.
# =====================================================================

S7=$STATE
R7=$T/r7
# Instance names are global on the host (cgroups): a name of this test's own.
W7=writer-work-$$
{
	echo '{ "instances": {'
	echo "  \"$W7\":"
	instance_json '' '{"memory": "256M", "pids": 64}'
	echo '} }'
} >"$CONF"
mkdir -p "$S7/state/$W7/Documents/sub" "$S7/state/other" "$S7/data/Documents/work" "$S7/generations/1"
echo "notes v1" >"$S7/state/$W7/Documents/notes.txt"
echo "to be deleted" >"$S7/state/$W7/Documents/sub/gone.txt"
random_file "$S7/state/$W7/blob" $((3 * MiB))
echo "other" >"$S7/state/other/f"
echo "report v1" >"$S7/data/Documents/work/report.txt"
echo "data to delete" >"$S7/data/Documents/work/old.txt"
echo '{}' >"$S7/generations/1/plan.json"
ln -sfn generations/1 "$S7/current"
touch -d '2010-05-05 05:05:05.5' "$S7/state/$W7/Documents/notes.txt"
# One run first, so that whatever running creates in the home is there.
run_in "$W7" "$P" hostname
check "in place: the instance $W7 runs" "exit $RC; $(first_line "$ERR")" test "$RC" -eq 0

bk "$S7" init --repo "$R7"
snapshot "in place" "$S7" "$R7"
SNAP7=$SNAP
cp -a "$S7" "$T/ref7"

echo "notes v2" >"$S7/state/$W7/Documents/notes.txt"
rm -r "$S7/state/$W7/Documents/sub"
echo new >"$S7/state/$W7/new.txt"
chmod 0700 "$S7/state/$W7/Documents"
echo "report v2" >"$S7/data/Documents/work/report.txt"
rm "$S7/data/Documents/work/old.txt"
echo added >"$S7/data/Documents/work/added.txt"

# Refused while the instance runs.
"$SPECTRUM" --state-dir "$S7" --run-dir "$RUNDIR" run --config "$CONF" "$W7" -- "$P" sleep 120 \
	</dev/null >"$T/work.out" 2>&1 &
ENGINE=$!
BG_PIDS+=("$ENGINE")
if wait_for 20 test -s "$RUNDIR/instances/$W7/pid"; then
	before=$(listing "$S7")
	bk "$S7" restore "$SNAP7" --instance "$W7" --repo "$R7"
	check "in place while $W7 runs: restore --instance $W7 exits 1" "exit $RC; $ERR" test "$RC" -eq 1
	check "in place while $W7 runs: nothing changed" "$(diff <(echo "$before") <(listing "$S7") | head -n 5)" \
		test "$before" = "$(listing "$S7")"
	bk "$S7" restore "$SNAP7" --repo "$R7"
	check "in place while $W7 runs: a full restore exits 1" "exit $RC; $ERR" test "$RC" -eq 1
	check "in place while $W7 runs: nothing changed by the full restore" \
		"$(diff <(echo "$before") <(listing "$S7") | head -n 5)" test "$before" = "$(listing "$S7")"
else
	not_ok "in place: the instance $W7 starts in the background" "$(cat "$T/work.out")"
fi
kill -TERM "$ENGINE" 2>/dev/null
wait_gone "$ENGINE" 20 || kill -KILL "$ENGINE" 2>/dev/null
wait "$ENGINE" 2>/dev/null
wait_for 10 test ! -s "$RUNDIR/instances/$W7/pid"

cp -a "$S7/data" "$T/ref7-data-modified"
top_before=$(find "$S7" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')
bk "$S7" restore "$SNAP7" --instance "$W7" --repo "$R7"
check "in place: restore --instance $W7: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
same "in place: state/$W7 is back exactly" "$T/ref7/state/$W7" "$S7/state/$W7" --root
same "in place: data/ is left as modified" "$T/ref7-data-modified" "$S7/data" --root --as-is
got=$(find "$S7/state" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')
check "in place: state/ holds only its instances (nothing left over)" "state/: $got" test "$got" = "other $W7 "

# A partial snapshot restored in place touches only its instance.
snapshot "in place, partial" "$S7" "$R7" --instance "$W7"
SNAP7P=$SNAP
bk "$S7" list --repo "$R7" --json
check "partial: list --json shows full false and instances [$W7]" "$OUT" python3 -c '
import json, sys
s = [s for s in json.loads(sys.argv[1]) if s["id"] == sys.argv[2]][0]
sys.exit(0 if s["full"] is False and s["instances"] == [sys.argv[3]] else 1)' "$OUT" "$SNAP7P" "$W7"
cp -a "$S7/state/$W7" "$T/ref7-ww"
echo "notes v3" >"$S7/state/$W7/Documents/notes.txt"
bk "$S7" restore "$SNAP7P" --repo "$R7"
check "partial: restore in place: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
same "partial: state/$W7 is back" "$T/ref7-ww" "$S7/state/$W7" --root
same "partial: data/ is not touched" "$T/ref7-data-modified" "$S7/data" --root --as-is
check "partial: state/other is not touched" "$(ls -A "$S7/state/other" 2>&1)" test -f "$S7/state/other/f"

bk "$S7" restore "$SNAP7" --repo "$R7"
check "in place: a full restore: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
same "in place: after a full restore the store equals the snapshot" "$T/ref7" "$S7" --top "$TOP"
top_after=$(find "$S7" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')
check "in place: the restores leave nothing beside the parts at the store's top" "before: $top_before; after: $top_after" \
	test "$top_before" = "$top_after"
rm -rf "$T/ref7" "$T/ref7-data-modified" "$T/ref7-ww" "$R7"

# =====================================================================
# 8. Prune.
# =====================================================================

S8=$T/s8
R8=$T/r8
mkdir -p "$S8/data" "$S8/state/app"
bk "$S8" init --repo "$R8"
SNAPS8=()
for i in 1 2 3 4 5; do
	rm -f "$S8"/data/gen*.bin
	random_file "$S8/data/gen$i.bin" $((2 * MiB))
	echo "state $i" >"$S8/state/app/f"
	snapshot "prune: snapshot $i" "$S8" "$R8"
	SNAPS8+=("$SNAP")
	rm -rf "$T/ref8-$i"
	cp -a "$S8" "$T/ref8-$i"
done
size_before=$(size_of "$R8")
bk "$S8" prune --repo "$R8"
check "prune without a policy is refused" "exit $RC; $ERR" test "$RC" -ne 0
bk "$S8" list --repo "$R8" --json
check "prune without a policy: the 5 snapshots remain" "$OUT" test "$(json_ids "$OUT" | wc -l)" -eq 5
bk "$S8" prune --keep-last 2 --repo "$R8"
check "prune --keep-last 2: exit 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
note "$OUT"
size_after=$(size_of "$R8")
bk "$S8" list --repo "$R8" --json
check "prune --keep-last 2: list shows the two newest" "$(json_ids "$OUT" | tr '\n' ' ')" \
	test "$(json_ids "$OUT" | sort)" = "$(printf '%s\n' "${SNAPS8[3]}" "${SNAPS8[4]}" | sort)"
note "prune: the repository went from $((size_before / 1024)) KiB to $((size_after / 1024)) KiB"
check "prune: the repository shrinks by the three pruned files (>= 5 MiB)" "$size_before -> $size_after" \
	test $((size_before - size_after)) -ge $((5 * MiB))
bk "$S8" verify --read-data --repo "$R8"
check "prune: verify --read-data exits 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
for i in 4 5; do
	bk "$S8" restore "${SNAPS8[$((i - 1))]}" --to "$T/r8-out$i" --repo "$R8"
	check "prune: kept snapshot $i restores: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
	same "prune: kept snapshot $i restores equal" "$T/ref8-$i" "$T/r8-out$i" --top "$TOP" --only-top
done
bk "$S8" restore "${SNAPS8[0]}" --to "$T/r8-out1" --repo "$R8"
check "prune: a pruned snapshot is gone (restore exits 1)" "exit $RC; $ERR" test "$RC" -eq 1
rm -rf "$T"/r8* "$T"/ref8-* "$S8"

# =====================================================================
# 9. A running instance's home is read frozen (unless --live), and
#    thawed after, even when the backup is killed while it is frozen.
# =====================================================================

# The instance renames a-counter, then z-counter, to the same number, over
# and over: at any instant a-counter is z-counter or z-counter + 1.  The
# backup reads a-counter, then m-bulk (big), then z-counter: read live, the
# writer runs on meanwhile and z-counter comes out ahead of a-counter.
W9=bk-frozen-$$
S9=$STATE
{
	echo '{ "instances": {'
	echo "  \"$W9\":"
	instance_json '' '{"memory": "256M", "pids": 64}'
	echo '} }'
} >"$CONF"
rm -rf "$S9/state/$W9"
mkdir -p "$S9/state/$W9"
random_file "$S9/state/$W9/m-bulk" $((128 * MiB))
echo 0 >"$S9/state/$W9/a-counter"
echo 0 >"$S9/state/$W9/z-counter"
"$SPECTRUM" --state-dir "$S9" --run-dir "$RUNDIR" run --config "$CONF" "$W9" -- /usr/bin/sh -c '
	cd /home/user || exit 1
	i=0
	while [ $i -lt 300000 ]; do
		i=$((i + 1))
		echo $i >a.tmp && mv a.tmp a-counter
		echo $i >z.tmp && mv z.tmp z-counter
	done' </dev/null >"$T/w9.out" 2>&1 &
ENGINE9=$!
BG_PIDS+=("$ENGINE9")
counter() {
	cat "$S9/state/$W9/z-counter" 2>/dev/null || echo 0
}
advancing() {
	local c0
	c0=$(counter)
	sleep 0.5
	[ "$(counter)" -gt "$c0" ]
}
cg_frozen() {
	local d
	for d in $(cgroups_of "$W9"); do
		grep -qx 'frozen 1' "$d/cgroup.events" 2>/dev/null && return 0
	done
	return 1
}
cg_thawed() {
	! cg_frozen
}
# pair_of DIR: "A Z" as restored.
pair_of() {
	echo "$(cat "$1/a-counter" 2>&1) $(cat "$1/z-counter" 2>&1)"
}
if wait_for 20 bash -c '[ "$(cat "$1" 2>/dev/null || echo 0)" -gt 10 ]' _ "$S9/state/$W9/z-counter"; then
	ok "frozen: the instance $W9 runs and writes its counters"
	bk "$S9" init --repo "$T/r9-frozen"
	snapshot "frozen" "$S9" "$T/r9-frozen" --instance "$W9"
	bk "$S9" restore "$SNAP" --to "$T/r9-frozen-out" --repo "$T/r9-frozen"
	pair=$(pair_of "$T/r9-frozen-out/state/$W9")
	note "frozen: restored a-counter z-counter: $pair"
	check "frozen: the snapshot holds one instant: a-counter is z-counter or z-counter + 1 ($pair)" "$pair" \
		bash -c 'set -- $1; [ "$1" -eq "$2" ] || [ "$1" -eq $(($2 + 1)) ]' _ "$pair"
	check "frozen: the instance runs on after the backup (thawed)" "counter $(counter)" wait_for 5 advancing
	bk "$S9" init --repo "$T/r9-live"
	# Read live, a counter or a temporary file that the writer renames all
	# along may vanish or be replaced while being read: left out, exit 3.
	bk "$S9" create --repo "$T/r9-live" --instance "$W9" --live
	SNAP=$(snap_id "$OUT")
	others=$(grep -vE -e "^spectrum: backup create: skipped state/$W9/[az](\.tmp|-counter): (vanished|replaced|changed type) while being read\$" \
		-e '^spectrum: backup create: (new repository|snapshot [0-9a-f]{8} is incomplete)' <<<"$ERR")
	check "live: backup create saves a snapshot, exit 0 (or 3, leaving out only the writer's renamed files)" \
		"exit $RC; stdout: $OUT; stderr: $ERR" \
		test -n "$SNAP" -a \( "$RC" -eq 0 -o \( "$RC" -eq 3 -a -z "$others" \) \)
	bk "$S9" restore "$SNAP" --to "$T/r9-live-out" --repo "$T/r9-live"
	pair=$(pair_of "$T/r9-live-out/state/$W9")
	note "control: read --live, a-counter z-counter came out as: $pair (z-counter ahead shows the writer ran during the read)"
	rm -rf "$T"/r9-*

	# Killed while the instance is frozen: the instance is thawed.
	bk "$S9" init --repo "$T/r9-kill"
	setsid "$SPECTRUM" --state-dir "$S9" --run-dir "$RUNDIR" backup create --repo "$T/r9-kill" --quiet \
		</dev/null >"$T/kill9.out" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	if wait_for 30 cg_frozen; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
		ok "frozen: the backup froze the instance (cgroup.events: frozen 1); killed it then"
		check "frozen: a backup killed while the instance is frozen leaves it thawed" \
			"$(for d in $(cgroups_of "$W9"); do echo "$d: $(tr '\n' ' ' <"$d/cgroup.events")"; done)" \
			wait_for 5 cg_thawed
		check "frozen: and it runs on" "counter $(counter)" wait_for 5 advancing
	else
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		not_ok "frozen: the backup freezes the instance (cgroup.events: frozen 1) while it reads its home" \
			"$(cat "$T/kill9.out")"
	fi
	rm -rf "$T/r9-kill"
else
	not_ok "frozen: the instance $W9 runs and writes its counters" "$(cat "$T/w9.out")"
fi
kill -TERM "$ENGINE9" 2>/dev/null
wait_gone "$ENGINE9" 20 || kill -KILL "$ENGINE9" 2>/dev/null
wait "$ENGINE9" 2>/dev/null
rm -rf "${S9:?}/state/$W9"


# =====================================================================
# 10-16. Hostile repositories (forged by backup-forge.py: a repository's
#        files are checked by their hashes, not by any key, so whoever
#        can write to the disk can add a snapshot of any shape to an
#        unencrypted one) and hostile conditions.
# =====================================================================

FORGE=$(dirname "$0")/backup-forge.py
# forge COMMAND REPO ARGS...: prints the forged snapshot's id.
forge() {
	python3 "$FORGE" "$@"
}
# one_line: the last bk failed (exit 1) with one line "spectrum: backup ..." on stderr.
one_line() {
	[ "$RC" -eq 1 ] && [ "$(wc -l <<<"$ERR")" -eq 1 ] && grep -q "^spectrum: backup" <<<"$ERR"
}
# top_of STORE: what is at the top of a store, symlinks with their targets.
top_of() {
	find "$1" -mindepth 1 -maxdepth 1 -printf '%y %m %f %l\n' | sort
}

# =====================================================================
# 10. A forged root whose data, state and current are symlinks out of
#     the store, or whose current points anywhere: an in-place restore
#     refuses it and changes nothing.
# =====================================================================

S10=$T/s10
R10=$T/r10
O10=$T/outside10
mkdir -p "$S10/data/docs" "$S10/state/app" "$S10/generations/1" "$O10/keep"
mkdir -m 0700 "$S10/log" # as opening the store makes it
echo "the store's data" >"$S10/data/docs/f"
echo "the store's state" >"$S10/state/app/f"
echo '{}' >"$S10/generations/1/plan.json"
ln -s generations/1 "$S10/current"
echo "outside the store" >"$O10/keep/f"
bk "$S10" init --repo "$R10"
check "forged root: init" "exit $RC; $ERR" test "$RC" -eq 0
data_before=$(listing "$S10/data")
state_before=$(listing "$S10/state")
top_before=$(top_of "$S10")
out_before=$(listing "$O10")
forged=$(forge symroot "$R10" "$O10")
note "forged snapshot ${forged:0:8}: data, state and current -> $O10"
bk "$S10" restore latest --repo "$R10"
check "forged root (data, state, current symlinks out): in-place restore latest exits 1 with one line" \
	"exit $RC; $OUT; $ERR" one_line
check "forged root: the message says it refuses what is not a directory" "$ERR" \
	grep -q "not a directory: refusing" <<<"$ERR"
check "forged root: the store's data/ is unchanged" "$(diff <(echo "$data_before") <(listing "$S10/data") | head -n 5)" \
	test "$data_before" = "$(listing "$S10/data")"
check "forged root: the store's state/ is unchanged" "$(diff <(echo "$state_before") <(listing "$S10/state") | head -n 5)" \
	test "$state_before" = "$(listing "$S10/state")"
check "forged root: the store's top (data, state, current, nothing left beside) is unchanged" \
	"$(diff <(echo "$top_before") <(top_of "$S10") | head -n 8)" test "$top_before" = "$(top_of "$S10")"
check "forged root: the directory outside the store is unchanged" \
	"$(diff <(echo "$out_before") <(listing "$O10") | head -n 5)" test "$out_before" = "$(listing "$O10")"
for target in /etc ../../x; do
	forged=$(forge current "$R10" "$target")
	bk "$S10" restore latest --repo "$R10"
	check "forged current -> $target: in-place restore latest exits 1 with one line naming current" "exit $RC; $OUT; $ERR" \
		bash -c '[ "$1" -eq 1 ] && [ "$(wc -l <<<"$2")" -eq 1 ] && grep -q "current" <<<"$2"' _ "$RC" "$ERR"
	check "forged current -> $target: the store is unchanged (current -> generations/1)" \
		"$(diff <(echo "$top_before") <(top_of "$S10") | head -n 8)" \
		test "$top_before" = "$(top_of "$S10")" -a "$data_before" = "$(listing "$S10/data")" \
		-a "$state_before" = "$(listing "$S10/state")"
done
rm -rf "$S10" "$R10" "$O10"

# =====================================================================
# 11. A DAG bomb: 10 levels of 16 entries that all name the one subtree
#     below (16^10 paths in a few KiB).  Restore stops at the entries the
#     snapshot says it holds; verify walks each subtree once.
# =====================================================================

S11=$T/s11
R11=$T/r11
mkdir -p "$S11/data" "$S11/state"
bk "$S11" init --repo "$R11"
BOMB=$(forge dag "$R11")
BOMB_BAD=$(forge dag "$R11" --missing-chunk)
note "DAG bombs ${BOMB:0:8}, ${BOMB_BAD:0:8} (a missing chunk at the bottom): the repository is $(($(size_of "$R11") / 1024)) KiB"
t0=$(date +%s%N)
BK_TIMEOUT=60 bk "$S11" restore "$BOMB" --to "$T/r11-out" --repo "$R11" --quiet
t1=$(date +%s%N)
note "restore of the DAG bomb: exit $RC after $(((t1 - t0) / 1000000)) ms, $(find "$T/r11-out" 2>/dev/null | wc -l) entries written"
check "DAG bomb: restore --to exits 1 within 60 s" "exit $RC (124: timed out); $ERR" test "$RC" -eq 1
check "DAG bomb: the message says the snapshot holds more entries than it says" "$ERR" \
	grep -qE "holds more than the [0-9]+ entries it says" <<<"$ERR"
rm -rf "$T/r11-out"
for how in "" --read-data; do
	t0=$(date +%s%N)
	# At most 1000 lines kept: a verify that walks every path would
	# otherwise print millions (and dies of SIGPIPE here instead).
	timeout -k 5 60 setsid -w "$SPECTRUM" --state-dir "$S11" --run-dir "$RUNDIR" backup verify ${how:+"$how"} \
		--repo "$R11" </dev/null 2>"$T/bk.err" | head -n 1000 >"$T/bk.out"
	RC=${PIPESTATUS[0]}
	ERR=$(cat "$T/bk.err")
	t1=$(date +%s%N)
	lines=$(wc -l <"$T/bk.out")
	note "verify${how:+ $how} of the DAG bomb with a missing chunk: exit $RC after $(((t1 - t0) / 1000000)) ms, $lines lines"
	check "DAG bomb with a missing chunk: verify${how:+ $how} exits 1 within 60 s" \
		"exit $RC (124: timed out, 141: more than 1000 lines); $(head -c 300 "$T/bk.out"); $ERR" \
		test "$RC" -eq 1
	check "DAG bomb with a missing chunk: verify${how:+ $how} prints < 100 lines, naming the snapshot" "$lines lines: $(head -c 300 "$T/bk.out")" \
		bash -c '[ "$1" -lt 100 ] && grep -q "^snapshot ${2:0:8} .*chunks missing" "$3"' _ "$lines" "$BOMB_BAD" "$T/bk.out"
done
rm -rf "$S11" "$R11"

# =====================================================================
# 12. Hostile names ("..", ".", "a/b", "../x", an absolute path, empty)
#     and names out of order or repeated: restore --to fails with one
#     line and writes nothing outside its directory.
# =====================================================================

S12=$T/s12
R12=$T/r12
P12=$T/p12
mkdir -p "$S12/data" "$S12/state" "$P12"
bk "$S12" init --repo "$R12"
for name in .. . a/b ../escaped-dir "$P12/abs-escaped" ""; do
	forged=$(forge badname "$R12" "$name")
	rm -rf "$P12/out"
	bk "$S12" restore "$forged" --to "$P12/out" --repo "$R12" --quiet
	check "a tree entry named \"$name\": restore --to exits 1 with one line" "exit $RC; $OUT; $ERR" one_line
	escaped=$(find "$T" -name escaped -not -path "$P12/out/*" 2>&1)
	check "a tree entry named \"$name\": nothing written outside the directory" "$escaped; $(ls -A "$P12")" \
		test -z "$escaped" -a "$(ls -A "$P12")" = out
done
for how in unsorted duplicate; do
	forged=$(forge badorder "$R12" "$how")
	rm -rf "$P12/out"
	bk "$S12" restore "$forged" --to "$P12/out" --repo "$R12" --quiet
	check "tree entries $how: restore --to exits 1 with one line" "exit $RC; $OUT; $ERR" one_line
	check "tree entries $how: nothing written outside the directory" "$(ls -A "$P12")" test "$(ls -A "$P12")" = out
done
rm -rf "$S12" "$R12" "$P12"

# =====================================================================
# 13. A hard-link group whose first copy is a symlink out of the
#     directory, then a file: no hard link to anything outside.
# =====================================================================

S13=$T/s13
R13=$T/r13
mkdir -p "$S13/data" "$S13/state"
echo "a victim on the restore's file system, outside its directory" >"$T/victim13"
bk "$S13" init --repo "$R13"
for victim in /etc/passwd "$T/victim13"; do
	forged=$(forge hardlink "$R13" "$victim")
	before=$(stat -c '%d:%i %h' "$victim")
	rm -rf "$T/r13-out"
	bk "$S13" restore "$forged" --to "$T/r13-out" --repo "$R13" --quiet
	note "hard-link group (a -> $victim, b a file): restore exit $RC; $(first_line "$ERR")"
	check "hard-link group whose first copy is a symlink to $victim: restore ends (exit 0 or 1)" "exit $RC; $ERR" \
		test "$RC" -eq 0 -o "$RC" -eq 1
	check "hard-link group: $victim keeps its inode and link count ($before)" "now $(stat -c '%d:%i %h' "$victim")" \
		test "$before" = "$(stat -c '%d:%i %h' "$victim")"
	same_ino=$(find "$T/r13-out" -printf '%D:%i %p\n' 2>/dev/null | grep "^${before% *} ")
	check "hard-link group: no entry of the restored directory is $victim's inode" "$same_ino" test -z "$same_ino"
	if [ "$RC" -eq 0 ]; then
		check "hard-link group: data/b is a file of its own with its content" \
			"$(stat -c '%F %h' "$T/r13-out/data/b" 2>&1)" \
			bash -c '[ -f "$1" ] && [ ! -L "$1" ] && [ "$(stat -c %h "$1")" -eq 1 ] && [ "$(cat "$1")" = "the second name of the group" ]' \
			_ "$T/r13-out/data/b"
	fi
done
rm -rf "$S13" "$R13" "$T/r13-out" "$T/victim13"

# =====================================================================
# 14. A damaged index file and a garbage pack (named like one, after the
#     others, whose trailer does not parse): create lists again exactly
#     the packs the damaged index listed, so that nothing is lost once
#     the damaged index goes.
# =====================================================================

S14=$T/s14
R14=$T/r14
NAMES14=(A B C)
mkdir -p "$S14/data" "$S14/state/app"
random_file "$S14/data/a.bin" $((3 * MiB))
echo "state A" >"$S14/state/app/f"
bk "$S14" init --repo "$R14"
snapshot "damaged index + garbage pack: A" "$S14" "$R14"
SNAPS14=("$SNAP")
cp -a "$S14" "$T/ref14-A"
random_file "$S14/data/b.bin" $((5 * MiB))
echo "state B" >"$S14/state/app/f"
snapshot "damaged index + garbage pack: B" "$S14" "$R14"
SNAPS14+=("$SNAP")
cp -a "$S14" "$T/ref14-B"
idxfile=$(find "$R14/index" -mindepth 1 -maxdepth 1 -type f -printf '%f\n' | sort | head -n 1)
flip "$R14/index/$idxfile" | note "$(cat)"
garbage=$(forge garbage-pack "$R14" --prefix fff)
note "garbage pack: $garbage"
random_file "$S14/data/c.bin" $((2 * MiB))
echo "state C" >"$S14/state/app/f"
snapshot "damaged index + garbage pack: C, written beside them" "$S14" "$R14"
SNAPS14+=("$SNAP")
cp -a "$S14" "$T/ref14-C"
bk "$S14" verify --read-data --repo "$R14"
note "$OUT"
check "damaged index + garbage pack: verify --read-data exits 1" "exit $RC; $OUT; $ERR" test "$RC" -eq 1
check "damaged index + garbage pack: verify names the garbage pack" "$OUT" \
	grep -q "^pack $(basename "$garbage"): " <<<"$OUT"
check "damaged index + garbage pack: no snapshot is called damaged" "$OUT" bash -c '! grep -q "^snapshot " <<<"$1"' _ "$OUT"
for i in 0 1 2; do
	s=${NAMES14[$i]}
	rm -rf "$T/r14-out"
	bk "$S14" restore "${SNAPS14[$i]}" --to "$T/r14-out" --repo "$R14" --quiet
	check "damaged index + garbage pack: restore of $s: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
	same "damaged index + garbage pack: $s restores equal" "$T/ref14-$s" "$T/r14-out" --top "$TOP" --only-top
done
rm -f "$R14/$garbage"
bk "$S14" verify --repo "$R14"
note "$OUT"
# The damaged index stays while a pack the repository cannot read is
# there (it may be what that index listed); with the garbage gone, it is
# still named, and no snapshot is damaged, until the next create.
check "damaged index, garbage pack removed: verify still names the damaged index" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "^index .*: damaged" <<<"$2" && grep -q "damage: 0 of 3 snapshots" <<<"$2"' _ "$RC" "$OUT"
# The next create removes the damaged index (all it listed is listed
# again): what it lists must be exactly what the damaged one listed.
snapshot "damaged index: D, after the garbage pack is gone" "$S14" "$R14"
bk "$S14" verify --read-data --repo "$R14"
check "damaged index: after D, verify --read-data exits 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
for i in 0 1 2; do
	s=${NAMES14[$i]}
	rm -rf "$T/r14-out"
	bk "$S14" restore "${SNAPS14[$i]}" --to "$T/r14-out" --repo "$R14" --quiet
	same "damaged index: after D, $s still restores equal" "$T/ref14-$s" "$T/r14-out" --top "$TOP" --only-top
done
rm -rf "$S14" "$R14" "$T"/ref14-? "$T/r14-out"

# =====================================================================
# 15. create by an unprivileged user, of a store it may read but does
#     not own (O_NOATIME is refused on others' files and directories).
# =====================================================================

# $T is root's alone: a directory of its own that nobody may enter.
U15=$(mktemp -d "${TMPDIR:-/tmp}/spectrum-itest-nobody.XXXXXX")
EXTRA_CLEANUP='rm -rf --one-file-system "$U15"'
chmod 0755 "$U15"
S15=$U15/store
mkdir -p "$S15/data/docs/sub" "$S15/state/app" "$S15/generations/1" "$S15/log" "$U15/run" "$U15/repos"
echo "a document" >"$S15/data/docs/sub/f"
random_file "$S15/data/b.bin" $((600 * 1024))
echo "state" >"$S15/state/app/f"
echo '{}' >"$S15/generations/1/plan.json"
ln -s generations/1 "$S15/current"
chmod -R a+rX "$S15"
chown 65534:65534 "$U15/run" "$U15/repos"
# bk_nobody ARGS...: `spectrum backup ARGS...` as uid and gid 65534, in
# 30 s at most; sets RC, OUT, ERR.
bk_nobody() {
	timeout -k 5 30 setsid -w setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$SPECTRUM" --state-dir "$S15" --run-dir "$U15/run" backup "$@" </dev/null >"$T/bk.out" 2>"$T/bk.err"
	RC=$?
	OUT=$(cat "$T/bk.out")
	ERR=$(cat "$T/bk.err")
}
bk_nobody init --repo "$U15/repos/r"
check "unprivileged: init by uid 65534 of its own repository: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
t0=$(date +%s%N)
bk_nobody create --repo "$U15/repos/r"
t1=$(date +%s%N)
note "unprivileged create: exit $RC after $(((t1 - t0) / 1000000)) ms; $OUT"
check "unprivileged: create by uid 65534 of a root-owned, world-readable store ends within 30 s with exit 0" \
	"exit $RC (124: timed out); $ERR" test "$RC" -eq 0 -a -n "$(snap_id "$OUT")"
SNAP15=$(snap_id "$OUT")
if [ -n "$SNAP15" ]; then
	bk "$S15" restore "$SNAP15" --to "$T/r15-out" --repo "$U15/repos/r" --quiet
	check "unprivileged: its snapshot restores (as root): exit 0" "exit $RC; $ERR" test "$RC" -eq 0
	same "unprivileged: its snapshot restores equal" "$S15" "$T/r15-out" --top "$TOP" --only-top
fi
rm -rf --one-file-system "$U15" "$T/r15-out"

# =====================================================================
# 16. An encrypted repository whose config is swapped for an
#     unencrypted one of the same id: the store that wrote to it
#     encrypted refuses to write in clear.
# =====================================================================

S16=$T/s16
R16=$T/r16
mkdir -p "$S16/data" "$S16/state/app"
MARKER16="downgrade-marker-$$-$RANDOM-$RANDOM"
echo "$MARKER16" >"$S16/data/secret"
echo "$MARKER16" >"$S16/state/app/notes"
printf 'downgrade passphrase\n' >"$T/pass16"
chmod 600 "$T/pass16"
bk "$S16" init --repo "$R16" --encrypt --passphrase-file "$T/pass16"
check "downgrade: init --encrypt: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
snapshot "downgrade: an encrypted snapshot first" "$S16" "$R16" --passphrase-file "$T/pass16"
# unencrypted_config REPO: its config, with its id, says "no encryption".
unencrypted_config() {
	python3 - "$1/config" <<'EOF'
import json, os, sys
p = sys.argv[1]
c = json.load(open(p))
json.dump({"format": 1, "id": c["id"], "encryption": "none", "keys": os.urandom(96).hex()}, open(p, "w"))
EOF
}
unencrypted_config "$R16"
snaps_before=$(ls -A "$R16/snapshots")
before=$(listing "$R16")
bk "$S16" create --repo "$R16"
check "downgrade: create with the config swapped for an unencrypted one: exit 1, \"refusing to write in clear\"" \
	"exit $RC; $OUT; $ERR" bash -c '[ "$1" -eq 1 ] && grep -q "refusing to write in clear" <<<"$2"' _ "$RC" "$ERR"
check "downgrade: no new file in snapshots/" "$(ls -A "$R16/snapshots")" test "$snaps_before" = "$(ls -A "$R16/snapshots")"
check "downgrade: no file of the repository changed" "$(diff <(echo "$before") <(listing "$R16") | head -n 5)" \
	test "$before" = "$(listing "$R16")"
# Its encrypted files moved away too: an unencrypted repository of the
# same id, which a create would fill without an error to stop it.
mkdir -p "$T/r16-aside"
mv "$R16/snapshots" "$R16/index" "$R16/packs" "$T/r16-aside/"
mkdir "$R16/snapshots" "$R16/index" "$R16/packs"
bk "$S16" create --repo "$R16"
check "downgrade, the encrypted files moved away: create exits 1, \"refusing to write in clear\"" \
	"exit $RC; $OUT; $ERR" bash -c '[ "$1" -eq 1 ] && grep -q "refusing to write in clear" <<<"$2"' _ "$RC" "$ERR"
hits=$(grep -r -a -l -F "$MARKER16" "$R16")
check "downgrade, the encrypted files moved away: no snapshot, no plain text in the repository" \
	"$(ls -A "$R16/snapshots"); $hits" test -z "$(ls -A "$R16/snapshots")" -a -z "$hits"
rm -rf "$S16" "$R16" "$T/r16-aside" "$T/pass16"

finish
