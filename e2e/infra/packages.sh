#!/usr/bin/env bash
# Installs the Debian packages named, those missing only (root): packages.sh PACKAGE...
set -euo pipefail
_component=packages
# shellcheck source=e2e/infra/lib.sh
. "$(dirname "$0")/lib.sh"
apt_install "$@"
