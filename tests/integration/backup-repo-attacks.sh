#!/bin/bash
# spectrum backup against someone who can write to the repository (issue
# 22), each attack as it was reproduced:
#  1. the encrypted repository moved aside and an unencrypted one made at
#     its place: create with the passphrase set refuses, nothing in clear
#     lands in packs/; a repository the store has not seen is announced;
#  2. the config's fields changed on an encrypted repository (encryption,
#     kdf, id, mac, Argon2id below the floor): refused, nothing written;
#  3. index/* moved away: verify, prune --dry-run and create delete no
#     pack; `backup repair` rebuilds the index; restore is byte for byte;
#     a pack that no snapshot uses is still removed by the next create;
#  4. one damaged snapshot file: list, create and restore latest work,
#     the damage is reported (one warning line), verify exits 1;
#  5. `backup unlock`: a root process in a fresh session keyring cannot
#     read the cached keys; forged keys in the keyring are not used;
#  6. the newest snapshot deleted, a pruned snapshot put back, the
#     manifest rolled back: detected (create and restore latest refuse,
#     list warns, verify exits 1); a create killed before its manifest
#     is not taken for an attack;
#  7. `backup key passwd`;
#  8. an encrypted repository replaced by a forged unencrypted one with
#     its id and a higher manifest counter: restore, prune and verify
#     refuse (the store's record, or the passphrase given), and prune no
#     longer rewrites the record as unencrypted;
#  9. an index file of 2 GiB + 1 byte and FIFOs planted in snapshots/,
#     index/ and packs/: damage reported, no command stops or hangs;
# 10. forged trees of 275 MiB along one path: verify and prune bound the
#     listings they hold as restore does (256 MiB);
# 11. a rollback that took the newest index file too: prune refuses
#     before cleaning, and removes no pack;
# 12. `backup key passwd` SIGKILLed at each step of writing the config
#     (strace fault injection): exactly one passphrase opens it;
# 13. a format 1 config swapped while create waits for the lock: not
#     upgraded (the MAC of the real keys is not put on the forgery).
#
# Usage: backup-repo-attacks.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

unset SPECTRUM_BACKUP_REPO SPECTRUM_PASSPHRASE SPECTRUM_NEW_PASSPHRASE
setup_store

. "$(dirname "$0")/backuplib.sh"

# Every file of a directory with its size and hash: "nothing changed".
listing() {
	(cd "$1" && find . -printf '%y %s %p\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# new_store DIR MARKER: a store with a marker text and some random data.
new_store() {
	mkdir -p "$1/data" "$1/state/app"
	{
		head -c 65536 /dev/urandom
		echo "$2"
		head -c 65536 /dev/urandom
	} >"$1/data/secret.bin"
	echo "$2 in a small text" >"$1/state/app/notes"
	head -c $((3 * 1024 * 1024)) /dev/urandom >"$1/data/big.bin"
}

# edit_config REPO PYTHON: runs PYTHON with the config as `c`, writes it back.
edit_config() {
	python3 - "$1/config" "$2" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
exec(sys.argv[2])
json.dump(c, open(p, "w"))
EOF
}

# Restored equal: data/ and state/ byte for byte.
restored_equal() {
	diff -r "$1/data" "$2/data" >/dev/null && diff -r "$1/state" "$2/state" >/dev/null
}

PASS='a passphrase of issue twenty-two'
printf '%s\n' "$PASS" >"$T/pass"
chmod 600 "$T/pass"

# =====================================================================
# 1. The encrypted repository moved aside, an unencrypted one at its place.
# =====================================================================

S1=$T/s1
R1=$T/r1
MARK1="forged-config-marker-$$-$RANDOM-$RANDOM"
new_store "$S1" "$MARK1"
bk "$S1" init --repo "$R1" --encrypt --passphrase-file "$T/pass"
check "moved aside: init --encrypt: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
id1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$R1/config")
SPECTRUM_PASSPHRASE=$PASS bk "$S1" create --repo "$R1" --quiet
check "moved aside: the first create (encrypted) exits 0" "exit $RC; $ERR" test "$RC" -eq 0
check "a repository the store has not seen is announced: \"new repository $id1 at $R1 (first backup of this store there)\"" \
	"$ERR" grep -qF "spectrum: backup create: new repository $id1 at $R1 (first backup of this store there)" <<<"$ERR"
SPECTRUM_PASSPHRASE=$PASS bk "$S1" create --repo "$R1" --quiet
check "a repository the store has seen is not announced again" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && ! grep -q "new repository" <<<"$2"' _ "$RC" "$ERR"
mv "$R1" "$T/r1-aside"
bk "$S1" init --repo "$R1"
check "moved aside: init without encryption at the same path: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
SPECTRUM_PASSPHRASE=$PASS bk "$S1" create --repo "$R1" --quiet
check "moved aside: create with SPECTRUM_PASSPHRASE set: exit 1, \"refusing to write in clear\"" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "refusing to write in clear" <<<"$2"' _ "$RC" "$ERR"
hits=$(grep -r -a -l -F "$MARK1" "$R1/packs" "$R1/snapshots" "$R1/index" 2>&1)
check "moved aside: no plain text of the store in packs/ (grep -r)" "$hits" test -z "$hits"
bk "$S1" create --repo "$R1" --quiet
check "moved aside: create without a passphrase: exit 1 too (this store was encrypted before)" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "this store has been backed up encrypted" <<<"$2"' _ "$RC" "$ERR"
hits=$(grep -r -a -l -F "$MARK1" "$R1" 2>&1)
check "moved aside: still no plain text anywhere in the repository" "$hits" test -z "$hits"
# A store with no record (its .backup lost, or another machine): the
# passphrase given is what says encryption was expected.
S1b=$T/s1b
new_store "$S1b" "$MARK1"
SPECTRUM_PASSPHRASE=$PASS bk "$S1b" create --repo "$R1" --quiet
check "moved aside, a store with no record: create with SPECTRUM_PASSPHRASE: exit 1, \"a passphrase was given\"" \
	"exit $RC; $ERR" bash -c '[ "$1" -eq 1 ] && grep -q "a passphrase was given" <<<"$2"' _ "$RC" "$ERR"
hits=$(grep -r -a -l -F "$MARK1" "$R1" 2>&1)
check "moved aside, a store with no record: no plain text in the repository" "$hits" test -z "$hits"
# The explicit, loud option.
bk "$S1" create --repo "$R1" --quiet --allow-unencrypted
check "--allow-unencrypted: create writes in clear (exit 0) and announces the repository as NOT ENCRYPTED" \
	"exit $RC; $ERR" bash -c '[ "$1" -eq 0 ] && grep -q "new repository .*NOT ENCRYPTED" <<<"$2"' _ "$RC" "$ERR"
rm -rf "$R1"
mv "$T/r1-aside" "$R1"

# =====================================================================
# 2. Forged fields of an encrypted repository's config.
# =====================================================================

S2=$T/s2
R2=$T/r2
new_store "$S2" "kdf-marker-$$"
bk "$S2" init --repo "$R2" --encrypt --passphrase-file "$T/pass"
bk "$S2" create --repo "$R2" --quiet --passphrase-file "$T/pass"
check "forged fields: init and a first create: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
check "init writes format 2 with a mac" "$(cat "$R2/config")" \
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); sys.exit(not (c["format"] == 2 and len(c["mac"]) == 64))' "$R2/config"
cp "$R2/config" "$T/config2"
# forge NAME PYTHON MESSAGE: the config changed by PYTHON; create refused
# with MESSAGE (a regular expression), no file of the repository changed.
forge() {
	local name=$1 code=$2 msg=$3 before
	cp "$T/config2" "$R2/config"
	edit_config "$R2" "$code"
	before=$(listing "$R2")
	bk "$S2" create --repo "$R2" --quiet --passphrase-file "$T/pass"
	check "forged $name: create exits 1: $msg" "exit $RC; $ERR" \
		bash -c '[ "$1" -eq 1 ] && grep -qE "$3" <<<"$2"' _ "$RC" "$ERR" "$msg"
	check "forged $name: no file of the repository changed" "$(diff <(echo "$before") <(listing "$R2") | head -n 5)" \
		test "$before" = "$(listing "$R2")"
}
forge "encryption (none, same id)" 'c["encryption"] = "none"; c["keys"] = "00" * 96; c.pop("kdf"); c.pop("mac")' \
	"refusing to write in clear"
forge "kdf opslimit (1 pass)" 'c["kdf"]["opslimit"] = 1' "below the floor \\(3 passes, 64 MiB\\)"
forge "kdf memlimit (8 KiB)" 'c["kdf"]["memlimit"] = 8192' "below the floor"
forge "kdf opslimit (4 passes: above the floor, not what was sealed)" 'c["kdf"]["opslimit"] = 4' \
	"wrong passphrase|MAC does not match"
forge "id" 'c["id"] = "0123456789abcdef0123456789abcdef"' "wrong passphrase|MAC does not match"
forge "id (not hex: a path)" 'c["id"] = "../../../../../../tmp/x"' "id: expected 32 lower-case hex digits"
forge "mac (one digit changed)" 'c["mac"] = ("0" if c["mac"][0] != "0" else "1") + c["mac"][1:]' \
	"its MAC does not match"
forge "format (3)" 'c["format"] = 3' "newer than this spectrum understands"
cp "$T/config2" "$R2/config"
bk "$S2" list --repo "$R2" --passphrase-file "$T/pass"
check "forged fields: the original config opens again (list: exit 0)" "exit $RC; $ERR" test "$RC" -eq 0

# A repository of format 1 (no MAC): read, and upgraded by the next writer.
python3 - "$R2/config" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["format"] = 1
c.pop("mac")
json.dump(c, open(p, "w"))
EOF
bk "$S2" list --repo "$R2" --passphrase-file "$T/pass"
check "format 1 (no mac): list reads it: exit 0" "exit $RC; $ERR" test "$RC" -eq 0
bk "$S2" create --repo "$R2" --quiet --passphrase-file "$T/pass"
check "format 1: create upgrades it to format 2 and says so" "exit $RC; $ERR; $(cat "$R2/config")" \
	bash -c '[ "$1" -eq 0 ] && grep -q "config is now format 2" <<<"$2" && python3 -c "import json,sys; c=json.load(open(sys.argv[1])); sys.exit(not (c[\"format\"] == 2 and len(c[\"mac\"]) == 64))" "$3"' \
	_ "$RC" "$ERR" "$R2/config"

# =====================================================================
# 3. index/* moved away: nothing deleted, repair, restore.
# =====================================================================

S3=$T/s3
R3=$T/r3
new_store "$S3" "index-marker-$$"
bk "$S3" init --repo "$R3"
bk "$S3" create --repo "$R3" --quiet
SNAP3=$(snap_id "$OUT")
check "missing index: a snapshot" "exit $RC; $ERR" test "$RC" -eq 0 -a -n "$SNAP3"
cp -a "$S3" "$T/ref3"
packs3=$(cd "$R3" && find packs -type f | sort)
mkdir "$T/r3-index-aside"
mv "$R3"/index/* "$T/r3-index-aside/"
bk "$S3" verify --repo "$R3"
note "verify: exit $RC; $OUT"
check "missing index: verify deletes no pack" "$(cd "$R3" && find packs -type f | sort)" \
	test "$packs3" = "$(cd "$R3" && find packs -type f | sort)"
check "missing index: verify says the packs are in no index file and names repair" "$OUT" \
	grep -q "in no index file.*backup repair" <<<"$OUT"
bk "$S3" prune --repo "$R3" --keep-last 1 --dry-run
check "missing index: prune --dry-run deletes no pack" "exit $RC; $OUT; $ERR" \
	test "$packs3" = "$(cd "$R3" && find packs -type f | sort)"
bk "$S3" prune --repo "$R3" --keep-last 1
check "missing index: prune refuses (exit 1, \"run \`spectrum backup repair' first\") and deletes no pack" \
	"exit $RC; $ERR" bash -c '[ "$1" -eq 1 ] && grep -q "backup repair. first" <<<"$2" && [ "$3" = "$4" ]' \
	_ "$RC" "$ERR" "$packs3" "$(cd "$R3" && find packs -type f | sort)"
echo "a second file" >"$S3/data/second"
bk "$S3" create --repo "$R3" --quiet
check "missing index: create exits 0" "exit $RC; $ERR" test "$RC" -eq 0
missing=$(cd "$R3" && comm -23 <(echo "$packs3") <(find packs -type f | sort))
check "missing index: create deletes none of the packs the first snapshot uses" "$missing" test -z "$missing"
rm -rf "$R3/index"/*
bk "$S3" repair --repo "$R3"
note "repair: $OUT"
check "repair: exit 0, \"index rebuilt\"" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^index rebuilt: " <<<"$2"' _ "$RC" "$OUT"
check "repair: one index file" "$(ls "$R3/index")" test "$(find "$R3/index" -type f | wc -l)" -eq 1
bk "$S3" verify --repo "$R3" --read-data
check "repair: verify --read-data exits 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
bk "$S3" restore "$SNAP3" --to "$T/r3-out" --repo "$R3" --quiet
check "repair: the first snapshot restores (exit 0)" "exit $RC; $ERR" test "$RC" -eq 0
check "repair: the first snapshot restores byte for byte" "$(diff -r "$T/ref3/data" "$T/r3-out/data" 2>&1 | head -3)" \
	restored_equal "$T/ref3" "$T/r3-out"

# A pack no snapshot uses (as a killed backup leaves): the next create
# removes it, and only it.
S3b=$T/s3b
R3b=$T/r3b
new_store "$S3b" "other-$$"
bk "$S3b" init --repo "$R3b"
bk "$S3b" create --repo "$R3b" --quiet
stray=$(cd "$R3b" && find packs -type f | sort | head -n 1)
mkdir -p "$R3/$(dirname "$stray")"
cp "$R3b/$stray" "$R3/$stray"
packs3=$(cd "$R3" && find packs -type f | sort)
bk "$S3" create --repo "$R3" --quiet
check "a pack no snapshot uses (a killed backup's): the next create removes it" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && [ ! -e "$2" ]' _ "$RC" "$R3/$stray"
missing=$(cd "$R3" && comm -23 <(grep -v "^$stray\$" <<<"$packs3") <(find packs -type f | sort))
check "... and no other pack" "$missing" test -z "$missing"
rm -rf "$S3b" "$R3b"

# =====================================================================
# 4. One damaged snapshot file.
# =====================================================================

S4=$T/s4
R4=$T/r4
new_store "$S4" "damaged-snapshot-$$"
bk "$S4" init --repo "$R4"
bk "$S4" create --repo "$R4" --quiet
first4=$(snap_id "$OUT")
echo "b" >"$S4/data/b"
bk "$S4" create --repo "$R4" --quiet
echo "c" >"$S4/data/c"
bk "$S4" create --repo "$R4" --quiet
cp -a "$S4" "$T/ref4"
printf 'X' | dd of="$R4/snapshots/$first4" bs=1 seek=10 conv=notrunc 2>/dev/null
bk "$S4" list --repo "$R4"
check "damaged snapshot: list exits 0 and lists the two others" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 0 ] && [ "$(grep -c "^[0-9a-f]\{8\} " <<<"$2")" -eq 2 ]' _ "$RC" "$OUT"
check "damaged snapshot: list says so in one warning line" "$ERR" \
	bash -c '[ "$(wc -l <<<"$1")" -eq 1 ] && grep -q "^spectrum: backup list: warning: snapshot ${2:0:8}: its file is damaged: skipped$" <<<"$1"' \
	_ "$ERR" "$first4"
bk "$S4" restore latest --to "$T/r4-out" --repo "$R4" --quiet
check "damaged snapshot: restore latest exits 0, byte for byte" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && diff -r "$2/data" "$3/data" >/dev/null' _ "$RC" "$T/ref4" "$T/r4-out"
echo "d" >"$S4/data/d"
bk "$S4" create --repo "$R4" --quiet
check "damaged snapshot: create exits 0 with the warning" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && grep -q "warning: snapshot .*damaged" <<<"$2"' _ "$RC" "$ERR"
bk "$S4" verify --repo "$R4"
check "damaged snapshot: verify exits 1 and names it" "exit $RC; $OUT" \
	bash -c '[ "$1" -eq 1 ] && grep -q "^snapshot ${3:0:8}: its file is damaged" <<<"$2"' _ "$RC" "$OUT" "$first4"

# =====================================================================
# 5. The kernel keyring.
# =====================================================================

S5=$T/s5
R5=$T/r5
new_store "$S5" "keyring-$$"
bk "$S5" init --repo "$R5" --encrypt --passphrase-file "$T/pass"
id5=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$R5/config")
# ks CMD...: CMD in a session keyring of its own that reaches the user
# keyring, as a login session's does (whatever keyring this test was
# started in), so that it possesses what `unlock` puts there.
ks() {
	timeout 60 setsid -w keyctl session - bash -c 'keyctl link @u @s >/dev/null && exec "$@"' _ "$@"
}
ks "$SPECTRUM" --state-dir "$S5" --run-dir "$RUNDIR" backup unlock \
	--repo "$R5" --passphrase-file "$T/pass" --for 120 </dev/null >"$T/bk.out" 2>"$T/bk.err"
RC=$?
check "unlock: exit 0" "exit $RC; $(cat "$T/bk.err")" test "$RC" -eq 0
serial=$(ks keyctl search @u user "spectrum-backup:$id5" 2>/dev/null)
check "unlock: the key is in the user keyring" "serial: $serial" test -n "$serial"
perm=$(ks keyctl rdescribe "$serial" 2>/dev/null | cut -d';' -f4)
check "unlock: its permissions are the possessor's only (view, read, search: 0b000000)" "$perm" test "$perm" = "0b000000"
# Another root process, in a fresh session keyring (not reaching @u).
got=$(timeout 20 bash -c 'keyctl new_session >/dev/null 2>&1 && keyctl pipe "$1" 2>&1 | od -An -tx1 | head -c 64' _ "$serial")
rc=$(timeout 20 bash -c 'keyctl new_session >/dev/null 2>&1 && keyctl pipe "$1" >/dev/null 2>&1; echo $?' _ "$serial")
check "keyring: a root process in a fresh session keyring cannot read the key (keyctl pipe fails)" "rc $rc; $got" test "$rc" -ne 0
rc=$(timeout 20 bash -c 'keyctl new_session >/dev/null 2>&1 && s=$(keyctl search @u user "$1") && keyctl pipe "$s" >/dev/null 2>&1; echo $?' _ "spectrum-backup:$id5")
check "keyring: nor after finding it with keyctl search @u" "rc $rc" test "$rc" -ne 0
rc=$(timeout 20 bash -c 'keyctl new_session >/dev/null 2>&1 && keyctl search @u user "$1" @s >/dev/null 2>&1; echo $?' _ "spectrum-backup:$id5")
check "keyring: nor link it into its own session keyring (keyctl search ... @s fails)" "rc $rc" test "$rc" -ne 0
# The owner's session uses the cached keys without a passphrase.
ks "$SPECTRUM" --state-dir "$S5" --run-dir "$RUNDIR" backup create \
	--repo "$R5" --quiet </dev/null >"$T/bk.out" 2>"$T/bk.err"
RC=$?
check "unlock: create in the owner's session works without a passphrase (cached keys)" "exit $RC; $(cat "$T/bk.err")" test "$RC" -eq 0
ks keyctl invalidate "$serial" >/dev/null 2>&1
# Forged keys under the same name, readable: not used (checked against
# the config's MAC), the passphrase is asked instead.
forged=$(head -c 96 /dev/urandom | ks keyctl padd user "spectrum-backup:$id5" @u 2>/dev/null)
ks "$SPECTRUM" --state-dir "$S5" --run-dir "$RUNDIR" backup list \
	--repo "$R5" </dev/null >"$T/bk.out" 2>"$T/bk.err"
RC=$?
check "keyring: forged keys under the repository's name are not used (list asks for the passphrase: exit 1)" \
	"exit $RC; $(cat "$T/bk.err")" bash -c '[ "$1" -eq 1 ] && grep -q "passphrase" <<<"$2"' _ "$RC" "$(cat "$T/bk.err")"
ks keyctl invalidate "$forged" >/dev/null 2>&1

# =====================================================================
# 6. Snapshots deleted, put back, rolled back.
# =====================================================================

S6=$T/s6
R6=$T/r6
new_store "$S6" "rollback-$$"
bk "$S6" init --repo "$R6" --encrypt --passphrase-file "$T/pass"
ids6=()
for i in 1 2 3; do
	echo "$i" >"$S6/data/n$i"
	bk "$S6" create --repo "$R6" --quiet --passphrase-file "$T/pass"
	ids6+=("$(snap_id "$OUT")")
done
check "rollback: three snapshots" "${ids6[*]}" test -n "${ids6[2]}"
mv "$R6/snapshots/${ids6[2]}" "$T/newest6"
bk "$S6" list --repo "$R6" --passphrase-file "$T/pass"
check "newest deleted: list warns (exit 0): \"listed by the repository's manifest, but its file is gone\"" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && grep -q "warning: snapshot ${3:0:8}: listed by the repository.s manifest, but its file is gone" <<<"$2"' \
	_ "$RC" "$ERR" "${ids6[2]}"
bk "$S6" restore latest --to "$T/r6-out" --repo "$R6" --passphrase-file "$T/pass" --quiet
check "newest deleted: restore latest refuses (exit 1)" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "\"latest\" cannot be trusted" <<<"$2"' _ "$RC" "$ERR"
bk "$S6" restore "${ids6[1]}" --to "$T/r6-out2" --repo "$R6" --passphrase-file "$T/pass" --quiet
check "newest deleted: restore of a named snapshot works (exit 0) with the warning" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && grep -q "warning: " <<<"$2"' _ "$RC" "$ERR"
before=$(ls "$R6/snapshots")
bk "$S6" create --repo "$R6" --quiet --passphrase-file "$T/pass"
check "newest deleted: create refuses (exit 1) and writes no snapshot" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "refusing to back up there" <<<"$2" && [ "$3" = "$4" ]' _ "$RC" "$ERR" "$before" "$(ls "$R6/snapshots")"
bk "$S6" verify --repo "$R6" --passphrase-file "$T/pass"
check "newest deleted: verify exits 1 and names it" "exit $RC; $OUT" \
	bash -c '[ "$1" -eq 1 ] && grep -q "^snapshot ${3:0:8}: listed by" <<<"$2"' _ "$RC" "$OUT" "${ids6[2]}"
# With the manifest rolled back too (an older copy of it put back): the
# store remembers the newer one.
mv "$T/newest6" "$R6/snapshots/${ids6[2]}"
cp -a "$R6/manifests" "$T/manifests6-old"
echo "4" >"$S6/data/n4"
bk "$S6" create --repo "$R6" --quiet --passphrase-file "$T/pass"
ids6+=("$(snap_id "$OUT")")
check "the snapshot put back where it was: create works again (exit 0)" "exit $RC; $ERR" test "$RC" -eq 0
mv "$R6/snapshots/${ids6[3]}" "$T/newest6"
rm -rf "$R6/manifests"
cp -a "$T/manifests6-old" "$R6/manifests"
bk "$S6" list --repo "$R6" --passphrase-file "$T/pass"
check "newest deleted with the manifest rolled back: list warns \"rolled back\"" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && grep -q "warning: the repository was rolled back: its manifest is at 3, behind the 4" <<<"$2"' _ "$RC" "$ERR"
bk "$S6" restore latest --to "$T/r6-out3" --repo "$R6" --passphrase-file "$T/pass" --quiet
check "manifest rolled back: restore latest refuses (exit 1)" "exit $RC; $ERR" test "$RC" -eq 1
bk "$S6" create --repo "$R6" --quiet --passphrase-file "$T/pass"
check "manifest rolled back: create refuses (exit 1)" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "rolled back" <<<"$2"' _ "$RC" "$ERR"

# A create killed after its snapshot file, before its manifest (the
# manifest and the store's record of before it put back): the snapshot
# is newer than the manifest and is used, with no warning.
S8=$T/s8
R8=$T/r8
new_store "$S8" "killed-$$"
bk "$S8" init --repo "$R8"
bk "$S8" create --repo "$R8" --quiet
cp -a "$R8/manifests" "$T/manifests8"
cp -a "$S8/.backup" "$T/record8"
echo "2" >"$S8/data/n2"
bk "$S8" create --repo "$R8" --quiet
last8=$(snap_id "$OUT")
rm -rf "$R8/manifests" "$S8/.backup"
cp -a "$T/manifests8" "$R8/manifests"
cp -a "$T/record8" "$S8/.backup"
bk "$S8" list --repo "$R8"
check "killed before its manifest: list shows the snapshot, without a warning" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^${3:0:8} " <<<"$2" && [ -z "$4" ]' _ "$RC" "$OUT" "$last8" "$ERR"
bk "$S8" verify --repo "$R8"
check "killed before its manifest: verify exits 0" "exit $RC; $OUT" test "$RC" -eq 0
bk "$S8" create --repo "$R8" --quiet
check "killed before its manifest: the next create exits 0" "exit $RC; $ERR" test "$RC" -eq 0

# A pruned snapshot put back.
S7=$T/s7
R7=$T/r7
new_store "$S7" "prune-$$"
bk "$S7" init --repo "$R7" --encrypt --passphrase-file "$T/pass"
ids7=()
for i in 1 2 3; do
	echo "$i" >"$S7/data/n$i"
	bk "$S7" create --repo "$R7" --quiet --passphrase-file "$T/pass"
	ids7+=("$(snap_id "$OUT")")
done
cp "$R7/snapshots/${ids7[0]}" "$T/pruned7"
bk "$S7" prune --repo "$R7" --keep-last 2 --passphrase-file "$T/pass"
check "prune: exit 0, the oldest forgotten" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 0 ] && [ ! -e "$2" ]' _ "$RC" "$R7/snapshots/${ids7[0]}"
cp "$T/pruned7" "$R7/snapshots/${ids7[0]}"
bk "$S7" list --repo "$R7" --passphrase-file "$T/pass"
check "pruned snapshot put back: list does not list it and warns \"not in the repository's manifest\"" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 0 ] && ! grep -q "^${3:0:8} " <<<"$2" && grep -q "warning: snapshot ${3:0:8}: not in the repository.s manifest" <<<"$4"' \
	_ "$RC" "$OUT" "${ids7[0]}" "$ERR"
bk "$S7" create --repo "$R7" --quiet --passphrase-file "$T/pass"
check "pruned snapshot put back: create refuses (exit 1)" "exit $RC; $ERR" test "$RC" -eq 1
bk "$S7" verify --repo "$R7" --passphrase-file "$T/pass"
check "pruned snapshot put back: verify exits 1 and names it" "exit $RC; $OUT" \
	bash -c '[ "$1" -eq 1 ] && grep -q "^snapshot ${3:0:8}: not in the repository.s manifest" <<<"$2"' _ "$RC" "$OUT" "${ids7[0]}"

# =====================================================================
# 7. backup key passwd.
# =====================================================================

printf 'the new passphrase\n' >"$T/newpass"
bk "$S2" key passwd --repo "$R2" --passphrase-file "$T/pass" --new-passphrase-file "$T/newpass"
check "key passwd: exit 0" "exit $RC; $OUT; $ERR" test "$RC" -eq 0
bk "$S2" list --repo "$R2" --passphrase-file "$T/pass"
check "key passwd: the old passphrase no longer opens it (exit 1)" "exit $RC; $ERR" test "$RC" -eq 1
bk "$S2" list --repo "$R2" --passphrase-file "$T/newpass"
check "key passwd: the new one does (list: exit 0)" "exit $RC; $ERR" test "$RC" -eq 0
bk "$S2" create --repo "$R2" --quiet --passphrase-file "$T/newpass"
check "key passwd: create with the new one works (same keys: the store's record still fits)" "exit $RC; $ERR" test "$RC" -eq 0

# =====================================================================
# 8. The encrypted repository replaced by a forged unencrypted one with
#    its id (and a manifest counter above the store's record): what
#    reads and prunes it must see the store's record too, not only
#    create.
# =====================================================================

S9=$T/s9
R9=$T/r9
A9=$T/a9
F9=$T/f9
new_store "$S9" "victim-marker-$$"
bk "$S9" init --repo "$R9" --encrypt --passphrase-file "$T/pass"
bk "$S9" create --repo "$R9" --quiet --passphrase-file "$T/pass"
check "forged unencrypted: the victim's encrypted create exits 0" "exit $RC; $ERR" test "$RC" -eq 0
id9=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$R9/config")
MARK9="attacker-marker-$$-$RANDOM"
new_store "$A9" "$MARK9"
bk "$A9" init --repo "$F9"
edit_config "$F9" "c['id'] = '$id9'"
bk "$A9" create --repo "$F9" --quiet --allow-unencrypted
check "forged unencrypted: the attacker's create exits 0" "exit $RC; $ERR" test "$RC" -eq 0
# The forged manifest (plain JSON without encryption) at counter 50.
python3 - "$F9/manifests" <<'PYEOF'
import hashlib, json, os, sys
d = sys.argv[1]
(old,) = os.listdir(d)
m = json.load(open(os.path.join(d, old)))
m["counter"] = 50
b = json.dumps(m).encode()
open(os.path.join(d, hashlib.blake2b(b, digest_size=32).hexdigest()), "wb").write(b)
os.unlink(os.path.join(d, old))
PYEOF
rm -rf "$R9"
mv "$F9" "$R9"
rec_before=$(cat "$S9/.backup/$id9")
bk "$S9" restore latest --repo "$R9" --to "$T/out9"
check "forged unencrypted: restore refuses (exit 1): \"this store wrote to repository $id9 encrypted, but its config now says it is not\"" \
	"exit $RC; $ERR" bash -c '[ "$1" -eq 1 ] && grep -qF "this store wrote to repository $3 encrypted, but its config now says it is not" <<<"$2"' \
	_ "$RC" "$ERR" "$id9"
hits=$(grep -r -a -l -F "$MARK9" "$T/out9" 2>/dev/null)
check "forged unencrypted: nothing of the attacker's restored" "$hits" test -z "$hits"
bk "$S9" prune --repo "$R9" --keep-last 1
check "forged unencrypted: prune refuses (exit 1)" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "its config now says it is not" <<<"$2"' _ "$RC" "$ERR"
check "forged unencrypted: the store's record is unchanged (still encrypted)" "$(cat "$S9/.backup/$id9")" \
	test "$(cat "$S9/.backup/$id9")" = "$rec_before"
bk "$S9" create --repo "$R9" --quiet
check "forged unencrypted: create still refuses to write in clear" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "refusing to write in clear" <<<"$2"' _ "$RC" "$ERR"
bk "$S9" verify --repo "$R9"
check "forged unencrypted: verify exits 1 and says so" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "its config now says it is not (replaced?): refusing to use it" <<<"$2"' _ "$RC" "$ERR"
bk "$S9" list --repo "$R9"
check "forged unencrypted: list lists (exit 0) and warns \"(replaced?): listed all the same, not to be restored\"" \
	"exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^spectrum: backup list: warning: .*its config now says it is not (replaced?): listed all the same, not to be restored$" <<<"$2"' \
	_ "$RC" "$ERR"
# A store with no record (a new machine restoring): the passphrase given
# is what says encryption was expected.
S9b=$T/s9b
mkdir -p "$S9b"
SPECTRUM_PASSPHRASE=$PASS bk "$S9b" restore latest --repo "$R9" --to "$T/out9b"
check "forged unencrypted, a store with no record: restore with SPECTRUM_PASSPHRASE refuses (exit 1), \"a passphrase was given\"" \
	"exit $RC; $ERR" bash -c '[ "$1" -eq 1 ] && grep -q "a passphrase was given" <<<"$2"' _ "$RC" "$ERR"
hits=$(grep -r -a -l -F "$MARK9" "$T/out9b" 2>/dev/null)
check "forged unencrypted, a store with no record: nothing of the attacker's restored" "$hits" test -z "$hits"

# =====================================================================
# 9. Files planted where spectrum reads: an index file of 2 GiB + 1
#    byte (sparse), FIFOs at snapshots/HASH, index/HASH and a pack's
#    place.  Each is damage, reported; none stops or hangs a command.
# =====================================================================

S10=$T/s10
R10=$T/r10
new_store "$S10" "planted-marker-$$"
bk "$S10" init --repo "$R10" --encrypt --passphrase-file "$T/pass"
bk "$S10" create --repo "$R10" --quiet --passphrase-file "$T/pass"
check "planted files: create exits 0" "exit $RC; $ERR" test "$RC" -eq 0
big=$(printf 'b%.0s' {1..64})
truncate -s $((2 * 1024 * 1024 * 1024 + 1)) "$R10/index/$big"
bk "$S10" verify --repo "$R10" --passphrase-file "$T/pass"
check "an index file of 2 GiB + 1 byte: verify exits 1 and names it \"index $big: damaged\"" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "^index $3: damaged" <<<"$2"' _ "$RC" "$OUT" "$big"
bk "$S10" restore latest --repo "$R10" --passphrase-file "$T/pass" --to "$T/out10"
check "an index file of 2 GiB + 1 byte: restore latest works (exit 0), byte for byte" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && diff -r "$2/data" "$3/data" >/dev/null' _ "$RC" "$S10" "$T/out10"
bk "$S10" repair --repo "$R10" --passphrase-file "$T/pass"
check "an index file of 2 GiB + 1 byte: repair (exit 0) removes it" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 0 ] && [ ! -e "$2" ]' _ "$RC" "$R10/index/$big"
fifo=$(printf 'f%.0s' {1..64})
mkfifo "$R10/snapshots/$fifo" "$R10/index/$fifo"
mkdir -p "$R10/packs/ff"
mkfifo "$R10/packs/ff/$fifo"
BK_TIMEOUT=30 bk "$S10" list --repo "$R10" --passphrase-file "$T/pass"
check "FIFOs planted: list does not hang (exit 0) and says \"snapshot ffffffff: its file is damaged\"" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && grep -q "snapshot ffffffff: its file is damaged" <<<"$2"' _ "$RC" "$ERR"
BK_TIMEOUT=30 bk "$S10" verify --repo "$R10" --passphrase-file "$T/pass" --read-data
check "FIFOs planted: verify --read-data does not hang (exit 1, the FIFOs named)" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "^index $3: damaged" <<<"$2" && grep -q "^pack $3: in no index, and its trailer is damaged" <<<"$2"' \
	_ "$RC" "$OUT" "$fifo"
BK_TIMEOUT=30 bk "$S10" restore latest --repo "$R10" --passphrase-file "$T/pass" --to "$T/out10b"
check "FIFOs planted: restore latest does not hang (exit 0)" "exit $RC; $ERR" test "$RC" -eq 0

# =====================================================================
# 10. Trees forged into an unencrypted repository (its writer can): a
#     chain of directory listings of 55 MiB each, 5 deep (275 MiB along
#     one path).  verify and prune hold each listing above the one they
#     walk, as restore does: bounded at 256 MiB the same way.
# =====================================================================

S11=$T/s11
R11=$T/r11
new_store "$S11" "tree-marker-$$"
bk "$S11" init --repo "$R11"
bk "$S11" create --repo "$R11" --quiet --allow-unencrypted
check "forged trees: the unencrypted create exits 0" "exit $RC; $ERR" test "$RC" -eq 0
python3 - "$R11" <<'PYEOF'
import hashlib, json, os, struct, sys
repo = sys.argv[1]
cfg = json.load(open(os.path.join(repo, "config")))
idkey = bytes.fromhex(cfg["keys"])[32:64]
def put(kind, data, pack=False):
    h = hashlib.blake2b(data, digest_size=32).hexdigest()
    d = os.path.join(repo, kind, h[:2]) if pack else os.path.join(repo, kind)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, h), "wb").write(data)
    return h
def entry(typ, name, tail):
    return (struct.pack("<BH", typ, len(name)) + name + struct.pack("<III", 0o755, 0, 0) +
            struct.pack("<qI", 0, 0) * 3 + struct.pack("<QQQI", 0, 0, 0, 1) + tail + struct.pack("<I", 0))
def tree(ents):
    ents.sort(key=lambda e: e[0])
    return b"SPBKTR01" + struct.pack("<I", len(ents)) + b"".join(entry(*e[1:]) for e in ents)
child = None
blobs = []
for level in range(6):
    ents = []
    if child is not None:
        ents.append((b"d", 2, b"d", child))
    if level > 0:
        for i in range(55 * 1024 * 1024 // 338):
            name = b"f%0254d" % i
            ents.append((name, 4, name, b""))
    t = tree(ents)
    child = hashlib.blake2b(t, digest_size=32, key=idkey).digest()
    blobs.append((child, t))
pack = bytearray(b"SPBKPK01")
trailer = bytearray(b"SPBKTL01" + struct.pack("<I", len(blobs)))
for bid, t in blobs:
    off = len(pack)
    pack += b"\0" + t
    trailer += struct.pack("<B", 2) + bid + struct.pack("<III", off, len(t) + 1, len(t))
pack += trailer + struct.pack("<I", len(trailer))
ph = put("packs", bytes(pack), pack=True)
index = b"SPBKIX01" + struct.pack("<I", 1) + bytes.fromhex(ph) + struct.pack("<I", len(blobs)) + trailer[12:]
put("index", index)
(sname,) = os.listdir(os.path.join(repo, "snapshots"))
snap = json.load(open(os.path.join(repo, "snapshots", sname)))
snap["tree"] = child.hex()
snap["time"] = "2099-01-01T00:00:00.000000000Z"
snap["parent"] = None
put("snapshots", json.dumps(snap).encode())
PYEOF
check "forged trees: the repository holds them (over 256 MiB of packs)" "$(du -sm "$R11")" \
	test "$(du -sm "$R11" | cut -f1)" -gt 256
bk "$S11" verify --repo "$R11"
check "forged trees: verify exits 1: \"directory listing beyond the 256 MiB that the listings along one path may take\"" \
	"exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "directory listing beyond the 256 MiB that the listings along one path may take" <<<"$2"' \
	_ "$RC" "$OUT"
bk "$S11" prune --repo "$R11" --keep-last 5
check "forged trees: prune refuses (exit 1): \"the listings down to here take more than 256 MiB together\"" \
	"exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "the listings down to here take more than 256 MiB together" <<<"$2"' _ "$RC" "$ERR"
rm -rf "$R11"

# =====================================================================
# 11. Rolled back together with the newest index file: prune refuses
#     before it cleans anything (it removed the newest snapshot's packs,
#     taken for leftovers, and only then refused).
# =====================================================================

S12=$T/s12
R12=$T/r12
new_store "$S12" "prune-rollback-$$"
bk "$S12" init --repo "$R12" --encrypt --passphrase-file "$T/pass"
bk "$S12" create --repo "$R12" --quiet --passphrase-file "$T/pass"
cp -a "$R12/manifests" "$T/manifests12"
idx12=$(ls "$R12/index")
head -c $((1024 * 1024)) /dev/urandom >"$S12/data/new.bin"
bk "$S12" create --repo "$R12" --quiet --passphrase-file "$T/pass"
id12=$(snap_id "$OUT")
check "rolled back with its index: the second create exits 0" "exit $RC; $ERR" test -n "$id12"
mv "$R12/snapshots/$id12" "$T/snap12"
for f in "$R12"/index/*; do
	grep -qxF "${f##*/}" <<<"$idx12" || rm "$f"
done
rm -rf "$R12/manifests"
cp -a "$T/manifests12" "$R12/manifests"
packs12=$(find "$R12/packs" -type f | sort)
bk "$S12" prune --repo "$R12" --keep-last 5 --passphrase-file "$T/pass"
check "rolled back with its index: prune refuses (exit 1), \"rolled back\"" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$1" -eq 1 ] && grep -q "rolled back" <<<"$2"' _ "$RC" "$ERR"
check "rolled back with its index: prune removed no pack" "$(find "$R12/packs" -type f | sort)" \
	test "$(find "$R12/packs" -type f | sort)" = "$packs12"
# Put back, the newest snapshot is whole again.
mv "$T/snap12" "$R12/snapshots/$id12"
bk "$S12" restore "$id12" --repo "$R12" --passphrase-file "$T/pass" --to "$T/out12" --quiet
check "rolled back with its index: the newest snapshot put back restores byte for byte" "exit $RC; $ERR" \
	bash -c '[ "$1" -eq 0 ] && cmp -s "$2/data/new.bin" "$3/data/new.bin"' _ "$RC" "$S12" "$T/out12"

# =====================================================================
# 12. `backup key passwd` killed (SIGKILL, by strace's fault injection)
#     at each step of writing the config: the repository opens with
#     exactly one of the two passphrases, and the next create cleans up.
# =====================================================================

S13=$T/s13
R13=$T/r13
new_store "$S13" "passwd-kill-$$"
bk "$S13" init --repo "$R13" --encrypt --passphrase-file "$T/pass"
bk "$S13" create --repo "$R13" --quiet --passphrase-file "$T/pass"
printf 'the passphrase after the kill\n' >"$T/killpass"
cp -a "$S13/.backup" "$T/record13"
# The tmp file's fsync, the rename (before it is done), the directory's
# fsync (after it).
for point in "fsync:when=1 old" "renameat,renameat2 old" "fsync:when=2 new"; do
	inject=${point% *}
	want=${point#* }
	rm -rf "$T/r13k" "$S13/.backup"
	cp -a "$R13" "$T/r13k"
	cp -a "$T/record13" "$S13/.backup"
	timeout -k 5 120 strace -f -o /dev/null -e trace="${inject%%:*}" -e inject="$inject:signal=KILL" \
		"$SPECTRUM" --state-dir "$S13" --run-dir "$RUNDIR" backup key passwd --repo "$T/r13k" \
		--passphrase-file "$T/pass" --new-passphrase-file "$T/killpass" </dev/null >/dev/null 2>&1 &
	wait $! 2>/dev/null
	krc=$?
	bk "$S13" list --repo "$T/r13k" --passphrase-file "$T/pass"
	old_rc=$RC
	bk "$S13" list --repo "$T/r13k" --passphrase-file "$T/killpass"
	new_rc=$RC
	case $want in
	new) expect="1 0" ;;
	*) expect="0 1" ;;
	esac
	check "key passwd killed at $inject (exit $krc): exactly the $want passphrase opens it" \
		"killed: $krc; old: $old_rc; new: $new_rc" \
		bash -c '[ "$1" -eq 137 ] && [ "$2 $3" = "$4" ]' _ "$krc" "$old_rc" "$new_rc" "$expect"
	if [ "$want" = new ]; then works=$T/killpass; else works=$T/pass; fi
	bk "$S13" create --repo "$T/r13k" --quiet --passphrase-file "$works"
	check "key passwd killed at $inject: the next create exits 0 and leaves tmp/ empty" "exit $RC; $ERR; $(ls "$T/r13k/tmp")" \
		bash -c '[ "$1" -eq 0 ] && [ -z "$(ls "$2")" ]' _ "$RC" "$T/r13k/tmp"
done

# =====================================================================
# 13. A format 1 config swapped for a forged one (other salt and sealed
#     keys, same id) while create waits for the lock: the upgrade to
#     format 2 must not put the MAC of the real keys on it.
# =====================================================================

S14=$T/s14
R14=$T/r14
new_store "$S14" "upgrade-race-$$"
bk "$S14" init --repo "$R14" --encrypt --passphrase-file "$T/pass"
edit_config "$R14" 'c["format"] = 1; c.pop("mac")'
cp "$R14/config" "$T/config14"
python3 - "$T/config14" "$T/forged14" <<'PYEOF'
import json, os, sys
c = json.load(open(sys.argv[1]))
c["kdf"]["salt"] = os.urandom(16).hex()
c["keys"] = os.urandom(len(c["keys"]) // 2).hex()
json.dump(c, open(sys.argv[2], "w"))
PYEOF
flock "$R14/lock" sleep 6 &
lockpid=$!
for _ in $(seq 50); do flock -n "$R14/lock" true || break; sleep 0.1; done
timeout -k 5 120 setsid -w "$SPECTRUM" --state-dir "$S14" --run-dir "$RUNDIR" backup create --repo "$R14" --quiet \
	--passphrase-file "$T/pass" </dev/null >"$T/race.out" 2>"$T/race.err" &
racepid=$!
for _ in $(seq 100); do grep -q "waiting for another spectrum" "$T/race.err" && break; sleep 0.1; done
cp "$T/forged14" "$R14/config"
wait "$lockpid"
wait "$racepid"
RC=$?
ERR=$(cat "$T/race.err")
check "config swapped while create waited for the lock: create refuses (exit 1), \"changed while open: refused\"" \
	"exit $RC; $ERR" bash -c '[ "$1" -eq 1 ] && grep -q "config: changed while open: refused" <<<"$2"' _ "$RC" "$ERR"
check "config swapped while create waited: the forged config got no MAC (left as it was)" "$(cat "$R14/config")" \
	cmp -s "$T/forged14" "$R14/config"

finish
