#!/usr/bin/env bash
# Put images built with Docker into the cluster's containerd (no registry): load-image.sh IMAGE...
# An image already there with the same Docker image id is skipped; imported images are pinned, so
# the kubelet never garbage-collects what no registry could give back.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export CONTAINERD_ADDRESS=$KUBE_RUN/containerd/containerd.sock CONTAINERD_NAMESPACE=k8s.io
marks=$KUBE_RUN/containerd/imported
mkdir -p "$marks"
ctr version >/dev/null 2>&1 || die "the cluster's containerd is not running (make cluster-up)"
# ref IMAGE: the fully qualified name containerd gives an image imported from `docker save`.
ref() {
  local first=${1%%/*}
  if [[ $1 != */* ]]; then echo "docker.io/library/$1"
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then echo "docker.io/$1"
  else echo "$1"; fi
}
for image in "$@"; do
  id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null) || die "no Docker image $image (build it first)"
  mark=$marks/$(printf '%s' "$image" | tr '/:' '__')
  if [[ $(cat "$mark" 2>/dev/null) == "$id" ]] && ctr images ls -q | grep -qxF "$(ref "$image")"; then
    log "$image: already in the cluster"
    continue
  fi
  t0=$(date +%s)
  docker save "$image" | ctr images import - >/dev/null
  ctr images label "$(ref "$image")" io.cri-containerd.pinned=pinned >/dev/null
  echo "$id" >"$mark"
  log "$image: imported in $(( $(date +%s) - t0 ))s"
done
