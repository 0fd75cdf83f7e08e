#!/bin/bash
# Software from the Nix store (issue 2): an instance whose software is a
# store path sees that path's closure (from nix-store -qR) under
# /nix/store, read-only, and nothing else of the store, nor the host's
# /usr.  The app is built offline by nix-build from the host's
# busybox-static; its closure has a real reference (app -> busybox).
#
# Usage: nix-software.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

if ! command -v nix-build >/dev/null || [ ! -x /bin/busybox ]; then
	echo "Bail out! nix-build or /bin/busybox missing: run scripts/install-deps"
	exit 1
fi
export NIX_CONFIG="build-users-group ="

setup_store

# The busybox store path, and a store path that no instance is given.
mkdir -p "$T/bb/bin" "$T/unrelated"
cp /bin/busybox "$T/bb/bin/busybox"
echo "not for the instance" >"$T/unrelated/secret"
BB=$(timeout 60 nix-store --add "$T/bb") || { echo "Bail out! nix-store --add failed"; exit 1; }
UNRELATED=$(timeout 60 nix-store --add "$T/unrelated")

cat >"$T/app.nix" <<EOF
let bb = builtins.storePath "$BB"; in
derivation {
  name = "spectrum-test-app";
  system = builtins.currentSystem;
  builder = "\${bb}/bin/busybox";
  args = [ "sh" "-c" ''
    \${bb}/bin/busybox mkdir -p \$out/bin
    printf '#!%s/bin/busybox sh\necho app runs\n' \${bb} > \$out/bin/app
    \${bb}/bin/busybox chmod 555 \$out/bin/app
  '' ];
}
EOF
APP=$(timeout 300 nix-build "$T/app.nix" --no-out-link 2>"$T/nix-build.err")
check "nix-build of the test app works offline" "$(tail -n 3 "$T/nix-build.err")" test -x "$APP/bin/app"
note "app: $APP; busybox: $BB; unrelated: $UNRELATED"
check "the app's closure holds busybox (a real reference)" "$(nix-store -qR "$APP")" \
	bash -c 'nix-store -qR "$1" | grep -qx "$2"' _ "$APP" "$BB"

cat >"$CONF" <<EOF
{ "instances": {
  "nixapp": { "software": ["$APP"], "command": ["app"] }
} }
EOF

OUT=$(sp run --config "$CONF" nixapp </dev/null 2>"$T/err")
RC=$?
ERR=$(cat "$T/err")
check "a bare command name is found in the store path's bin/ and runs" "exit $RC; $OUT $ERR" \
	test "$RC" = 0 -a "$OUT" = "app runs"

B=$BB/bin/busybox
run_in nixapp "$B" ls /nix/store
expected=$(printf '%s\n' "$(basename "$APP")" "$(basename "$BB")" | sort)
got=$(sort <<<"$OUT")
check "/nix/store shows exactly the closure" "got: $got" test "$got" = "$expected"

run_in nixapp "$B" cat "$UNRELATED/secret"
check "a store path outside the closure is not there" "exit $RC; $OUT" test "$RC" != 0

# Each path by itself: a listing of several directories would hide the
# entries of /bin and /lib among /usr's.
run_in nixapp "$B" sh -c 'for d in /usr /bin /sbin /lib /lib32 /lib64 /libx32 /etc/ld.so.cache; do
	[ -e "$d" ] || [ -L "$d" ] && echo "present: $d"; done; echo end'
check "no host /usr, /bin, /sbin, /lib* or ld.so.cache without \"host\" software" "$OUT" \
	test "$OUT" = end

# The store's own modes (0555) would refuse this too (EACCES): only the
# read-only mount gives EROFS.
run_in nixapp "$B" sh -c "echo x > $APP/bin/new"
check "the store paths are read-only mounts (EROFS, not only file modes)" "exit $RC; $ERR" \
	bash -c '[ "$1" != 0 ] && grep -q "Read-only file system" <<<"$2"' _ "$RC" "$ERR"
check "nothing was written into the store" "$(ls "$APP/bin")" test ! -e "$APP/bin/new"

run_in nixapp "$B" touch /home/user/made-here
check "the home is writable for a store-only instance" "exit $RC; $ERR" \
	test "$RC" = 0 -a -f "$STATE/state/nixapp/made-here"

run_in nixapp "$B" sh -c 'cat /proc/self/mountinfo'
for path in "$APP" "$BB"; do
	opts=$(awk -v m="$path" '$5 == m { o = $6 } END { print o }' <<<"$OUT")
	check "the closure's $(basename "$path") is mounted ro,nosuid,nodev" "options: ${opts:-(not mounted)}" \
		bash -c '[[ ,$1, == *,ro,* && ,$1, == *,nosuid,* && ,$1, == *,nodev,* ]]' _ "$opts"
done

finish
