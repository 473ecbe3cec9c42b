#!/usr/bin/env bash
# The base images the project's Dockerfiles start FROM, built locally when they are not
# there already (a machine that can pull the official ones builds nothing):
#   debian:bookworm-slim     Debian rootfs made with debootstrap, then `docker import`
#   node:24-bookworm-slim    the same rootfs + Node.js and npm from the npm registry,
#                            user `node` (uid/gid 1000), node and npm on PATH
# Both carry the host's CA bundle, and Node is pointed at it (NODE_EXTRA_CA_CERTS), so a
# container reaches the npm registry through this host's TLS-intercepting proxy; Debian's
# mirror is reached over plain HTTP.
#
#   base-images.sh up        build what is missing (or was built by an older recipe)
#   base-images.sh status
set -euo pipefail
_component=base-images
# shellcheck source=e2e/infra/lib.sh
. "$(dirname "$0")/lib.sh"

node_major="${BASE_NODE_VERSION%%.*}"
debian_image="debian:$DEBIAN_SUITE-slim"
node_image="node:$node_major-$DEBIAN_SUITE-slim"
rootfs_cache="$WEIR_CACHE/debian-$DEBIAN_SUITE-rootfs-r$BASE_IMAGE_RECIPE"
npm_cache="$WEIR_CACHE/npm-v$BASE_NPM_VERSION"
host_ca="${WEIR_HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
# Where the host's bundle lives in the image: outside /etc/ssl/certs, which
# update-ca-certificates regenerates when an image installs Debian's ca-certificates.
image_ca=/usr/local/share/ca-certificates/weir-host-bundle.crt
npm_registry="$( (cd / && npm config get registry 2>/dev/null) | sed 's|/*$||' || true)"
npm_registry="${npm_registry:-https://registry.npmjs.org}"
work="$WEIR_CACHE/base-images-work"
label=dev.weir.base-image.recipe
debian_recipe="$DEBIAN_SUITE-r$BASE_IMAGE_RECIPE"
node_recipe="$debian_recipe-node$BASE_NODE_VERSION-npm$BASE_NPM_VERSION"

# needs_build IMAGE RECIPE: absent, or built here by another recipe. An image without our
# label (e.g. the official one) is never replaced.
needs_build() {
  local found
  found=$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$1" 2>/dev/null) || return 0
  [ -n "$found" ] && [ "$found" != "<no value>" ] && [ "$found" != "$2" ]
}

debian_rootfs() {
  step "Debian $DEBIAN_SUITE rootfs (debootstrap)"
  if [ -f "$rootfs_cache/rootfs.tar" ]; then
    skip "cached in $rootfs_cache"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || fail "debootstrap needs root"
  apt_install debootstrap
  local dir="$work/debian"
  rm -rf "$dir" && mkdir -p "$dir" "$rootfs_cache"
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR" >"$rootfs_cache/debootstrap.log" 2>&1 ||
    { tail -30 "$rootfs_cache/debootstrap.log" >&2; fail "debootstrap failed (log: $rootfs_cache/debootstrap.log)"; }

  # Like the official slim image: no docs, man pages or translations from later installs,
  # no package caches left in layers.
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
CFG
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
  rm -f "$dir/etc/apt/sources.list"
  cat >"$dir/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $DEBIAN_SUITE $DEBIAN_SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $DEBIAN_SECURITY_MIRROR
Suites: $DEBIAN_SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  find "$dir/usr/share/doc" -mindepth 2 -not -name copyright -not -type d -delete 2>/dev/null || true
  rm -rf "$dir"/usr/share/{man,info,groff,lintian,linda}/* "$dir"/usr/share/locale/*
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
    "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir"/tmp/* "$dir"/root/.bash_history
  # docker provides these at run time.
  : >"$dir/etc/resolv.conf"
  : >"$dir/etc/hostname"

  install -D -m 0644 "$host_ca" "$dir$image_ca"
  # Also where OpenSSL-based tools of a bare image look, until ca-certificates replaces it.
  install -D -m 0644 "$host_ca" "$dir/etc/ssl/certs/ca-certificates.crt"

  tar --numeric-owner -C "$dir" -cf "$rootfs_cache/rootfs.tar.tmp" .
  mv "$rootfs_cache/rootfs.tar.tmp" "$rootfs_cache/rootfs.tar"
  rm -rf "$dir"
  info "$(du -h "$rootfs_cache/rootfs.tar" | cut -f1) rootfs"
}

build_debian() {
  step "image $debian_image"
  if ! needs_build "$debian_image" "$debian_recipe"; then
    skip "present ($(docker image inspect -f '{{.Id}}' "$debian_image" | cut -c8-19))"
    return 0
  fi
  info "not present (or from an older recipe): building it"
  debian_rootfs
  step "image $debian_image: import"
  docker import \
    --change "LABEL $label=$debian_recipe" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    "$rootfs_cache/rootfs.tar" "$debian_image" >/dev/null
}

node_dist() {
  step "Node.js $BASE_NODE_VERSION and npm $BASE_NPM_VERSION from the npm registry"
  node_bin=$(WEIR_NODE_VERSION="$BASE_NODE_VERSION" WEIR_NODE_FORCE=1 "$INFRA_DIR/../../scripts/node24.sh")
  [ -x "$node_bin/node" ] || fail "no node binary in $node_bin"
  if [ -f "$npm_cache/.complete" ]; then
    info "npm cached in $npm_cache"
  else
    rm -rf "$npm_cache" && mkdir -p "$npm_cache"
    # npm's tarball bundles its own dependencies: unpacked, it is a complete npm.
    (cd "$npm_cache" && PATH="$node_bin:$PATH" npm pack --silent "npm@$BASE_NPM_VERSION" >/dev/null)
    tar -xzf "$npm_cache"/npm-*.tgz -C "$npm_cache"
    rm -f "$npm_cache"/npm-*.tgz
    touch "$npm_cache/.complete"
  fi
}

build_node() {
  step "image $node_image"
  if ! needs_build "$node_image" "$node_recipe"; then
    skip "present ($(docker image inspect -f '{{.Id}}' "$node_image" | cut -c8-19))"
    return 0
  fi
  info "not present (or from an older recipe): building it"
  debian_rootfs
  node_dist
  step "image $node_image: rootfs"
  local dir="$work/node" node_pkg
  node_pkg=$(cd "$node_bin/.." && pwd)
  rm -rf "$dir" && mkdir -p "$dir"
  tar --numeric-owner -C "$dir" -xf "$rootfs_cache/rootfs.tar"
  install -D -m 0755 "$node_pkg/bin/node" "$dir/usr/local/bin/node"
  if [ -d "$node_pkg/include/node" ]; then
    mkdir -p "$dir/usr/local/include" && cp -a "$node_pkg/include/node" "$dir/usr/local/include/"
  fi
  mkdir -p "$dir/usr/local/lib/node_modules"
  cp -a "$npm_cache/package" "$dir/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$dir/usr/local/bin/npx"
  install -m 0755 "$INFRA_DIR/base-images/docker-entrypoint.sh" "$dir/usr/local/bin/docker-entrypoint.sh"
  chroot "$dir" groupadd --gid 1000 node
  chroot "$dir" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  tar --numeric-owner -C "$dir" -cf "$work/node-rootfs.tar" .
  rm -rf "$dir"

  step "image $node_image: import"
  docker import \
    --change "LABEL $label=$node_recipe" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$BASE_NODE_VERSION" \
    --change "ENV NODE_EXTRA_CA_CERTS=$image_ca" \
    --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
    --change 'CMD ["node"]' \
    "$work/node-rootfs.tar" "$node_image" >/dev/null
  rm -f "$work/node-rootfs.tar"

  step "image $node_image: check"
  local seen
  seen=$(docker run --rm --user node "$node_image" sh -c 'echo "$(id -u):$(id -g) $(node --version) npm $(npm --version)"')
  [ "$seen" = "1000:1000 v$BASE_NODE_VERSION npm $BASE_NPM_VERSION" ] || fail "$node_image answered '$seen'"
  info "$seen"
  # The point of the CA bundle: Node in a container trusts this network's TLS proxy.
  docker run --rm --user node "$node_image" node -e \
    "fetch('$npm_registry/npm', { method: 'HEAD' }).then((r) => process.exit(r.ok ? 0 : 2))" ||
    fail "node in $node_image cannot fetch $npm_registry over TLS (host CA bundle: $host_ca)"
  info "fetch of $npm_registry from a container: ok"
}

up() {
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || fail "no Docker engine answers: run make docker first"
  [ -s "$host_ca" ] || fail "no host CA bundle at $host_ca (set WEIR_HOST_CA_BUNDLE)"
  build_debian
  build_node
  rm -rf "$work"
  # Our images that a rebuild replaced (now untagged); never anyone else's.
  docker image prune -f --filter "label=$label" >/dev/null
  finish "base images ready"
}

status() {
  local image recipe
  for image in "$debian_image:$debian_recipe" "$node_image:$node_recipe"; do
    recipe="${image##*:}" image="${image%:*}"
    if needs_build "$image" "$recipe"; then
      echo "$image: missing or outdated"
    else
      echo "$image: $(docker image inspect -f "{{.Id}} {{ index .Config.Labels \"$label\" }}" "$image" | cut -c8-)"
    fi
  done
}

mkdir -p "$WEIR_RUN/base-images"
# One run at a time: concurrent callers wait, then find the work done.
exec 9>"$WEIR_RUN/base-images/.lock"
flock -w 1200 9 || fail "another $(basename "$0") holds $WEIR_RUN/base-images/.lock for over 1200s"
case "${1:-}" in
  up) up ;;
  status) status ;;
  *) echo "usage: $0 up|status" >&2; exit 2 ;;
esac
