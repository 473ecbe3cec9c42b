#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, broker + controller in one JVM) run as a host
# process, from the Kafka jars on Maven Central (kafka/pom.xml), for the integration tests.
#
#   kafka.sh up       fetch the jars (cached by version), start the broker, wait until ready
#   kafka.sh down     stop it cleanly and wipe its data
#   kafka.sh status   print whether it runs and where
#
# Listeners: PLAINTEXT on loopback for tests on this host; optionally BRIDGE on the gateway
# address of a docker network, advertised as itself, so that containers and kind nodes on
# that network reach the broker (containers cannot reach the host's loopback).
#
# Settings (environment; the ports are away from Kafka's defaults so a developer's own broker
# does not clash):
#   WEIR_KAFKA_PORT            loopback client port (19092)
#   WEIR_KAFKA_CONTROLLER_PORT loopback KRaft controller port (19093)
#   WEIR_KAFKA_BRIDGE_PORT     bridge listener port (19094)
#   WEIR_KAFKA_SASL_PORT       loopback SASL_PLAINTEXT listener (SCRAM-SHA-512 and PLAIN) for the
#                              security tests (19095); WEIR_KAFKA_SASL_USER / WEIR_KAFKA_SASL_PASSWORD
#                              name its one test user (weir-test / weir-test-secret, loopback only)
#   WEIR_KAFKA_BRIDGE_ADDRESS  address for the bridge listener; `none` disables it;
#                              default: the gateway of docker network WEIR_KAFKA_BRIDGE_NETWORK
#   WEIR_KAFKA_BRIDGE_NETWORK  docker network whose gateway to use (bridge)
#   WEIR_KAFKA_HEAP            JVM heap (768m)
#   WEIR_KAFKA_READY_TIMEOUT   seconds to wait for readiness (90)
set -euo pipefail
_component=kafka
# shellcheck source=e2e/infra/lib.sh
. "$(dirname "$0")/lib.sh"

port="${WEIR_KAFKA_PORT:-19092}"
controller_port="${WEIR_KAFKA_CONTROLLER_PORT:-19093}"
bridge_port="${WEIR_KAFKA_BRIDGE_PORT:-19094}"
sasl_port="${WEIR_KAFKA_SASL_PORT:-19095}"
sasl_user="${WEIR_KAFKA_SASL_USER:-weir-test}"
sasl_password="${WEIR_KAFKA_SASL_PASSWORD:-weir-test-secret}"
bridge_network="${WEIR_KAFKA_BRIDGE_NETWORK:-bridge}"
heap="${WEIR_KAFKA_HEAP:-768m}"
ready_timeout="${WEIR_KAFKA_READY_TIMEOUT:-90}"

home="$WEIR_CACHE/kafka-$KAFKA_VERSION"
lib="$home/lib"
run="$WEIR_RUN/kafka"
data="$run/data"
logs="$run/logs"
pidfile="$run/kafka.pid"
config="$run/server.properties"

# The address containers reach the host on: explicit, else the address of the host's end of
# the docker network's bridge (its gateway; the default network does not report one itself).
bridge_address() {
  if [ -n "${WEIR_KAFKA_BRIDGE_ADDRESS:-}" ]; then
    [ "$WEIR_KAFKA_BRIDGE_ADDRESS" = none ] || echo "$WEIR_KAFKA_BRIDGE_ADDRESS"
    return 0
  fi
  command -v docker >/dev/null || return 0
  local info iface id
  info=$(docker network inspect -f '{{.Id}} {{index .Options "com.docker.network.bridge.name"}}' "$bridge_network" 2>/dev/null) || return 0
  read -r id iface <<<"$info"
  iface="${iface:-br-${id:0:12}}"
  ip -4 -o addr show dev "$iface" 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4; exit }'
}

render_config() {
  local bridge="$1"
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port,SASL://127.0.0.1:$sasl_port"
  local advertised="PLAINTEXT://127.0.0.1:$port,SASL://127.0.0.1:$sasl_port"
  if [ -n "$bridge" ]; then
    listeners+=",BRIDGE://$bridge:$bridge_port"
    advertised+=",BRIDGE://$bridge:$bridge_port"
  fi
  cat <<PROPS
# Written by e2e/infra/kafka.sh; edits are lost on the next start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,BRIDGE:PLAINTEXT,SASL:SASL_PLAINTEXT
# The SASL listener (tests of Weir's SASL settings): SCRAM users live in the cluster metadata;
# the PLAIN user is declared here.
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$sasl_password";
log.dirs=$data

# One broker: every internal topic has one replica, and transactions work with it.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
default.replication.factor=1
min.insync.replicas=1
num.partitions=1

# Tests create their topics explicitly: a misspelt topic fails instead of appearing.
auto.create.topics.enable=false
# Consumer groups start at once instead of waiting for more members.
group.initial.rebalance.delay.ms=0
# The broker's default upper bound on a producer's transaction timeout (15 min), stated.
transaction.max.timeout.ms=900000
PROPS
}

fetch_jars() {
  step "Kafka $KAFKA_VERSION jars from Maven Central"
  if [ -f "$lib/.complete" ]; then
    skip "cached in $lib"
    return 0
  fi
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  rm -rf "$lib"
  mkdir -p "$home"
  mvn -B -q -f "$INFRA_DIR/kafka/pom.xml" \
    -Dmaven.repo.local="$home/m2" \
    -Dkafka.version="$KAFKA_VERSION" -Dscala.binary.version="$KAFKA_SCALA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$lib" >"$home/mvn.log" 2>&1 ||
    { tail -30 "$home/mvn.log" >&2; fail "mvn could not fetch the Kafka jars (log: $home/mvn.log)"; }
  [ -f "$lib/kafka_$KAFKA_SCALA_VERSION-$KAFKA_VERSION.jar" ] || fail "kafka_$KAFKA_SCALA_VERSION-$KAFKA_VERSION.jar missing in $lib"
  touch "$lib/.complete"
  info "$(find "$lib" -name '*.jar' | wc -l) jars, $(du -sh "$lib" | cut -f1)"
}

java_cmd=(java -Xms128m "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  -Dkafka.logs.dir="$logs" -Dlog4j.configuration="file:$INFRA_DIR/kafka/log4j.properties" -cp "$lib/*")

write_connection() {
  local bridge="$1" bridge_json=""
  [ -n "$bridge" ] && bridge_json="\"$bridge:$bridge_port\""
  cat >"$run/connection.json.tmp" <<JSON
{
  "version": "$KAFKA_VERSION",
  "brokers": ["127.0.0.1:$port"],
  "bridgeBrokers": [$bridge_json],
  "sasl": { "brokers": ["127.0.0.1:$sasl_port"], "username": "$sasl_user", "password": "$sasl_password" },
  "pid": $(cat "$pidfile"),
  "logs": "$logs"
}
JSON
  mv "$run/connection.json.tmp" "$run/connection.json"
}

# Ready at start-up: the client port accepts and the broker says it finished starting.
started() {
  tcp_open 127.0.0.1 "$port" && grep -q 'Kafka Server started' "$logs/server.log"
}
# Later (the log may have rolled over since): our broker process and its client port.
serving() {
  pid_alive "$pidfile" kafka.Kafka && tcp_open 127.0.0.1 "$port"
}

start() {
  local bridge="$1"
  # Captured first: under pipefail, `ip ... | grep -q` fails when grep exits before ip finished writing.
  local addrs
  addrs=$(ip -4 addr 2>/dev/null || true)
  if [ -n "$bridge" ] && ! grep -q "inet $bridge/" <<<"$addrs"; then
    fail "bridge address $bridge is not an address of this host (set WEIR_KAFKA_BRIDGE_ADDRESS, or none)"
  fi
  for p in "$port" "$controller_port" "$sasl_port"; do
    ! tcp_open 127.0.0.1 "$p" || fail "port $p on 127.0.0.1 is taken by another process (set WEIR_KAFKA_PORT / WEIR_KAFKA_CONTROLLER_PORT)"
  done

  step "storage"
  mkdir -p "$data" "$logs"
  if [ -f "$data/meta.properties" ]; then
    skip "reusing $data"
  else
    # A KRaft cluster id: 16 random bytes, URL-safe base64 without padding. It may start with
    # "-", hence --cluster-id=ID rather than -t ID.
    local cluster_id
    cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    "${java_cmd[@]}" kafka.tools.StorageTool format "--cluster-id=$cluster_id" -c "$config" >"$logs/format.log" 2>&1 ||
      { cat "$logs/format.log" >&2; fail "formatting $data failed"; }
  fi

  step "broker start"
  for f in server.log state-change.log; do
    [ -f "$logs/$f" ] && mv -f "$logs/$f" "$logs/$f.prev"
  done
  # Its own session, so that it outlives this script and the make that ran it.
  # 9>&-: the broker must not inherit (and so hold) the start lock.
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
    "${java_cmd[@]}" kafka.Kafka "$config" >"$logs/stdout.log" 2>&1 </dev/null 9>&- &
  wait_until 5 "pid file written" test -s "$pidfile" || fail "the broker process did not start"
  local deadline=$(( $(date +%s) + ready_timeout ))
  until started; do
    if ! pid_alive "$pidfile" kafka.Kafka; then
      tail -40 "$logs/server.log" "$logs/stdout.log" >&2 2>/dev/null || true
      rm -f "$pidfile"
      fail "the broker exited during start-up (logs: $logs)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -40 "$logs/server.log" >&2 2>/dev/null || true
      stop_pid "$pidfile" kafka.Kafka 30
      fail "the broker was not ready within ${ready_timeout}s, stopped it (logs: $logs)"
    fi
    sleep 0.2
  done
  info "ready on 127.0.0.1:$port${bridge:+ and $bridge:$bridge_port} after $(( $(date +%s) - _step_t0 ))s (pid $(cat "$pidfile"))"
  scram_user
}

# The SCRAM credentials of the test user (kept in the cluster metadata; idempotent).
scram_user() {
  step "SCRAM user $sasl_user"
  java -Xmx256m -Dlog4j.configuration="file:$INFRA_DIR/kafka/log4j.properties" -cp "$lib/*" kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$port" --alter \
    --add-config "SCRAM-SHA-512=[iterations=4096,password=$sasl_password]" \
    --entity-type users --entity-name "$sasl_user" >"$logs/scram.log" 2>&1 ||
    { cat "$logs/scram.log" >&2; fail "could not create the SCRAM user $sasl_user"; }
  info "SCRAM-SHA-512 and PLAIN on 127.0.0.1:$sasl_port"
}

up() {
  fetch_jars
  step "broker configuration"
  mkdir -p "$run"
  local bridge
  bridge=$(bridge_address)
  [ -n "$bridge" ] || info "no bridge listener (no docker network '$bridge_network' and no WEIR_KAFKA_BRIDGE_ADDRESS)"
  render_config "$bridge" >"$config.new"
  if pid_alive "$pidfile" kafka.Kafka; then
    if cmp -s "$config.new" "$config" && serving; then
      rm -f "$config.new"
      skip "already running (pid $(cat "$pidfile"))"
      write_connection "$bridge"
      finish "Kafka $KAFKA_VERSION up"
      return 0
    fi
    info "configuration changed or broker not ready: restarting (data kept)"
    stop_pid "$pidfile" kafka.Kafka 60
  fi
  mv -f "$config.new" "$config"
  start "$bridge"
  write_connection "$bridge"
  finish "Kafka $KAFKA_VERSION up"
}

down() {
  step "broker stop"
  if pid_alive "$pidfile" kafka.Kafka; then
    stop_pid "$pidfile" kafka.Kafka 60
  else
    skip "not running"
  fi
  step "wipe data"
  rm -rf "$data" "$run/connection.json"
  finish "Kafka down"
}

status() {
  if serving; then
    echo "kafka: running (pid $(cat "$pidfile")), $(tr -d '\n ' <"$run/connection.json" 2>/dev/null)"
  else
    echo "kafka: not running"
    exit 1
  fi
}

mkdir -p "$run"
# One start or stop at a time: parallel test processes may all ask for the broker.
exec 9>"$run/.lock"
flock -w 300 9 || fail "another kafka.sh holds $run/.lock for over 300s"
case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
