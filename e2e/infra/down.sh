#!/usr/bin/env bash
# Stops what up.sh started: the Kafka broker (its data wiped), then dockerd if docker.sh
# started it. Cached downloads and images stay, so the next start is warm.
set -euo pipefail
_component=infra
# shellcheck source=e2e/infra/lib.sh
. "$(dirname "$0")/lib.sh"

status=0
step "Kafka"
"$INFRA_DIR/kafka.sh" down || status=1
step "Docker engine"
"$INFRA_DIR/docker.sh" down || status=1
finish "kafka and docker down"
exit "$status"
