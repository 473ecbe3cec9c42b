#!/usr/bin/env bash
# Brings up the real components the tests run against, in order; each step is skipped when
# its result is already there. `make infra-up` runs this (and the Kubernetes control plane).
set -euo pipefail
_component=infra
# shellcheck source=e2e/infra/lib.sh
. "$(dirname "$0")/lib.sh"

step "Docker engine"
"$INFRA_DIR/docker.sh" up
step "base images"
"$INFRA_DIR/base-images.sh" up
step "Kafka"
"$INFRA_DIR/kafka.sh" up
finish "docker, base images and kafka up"
