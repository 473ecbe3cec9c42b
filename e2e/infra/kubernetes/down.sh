#!/usr/bin/env bash
# Stop the control plane started by up.sh (only the processes it recorded).
#   down.sh [--purge]   --purge also deletes etcd's data, so the next start is an empty cluster.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop() {
  local name=$1 pidfile=$KUBE_RUN/$1.pid pid
  if pid=$(live_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(( $(date +%s) + 15 ))
    while kill -0 "$pid" 2>/dev/null && (( $(date +%s) < deadline )); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "$name: did not stop in 15s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
    log "$name: stopped (pid $pid)"
  else
    log "$name: not running"
  fi
  rm -f "$pidfile"
}

case ${1:-} in
  '' | --purge) ;;
  *) die "unknown argument '$1' (expected --purge or nothing)" ;;
esac
[[ -d $KUBE_RUN ]] || { log "nothing to stop ($KUBE_RUN does not exist)"; exit 0; }
exec 9>"$KUBE_RUN/.lock"
flock -w 120 9 || die "a start of the control plane holds $KUBE_RUN/.lock"
stop kube-controller-manager
stop kube-apiserver
stop etcd
if [[ ${1:-} == --purge ]]; then rm -rf "$KUBE_RUN/etcd-data"; log "etcd data deleted"; fi
