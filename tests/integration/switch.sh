#!/bin/bash
# Generations (issue 3): switch records a complete generation and makes it
# current atomically; bad configuration changes nothing; rollback and diff
# say what changed in plain words; GC roots keep every generation's
# software alive; and SIGKILL at any point of a switch leaves the previous
# generation current and complete.
#
# Usage: switch.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

export NIX_CONFIG="build-users-group ="
setup_store
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# A store path of our own for the software, so that the GC test deletes
# nothing anyone else needs.
mkdir -p "$T/app/bin"
printf '#!/bin/sh\necho "app $*"\n' >"$T/app/bin/app"
chmod 555 "$T/app/bin/app"
APP=$(timeout 60 nix-store --add "$T/app")

# config MEMORY [EXTRA-INSTANCE-JSON]: writes $T/cfg-MEMORY.json.
config() {
	local f="$T/cfg-$1.json"
	cat >"$f" <<EOF
{ "instances": {
  "alpha": { "software": ["host", "$APP"], "command": ["app", "alpha"],
             "data": [{"path": "docs", "at": "/home/user/Documents", "mode": "rw"}],
             "resources": {"memory": "$1", "pids": 64} },
  "beta":  { "software": ["host"], "command": ["true"] }${2:-}
} }
EOF
	echo "$f"
}

current() { readlink "$STATE/current" 2>/dev/null || echo none; }
gens() { ls "$STATE/generations" 2>/dev/null | tr '\n' ' '; }

C1=$(config 64M)
sp switch "$C1" >"$T/out" 2>&1
check "the first switch makes generation 1 current" "$(cat "$T/out")" test "$(current)" = generations/1
for f in config.json source created closure hashes; do
	check "generation 1 has $f" "$(ls "$STATE/generations/1")" test -s "$STATE/generations/1/$f"
done
check "closure records the app's store path for alpha" "$(cat "$STATE/generations/1/closure")" \
	grep -qx "alpha	$APP" "$STATE/generations/1/closure"
OUT=$(sp run alpha 2>&1)
check "run without --config uses the current generation" "$OUT" test "$OUT" = "app alpha"

# Bad input of every kind: nothing stored changes.
before="$(current) | $(gens)"
echo '{ "instances": { "x": ' >"$T/syntax.json"
echo '{ "instances": { "x": { "software": ["host"], "command": ["a"], "data": [{"path": "d", "at": "/x", "mode": "rwx"}] } } }' >"$T/mode.json"
echo '{ instances = { x = { software = [ "host" ]; command = [ "a" ] ; }; ' >"$T/syntax.nix"
echo '{ instances = { x = { software = [ "host" ]; command = [ missing ]; }; }; }' >"$T/missing.nix"
echo '{ instances = { x = { software = [ "host" ]; command = [ "a" ]; resources.memory = "256Q"; }; }; }' >"$T/size.nix"
for bad in syntax.json mode.json syntax.nix missing.nix size.nix /nonexistent.json; do
	f=$bad
	[ "${bad#/}" = "$bad" ] && f=$T/$bad
	sp switch "$f" >"$T/out" 2>&1
	rc=$?
	check "switch of a bad configuration ($bad) exits 2 with one line" "exit $rc: $(cat "$T/out")" \
		test "$rc" = 2 -a "$(wc -l <"$T/out")" = 1
	check "... and changes no generation ($bad)" "$(current) | $(gens)" test "$(current) | $(gens)" = "$before"
done
OUT=$(sp switch "$T/mode.json" 2>&1)
check "the validation error names the key path" "$OUT" grep -q 'instances.x.data\[0\].mode' <<<"$OUT"
OUT=$(sp switch "$T/syntax.nix" 2>&1)
check "the Nix error names the file" "$OUT" grep -q 'syntax.nix' <<<"$OUT"

C2=$(config 128M ', "gamma": { "software": ["host"], "command": ["true"], "autostart": true }')
sp switch "$C2" >"$T/out" 2>&1
OUT=$(cat "$T/out")
check "a second switch makes generation 2 current" "$OUT" test "$(current)" = generations/2
check "switch says alpha would restart: memory raised" "$OUT" \
	bash -c 'grep -q "alpha *would restart" <<<"$1" && grep -q "memory limit raised from 64M to 128M" <<<"$1"' _ "$OUT"
check "switch leaves unchanged beta alone" "$OUT" bash -c 'grep -q "beta *unchanged" <<<"$1"' _ "$OUT"
check "switch would start the new autostart gamma" "$OUT" bash -c 'grep -q "gamma *would start" <<<"$1"' _ "$OUT"

OUT=$(sp diff 1 2 2>&1)
check "diff 1 2 names the change in plain words" "$OUT" \
	bash -c 'grep -q "memory limit raised from 64M to 128M" <<<"$1" && grep -q "gamma *added" <<<"$1"' _ "$OUT"
OUT=$(sp generations 2>&1)
check "generations lists both, the current marked" "$OUT" bash -c 'grep -qE "^ +2 \*" <<<"$1" && grep -qE "^ +1  " <<<"$1"' _ "$OUT"

OUT=$(sp rollback 2>&1)
check "rollback makes generation 1 current again" "$OUT" test "$(current)" = generations/1
check "rollback says gamma would stop" "$OUT" bash -c 'grep -q "gamma *would stop" <<<"$1"' _ "$OUT"
sp rollback >"$T/out" 2>&1
rc=$?
check "rollback with no earlier generation fails (exit 1, one line \"spectrum: ...\")" "exit $rc: $(cat "$T/out")" \
	bash -c '[ "$1" = 1 ] && [ "$(grep -c . "$2")" = 1 ] && grep -q "^spectrum: " "$2"' _ "$rc" "$T/out"
check "... and changes nothing" "$(cat "$T/out"); current $(current); $(gens)" \
	test "$(current)" = generations/1
sp switch >"$T/out" 2>&1
check "switch without FILE evaluates the current generation's file again" "$(cat "$T/out")" \
	test "$(current)" = generations/3 -a "$(cat "$STATE/generations/3/source")" = "$C1"

# GC roots: Nix refuses to delete software a generation uses.
nix-store --delete "$APP" >"$T/out" 2>&1
check "nix-store --delete refuses a generation's software (GC root)" "$(cat "$T/out")" test -d "$APP"

# SIGKILL at many points of a switch (one with host software, so that it
# has work to do): the generation in force stays complete and current.
start=$(date +%s%N)
sp switch "$C2" >/dev/null 2>&1
dur=$(( ($(date +%s%N) - start) / 1000 ))  # microseconds
note "a switch takes $((dur / 1000)) ms; killing it at 30 points across that"
bad_kill=""
landed=0 partial=0
for i in $(seq 1 30); do
	last=$(current)
	"$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" switch "$C1" >/dev/null 2>&1 &
	pid=$!
	sleep "$(awk -v d="$dur" -v i="$i" 'BEGIN { printf "%.6f", d * i / 30 / 1e6 }')"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# 137: the switch was still running when SIGKILL came (one that had
	# finished is a zombie by then, and kill does nothing to it).
	[ $? -eq 137 ] && landed=$((landed + 1))
	compgen -G "$STATE/generations/.new-*" >/dev/null && partial=$((partial + 1))
	now=$(current)
	n=${now#generations/}
	for f in config.json source created closure hashes; do
		[ -s "$STATE/generations/$n/$f" ] || bad_kill="$bad_kill kill $i: generation $n lacks $f;"
	done
	if [ "$now" != "$last" ] && [ "$now" != "generations/$(ls "$STATE/generations" | grep -E '^[0-9]+$' | sort -n | tail -n 1)" ]; then
		bad_kill="$bad_kill kill $i: current moved to $now, neither the last nor the newest;"
	fi
	sp inspect alpha >/dev/null 2>"$T/inspect.err" || bad_kill="$bad_kill kill $i: inspect fails on $now: $(cat "$T/inspect.err");"
done
note "$landed of 30 switches were killed while running, $partial left a half-written generation"
check "at least 10 of the 30 SIGKILLs landed while the switch ran (exit 137)" "$landed landed" test "$landed" -ge 10
check "at least one SIGKILL left a half-written generation behind (the kill came mid-write)" "$partial" \
	test "$partial" -ge 1
check "after 30 SIGKILLs mid-switch the current generation is always complete and usable" "$bad_kill" \
	test -z "$bad_kill"
sp switch "$C1" >/dev/null 2>&1
check "the next switch works and removes what killed switches left" "$(ls -a "$STATE/generations")" \
	bash -c '! ls -a "$1" | grep -q "^\.new-"' _ "$STATE/generations"

# Each app is updated on its own: fifty instances over ten apps, one app
# changed, and exactly its five instances differ, with its old and new
# store path named.
sp switch "$ROOT/tests/nix/fifty.nix" >"$T/out" 2>&1
check "switch of 50 instances over 10 apps (built offline)" "$(tail -n 3 "$T/out")" \
	bash -c 'grep -c "^  inst-" "$1" | grep -qx 50' _ "$T/out"
sp switch "$ROOT/tests/nix/fifty-changed.nix" >/dev/null 2>&1
OUT=$(sp diff 2>&1)
changed=$(grep -E "^  inst-[0-9]+ +changed" <<<"$OUT" | awk '{print $1}' | tr '\n' ' ')
check "changing one app changes exactly its five instances" "$OUT" \
	test "$changed" = "inst-03 inst-13 inst-23 inst-33 inst-43 "
check "... and the others are unchanged" "$OUT" \
	bash -c '[ "$(grep -cE "^  inst-[0-9]+ +unchanged" <<<"$1")" = 45 ]' _ "$OUT"
check "... naming the app's old and new store path" "$OUT" \
	bash -c '[ "$(grep -cE "software changed from /nix/store/[a-z0-9]{32}-app-3 to /nix/store/[a-z0-9]{32}-app-3" <<<"$1")" = 5 ]' _ "$OUT"

EXTRA_CLEANUP='find /nix/var/nix/gcroots/spectrum -lname "$APP" -delete 2>/dev/null; nix-store --delete "$APP" >/dev/null 2>&1'
finish
