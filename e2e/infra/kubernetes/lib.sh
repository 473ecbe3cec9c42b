# Shared by the Kubernetes infra scripts: pinned versions, paths, timed progress output.
# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
KUBE_INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$KUBE_INFRA_DIR/versions.env"

WEIR_CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
WEIR_RUN="${WEIR_RUN:-$HOME/.cache/weir/run}"
K8S_BIN="$WEIR_CACHE/kubernetes-$K8S_VERSION/bin"
ETCD_BIN="$WEIR_CACHE/etcd-$ETCD_VERSION/bin"
HELM_BIN="$WEIR_CACHE/helm-$HELM_VERSION/bin"
KIND_BIN="$WEIR_CACHE/kind-$KIND_VERSION/bin"
ACTIONLINT_BIN="$WEIR_CACHE/actionlint-$ACTIONLINT_VERSION/bin"
COREDNS_BIN="$WEIR_CACHE/coredns-$COREDNS_VERSION/bin"
LOCAL_PATH_BIN="$WEIR_CACHE/local-path-provisioner-$LOCAL_PATH_VERSION/bin"
PAUSE_BIN="$WEIR_CACHE/pause-$PAUSE_VERSION/bin"
KUBE_RUN="$WEIR_RUN/kubernetes"

# Loopback ports, away from the defaults (2379, 6443) so a developer's own cluster does not clash.
KUBE_APISERVER_PORT="${WEIR_KUBE_APISERVER_PORT:-16443}"
KUBE_ETCD_PORT="${WEIR_KUBE_ETCD_PORT:-12379}"
KUBE_ETCD_PEER_PORT="${WEIR_KUBE_ETCD_PEER_PORT:-12380}"
# The node: its name, and its address on the pod bridge, which the node scripts create. The API server
# advertises that address, so pods reach it through the `kubernetes` Service.
KUBE_NODE_NAME="${WEIR_KUBE_NODE_NAME:-weir-node}"
KUBE_POD_BRIDGE="${WEIR_KUBE_POD_BRIDGE:-weir0}"
KUBE_POD_CIDR="${WEIR_KUBE_POD_CIDR:-10.244.0.0/24}"
KUBE_NODE_IP="${WEIR_KUBE_NODE_IP:-10.244.0.1}"
KUBE_SERVICE_CIDR="10.96.0.0/16"
KUBE_DNS_IP="10.96.0.10"
# false: etcd and kube-apiserver only, as controller-runtime's envtest runs them (no garbage
# collection, no pods from Deployments): for measuring an operator alone (the benchmark).
KUBE_CONTROLLER_MANAGER="${WEIR_KUBE_CONTROLLER_MANAGER:-true}"

_kube_t0=$(date +%s)
log() { printf '[kube %3ss] %s\n' "$(( $(date +%s) - _kube_t0 ))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# step NAME CMD...: run CMD and log how long it took.
step() {
  local name=$1 t0; shift
  t0=$(date +%s)
  log "$name ..."
  "$@"
  log "$name done in $(( $(date +%s) - t0 ))s"
}

# Reproducible, path-free binaries; never let go fetch another toolchain.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath"
export GOTOOLCHAIN=local

# live_pid NAME: print the pid recorded in $KUBE_RUN/NAME.pid if that process is alive and still
# runs the NAME binary (pids get reused, so the pid file alone proves nothing).
live_pid() {
  local pid exe
  pid=$(cat "$KUBE_RUN/$1.pid" 2>/dev/null) || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)} # still ours after a rebuild replaced the binary
  [[ ${exe##*/} == "$1" ]] && echo "$pid"
}

# port_in_use PORT: something already accepts connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_daemon NAME: TERM the process recorded in $KUBE_RUN/NAME.pid (KILL after 15 s).
stop_daemon() {
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
