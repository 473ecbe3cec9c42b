#!/usr/bin/env bash
# Turn the control plane (up.sh) into a single-node cluster that runs real pods, as host processes:
#   a containerd of its own (Debian's, beside dockerd's, with the CRI plugin on) → kubelet 1.34
#   (cgroup v1, cgroupfs) → kube-scheduler → kube-proxy (iptables) → CoreDNS and the local-path
#   provisioner as pods, from images built here (no registry: `docker build FROM scratch`, then
#   imported into the cluster's containerd).
# Pods get 10.244.0.0/24 on the bridge weir0, whose address 10.244.0.1 is the node's: the API server
# advertises it; kubelet and kube-proxy listen on it or on loopback only (the API server, on every
# address, takes client certificates only). Idempotent; needs root.
# Why each unusual setting is there: the comments next to it, and docs/testing.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $(id -u) -eq 0 ]] || die "node-up.sh needs root (containerd, kubelet, iptables)"

pki=$KUBE_RUN/pki
logs=$KUBE_RUN/logs
ctrd=$KUBE_RUN/containerd
export CONTAINERD_ADDRESS=$ctrd/containerd.sock CONTAINERD_NAMESPACE=k8s.io
kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$KUBE_RUN/admin.kubeconfig" "$@"; }
PAUSE_IMAGE=weir.local/pause:$PAUSE_VERSION
COREDNS_IMAGE=weir.local/coredns:$COREDNS_VERSION
LOCAL_PATH_IMAGE=weir.local/local-path-provisioner:$LOCAL_PATH_VERSION
HELPER_IMAGE=debian:bookworm-slim

# On a fresh machine nothing has made the run directory yet (up.sh, run further down, makes the rest).
mkdir -p "$KUBE_RUN" && chmod 700 "$KUBE_RUN"
exec 8>"$KUBE_RUN/.node-lock"
flock -w 1800 8 || die "another node-up.sh still holds $KUBE_RUN/.node-lock after 30 min"

running() { live_pid "$1" >/dev/null; }
# write_if_changed FILE: stdin into FILE only when its content differs (a rewrite, even identical,
# makes kube-proxy exit); prints "changed" when it wrote.
write_if_changed() {
  cat >"$1.new"
  if cmp -s "$1.new" "$1"; then rm -f "$1.new"; else mv -f "$1.new" "$1" && echo changed; fi
}
# daemon NAME BINARY ARGS...: start detached unless running (logs append, as in up.sh).
daemon() {
  local name=$1; shift
  if running "$name"; then log "$name: already running (pid $(cat "$KUBE_RUN/$name.pid"))"; return; fi
  log "$name: starting, log at $logs/$name.log"
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$KUBE_RUN/$name.pid"
}
# wait_for NAME TIMEOUT_S CMD...: poll CMD; fail early, with the log's tail, if NAME died.
wait_for() {
  local name=$1 timeout=$2 deadline; shift 2
  deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if [[ $name != - ]] && ! running "$name"; then
      tail -n 30 "$logs/$name.log" >&2 || true
      die "$name exited while starting (log: $logs/$name.log)"
    fi
    (( $(date +%s) < deadline )) || { [[ $name == - ]] || tail -n 30 "$logs/$name.log" >&2 || true; die "not ready after ${timeout}s: $*"; }
    sleep 0.5
  done
}

t0=$(date +%s)
mkdir -p "$logs" "$ctrd" "$KUBE_RUN/cni/net.d" "$KUBE_RUN/kubelet" "$KUBE_RUN/volumes"

# ---- packages and binaries ----
step "Debian packages" "$KUBE_INFRA_DIR/../packages.sh" containerd runc containernetworking-plugins conntrack iptables
step "build node binaries" "$KUBE_INFRA_DIR/build.sh" kube etcd node

# ---- control plane, advertising the node address (restarted if an older start advertised loopback) ----
if running kube-apiserver && ! tr '\0' ' ' <"/proc/$(live_pid kube-apiserver)/cmdline" | grep -q -- "--advertise-address $KUBE_NODE_IP "; then
  log "kube-apiserver runs without the node address: restarting the control plane"
  "$KUBE_INFRA_DIR/down.sh"
fi

# ---- the pod network: a bridge made here, the CNI bridge plugin's gateway ----
if ! ip link show "$KUBE_POD_BRIDGE" >/dev/null 2>&1; then
  ip link add "$KUBE_POD_BRIDGE" type bridge
fi
ip addr replace "$KUBE_NODE_IP/24" dev "$KUBE_POD_BRIDGE"
ip link set "$KUBE_POD_BRIDGE" up
# Forwarded pod traffic: between pods only. Rejected otherwise, so nothing a pod sends leaves this host
# (the host's own addresses, the API server and the Kafka broker, are INPUT, not FORWARD), and a
# Service without endpoints fails at once. First in FORWARD: Docker's chains would DROP pod traffic,
# and its DOCKER-USER rules must not let pod traffic out either.
iptables -N WEIR-PODS 2>/dev/null || iptables -F WEIR-PODS
iptables -A WEIR-PODS -s 10.244.0.0/16 -d 10.244.0.0/16 -j ACCEPT
iptables -A WEIR-PODS -s 10.244.0.0/16 -j REJECT --reject-with icmp-port-unreachable
iptables -A WEIR-PODS -d 10.244.0.0/16 -j REJECT --reject-with icmp-port-unreachable
iptables -C FORWARD -j WEIR-PODS 2>/dev/null || iptables -I FORWARD 1 -j WEIR-PODS
write_if_changed "$KUBE_RUN/cni/net.d/10-weir.conflist" >/dev/null <<JSON
{
  "cniVersion": "1.0.0",
  "name": "weir",
  "plugins": [
    {
      "type": "bridge", "bridge": "$KUBE_POD_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$KUBE_RUN/cni/ipam",
        "ranges": [[{ "subnet": "$KUBE_POD_CIDR", "gateway": "$KUBE_NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON

# 8>&-: daemons started below must not inherit (and so hold) this script's lock.
step "control plane" "$KUBE_INFRA_DIR/up.sh" >/dev/null 8>&-

# ---- containerd, a daemon of its own beside dockerd's ----
# restrict_oom_score_adj: these VMs lack CAP_SYS_RESOURCE, so the sandbox's -998 makes runc fail.
cat >"$ctrd/config.toml" <<TOML
version = 2
root = "$ctrd/root"
state = "$ctrd/state"
[grpc]
  address = "$ctrd/containerd.sock"
[ttrpc]
  address = "$ctrd/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "$ctrd/runc"
  # Nothing is meant to be pulled: Docker Hub (where unqualified names go) and other registries are
  # mirrored to a closed local port, so a pod whose image was not imported fails at once
  # (ErrImagePull). containerd 1.6 still tries the real host after its mirrors; on our machines that
  # ends at the name lookup (no registry is reachable).
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
    endpoint = ["http://127.0.0.1:9"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."*"]
    endpoint = ["http://127.0.0.1:9"]
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$KUBE_RUN/cni/net.d"
TOML
# A changed configuration needs a restart (pods keep running: their shims outlive the daemon).
if running containerd && ! cmp -s "$ctrd/config.toml" "$ctrd/config.running.toml"; then
  log "containerd: configuration changed, restarting"
  stop_daemon containerd
fi
cp "$ctrd/config.toml" "$ctrd/config.running.toml"
daemon containerd /usr/bin/containerd --config "$ctrd/config.toml"
step "containerd ready" wait_for containerd 30 ctr version

# ---- images: built with Docker (FROM scratch for the static binaries), imported into containerd ----
"$KUBE_INFRA_DIR/../docker.sh" up >/dev/null 8>&-
"$KUBE_INFRA_DIR/../base-images.sh" up >/dev/null
# scratch_image NAME BINARY ENTRYPOINT_JSON: a one-binary image, rebuilt when missing.
scratch_image() {
  local name=$1 bin=$2 entry=$3 ctx
  docker image inspect "$name" >/dev/null 2>&1 && return
  ctx=$(mktemp -d)
  cp "$bin" "$ctx/"
  printf 'FROM scratch\nCOPY %s /%s\nUSER 65532:65532\nENTRYPOINT %s\n' "${bin##*/}" "${bin##*/}" "$entry" >"$ctx/Dockerfile"
  docker build -q -t "$name" "$ctx" >/dev/null
  rm -rf "$ctx"
}
scratch_image "$PAUSE_IMAGE" "$PAUSE_BIN/pause" '["/pause"]'
scratch_image "$COREDNS_IMAGE" "$COREDNS_BIN/coredns" '["/coredns"]'
scratch_image "$LOCAL_PATH_IMAGE" "$LOCAL_PATH_BIN/local-path-provisioner" '["/local-path-provisioner"]'
step "images into containerd" "$KUBE_INFRA_DIR/load-image.sh" "$PAUSE_IMAGE" "$COREDNS_IMAGE" "$LOCAL_PATH_IMAGE" "$HELPER_IMAGE"

# ---- kubelet ----
# oomScoreAdj 0: see restrict_oom_score_adj. GC and eviction thresholds so low that imported images
# (which no registry could give back) are never collected on a small disk.
kubelet_changed=$(write_if_changed "$KUBE_RUN/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $KUBE_NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization: { mode: Webhook }
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
containerRuntimeEndpoint: unix://$ctrd/containerd.sock
imageServiceEndpoint: unix://$ctrd/containerd.sock
clusterDNS: [$KUBE_DNS_IP]
clusterDomain: cluster.local
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
serializeImagePulls: false
YAML
)
# kubelet rewrites a few host sysctls; keep the values it found, for node-down.sh to put back.
[[ -f $KUBE_RUN/sysctl.before ]] || sysctl -e vm.overcommit_memory kernel.panic kernel.panic_on_oops >"$KUBE_RUN/sysctl.before"
if [[ $kubelet_changed == changed ]] && running kubelet; then stop_daemon kubelet; fi
daemon kubelet "$K8S_BIN/kubelet" --config "$KUBE_RUN/kubelet.yaml" --kubeconfig "$KUBE_RUN/kubelet.kubeconfig" \
  --root-dir "$KUBE_RUN/kubelet" --cert-dir "$KUBE_RUN/kubelet/pki" \
  --hostname-override "$KUBE_NODE_NAME" --node-ip "$KUBE_NODE_IP" --v 1
node_ready() { [[ $(kubectl get node "$KUBE_NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]; }
step "kubelet: node $KUBE_NODE_NAME Ready" wait_for kubelet 120 node_ready

# ---- scheduler and kube-proxy ----
daemon kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig "$KUBE_RUN/scheduler.kubeconfig" \
  --authentication-kubeconfig "$KUBE_RUN/scheduler.kubeconfig" --authorization-kubeconfig "$KUBE_RUN/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false
step "kube-scheduler ready" wait_for kube-scheduler 60 curl -fsSk --max-time 2 https://127.0.0.1:10259/healthz

# NodePorts only on the node address; conntrack maxPerCore 0: leave the host's table size alone.
proxy_changed=$(write_if_changed "$KUBE_RUN/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $KUBE_RUN/kube-proxy.kubeconfig }
mode: iptables
clusterCIDR: 10.244.0.0/16
hostnameOverride: $KUBE_NODE_NAME
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [$KUBE_NODE_IP/32]
oomScoreAdj: 0
conntrack: { maxPerCore: 0, min: 0 }
YAML
)
# kube-proxy exits when its configuration file changes under it: restart it ourselves instead.
if [[ $proxy_changed == changed ]] && running kube-proxy; then stop_daemon kube-proxy; fi
daemon kube-proxy "$K8S_BIN/kube-proxy" --config "$KUBE_RUN/kube-proxy.yaml"
step "kube-proxy ready" wait_for kube-proxy 60 curl -fsS --max-time 2 http://127.0.0.1:10256/healthz

# ---- add-ons: CoreDNS and the local-path provisioner (the default StorageClass) ----
mkdir -p "$KUBE_RUN/volumes" && chmod 0777 "$KUBE_RUN/volumes"
sed -e "s|@COREDNS_IMAGE@|$COREDNS_IMAGE|g" -e "s|@DNS_IP@|$KUBE_DNS_IP|g" \
  -e "s|@LOCAL_PATH_IMAGE@|$LOCAL_PATH_IMAGE|g" -e "s|@HELPER_IMAGE@|$HELPER_IMAGE|g" \
  -e "s|@VOLUMES@|$KUBE_RUN/volumes|g" "$KUBE_INFRA_DIR/addons.yaml" | kubectl apply -f - >/dev/null
available() { kubectl -n "$1" rollout status "deployment/$2" --timeout 1s; }
step "CoreDNS available" wait_for - 120 available kube-system coredns
step "local-path provisioner available" wait_for - 120 available local-path-storage local-path-provisioner

log "node $KUBE_NODE_NAME up in $(( $(date +%s) - t0 ))s; kubeconfig: $KUBE_RUN/admin.kubeconfig"
echo "$KUBE_RUN/admin.kubeconfig"
