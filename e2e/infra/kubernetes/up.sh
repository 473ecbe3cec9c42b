#!/usr/bin/env bash
# Start (or reuse) a Kubernetes control plane as host processes on loopback:
# etcd (TLS, client certs) → kube-apiserver (RBAC, service-account tokens) → kube-controller-manager.
# Idempotent and safe to call concurrently (a lock serialises callers); builds what is missing first.
# Prints the admin kubeconfig path on stdout when the cluster is ready.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pki=$KUBE_RUN/pki
logs=$KUBE_RUN/logs
admin_kubeconfig=$KUBE_RUN/admin.kubeconfig
server=https://127.0.0.1:$KUBE_APISERVER_PORT
mkdir -p "$KUBE_RUN" "$logs" && chmod 700 "$KUBE_RUN"

exec 9>"$KUBE_RUN/.lock"
flock -w 1800 9 || die "another start of the control plane still holds $KUBE_RUN/.lock after 30 min"

running() { live_pid "$1" >/dev/null; }

# start NAME PORT BINARY ARGS...: run detached (own session) so it outlives the caller, e.g. a test
# run. A foreign process on PORT is an error: readiness probes would otherwise talk to it.
start() {
  local name=$1 port=$2; shift 2
  if running "$name"; then log "$name: already running (pid $(cat "$KUBE_RUN/$name.pid"))"; return; fi
  if port_in_use "$port"; then
    die "$name: port $port is taken by another process (another control plane? see ss -ltnp; set WEIR_KUBE_*_PORT)"
  fi
  log "$name: starting, log at $logs/$name.log"
  # Logs append across restarts; keep one previous generation once a log passes 20 MB.
  if [[ -f $logs/$name.log ]] && (( $(stat -c %s "$logs/$name.log") > 20 * 1024 * 1024 )); then
    mv -f "$logs/$name.log" "$logs/$name.log.1"
  fi
  # 9>&-: the daemon must not inherit (and so hold) the start lock.
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$KUBE_RUN/$name.pid"
}

# wait_for NAME TIMEOUT_S CMD...: poll CMD until it succeeds; fail early if NAME's process died.
wait_for() {
  local name=$1 timeout=$2 deadline; shift 2
  deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      tail -n 30 "$logs/$name.log" >&2 || true
      die "$name exited while starting (log: $logs/$name.log)"
    fi
    (( $(date +%s) < deadline )) || { tail -n 30 "$logs/$name.log" >&2 || true; die "$name not ready after ${timeout}s (log: $logs/$name.log)"; }
    sleep 0.2
  done
}

curl_admin() { curl -fsS --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$@"; }
apiserver_ready() { [[ $(curl_admin "$server/readyz") == ok ]]; }
etcd_healthy() {
  curl -fsS --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/apiserver-etcd-client.crt" \
    --key "$pki/apiserver-etcd-client.key" "https://127.0.0.1:$KUBE_ETCD_PORT/health" | grep -q '"health":"true"'
}
default_service_account() { curl_admin "$server/api/v1/namespaces/default/serviceaccounts/default"; }

# kubeconfig FILE USER: a kubeconfig with the CA and the user's client cert embedded.
kubeconfig() {
  local file=$1 user=$2
  umask 077
  cat >"$file.tmp" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: weir
    cluster:
      server: $server
      certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
  - name: $user
    user:
      client-certificate-data: $(base64 -w0 "$pki/$user.crt")
      client-key-data: $(base64 -w0 "$pki/$user.key")
contexts:
  - name: weir
    context: { cluster: weir, user: $user, namespace: default }
current-context: weir
YAML
  mv -f "$file.tmp" "$file"
}

if [[ -f $admin_kubeconfig ]] && { [[ $KUBE_CONTROLLER_MANAGER == false ]] || running kube-controller-manager; } &&
  apiserver_ready 2>/dev/null; then
  log "control plane already up at $server"
  echo "$admin_kubeconfig"
  exit 0
fi

t0=$(date +%s)
step "build binaries" "$KUBE_INFRA_DIR/build.sh" kube etcd
step "certificates" "$KUBE_INFRA_DIR/certs.sh" "$pki"
kubeconfig "$admin_kubeconfig" admin
kubeconfig "$KUBE_RUN/controller-manager.kubeconfig" controller-manager
# For the node's components (node-up.sh), which run on the host too.
for user in scheduler kube-proxy kubelet; do kubeconfig "$KUBE_RUN/$user.kubeconfig" "$user"; done

start etcd "$KUBE_ETCD_PORT" "$ETCD_BIN/etcd" \
  --name weir --data-dir "$KUBE_RUN/etcd-data" \
  --listen-client-urls "https://127.0.0.1:$KUBE_ETCD_PORT" --advertise-client-urls "https://127.0.0.1:$KUBE_ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$KUBE_ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$KUBE_ETCD_PEER_PORT" \
  --initial-cluster "weir=http://127.0.0.1:$KUBE_ETCD_PEER_PORT" \
  --client-cert-auth --trusted-ca-file "$pki/ca.crt" --cert-file "$pki/etcd-server.crt" --key-file "$pki/etcd-server.key" \
  --listen-metrics-urls "" --quota-backend-bytes 2147483648 --log-level warn
step "etcd ready" wait_for etcd 30 etcd_healthy

# Bound on every address, advertised at the node's bridge address: pods reach it through the
# `kubernetes` Service (the lease reconciler publishes that endpoint). Client certificates only.
start kube-apiserver "$KUBE_APISERVER_PORT" "$K8S_BIN/kube-apiserver" \
  --bind-address 0.0.0.0 --advertise-address "$KUBE_NODE_IP" --secure-port "$KUBE_APISERVER_PORT" \
  --cert-dir "$KUBE_RUN/apiserver-certs" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" --anonymous-auth=false \
  --authorization-mode Node,RBAC \
  --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP \
  --etcd-servers "https://127.0.0.1:$KUBE_ETCD_PORT" --etcd-cafile "$pki/ca.crt" \
  --etcd-certfile "$pki/apiserver-etcd-client.crt" --etcd-keyfile "$pki/apiserver-etcd-client.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range "$KUBE_SERVICE_CIDR" --profiling=false
step "kube-apiserver ready (/readyz)" wait_for kube-apiserver 90 apiserver_ready

if [[ $KUBE_CONTROLLER_MANAGER == false ]]; then
  log "control plane (etcd and kube-apiserver only) up at $server in $(( $(date +%s) - t0 ))s; kubeconfig: $admin_kubeconfig"
  echo "$admin_kubeconfig"
  exit 0
fi

start kube-controller-manager 0 "$K8S_BIN/kube-controller-manager" \
  --kubeconfig "$KUBE_RUN/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$KUBE_RUN/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$KUBE_RUN/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
  --use-service-account-credentials \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --profiling=false
# The service-account controller creating `default` proves the controller manager works end to end.
step "kube-controller-manager ready (default ServiceAccount)" wait_for kube-controller-manager 60 default_service_account

log "control plane up at $server in $(( $(date +%s) - t0 ))s; kubeconfig: $admin_kubeconfig"
echo "$admin_kubeconfig"
