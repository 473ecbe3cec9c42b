# shellcheck shell=bash
# Shared helpers for the infra scripts: progress with elapsed seconds, paths, waiting.
# Sourced, never run. Callers set `set -euo pipefail` themselves.

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=e2e/infra/versions.env
. "$INFRA_DIR/versions.env"

WEIR_CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
WEIR_RUN="${WEIR_RUN:-$HOME/.cache/weir/run}"

# A command that fails under `set -e` says where, instead of ending the script silently.
set -o errtrace
trap 'printf "[%s] FAILED (exit %s) at %s line %s: %s\n" "$_component" "$?" "$(basename "$0")" "$LINENO" "$BASH_COMMAND" >&2' ERR

_infra_t0=$(date +%s)
_step_t0=$_infra_t0
_step_name=""
_component="${_component:-infra}"

# step NAME: starts a step; the previous one is reported done with its duration.
step() {
  step_done
  _step_name="$*"
  _step_t0=$(date +%s)
  printf '[%s] %s ...\n' "$_component" "$_step_name"
}
step_done() {
  if [ -n "$_step_name" ]; then
    printf '[%s] %s: done in %ss\n' "$_component" "$_step_name" "$(( $(date +%s) - _step_t0 ))"
    _step_name=""
  fi
}
# skip REASON: ends the current step without doing it.
skip() {
  printf '[%s] %s: skipped, %s\n' "$_component" "$_step_name" "$*"
  _step_name=""
}
info() { printf '[%s]   %s\n' "$_component" "$*"; }
fail() {
  printf '[%s] FAILED: %s\n' "$_component" "$*" >&2
  exit 1
}
finish() {
  step_done
  printf '[%s] %s in %ss\n' "$_component" "${1:-ready}" "$(( $(date +%s) - _infra_t0 ))"
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2s until it succeeds or
# the deadline passes (then fails, naming what was awaited).
wait_until() {
  local deadline=$(( $(date +%s) + $1 )) what="$2"
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.2
  done
  info "$what after $(( $(date +%s) - _step_t0 ))s"
}

# pid_alive FILE PATTERN: the process whose id FILE holds is running and its command line
# contains PATTERN (a stale pid file from an earlier boot may name someone else's process).
pid_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# stop_pid FILE PATTERN SECONDS: TERM the process in FILE (if it is still the one PATTERN
# names), KILL it after SECONDS, remove FILE.
stop_pid() {
  local file="$1" pattern="$2" grace="$3" pid
  if ! pid_alive "$file" "$pattern"; then
    rm -f "$file"
    return 0
  fi
  pid=$(cat "$file")
  kill -TERM "$pid"
  local deadline=$(( $(date +%s) + grace ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      info "pid $pid still running after ${grace}s: KILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$file"
}

# tcp_open HOST PORT: something accepts connections there.
tcp_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# apt_install PACKAGE...: installs the Debian packages that are missing (root only).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || fail "needs root to install ${missing[*]} (apt-get install ${missing[*]})"
  info "apt-get install ${missing[*]}"
  mkdir -p "$WEIR_RUN"
  # The package lists are refreshed only when they are missing or older than a day.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
    apt-get update -q >"$WEIR_RUN/apt-update.log" 2>&1 || fail "apt-get update failed (log: $WEIR_RUN/apt-update.log)"
  fi
  local log="$WEIR_RUN/apt-install.log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1 ||
    { tail -20 "$log" >&2; fail "apt-get install ${missing[*]} failed (log: $log)"; }
}
