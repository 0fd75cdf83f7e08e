# Shared helpers of the integration tests (bash, sourced).
#
# Usage from a test:  . "$(dirname "$0")/lib.sh" "$@"
# with the arguments SPECTRUM PROBE (absolute or relative paths of the built
# binaries; meson passes them).  Prints TAP: "ok N - what" or
# "not ok N - what # details", and the plan "1..N" at the end, so a script
# that dies half-way is reported as a failure by the TAP harness.
#
# Every command that could hang runs under `timeout`; every loop is bounded.

# shellcheck shell=bash

# In CI (CI=true) or with SPECTRUM_REQUIRE_ALL=1, a skip of something that
# must work on the build machines is a failure: a skipped script or check
# would otherwise pass unseen (`meson test` counts "1..0 # SKIP" as fine).
strict_skips() {
	[ "${CI:-}" = true ] || [ "${SPECTRUM_REQUIRE_ALL:-}" = 1 ]
}

if [ "$(id -u)" != 0 ]; then
	if strict_skips; then
		echo "1..1"
		echo "not ok 1 - $(basename "$0") runs as root # skipped as not root, and CI=true or SPECTRUM_REQUIRE_ALL=1 makes a skip a failure"
		exit 1
	fi
	echo "1..0 # SKIP not root"
	exit 0
fi

if [ $# -lt 2 ]; then
	echo "usage: $0 SPECTRUM PROBE" >&2
	exit 2
fi

SPECTRUM=$(realpath -e "$1") || { echo "Bail out! no spectrum binary at $1"; exit 1; }
PROBE=$(realpath -e "$2") || { echo "Bail out! no probe binary at $2"; exit 1; }

# A host variable that must never be seen inside an instance.
export SPECTRUM_LEAK_CANARY="leak-canary-$$-$RANDOM"

TAP_N=0
TAP_FAILED=0
T=""          # the test's own temporary directory
STATE=""      # its state directory (the central store)
RUNDIR=""     # its run directory
CONF=""       # its configuration file
BG_PIDS=()    # background processes this test started, killed at exit

# ok WHAT  /  not_ok WHAT DETAILS
# A TAP line is one line: a newline in WHAT (text a test quotes) is folded.
ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - ${1//$'\n'/ | }"
}

not_ok() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	local details=${2:-}
	details=${details//$'\n'/ | }
	echo "not ok $TAP_N - ${1//$'\n'/ | } # ${details:0:600}"
}

# check WHAT DETAILS CONDITION...: ok when the command CONDITION succeeds.
check() {
	local what=$1 details=$2
	shift 2
	if "$@"; then
		ok "$what"
	else
		not_ok "$what" "$details"
	fi
}

# skip WHAT REASON: a check that cannot run here; a failure under
# strict_skips.
skip() {
	if strict_skips; then
		not_ok "$1" "skipped ($2), and CI=true or SPECTRUM_REQUIRE_ALL=1 makes a skip a failure"
	else
		ok "$1 # SKIP $2"
	fi
}

note() {
	local line
	while IFS= read -r line; do
		echo "# $line"
	done <<<"$*"
}

# Unmounts whatever a broken engine may have left mounted beneath DIR in
# the host's mount namespace, so that removing DIR can never reach into a
# mount of a host directory.
umount_beneath() {
	local dir=$1 mp i
	for i in 1 2 3 4 5; do
		mapfile -t mps < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
		[ ${#mps[@]} -eq 0 ] && return 0
		for mp in "${mps[@]}"; do
			echo "# cleanup: unmounting leftover mount $mp" >&2
			umount -l "$mp" 2>/dev/null || true
		done
		[ "$i" -ge 5 ] && return 1
	done
}

lib_cleanup() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	for pid in "${BG_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		if umount_beneath "$T"; then
			rm -rf --one-file-system "$T"
		else
			echo "# cleanup: mounts remain beneath $T, not removing it" >&2
		fi
	fi
	if [ -n "${EXTRA_CLEANUP:-}" ]; then
		eval "$EXTRA_CLEANUP"
	fi
}

finish() {
	echo "1..$TAP_N"
	if [ "$TAP_FAILED" -gt 0 ]; then
		echo "# $TAP_FAILED of $TAP_N failed"
	fi
	exit 0
}

trap lib_cleanup EXIT
trap 'exit 130' INT TERM

# Makes the temporary directory and the store with the probe in data/tools.
setup_store() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/spectrum-itest.XXXXXX")
	STATE=$T/store
	RUNDIR=$T/run
	CONF=$T/config.json
	mkdir -p "$STATE/data/tools" "$RUNDIR"
	install -m 0755 "$PROBE" "$STATE/data/tools/probe"
}

# The JSON of one container instance with host software, the tools grant and
# the given extra grants (already JSON objects, comma separated) and
# resources (a JSON object).
instance_json() {
	local grants=$1 resources=${2:-'{"memory": "256M", "pids": 128}'}
	local g='{"path": "tools", "at": "/opt/tools", "mode": "ro"}'
	[ -n "$grants" ] && g="$g, $grants"
	cat <<EOF
{
      "software": ["host"],
      "command": ["/opt/tools/probe", "hostname"],
      "data": [$g],
      "resources": $resources,
      "env": {"LANG": "C.UTF-8", "SPECTRUM_TEST_ENV": "from-config"}
    }
EOF
}

# The probe's path inside an instance.
P=/opt/tools/probe

# sp ARGS...: spectrum with the test's store, bounded in time.
sp() {
	timeout -k 5 "${SP_TIMEOUT:-60}" "$SPECTRUM" --state-dir "$STATE" --run-dir "$RUNDIR" "$@"
}

# run_in NAME CMD...: runs CMD in instance NAME; sets OUT, ERR, RC.
# stdin is /dev/null: no terminal, so no pty.
run_in() {
	local name=$1
	shift
	local o e
	o=$(mktemp "$T/out.XXXXXX")
	e=$(mktemp "$T/err.XXXXXX")
	sp run --config "$CONF" "$name" -- "$@" </dev/null >"$o" 2>"$e"
	RC=$?
	OUT=$(cat "$o")
	ERR=$(cat "$e")
	rm -f "$o" "$e"
}

# expect_refused NAME ERRNO PROBE-ARGS...: runs the probe in NAME and wants
# "refused:" (and, when ERRNO is not "-", that errno name).
expect_refused() {
	local name=$1 want=$2
	shift 2
	echo "# [$name] trying: probe $*"
	run_in "$name" "$P" "$@"
	local line
	line=$(grep -E '^(refused|ALLOWED):' <<<"$OUT" | head -n 1)
	[ -n "$line" ] && echo "#   got: $line (exit $RC)"
	if [ "$RC" -eq 0 ] && [[ $line == refused:* ]] && ! grep -q '^ALLOWED:' <<<"$OUT"; then
		if [ "$want" != "-" ] && [[ $line != *"($want)" ]]; then
			not_ok "[$name] probe $* is refused with $want" "got: $line"
		else
			ok "[$name] probe $* is refused${line:+: ${line#refused: }}"
		fi
	else
		not_ok "[$name] probe $* is refused" "exit $RC; stdout: ${OUT:0:300}; stderr: ${ERR:0:300}"
	fi
}

# expect_allowed NAME PROBE-ARGS...: a positive control.
expect_allowed() {
	local name=$1
	shift
	echo "# [$name] control: probe $*"
	run_in "$name" "$P" "$@"
	if [ "$RC" -eq 1 ] && grep -q '^ALLOWED:' <<<"$OUT"; then
		ok "[$name] control: probe $* works"
	else
		not_ok "[$name] control: probe $* works" "exit $RC; stdout: ${OUT:0:300}; stderr: ${ERR:0:300}"
	fi
}

# Cgroup directories "spectrum/NAME" left anywhere under /sys/fs/cgroup.
cgroups_of() {
	find /sys/fs/cgroup -maxdepth 12 -type d \( -path "*/spectrum/$1" -o -path "*/spectrum/$1.*" \) 2>/dev/null
}

# Mounts in the host's mount namespace that mention PATTERN.
mounts_of() {
	grep -F -- "$1" /proc/self/mountinfo
}

# wait_gone PID SECONDS: true when PID has gone within SECONDS.
wait_gone() {
	local pid=$1 i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# The s6-svscan of the run directory (started by `spectrum start` or
# `switch`): svscan_pid prints its pid; stop_svscan stops it
# (s6-svscanctl -t, killed if still there after 20 s) and keeps its pid
# in SVSCAN_PID for a last kill at cleanup.
svscan_pid() {
	pgrep -f -x "s6-svscan -d 3 $RUNDIR/s6/scan" | head -n 1
}
stop_svscan() {
	local pid
	pid=$(svscan_pid)
	[ -n "$pid" ] || return 0
	timeout 10 s6-svscanctl -t "$RUNDIR/s6/scan" 2>/dev/null
	wait_gone "$pid" 20 || kill -KILL "$pid" 2>/dev/null
	# shellcheck disable=SC2034 # read by the tests' EXTRA_CLEANUP
	SVSCAN_PID=$pid
}

# wait_for SECONDS CMD...: true when CMD succeeds within SECONDS.
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# First line of a spectrum error, for messages.
first_line() {
	head -n 1 <<<"$1"
}

# True when no process on the host has a command line matching PATTERN.
# (A function, not `bash -c`: a helper process would match its own pattern.)
procs_gone() {
	[ -z "$(pgrep -f -- "$1")" ]
}

procs_running() {
	[ -n "$(pgrep -f -- "$1")" ]
}

cgroups_gone() {
	[ -z "$(cgroups_of "$1")" ]
}

# Spectrum processes started by this test (engine, janitor, reaper) still
# alive: found by the test's canary in their initial environment (what
# /proc/PID/environ shows, which a changed process title does not touch)
# and by their binary or name.
engine_procs() {
	local d pid exe comm
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = "$$" ] && continue
		grep -qzx -- "SPECTRUM_LEAK_CANARY=$SPECTRUM_LEAK_CANARY" "$d/environ" 2>/dev/null || continue
		exe=$(readlink "$d/exe" 2>/dev/null)
		comm=$(cat "$d/comm" 2>/dev/null)
		if [ "$exe" = "$SPECTRUM" ] || [ "$comm" = spectrum ]; then
			echo "$pid $comm $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)"
		fi
	done
}

engine_procs_gone() {
	[ -z "$(engine_procs)" ]
}

# Processes on the host whose command line matches PATTERN (pgrep -f).
host_procs() {
	pgrep -a -f -- "$1" || true
}
