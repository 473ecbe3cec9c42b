#!/usr/bin/env bash
# Undo node-up.sh, leaving the host as it found it: stop kube-proxy, the scheduler and kubelet, kill
# every pod's containers and the cluster's containerd, then remove what they left on the host (pod
# network namespaces, mounts, iptables chains, the bridge, Docker rules, kubelet's sysctls).
# Imported images stay in containerd's store (the next start is warm); --purge deletes them too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case ${1:-} in '' | --purge) ;; *) die "unknown argument '$1' (expected --purge or nothing)" ;; esac
[[ -d $KUBE_RUN ]] || { log "nothing to stop ($KUBE_RUN does not exist)"; exit 0; }
ctrd=$KUBE_RUN/containerd
export CONTAINERD_ADDRESS=$ctrd/containerd.sock CONTAINERD_NAMESPACE=k8s.io

exec 8>"$KUBE_RUN/.node-lock"
flock -w 300 8 || die "a start of the node holds $KUBE_RUN/.node-lock"

stop_daemon kube-proxy
stop_daemon kube-scheduler
stop_daemon kubelet

# Pods: their tasks killed and removed through containerd (kubelet is gone, so no CRI teardown).
if live_pid containerd >/dev/null; then
  for id in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  sleep 1
  for id in $(ctr tasks ls -q 2>/dev/null); do ctr tasks delete -f "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr containers ls -q 2>/dev/null); do ctr containers delete "$id" >/dev/null 2>&1 || true; done
fi
stop_daemon containerd
# Shims outlive their daemon; only ours name its state directory.
pkill -KILL -f "containerd-shim-runc-v2 .*$ctrd" 2>/dev/null || true

# Mounts under the kubelet's and containerd's directories, and the pods' network namespaces (their
# veths go with them), deepest first.
# (`|| true` inside each pipeline: a grep that finds nothing must not end the script under pipefail.)
{ grep -E " ($KUBE_RUN/(kubelet|containerd)|/run/netns/cni-|/var/run/netns/cni-)" /proc/mounts || true; } | awk '{print $2}' |
  sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
rm -f /run/netns/cni-* 2>/dev/null || true
rm -rf "$KUBE_RUN/cni/ipam"

# iptables: kube-proxy's own clean-up, then the chains kubelet and the CNI plugins made.
[[ -x $K8S_BIN/kube-proxy ]] && "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
for table in filter nat mangle; do
  { iptables -t "$table" -S 2>/dev/null | grep -E '^-A .* -j (KUBE-|CNI-)' || true; } | sed 's/^-A /-D /' |
    while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null || true; done
  for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/ {print $2}'); do
    iptables -t "$table" -F "$chain" 2>/dev/null || true
  done
  for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/ {print $2}'); do
    iptables -t "$table" -X "$chain" 2>/dev/null || true
  done
done
while iptables -D FORWARD -j WEIR-PODS 2>/dev/null; do :; done
iptables -F WEIR-PODS 2>/dev/null || true
iptables -X WEIR-PODS 2>/dev/null || true
ip link del "$KUBE_POD_BRIDGE" 2>/dev/null || true

# kubelet set these; put back what node-up.sh recorded before it first started.
if [[ -f $KUBE_RUN/sysctl.before ]]; then
  sed 's/ = /=/' "$KUBE_RUN/sysctl.before" | while read -r kv; do sysctl -qw "$kv" || true; done
  rm -f "$KUBE_RUN/sysctl.before"
fi
if [[ ${1:-} == --purge ]]; then rm -rf "$ctrd" "$KUBE_RUN/kubelet"; log "containerd's store and kubelet's directory deleted"; fi
log "node stopped"
