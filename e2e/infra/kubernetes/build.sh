#!/usr/bin/env bash
# Build the Kubernetes tool chain from the Go module proxy, cached by version:
#   build.sh [kube|etcd|node|helm|kind|actionlint|all]...   (default: kube etcd, what the control plane needs;
#   node: kube-scheduler, kubelet, kube-proxy, CoreDNS, local-path-provisioner and the pause binary)
# A binary already in the cache is not rebuilt; a build writes to a temporary name and renames,
# so an interrupted build never leaves a half-written binary behind.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v go >/dev/null || die "go is not on PATH (needed to build Kubernetes from the module proxy)"

# go_build OUT_DIR NAME MODULE_DIR PACKAGE [LDFLAGS]
go_build() {
  local out=$1/$2 dir=$3 pkg=$4 ldflags=${5:-}
  if [[ -x $out ]]; then log "$2: cached at $out"; return; fi
  mkdir -p "$1"
  step "$2: go build $pkg" \
    env -C "$dir" CGO_ENABLED=0 go build -ldflags "-s -w $ldflags" -o "$out.tmp.$$" "$pkg"
  mv -f "$out.tmp.$$" "$out"
}

# Stamp what `--version` and /version report (Kubernetes' hack/lib/version.sh sets the same).
# The module proxy serves a tagged tree without a commit id: gitCommit stays empty (rather than the
# unexpanded "$Format:%H$") and gitTreeState=archive, as for a source tarball.
k8s_ldflags() {
  local v=${K8S_VERSION#v} flags='' pkg
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=archive -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$flags"
}

build_kube() {
  local dir=$KUBE_INFRA_DIR/build/kubernetes cmd
  grep -q "k8s.io/kubernetes $K8S_VERSION" "$dir/go.mod" || die "build/kubernetes/go.mod does not pin k8s.io/kubernetes $K8S_VERSION"
  for cmd in kube-apiserver kube-controller-manager kubectl; do
    go_build "$K8S_BIN" "$cmd" "$dir" "k8s.io/kubernetes/cmd/$cmd" "$(k8s_ldflags)"
  done
}

# The node's components: the same wrapper module, plus CoreDNS and the local-path provisioner
# (plain `go install`s: neither has replace directives), plus the pod sandbox's pause binary,
# compiled from Kubernetes' own pause.c with the flags of its build/pause/Makefile.
build_node() {
  local dir=$KUBE_INFRA_DIR/build/kubernetes cmd
  for cmd in kube-scheduler kubelet kube-proxy; do
    go_build "$K8S_BIN" "$cmd" "$dir" "k8s.io/kubernetes/cmd/$cmd" "$(k8s_ldflags)"
  done
  go_install "$COREDNS_BIN" coredns "github.com/coredns/coredns@$COREDNS_VERSION"
  go_install "$LOCAL_PATH_BIN" local-path-provisioner "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION"
  if [[ ! -x $PAUSE_BIN/pause ]]; then
    command -v gcc >/dev/null || die "gcc is not on PATH (needed to compile the pause binary)"
    local src
    src=$(env -C "$dir" go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
    mkdir -p "$PAUSE_BIN"
    step "pause: gcc -static pause.c" \
      gcc -Os -Wall -Werror -static "-DVERSION=v$PAUSE_VERSION-weir" -o "$PAUSE_BIN/pause.tmp.$$" "$src/build/pause/linux/pause.c"
    mv -f "$PAUSE_BIN/pause.tmp.$$" "$PAUSE_BIN/pause"
  fi
}

build_etcd() {
  local dir=$KUBE_INFRA_DIR/build/etcd
  grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$dir/go.mod" || die "build/etcd/go.mod does not pin etcd $ETCD_VERSION"
  go_build "$ETCD_BIN" etcd "$dir" .
}

# helm, kind and actionlint have no replace directives: a plain `go install` at the pinned version works.
go_install() {
  local out_dir=$1 name=$2 pkg=$3 ldflags=${4:-}
  if [[ -x $out_dir/$name ]]; then log "$name: cached at $out_dir/$name"; return; fi
  local tmp; tmp=$(mktemp -d)
  step "$name: go install $pkg" env GOBIN="$tmp" CGO_ENABLED=0 go install -ldflags "-s -w $ldflags" "$pkg"
  mkdir -p "$out_dir" && mv -f "$tmp/$name" "$out_dir/$name" && rm -rf "$tmp"
}

build_helm() {
  go_install "$HELM_BIN" helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=archive"
}

build_kind() {
  go_install "$KIND_BIN" kind "sigs.k8s.io/kind@$KIND_VERSION"
}

build_actionlint() {
  go_install "$ACTIONLINT_BIN" actionlint "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(kube etcd)
for t in "${targets[@]}"; do
  case $t in
    kube) build_kube ;;
    etcd) build_etcd ;;
    node) build_node ;;
    helm) build_helm ;;
    kind) build_kind ;;
    actionlint) build_actionlint ;;
    all) build_etcd; build_kube; build_node; build_helm; build_kind ;;
    *) die "unknown build target '$t' (expected kube, etcd, node, helm, kind, actionlint or all)" ;;
  esac
done
