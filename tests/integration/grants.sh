#!/bin/bash
# Data grants resolve beneath data/ and nowhere else (issue 2): symlinks
# planted in the data directory (final or intermediate component, leaving
# data/ or not), ".." and absolute paths in the configuration, a race that
# swaps a directory and a symlink while instances start, and the owner on
# disk of what an instance writes.
#
# Usage: grants.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted bash -c scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

setup_store

OUTSIDE=$T/outside
OUTSIDE_SECRET="outside-secret-$RANDOM$RANDOM"
mkdir -p "$OUTSIDE/sub" "$STATE/data/Documents/work"
echo "$OUTSIDE_SECRET" >"$OUTSIDE/secret.txt"
echo "$OUTSIDE_SECRET" >"$OUTSIDE/sub/secret.txt"

# write_config NAME GRANTS: one instance NAME with the given grants.
write_config() {
	{
		echo "{ \"instances\": { \"$1\":"
		instance_json "$2"
		echo '} }'
	} >"$CONF"
}

# The host's mounts that this test's instances could leave behind: those
# beneath or of its own directory, and any of /etc (the symlinks' target).
# Other tests running meanwhile mount elsewhere, which is no failure here.
mountinfo_lines() {
	awk -v t="$T" 'index($0, t) || $4 == "/etc" || index($4, "/etc/") == 1 { $1 = ""; $2 = ""; print }' \
		/proc/self/mountinfo | sort
}

# refused_run NAME WHAT PATH-IN-MESSAGE CMD...: the run must fail with 1 or 2,
# say so on stderr naming the path, print nothing of the outside, and mount
# nothing on the host.
refused_run() {
	local name=$1 what=$2 path=$3
	shift 3
	local before after
	before=$(mountinfo_lines)
	echo "# trying: $what"
	run_in "$name" "$@"
	after=$(mountinfo_lines)
	echo "#   exit $RC, stderr: $(first_line "$ERR")"
	if [ "$RC" -ne 1 ] && [ "$RC" -ne 2 ]; then
		not_ok "$what: run is refused (exit 1 or 2)" "exit $RC; stdout: ${OUT:0:200}"
	else
		ok "$what: run is refused (exit $RC)"
	fi
	check "$what: the error is one line \"spectrum: ...\" naming $path" "stderr: $ERR" \
		bash -c '[ "$(grep -c . <<<"$1")" -eq 1 ] && grep -q "^spectrum: " <<<"$1" && grep -q -F -- "$2" <<<"$1"' _ "$ERR" "$path"
	check "$what: nothing of the outside is shown" "stdout: ${OUT:0:300}" \
		bash -c '! grep -q -e "$1" -e "^root:" <<<"$2"' _ "$OUTSIDE_SECRET" "$OUT"
	check "$what: no mount appeared on the host" "new: $(comm -13 <(echo "$before") <(echo "$after"))" \
		test "$before" = "$after"
}

# ---- a symlink to /etc planted as the grant path ----

ln -s /etc "$STATE/data/evil"
write_config evil '{"path": "evil", "at": "/home/user/evil", "mode": "ro"}'
refused_run evil "grant path data/evil -> /etc" evil "$P" read /home/user/evil/shadow
check "data/evil is still the symlink planted (not replaced or followed)" "" \
	test "$(readlink "$STATE/data/evil")" = /etc

ln -s "$OUTSIDE/secret.txt" "$STATE/data/evil-file"
write_config evilfile '{"path": "evil-file", "at": "/home/user/evil.txt", "mode": "ro"}'
refused_run evilfile "grant path data/evil-file -> a host file" evil-file "$P" read /home/user/evil.txt

# ---- a symlink in an intermediate component ----

ln -s "$OUTSIDE" "$STATE/data/mid"
write_config mid '{"path": "mid/sub", "at": "/home/user/mid", "mode": "rw"}'
refused_run mid "grant path data/mid/sub with data/mid -> a host directory" mid "$P" find-string "$OUTSIDE_SECRET" /home/user

mkdir -p "$STATE/data/Documents/deep"
ln -s /etc "$STATE/data/Documents/deep/link"
write_config deep '{"path": "Documents/deep/link/ssh", "at": "/home/user/deep", "mode": "ro"}'
refused_run deep "grant path Documents/deep/link/ssh with link -> /etc" link "$P" read /home/user/deep/sshd_config

# A symlink that stays inside data/ is refused too: every symlink is.
ln -s Documents/work "$STATE/data/alias"
write_config alias '{"path": "alias", "at": "/home/user/alias", "mode": "rw"}'
refused_run alias "grant path data/alias -> Documents/work (inside data/)" alias "$P" hostname

# ---- ".." and absolute paths in the configuration ----

# config_refused WHAT PATH: exit 2, one line naming the key path.
config_refused() {
	local what=$1 grant=$2
	write_config bad "{\"path\": \"$grant\", \"at\": \"/home/user/x\", \"mode\": \"ro\"}"
	echo "# trying: grant path \"$grant\" in the configuration"
	run_in bad "$P" hostname
	echo "#   exit $RC, stderr: $(first_line "$ERR")"
	check "$what: exit 2" "exit $RC; stdout: ${OUT:0:200}; stderr: $ERR" test "$RC" -eq 2
	check "$what: one error line naming the key (data[1].path)" "stderr: $ERR" \
		bash -c '[ "$(grep -c . <<<"$1")" -eq 1 ] && grep -q "^spectrum: .*data\[1\]" <<<"$1"' _ "$ERR"
	sp inspect --config "$CONF" bad >/dev/null 2>&1
	local irc=$?
	check "$what: inspect refuses it too (exit 2)" "exit $irc" test "$irc" -eq 2
}

config_refused "\"..\" alone" ".."
config_refused "\"..\" leading" "../store/state"
config_refused "\"..\" in the middle" "Documents/../../outside"
config_refused "an absolute path" "/etc"
config_refused "an absolute path into the store" "$STATE/state"
check "no state directory was made for a refused instance" "$(ls "$STATE/state" 2>&1)" \
	test ! -e "$STATE/state/bad"

# ---- a race between a directory and a symlink at the grant path ----

mkdir -p "$STATE/data/race" "$STATE/data/race-other"
rmdir "$STATE/data/race-other"
ln -s /etc "$STATE/data/race-other"
echo benign >"$STATE/data/race/benign"
write_config race '{"path": "race", "at": "/home/user/race", "mode": "ro"}'

# The swapper exchanges data/race and data/race-other atomically
# (renameat2 RENAME_EXCHANGE) in a loop, bounded to 90 s.
"$PROBE" race-swap "$STATE/data/race" "$STATE/data/race-other" 90 >"$T/swap.out" 2>&1 &
SWAP_PID=$!
BG_PIDS+=("$SWAP_PID")
sleep 0.2
before=$(mountinfo_lines)
runs=0 mounted=0 refused=0 leaked=0 other=0 leak_detail=""
deadline=$((SECONDS + 240))
for ((i = 0; i < 50 && SECONDS < deadline; i++)); do
	SP_TIMEOUT=20 run_in race /usr/bin/ls -A /home/user/race
	runs=$((runs + 1))
	if [ "$RC" -eq 0 ] && [ "$OUT" = benign ]; then
		mounted=$((mounted + 1))
	elif [ "$RC" -eq 1 ] || [ "$RC" -eq 2 ]; then
		refused=$((refused + 1))
		[ -n "$OUT" ] && { leaked=$((leaked + 1)); leak_detail="$OUT"; }
	elif [ "$RC" -eq 0 ]; then
		leaked=$((leaked + 1))
		leak_detail="$OUT"
	else
		other=$((other + 1))
		leak_detail="exit $RC: $(first_line "$ERR")"
	fi
done
kill "$SWAP_PID" 2>/dev/null
wait "$SWAP_PID" 2>/dev/null
after=$(mountinfo_lines)
swaps=$(grep -o '[0-9]* exchanges' "$T/swap.out")
echo "# race: $runs runs, $mounted showed the directory, $refused refused, $leaked showed something else, $other other; swapper: ${swaps:-?}"
check "race: the swapper really swapped" "$(cat "$T/swap.out")" grep -q '[1-9][0-9]* exchanges' "$T/swap.out"
check "race: no run ever showed /etc (or anything but the directory)" "$leak_detail" test "$leaked" -eq 0
check "race: every run either showed the directory or was refused" "$leak_detail" test "$other" -eq 0
check "race: at least one run mounted the directory (the check can see it)" "$mounted of $runs" test "$mounted" -gt 0
check "race: no mount appeared on the host" "$(comm -13 <(echo "$before") <(echo "$after"))" test "$before" = "$after"

# ---- a read-only grant is a read-only mount ----

# The files are the instance user's inside (idmapped) and Landlock would
# refuse the writes too: only the mount's flag gives EROFS, so these fail
# when the grant is mounted read-write.
mkdir -p "$STATE/data/ro"
echo "ro text" >"$STATE/data/ro/ro.txt"
write_config ro '{"path": "ro", "at": "/home/user/ro", "mode": "ro"}'
expect_allowed ro read /home/user/ro/ro.txt
expect_refused ro EROFS write /home/user/ro/ro.txt
expect_refused ro EROFS create /home/user/ro/new.txt
expect_refused ro EROFS mkdir /home/user/ro/newdir
run_in ro "$P" cat /proc/self/mountinfo
opts=$(awk '$5 == "/home/user/ro" { o = $6 } END { print o }' <<<"$OUT")
check "[ro] mountinfo: the ro grant is mounted ro,nosuid,nodev,idmapped" "options: ${opts:-(not mounted)}" \
	bash -c '[[ ,$1, == *,ro,* && ,$1, == *,nosuid,* && ,$1, == *,nodev,* && ,$1, == *,idmapped,* ]]' _ "$opts"
check "the ro grant is unchanged on disk" "$(ls -la "$STATE/data/ro")" \
	bash -c '[ "$(ls -A "$1")" = ro.txt ] && [ "$(cat "$1/ro.txt")" = "ro text" ]' _ "$STATE/data/ro"

# ---- what an instance writes is owned by the store's owner on disk ----

write_config owner '{"path": "Documents/work", "at": "/home/user/Documents", "mode": "rw"}'
echo "made on the host" >"$STATE/data/Documents/work/host-made.txt"
run_in owner /usr/bin/sh -c '
	echo from-instance > /home/user/Documents/written.txt &&
	mkdir /home/user/Documents/newdir &&
	echo in-dir > /home/user/Documents/newdir/f &&
	echo home-file > /home/user/home-written.txt &&
	echo appended >> /home/user/Documents/host-made.txt &&
	/usr/bin/stat -c "%u:%g %n" /home/user/Documents/written.txt /home/user/Documents/host-made.txt /home/user'
echo "# owner run: exit $RC"
note "$OUT"
[ -n "$ERR" ] && note "stderr: $ERR"
check "an instance writes through its rw grant and its home (exit 0)" "exit $RC; $(first_line "$ERR")" test "$RC" -eq 0
check "inside, grant files and the home belong to the user (1000:1000)" "$OUT" \
	bash -c '[ "$(grep -c "^1000:1000 " <<<"$1")" -eq 3 ]' _ "$OUT"
for f in data/Documents/work/written.txt data/Documents/work/newdir data/Documents/work/newdir/f \
	data/Documents/work/host-made.txt state/owner/home-written.txt; do
	own=$(stat -c %u:%g "$STATE/$f" 2>&1)
	check "on disk, $f is owned by the store owner 0:0" "got: $own" test "$own" = 0:0
done
check "the write through the grant landed in the store" "" \
	test "$(cat "$STATE/data/Documents/work/written.txt" 2>/dev/null)" = from-instance
check "the write into the home landed in state/owner" "" \
	test "$(cat "$STATE/state/owner/home-written.txt" 2>/dev/null)" = home-file

finish
