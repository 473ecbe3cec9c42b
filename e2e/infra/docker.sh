#!/usr/bin/env bash
# The Docker engine for building and running images locally.
#
#   docker.sh up      install Debian's docker.io if dockerd is missing, start dockerd if no
#                     engine answers, wait until it does
#   docker.sh down    stop dockerd if this script started it (images stay on disk)
#   docker.sh status
#
# An engine that already answers (a system service, DOCKER_HOST) is used as it is.
# Settings: WEIR_DOCKER_READY_TIMEOUT (60) seconds to wait for the engine.
set -euo pipefail
_component=docker
# shellcheck source=e2e/infra/lib.sh
. "$(dirname "$0")/lib.sh"

run="$WEIR_RUN/docker"
pidfile="$run/dockerd.pid"
ready_timeout="${WEIR_DOCKER_READY_TIMEOUT:-60}"

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# Starts dockerd and waits until it answers; returns 1 if it exits during start-up.
start_dockerd() {
  [ -f "$run/dockerd.log" ] && mv -f "$run/dockerd.log" "$run/dockerd.log.prev"
  # Its own session, so that it outlives this script and the make that ran it.
  # 9>&-: dockerd must not inherit (and so hold) the lock.
  setsid nohup dockerd --pidfile "$pidfile" >"$run/dockerd.log" 2>&1 </dev/null 9>&- &
  local pid=$! deadline=$(( $(date +%s) + ready_timeout ))
  until answers; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -30 "$run/dockerd.log" >&2 || true
      fail "dockerd did not answer within ${ready_timeout}s (log: $run/dockerd.log)"
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -10 "$run/dockerd.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

up() {
  step "docker engine package"
  if command -v dockerd >/dev/null && command -v docker >/dev/null; then
    skip "dockerd $(dockerd --version | awk '{print $3}' | tr -d ,) installed"
  else
    apt_install docker.io
  fi

  step "dockerd"
  if answers; then
    skip "an engine already answers (server $(docker version --format '{{.Server.Version}}'))"
  else
    [ "$(id -u)" -eq 0 ] || fail "no Docker engine answers and starting dockerd needs root"
    mkdir -p "$run"
    # dockerd started soon after a previous one stopped can time out on its own containerd's socket
    # and exit: try again a few times before giving up.
    local attempt
    for attempt in 1 2 3; do
      start_dockerd && break
      [ "$attempt" -lt 3 ] || fail "dockerd exited during start-up $attempt times (log: $run/dockerd.log)"
      info "dockerd exited during start-up (attempt $attempt); trying again in 5s"
      sleep 5
    done
    info "answers after $(( $(date +%s) - _step_t0 ))s: server $(docker version --format '{{.Server.Version}}'), log $run/dockerd.log"
  fi
  finish "Docker engine up"
}

down() {
  step "dockerd stop"
  if pid_alive "$pidfile" dockerd; then
    stop_pid "$pidfile" dockerd 30
  else
    skip "not started by this script"
  fi
  finish "Docker engine down"
}

status() {
  if answers; then
    echo "docker: server $(docker version --format '{{.Server.Version}}')$(pid_alive "$pidfile" dockerd && echo ", dockerd pid $(cat "$pidfile") started by docker.sh")"
  else
    echo "docker: no engine answers"
    exit 1
  fi
}

mkdir -p "$WEIR_RUN/docker"
# One run at a time: concurrent callers wait, then find the work done.
exec 9>"$WEIR_RUN/docker/.lock"
flock -w 1200 9 || fail "another $(basename "$0") holds $WEIR_RUN/docker/.lock for over 1200s"
case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
