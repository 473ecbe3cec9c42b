#!/usr/bin/env bash
# Generate the cluster's PKI with openssl, once: a CA, serving certs for the apiserver (loopback and
# the node address) and etcd (loopback only), client certs (admin in system:masters, controller
# manager, scheduler, kube-proxy, the node's kubelet, apiserver→etcd, apiserver→kubelet) and the
# service-account signing key pair. Existing files are kept, so kubeconfigs stay valid.
#   certs.sh PKI_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pki=${1:?usage: certs.sh PKI_DIR}
command -v openssl >/dev/null || die "openssl is not on PATH (needed to generate the control plane certificates)"
mkdir -p "$pki" && chmod 700 "$pki"
cd "$pki"
umask 077

key() { [[ -f $1.key ]] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

# cert NAME SUBJECT EXT_USAGE [SAN]: a leaf certificate signed by the CA, valid one year.
cert() {
  local name=$1 subj=$2 usage=$3 san=${4:-}
  # Kept while valid for another day, signed by the current CA and for the same names; otherwise
  # issued anew.
  if [[ -f $name.crt ]] && openssl x509 -in "$name.crt" -noout -checkend 86400 >/dev/null &&
    openssl verify -CAfile ca.crt "$name.crt" >/dev/null 2>&1 && [[ $(cat "$name.san" 2>/dev/null) == "$san" ]]; then
    return
  fi
  key "$name"
  local ext; ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [[ -n $san ]] && echo "subjectAltName=$san"
  } >"$ext"
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
    -extfile "$ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$ext"
  printf '%s' "$san" >"$name.san"
}

if [[ ! -f ca.crt ]]; then
  key ca
  openssl req -x509 -new -key ca.key -subj "/CN=weir-kubernetes-ca" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.crt 2>/dev/null
fi

loopback="IP:127.0.0.1,DNS:localhost"
cert apiserver "/CN=kube-apiserver" serverAuth \
  "$loopback,IP:$KUBE_NODE_IP,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
# etcd dials itself (grpc-gateway) with its serving cert, so that cert is also a client cert.
cert etcd-server "/CN=etcd-server" serverAuth,clientAuth "$loopback"
cert apiserver-etcd-client "/CN=kube-apiserver-etcd-client" clientAuth
cert admin "/O=system:masters/CN=weir-admin" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
cert kube-proxy "/CN=system:kube-proxy" clientAuth
cert kubelet "/O=system:nodes/CN=system:node:$KUBE_NODE_NAME" clientAuth
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth

if [[ ! -f sa.key ]]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
  openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
fi
rm -f ca.srl
