# Helpers of the backup tests (backup.sh, backup-hostile.sh,
# backup-repo-attacks.sh); sourced after lib.sh, not a test.

# shellcheck shell=bash disable=SC2034 # the tests read RC, OUT, ERR

# bk STORE ARGS...: `spectrum --state-dir STORE backup ARGS...`, bounded
# in time (BK_TIMEOUT seconds, else BK_DEFAULT_TIMEOUT), without a
# terminal (setsid: no /dev/tty to prompt on, so a prompt fails instead
# of hanging); sets RC, OUT, ERR.
BK_DEFAULT_TIMEOUT=120
bk() {
	local store=$1
	shift
	timeout -k 5 "${BK_TIMEOUT:-$BK_DEFAULT_TIMEOUT}" setsid -w "$SPECTRUM" --state-dir "$store" --run-dir "$RUNDIR" backup "$@" \
		</dev/null >"$T/bk.out" 2>"$T/bk.err"
	RC=$?
	OUT=$(cat "$T/bk.out")
	ERR=$(cat "$T/bk.err")
}

# The snapshot id of `backup create`'s output, or "".
snap_id() {
	sed -n 's/^snapshot \([0-9a-f]\{64\}\) saved: .*/\1/p' <<<"$1"
}
