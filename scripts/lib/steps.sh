# shellcheck shell=bash
# Named steps with timings, and the one-line summary scripts/test.sh prints when it exits. Source it after
# common.sh, then `trap steps_summary EXIT` and run each step as `step NAME CMD...`.
#
# The summary says OK only when the script exits 0 with no step under way. A script killed by a signal
# mid-step (SIGTERM from a CI timeout, Ctrl-C) runs its EXIT trap with the status of the last command that
# finished, often 0; it is reported as stopped during that step, never as passed.

STEPS_START=$SECONDS
STEPS=()
CURRENT=""

steps_summary() {
  local rc=$? elapsed=$((SECONDS - STEPS_START)) done_="${STEPS[*]:-none}"
  echo
  if ((rc == 0)) && [[ -z "$CURRENT" ]]; then
    ok "test.sh: OK: all steps passed in ${elapsed}s (${STEPS[*]})"
  elif ((rc == 0)); then
    printf '%stest.sh: STOPPED during step "%s" after %ss (killed by a signal?); passed before it: %s%s\n' \
      "$_R" "$CURRENT" "$elapsed" "$done_" "$_N" >&2
  else
    printf '%stest.sh: FAILED at step "%s" (exit %s) after %ss; passed before it: %s%s\n' \
      "$_R" "${CURRENT:-setup}" "$rc" "$elapsed" "$done_" "$_N" >&2
  fi
}

step() { # NAME CMD...
  CURRENT="$1"; shift
  local t=$SECONDS
  log "[$CURRENT] $*"
  "$@"
  STEPS+=("$CURRENT:$((SECONDS - t))s")
  CURRENT=""
}
