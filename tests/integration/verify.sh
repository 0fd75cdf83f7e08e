#!/bin/bash
# verify (issue 3): a store path of an instance's closure changed on disk
# after the switch (a byte, a file added or removed, a mode bit, a symlink
# retargeted) makes `spectrum verify` fail naming the store path and the
# file, in the fast mode and with --full; put back, it passes again.  The
# same for a file of the host's /usr seen by a "host" instance.
#
# Usage: verify.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

export NIX_CONFIG=$'build-users-group =\nsubstituters ='
setup_store

# A store path of this test's own (unique content), so that changing it
# harms nothing else; removed at the end.
SRC=$T/tool
mkdir -p "$SRC/bin" "$SRC/share/deep/er"
printf '#!/bin/sh\necho tool %s\n' "$$-$RANDOM" >"$SRC/bin/tool"
chmod 755 "$SRC/bin/tool"
printf 'data %s\n' "$RANDOM$RANDOM" >"$SRC/share/data"
printf 'other\n' >"$SRC/share/other"
printf 'nested\n' >"$SRC/share/deep/er/file"
ln -s data "$SRC/share/link"
P=$(timeout 60 nix-store --add "$SRC")
EXTRA_CLEANUP='chmod -R u+w "$P" 2>/dev/null; find /nix/var/nix/gcroots/spectrum -lname "$P" -delete 2>/dev/null; nix-store --delete "$P" >/dev/null 2>&1; rm -f /usr/local/share/spectrum-verify-test-$$'
HOSTFILE=/usr/local/share/spectrum-verify-test-$$
mkdir -p /usr/local/share
echo "host file $RANDOM" >"$HOSTFILE"

cat >"$CONF" <<EOF
{ "instances": {
  "tool": { "software": ["$P"], "command": ["tool"] },
  "hosted": { "software": ["host"], "command": ["true"] }
} }
EOF
sp switch "$CONF" >"$T/out" 2>&1
check "switch records the generation" "$(tail -n 3 "$T/out")" test -s "$STATE/generations/1/stamps"

# verify_fails WHAT FILE-IN-MESSAGE [NAME]: both modes fail naming it.
verify_fails() {
	local what=$1 file=$2 name=${3:-tool} mode
	for mode in "" --full; do
		sp verify $mode "$name" >"$T/out" 2>&1
		local rc=$?
		check "verify ${mode:-(fast)} fails after: $what" "exit $rc: $(cat "$T/out")" test "$rc" = 1
		check "verify ${mode:-(fast)} names $file after: $what" "$(cat "$T/out")" grep -qF "$file" "$T/out"
	done
}
verify_passes() {
	local what=$1 name=${2:-tool} mode
	for mode in "" --full; do
		sp verify $mode "$name" >"$T/out" 2>&1
		local rc=$?
		check "verify ${mode:-(fast)} passes: $what" "exit $rc: $(cat "$T/out")" test "$rc" = 0
	done
}

verify_passes "as switched"
chmod -R u+w "$P"

cp "$P/share/data" "$T/data.orig"
sed -i 's/data/DATA/' "$P/share/data"
verify_fails "one byte changed" "$P/share/data: content changed"
cp "$T/data.orig" "$P/share/data"
verify_passes "the byte put back"

echo new >"$P/share/deep/added"
verify_fails "a file added" "$P/share/deep/added: added"
rm "$P/share/deep/added"
verify_passes "the added file removed"

mv "$P/share/deep/er/file" "$T/file.orig"
verify_fails "a file removed" "$P/share/deep/er/file: removed"
mv "$T/file.orig" "$P/share/deep/er/file"
verify_passes "the removed file put back"

chmod u-x "$P/bin/tool"
verify_fails "a mode bit changed" "$P/bin/tool: mode changed"
chmod u+x "$P/bin/tool"
verify_passes "the mode put back"

ln -sfn other "$P/share/link"
verify_fails "a symlink retargeted" "$P/share/link: symlink target changed"
ln -sfn data "$P/share/link"
verify_passes "the symlink put back"

# --full rehashes all of /usr (about 9 GB with QEMU and the guest kernel's
# modules): minutes under the sanitizers on a busy machine.
SP_TIMEOUT=600 verify_passes "the host's /usr as switched" hosted
echo "changed $RANDOM" >>"$HOSTFILE"
verify_fails "a file of the host's /usr changed" "usr/local/share/spectrum-verify-test-$$: content changed" hosted
rm -f "$HOSTFILE"
verify_fails "a file of the host's /usr removed" "usr/local/share/spectrum-verify-test-$$: removed" hosted

sp verify nosuch >"$T/out" 2>&1
rc=$?
check "verify of an unknown instance exits 2" "$(cat "$T/out")" test "$rc" = 2

finish
