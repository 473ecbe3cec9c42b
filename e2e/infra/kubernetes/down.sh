#!/usr/bin/env bash
# Stop the control plane started by up.sh (only the processes it recorded).
#   down.sh [--purge]   --purge also deletes etcd's data, so the next start is an empty cluster.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
  '' | --purge) ;;
  *) die "unknown argument '$1' (expected --purge or nothing)" ;;
esac
[[ -d $KUBE_RUN ]] || { log "nothing to stop ($KUBE_RUN does not exist)"; exit 0; }
exec 9>"$KUBE_RUN/.lock"
flock -w 120 9 || die "a start of the control plane holds $KUBE_RUN/.lock"
stop_daemon kube-controller-manager
stop_daemon kube-apiserver
stop_daemon etcd
if [[ ${1:-} == --purge ]]; then rm -rf "$KUBE_RUN/etcd-data"; log "etcd data deleted"; fi
