#!/usr/bin/env bash
# Real Apache Kafka (KRaft) on loopback, assembled from Maven Central by pom.xml.
#
#   kafka.sh fetch                          download the pinned jars once into the cache
#   kafka.sh start [--port P] [--dir D]     single broker+controller; waits until it takes clients
#   kafka.sh stop  [--dir D]                clean shutdown (SIGTERM, then SIGKILL after 30 s)
#   kafka.sh status [--dir D]               prints "running <pid>" or "stopped"
#   kafka.sh cluster-start [--port P] [--dir D]   3 brokers (ports P, P+1, P+2), RF 3, min ISR 2
#   kafka.sh cluster-stop  [--dir D]
#   kafka.sh node-stop|node-start N [--dir D]     stop/start one node of the cluster (fault tests)
#   kafka.sh secure-start [--port P] [--dir D] --user U --password W
#       single node whose client listener on P is SASL_SSL (PLAIN, SCRAM-SHA-256 and -512 for
#       user U): makes a self-signed certificate for 127.0.0.1/localhost with keytool and writes
#       its PEM to D/ca.pem for clients. Stop it with `kafka.sh stop --dir D`.
#
# Environment: STREAMREC_KAFKA_CACHE (jar cache, default ~/.cache/streamrec/kafka-<version>),
# KAFKA_HEAP_OPTS (overrides the heap sizing below), JAVA (java binary).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")"
CACHE="${STREAMREC_KAFKA_CACHE:-$HOME/.cache/streamrec/kafka-$VERSION}"
LIBS="$CACHE/libs"
JAVA="${JAVA:-java}"
START_TIMEOUT="${STREAMREC_KAFKA_START_TIMEOUT:-90}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

fetch() {
  if [ -f "$LIBS/.complete" ] && ls "$LIBS"/kafka_2.13-"$VERSION".jar >/dev/null 2>&1; then
    return 0
  fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed once to fetch Kafka $VERSION; install it or set STREAMREC_KAFKA_CACHE to a filled cache"
  echo "kafka.sh: fetching Apache Kafka $VERSION jars from Maven Central into $LIBS" >&2
  mkdir -p "$LIBS"
  mvn -B -q -f "$HERE/pom.xml" dependency:copy-dependencies -Dkafka.libs="$LIBS" >&2 \
    || die "Maven could not fetch the Kafka jars (see above)"
  [ -f "$LIBS/kafka_2.13-$VERSION.jar" ] || die "Maven ran but kafka_2.13-$VERSION.jar is not in $LIBS"
  touch "$LIBS/.complete"
}

# Heap for a 2-core / 24 GB machine: 1 GiB for a single node, 512 MiB per cluster node.
# The log cleaner's dedupe buffer must fit well inside that heap, so it is sized with it.
heap_for() { case "$1" in single) echo "-Xms256m -Xmx1g" ;; *) echo "-Xms256m -Xmx512m" ;; esac; }
dedupe_for() { case "$1" in single) echo 67108864 ;; *) echo 33554432 ;; esac; }

write_config() {  # node_id port controller_port data_dir voters mode rf min_isr
  local id=$1 port=$2 cport=$3 dir=$4 voters=$5 mode=$6 rf=$7 isr=$8
  cat > "$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
auto.create.topics.enable=true
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.enable=true
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=$(dedupe_for "$mode")
log.cleaner.io.buffer.size=1048576
log.cleaner.backoff.ms=5000
log.retention.hours=168
log.segment.bytes=67108864
message.max.bytes=10485760
replica.fetch.max.bytes=10485760
CONF
}

is_running() { [ -f "$1/kafka.pid" ] && kill -0 "$(cat "$1/kafka.pid")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

launch() {  # dir mode port
  local dir=$1 mode=$2 port=$3
  local heap="${KAFKA_HEAP_OPTS:-$(heap_for "$mode")}"
  # setsid: the broker outlives the shell that started it and is not hit by its signals.
  setsid nohup "$JAVA" $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$HERE/log4j.properties" -Dkafka.logs.dir="$dir" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" > "$dir/kafka.log" 2>&1 < /dev/null &
  echo $! > "$dir/kafka.pid"
}

wait_ready() {  # dir port
  local dir=$1 port=$2 waited=0
  while :; do
    if ! is_running "$dir"; then
      echo "kafka.sh: broker in $dir exited during start; its log:" >&2
      tail -n 80 "$dir/kafka.log" >&2 || true
      return 1
    fi
    if grep -q "Kafka Server started" "$dir/kafka.log" 2>/dev/null && port_open "$port"; then
      return 0
    fi
    if [ "$waited" -ge $((START_TIMEOUT * 2)) ]; then
      echo "kafka.sh: broker in $dir not ready after ${START_TIMEOUT}s; its log:" >&2
      tail -n 80 "$dir/kafka.log" >&2 || true
      stop_dir "$dir"
      return 1
    fi
    sleep 0.5; waited=$((waited + 1))
  done
}

format_dir() {  # dir cluster_id
  "$JAVA" -Xmx256m -Dlog4j.configuration="file:$HERE/log4j.properties" -cp "$LIBS/*" \
    kafka.tools.StorageTool format -t "$2" -c "$1/server.properties" --ignore-formatted \
    > "$1/format.log" 2>&1 || { cat "$1/format.log" >&2; die "could not format storage in $1"; }
}

new_cluster_id() {
  "$JAVA" -Xmx128m -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1
}

stop_dir() {
  local dir=$1
  is_running "$dir" || { rm -f "$dir/kafka.pid"; return 0; }
  local pid; pid="$(cat "$dir/kafka.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kafka.sh: broker $pid did not stop in 30 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/kafka.pid"
}

# The secured node: clients on P (SASL over TLS), the broker's own traffic on an internal
# plaintext listener at P + 2000, the controller at P + 1000, all on loopback.
make_certificate() {  # dir
  local dir=$1 pass
  pass="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  echo "$pass" > "$dir/keystore.pass"; chmod 600 "$dir/keystore.pass"
  rm -f "$dir/broker.p12" "$dir/ca.pem"
  keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 30 \
    -dname "CN=localhost" -ext "SAN=ip:127.0.0.1,dns:localhost" \
    -storetype PKCS12 -keystore "$dir/broker.p12" -storepass "$pass" -keypass "$pass" \
    > "$dir/keytool.log" 2>&1 || { cat "$dir/keytool.log" >&2; die "keytool could not make a key pair"; }
  keytool -exportcert -rfc -alias broker -keystore "$dir/broker.p12" -storetype PKCS12 \
    -storepass "$pass" -file "$dir/ca.pem" >> "$dir/keytool.log" 2>&1 \
    || { cat "$dir/keytool.log" >&2; die "keytool could not export the certificate"; }
}

write_secure_config() {  # port dir user password
  local port=$1 dir=$2 user=$3 password=$4 pass
  pass="$(cat "$dir/keystore.pass")"
  write_config 1 "$port" $((port + 1000)) "$dir" "1@127.0.0.1:$((port + 1000))" single 1 1
  sed -i -e '/^listeners=/d' -e '/^advertised.listeners=/d' -e '/^listener.security.protocol.map=/d' \
    -e '/^inter.broker.listener.name=/d' "$dir/server.properties"
  cat >> "$dir/server.properties" <<CONF
listeners=SASL_SSL://127.0.0.1:$port,INTERNAL://127.0.0.1:$((port + 2000)),CONTROLLER://127.0.0.1:$((port + 1000))
advertised.listeners=SASL_SSL://127.0.0.1:$port,INTERNAL://127.0.0.1:$((port + 2000))
listener.security.protocol.map=SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$user="$password";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/broker.p12
ssl.keystore.password=$pass
ssl.key.password=$pass
ssl.client.auth=none
CONF
  chmod 600 "$dir/server.properties"
}

format_secure_dir() {  # dir user password
  local dir=$1 user=$2 password=$3
  "$JAVA" -Xmx256m -Dlog4j.configuration="file:$HERE/log4j.properties" -cp "$LIBS/*" \
    kafka.tools.StorageTool format -t "$(new_cluster_id)" -c "$dir/server.properties" \
    --add-scram "SCRAM-SHA-256=[name=$user,password=$password]" \
    --add-scram "SCRAM-SHA-512=[name=$user,password=$password]" \
    > "$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "could not format storage in $dir"; }
}

cmd="${1:-}"; [ -n "$cmd" ] && shift || true
PORT=""; DIR=""; NODE=""; SASL_USER=""; SASL_PASSWORD=""
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --user) SASL_USER="$2"; shift 2 ;;
    --password) SASL_PASSWORD="$2"; shift 2 ;;
    [0-9]*) NODE="$1"; shift ;;
    *) die "unknown argument: $1 (see the header of $0)" ;;
  esac
done

case "$cmd" in
  fetch) fetch ;;
  start)
    PORT="${PORT:-9092}"; DIR="${DIR:-$REPO/.kafka/single}"
    fetch
    mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd)"
    if is_running "$DIR"; then echo "kafka.sh: already running (pid $(cat "$DIR/kafka.pid")) in $DIR" >&2; exit 0; fi
    port_open "$PORT" && die "port $PORT is taken by another process; choose another with --port"
    write_config 1 "$PORT" $((PORT + 1000)) "$DIR" "1@127.0.0.1:$((PORT + 1000))" single 1 1
    [ -f "$DIR/data/meta.properties" ] || format_dir "$DIR" "$(new_cluster_id)"
    launch "$DIR" single "$PORT"
    wait_ready "$DIR" "$PORT"
    echo "kafka.sh: Apache Kafka $VERSION ready on 127.0.0.1:$PORT (data $DIR, pid $(cat "$DIR/kafka.pid"))" >&2
    ;;
  secure-start)
    PORT="${PORT:-9093}"; DIR="${DIR:-$REPO/.kafka/secure}"
    [ -n "$SASL_USER" ] && [ -n "$SASL_PASSWORD" ] || die "secure-start needs --user and --password"
    case "$SASL_USER$SASL_PASSWORD" in *[\"\;\ =,\]\[]*) die "--user and --password may not hold quotes, spaces, ';', '=', ',' or brackets" ;; esac
    command -v keytool >/dev/null || die "keytool (from a JDK) is needed to make the broker's certificate"
    fetch
    mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd)"
    if is_running "$DIR"; then echo "kafka.sh: already running (pid $(cat "$DIR/kafka.pid")) in $DIR" >&2; exit 0; fi
    port_open "$PORT" && die "port $PORT is taken by another process; choose another with --port"
    if [ ! -f "$DIR/data/meta.properties" ]; then
      make_certificate "$DIR"
      write_secure_config "$PORT" "$DIR" "$SASL_USER" "$SASL_PASSWORD"
      format_secure_dir "$DIR" "$SASL_USER" "$SASL_PASSWORD"
    fi
    launch "$DIR" single "$PORT"
    wait_ready "$DIR" "$PORT"
    echo "kafka.sh: Apache Kafka $VERSION ready on SASL_SSL://127.0.0.1:$PORT (CA $DIR/ca.pem, data $DIR, pid $(cat "$DIR/kafka.pid"))" >&2
    ;;
  stop) stop_dir "${DIR:-$REPO/.kafka/single}" ;;
  status)
    DIR="${DIR:-$REPO/.kafka/single}"
    if is_running "$DIR"; then echo "running $(cat "$DIR/kafka.pid")"; else echo stopped; fi ;;
  cluster-start)
    PORT="${PORT:-19092}"; DIR="${DIR:-$REPO/.kafka/cluster}"
    fetch
    mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd)"
    voters="1@127.0.0.1:$((PORT + 1000)),2@127.0.0.1:$((PORT + 1001)),3@127.0.0.1:$((PORT + 1002))"
    [ -f "$DIR/cluster.id" ] || new_cluster_id > "$DIR/cluster.id"
    for n in 1 2 3; do
      d="$DIR/node$n"; mkdir -p "$d"
      is_running "$d" && continue
      write_config "$n" $((PORT + n - 1)) $((PORT + 999 + n)) "$d" "$voters" cluster 3 2
      echo "$((PORT + n - 1))" > "$d/port"
      [ -f "$d/data/meta.properties" ] || format_dir "$d" "$(cat "$DIR/cluster.id")"
      launch "$d" cluster $((PORT + n - 1))
    done
    for n in 1 2 3; do wait_ready "$DIR/node$n" $((PORT + n - 1)) || { "$0" cluster-stop --dir "$DIR"; exit 1; }; done
    echo "kafka.sh: 3-broker Apache Kafka $VERSION cluster ready on 127.0.0.1:$PORT,$((PORT + 1)),$((PORT + 2))" >&2
    ;;
  cluster-stop)
    # Signal all nodes at once: stopped one by one, the last ones lose their quorum and hang.
    DIR="${DIR:-$REPO/.kafka/cluster}"
    for n in 1 2 3; do is_running "$DIR/node$n" && kill -TERM "$(cat "$DIR/node$n/kafka.pid")" 2>/dev/null; done
    for n in 1 2 3; do [ -d "$DIR/node$n" ] && stop_dir "$DIR/node$n"; done; true ;;
  node-stop) stop_dir "${DIR:-$REPO/.kafka/cluster}/node${NODE:?node number}" ;;
  node-start)
    DIR="${DIR:-$REPO/.kafka/cluster}"; d="$DIR/node${NODE:?node number}"
    is_running "$d" || { launch "$d" cluster "$(cat "$d/port")"; wait_ready "$d" "$(cat "$d/port")"; } ;;
  *) sed -n '2,18p' "$0"; [ -z "$cmd" ] && exit 0 || exit 2 ;;
esac
