#!/bin/bash
# The configuration in Nix (issue 3): the nix/ library, examples/writer.nix
# and its variants, evaluated through nix/eval.nix and built offline from the
# host's busybox-static; then the same file through `spectrum run`.
#
# Usage: nix-config.sh SPECTRUM PROBE        (TAP on stdout)

# shellcheck disable=SC2016 # single-quoted scripts take their values as arguments
set -u

. "$(dirname "$0")/lib.sh" "$@"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
NIXDIR=$REPO/nix

for tool in nix-instantiate nix-store nix-build python3; do
	command -v "$tool" >/dev/null || { echo "Bail out! $tool missing: run scripts/install-deps"; exit 1; }
done
[ -x /bin/busybox ] || { echo "Bail out! /bin/busybox missing: run scripts/install-deps"; exit 1; }

# Offline: no build users (Debian's nix-bin has no nixbld group) and no
# substituter (cache.nixos.org cannot be reached; asking it costs seconds).
export NIX_CONFIG="build-users-group =
substituters ="

setup_store

# nix_eval FILE: the wrapper's JSON of FILE into $T/NAME.json; sets RC, ERR.
nix_eval() {
	local file=$1 out
	out=$T/$(basename "$1" .nix).json
	timeout 120 nix-instantiate --eval --strict --json --read-write-mode \
		-I "spectrum=$NIXDIR" --argstr file "$file" "$NIXDIR/eval.nix" >"$out" 2>"$T/eval.err"
	RC=$?
	ERR=$(cat "$T/eval.err")
}

# py SCRIPT ARGS...: a python3 check; its stdout is the details.
py() {
	local script=$1
	shift
	python3 -c "$script" "$@"
}

# ---- examples/writer.nix through nix/eval.nix --------------------------------

nix_eval "$REPO/examples/writer.nix"
check "examples/writer.nix evaluates through nix/eval.nix" "exit $RC; $(first_line "$ERR")" test "$RC" = 0
W=$T/writer.json

# Everything but the software is as in writer.json; the software is the one
# writer derivation, without "host".
DETAILS=$(py '
import json, sys
got = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
assert set(got) == {"config", "drvs"}, "top keys %s" % sorted(got)
g, w = got["config"], want
assert set(g) == {"instances"}, "config keys %s" % sorted(g)
assert set(g["instances"]) == set(w["instances"]), sorted(g["instances"])
for name, wi in w["instances"].items():
    gi = dict(g["instances"][name]); wi = dict(wi)
    sw = gi.pop("software"); wi.pop("software")
    assert gi == wi, "%s: %s != %s" % (name, gi, wi)
    assert len(sw) == 1 and sw[0].startswith("/nix/store/") and sw[0].endswith("-writer"), sw
' "$W" "$REPO/examples/writer.json" 2>&1)
check "writer.nix gives writer.json's model, with a built writer instead of \"host\"" "$DETAILS" test -z "$DETAILS"

APP=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["instances"]["writer-work"]["software"][0])' "$W" 2>/dev/null)
SAME=$(py 'import json,sys; i=json.load(open(sys.argv[1]))["config"]["instances"]; print(i["writer-work"]["software"] == i["writer-home"]["software"])' "$W" 2>/dev/null)
check "both instances run the same writer" "$SAME" test "$SAME" = True
DRVS=$(py 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["drvs"]))' "$W" 2>/dev/null)
check "drvs names the writer's .drv, once" "$DRVS" \
	bash -c '[ "$(wc -l <<<"$1")" = 1 ] && [[ $1 == /nix/store/*-writer.drv ]] && [ -f "$1" ]' _ "$DRVS"
OUTS=$(nix-store -q --outputs "$DRVS" 2>&1)
check "the .drv's output is the software path of the configuration" "$OUTS vs $APP" test "$OUTS" = "$APP"
note "writer: $APP ($DRVS)"

# ---- building offline ---------------------------------------------------------

BUILT=$(timeout 300 nix-store --realise "$DRVS" 2>"$T/realise.err")
check "nix-store --realise of the drvs builds the writer offline" "$(tail -n 3 "$T/realise.err")" \
	test "$BUILT" = "$APP" -a -x "$APP/bin/writer"
BUILT2=$(timeout 300 nix-build "$REPO/examples/apps/writer.nix" --no-out-link 2>"$T/build.err")
check "nix-build examples/apps/writer.nix gives the same path" "$BUILT2 $(tail -n 3 "$T/build.err")" \
	test "$BUILT2" = "$APP"

# As on a fresh machine: an empty store of its own (a chroot store), where
# busybox and the writer are added and built from nothing, offline.
FRESH="local?root=$T/fresh"
FRESH_DRV=$(timeout 120 nix-instantiate --store "$FRESH" "$REPO/examples/apps/writer.nix" 2>"$T/fresh.err")
FRESH_OUT=$(timeout 300 nix-store --store "$FRESH" --realise "$FRESH_DRV" 2>>"$T/fresh.err")
check "in an empty store the writer builds offline, to the same path" \
	"$FRESH_OUT; $(tail -n 3 "$T/fresh.err")" \
	test "$FRESH_OUT" = "$APP" -a -x "$T/fresh$APP/bin/writer"
FRESH_CLOSURE=$(nix-store --store "$FRESH" -qR "$APP" 2>&1 | sort)
check "the empty store then holds the writer's closure" "$FRESH_CLOSURE" \
	test "$FRESH_CLOSURE" = "$(nix-store -qR "$APP" | sort)"

mapfile -t CLOSURE < <(nix-store -qR "$APP" 2>/dev/null)
BB=""
for p in "${CLOSURE[@]}"; do
	[[ $p == *-busybox ]] && BB=$p
done
check "the closure is the writer and busybox, nothing else" "${CLOSURE[*]}" \
	test "${#CLOSURE[@]}" = 2 -a -n "$BB"
check "busybox in the store is the host's /bin/busybox, alone in bin/" "$(ls -la "$BB" "$BB/bin" 2>&1)" \
	bash -c 'cmp -s "$1/bin/busybox" /bin/busybox && [ "$(ls -A "$1")" = bin ] && [ "$(ls -A "$1/bin")" = busybox ]' _ "$BB"
SHEBANG=$(head -n 1 "$APP/bin/writer")
check "bin/writer starts with #!BUSYBOX sh" "$SHEBANG" test "$SHEBANG" = "#!$BB/bin/busybox sh"
BAD=""
for a in sh cat ls wc tr id uname find sed printf; do
	[ "$(readlink "$APP/bin/$a")" = "$BB/bin/busybox" ] || BAD+=" $a"
done
check "the app's bin/ has the applets the script needs, linked to busybox" "missing or wrong:$BAD" test -z "$BAD"

# ---- the writer outside Spectrum -------------------------------------------------

H=$T/home
mkdir -p "$H/Documents"
printf 'Quarterly report\n' >"$H/Documents/report.txt"
OUT=$(timeout 30 env -i HOME="$H" PATH="$APP/bin" "$APP/bin/writer" list 2>&1)
check "writer list runs under the built busybox" "$OUT" \
	bash -c 'grep -q "^Documents in $2/Documents:" <<<"$1" && grep -Eq "^ +17  report.txt$" <<<"$1"' _ "$OUT" "$H"
OUT=$(timeout 30 env -i HOME="$H" PATH=/nonexistent "$APP/bin/writer" append notes.txt hello world 2>&1 &&
	timeout 30 env -i HOME="$H" PATH=/nonexistent "$APP/bin/writer" read notes.txt 2>&1)
check "writer append and read work with no PATH at all" "$OUT" \
	test "$OUT" = "appended to $H/Documents/notes.txt"$'\n'"hello world"
OUT=$(timeout 30 env -i HOME="$H" PATH="$APP/bin" "$APP/bin/writer" read ../x 2>&1)
check "writer refuses a name that is not a document" "$OUT" grep -q "not a document name" <<<"$OUT"

# ---- writer-v2.nix: the app changed, one grant more ----------------------------

nix_eval "$REPO/examples/writer-v2.nix"
check "examples/writer-v2.nix evaluates" "exit $RC; $(first_line "$ERR")" test "$RC" = 0
DETAILS=$(py '
import json, sys
a = json.load(open(sys.argv[1]))["config"]["instances"]
b = json.load(open(sys.argv[2]))["config"]["instances"]
assert set(a) == set(b), (sorted(a), sorted(b))
for n in a:
    x, y = dict(a[n]), dict(b[n])
    assert x.pop("software") != y.pop("software"), n + ": software unchanged"
    if n == "writer-home":
        assert y["data"][:-1] == x["data"], "writer-home: data not appended"
        assert y["data"][-1] == {"path": "Documents/archive", "at": "/home/user/Archive", "mode": "ro"}, y["data"][-1]
        x.pop("data"); y.pop("data")
    assert x == y, "%s: %s != %s" % (n, x, y)
' "$W" "$T/writer-v2.json" 2>&1)
check "writer-v2 differs only in the writer's path and writer-home's new grant" "$DETAILS" test -z "$DETAILS"
DRVS2=$(py 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["drvs"]))' "$T/writer-v2.json" 2>/dev/null)
APP2=$(timeout 300 nix-store --realise "$DRVS2" 2>"$T/realise.err")
OUT=$(timeout 30 env -i HOME="$H" "$APP2/bin/writer" version 2>&1)
check "the v2 writer builds and has its new command" "$OUT $(tail -n 2 "$T/realise.err")" test "$OUT" = "writer 2"
check "v1 and v2 share the same busybox" "$(nix-store -qR "$APP2")" \
	bash -c 'nix-store -qR "$1" | grep -qx "$2"' _ "$APP2" "$BB"

# ---- generated configurations ------------------------------------------------------

nix_eval "$REPO/tests/nix/fifty.nix"
COUNTS=$(py 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["config"]["instances"]), len(d["drvs"]))' "$T/fifty.json" 2>&1)
check "fifty.nix: 50 instances over 10 derivations" "exit $RC; $COUNTS; $(first_line "$ERR")" test "$COUNTS" = "50 10"
nix_eval "$REPO/tests/nix/fifty-changed.nix"
CHANGED=$(py '
import json, sys
a = json.load(open(sys.argv[1]))["config"]["instances"]
b = json.load(open(sys.argv[2]))["config"]["instances"]
print(" ".join(sorted(n for n in a if a[n] != b[n])))' "$T/fifty.json" "$T/fifty-changed.json" 2>&1)
check "changing one app changes only its five instances" "$CHANGED" \
	test "$CHANGED" = "inst-03 inst-13 inst-23 inst-33 inst-43"

OUT=$(timeout 60 nix-instantiate --eval --strict --json "$REPO/tests/nix/lib-checks.nix" 2>&1)
check "the library's merge and validation checks (tests/nix/lib-checks.nix)" "$OUT" test "$OUT" = "[]"

# A file that imports <spectrum>, as users outside the repository write it.
cat >"$T/angle.nix" <<'EOF'
let spectrum = import <spectrum>;
    hello = spectrum.mkScriptApp { name = "hello"; script = "echo hello from $(uname -n)"; };
    app = spectrum.app { name = "hello"; software = [ hello ]; command = [ "hello" ]; };
in spectrum.config { instances.hello = spectrum.instance app { }; }
EOF
nix_eval "$T/angle.nix"
check "import <spectrum> works with -I spectrum=nix/" "exit $RC; $(first_line "$ERR")" \
	grep -q '"drvs":\["/nix/store/[a-z0-9]*-hello.drv"\]' "$T/angle.json"

# ---- errors ------------------------------------------------------------------------

nix_eval "$REPO/tests/nix/syntax-error.nix"
check "a syntax error fails with Nix's file:line" "exit $RC; $ERR" \
	bash -c '[ "$1" != 0 ] && grep -q "syntax error" <<<"$2" && grep -q "syntax-error.nix:5:" <<<"$2"' _ "$RC" "$ERR"
nix_eval "$REPO/tests/nix/missing-attribute.nix"
check "a missing attribute fails with Nix's file:line" "exit $RC; $ERR" \
	bash -c '[ "$1" != 0 ] && grep -q "attribute .sofware. missing" <<<"$2" && grep -q "missing-attribute.nix:8:" <<<"$2"' _ "$RC" "$ERR"
nix_eval "$REPO/tests/nix/bad-mode-lib.nix"
check "spectrum.config names the instance and the key of a bad mode" "exit $RC; $ERR" \
	bash -c '[ "$1" != 0 ] && grep -qF "spectrum: instance writer-work: data[0].mode must be \"ro\" or \"rw\"" <<<"$2"' _ "$RC" "$ERR"
nix_eval "$REPO/tests/nix/bad-name-lib.nix"
check "spectrum.config refuses a bad instance name" "exit $RC; $ERR" \
	bash -c '[ "$1" != 0 ] && grep -qF "spectrum: instance Writer_Work: the name must match" <<<"$2"' _ "$RC" "$ERR"
nix_eval "$REPO/tests/nix/bad-mode.nix"
check "bad-mode.nix is valid Nix (its error is for Spectrum's validation)" "exit $RC; $ERR" test "$RC" = 0

# ---- through spectrum -----------------------------------------------------------------

export SPECTRUM_NIX_DIR=$NIXDIR
sp inspect --config "$REPO/tests/nix/bad-mode.nix" writer-work >/dev/null 2>"$T/err"
RC=$?
ERR=$(cat "$T/err")
check "spectrum: a bad mode in a .nix file is its validation error, exit 2" "exit $RC; $ERR" \
	bash -c '[ "$1" = 2 ] && grep -qF "instances.writer-work.data[0].mode: expected \"ro\" or \"rw\"" <<<"$2"' _ "$RC" "$ERR"
sp inspect --config "$REPO/tests/nix/syntax-error.nix" broken >/dev/null 2>"$T/err"
RC=$?
ERR=$(cat "$T/err")
check "spectrum: a Nix syntax error is one line with file:line, exit 2" "exit $RC; $ERR" \
	bash -c '[ "$1" = 2 ] && [ "$(wc -l <<<"$2")" = 1 ] && grep -q "syntax-error.nix:5" <<<"$2"' _ "$RC" "$ERR"

mkdir -p "$STATE/data/Documents/work" "$STATE/data/Documents/home" "$STATE/data/Documents/shared"
printf 'Quarterly report\n' >"$STATE/data/Documents/work/report.txt"
printf 'Pancakes\n' >"$STATE/data/Documents/home/recipes.txt"
printf 'Holiday\n' >"$STATE/data/Documents/shared/holiday.txt"

OUT=$(sp run --config "$REPO/examples/writer.nix" writer-work </dev/null 2>"$T/err")
RC=$?
check "spectrum run --config examples/writer.nix writer-work lists its documents" "exit $RC; $OUT; $(cat "$T/err")" \
	bash -c '[ "$1" = 0 ] && grep -q "report.txt" <<<"$2" && ! grep -q "recipes.txt" <<<"$2"' _ "$RC" "$OUT"
OUT=$(sp run --config "$REPO/examples/writer.nix" writer-home </dev/null 2>"$T/err")
RC=$?
check "writer-home lists its own documents, not work's" "exit $RC; $OUT; $(cat "$T/err")" \
	bash -c '[ "$1" = 0 ] && grep -q "recipes.txt" <<<"$2" && ! grep -q "report.txt" <<<"$2"' _ "$RC" "$OUT"
# shellcheck disable=SC2034 # run_in's configuration
CONF=$REPO/examples/writer.nix
run_in writer-home sh -c 'ls /nix/store; ls /usr 2>&1; echo x >>/home/user/Shared/holiday.txt || echo refused'
check "writer-home sees only writer and busybox in the store, no /usr, and Shared read-only" "exit $RC; $OUT; $ERR" \
	bash -c '[ "$(grep -E "^[a-z0-9]{32}-" <<<"$1" | sort)" = "$(printf "%s\n" "${2##*/}" "${3##*/}" | sort)" ] &&
		grep -q "/usr: No such file" <<<"$1" && grep -qx refused <<<"$1"' _ "$OUT" "$APP" "$BB"
check "the shared file was not changed" "$(cat "$STATE/data/Documents/shared/holiday.txt")" \
	test "$(cat "$STATE/data/Documents/shared/holiday.txt")" = Holiday

# A configuration that imports <spectrum>, built first (run does not build).
nix-store --realise "$(py 'import json,sys; print(json.load(open(sys.argv[1]))["drvs"][0])' "$T/angle.json")" >/dev/null 2>&1
OUT=$(sp run --config "$T/angle.nix" hello </dev/null 2>"$T/err")
RC=$?
check "spectrum run of a file that imports <spectrum>" "exit $RC; $OUT; $(cat "$T/err")" \
	test "$RC" = 0 -a "$OUT" = "hello from hello"

finish
