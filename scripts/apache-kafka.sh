#!/usr/bin/env bash
# apache-kafka.sh PORT DATA_DIR runs a single-node KRaft Apache Kafka broker (installed by setup.sh) in
# the foreground on 127.0.0.1:PORT until SIGTERM, keeping its log and metadata in DATA_DIR. It formats
# DATA_DIR on first use and reuses it afterwards, so a broker killed -9 restarts on the same data.
#
# Environment (all optional):
#   KAFKA_CONTROLLER_PORT  the KRaft controller's port (default PORT+1)
#   KAFKA_PARTITIONS       partitions of auto-created topics (default 1)
#   KAFKA_SASL_USER, KAFKA_SASL_PASSWORD
#                          require SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) on PORT as this user
#   KAFKA_JVM_OPTS         JVM flags (default -Xms256m -Xmx1g -XX:+UseG1GC)
#   KAFKA_HOME             the install (default ~/.cache/notestream/kafka-4.4.0)
#
# `exec` hands this process over to the JVM, so the launcher's PID is the broker's and SIGTERM is a
# clean shutdown, SIGKILL a crash.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 PORT DATA_DIR" >&2
	exit 2
fi
port=$1
data=$(mkdir -p "$2" && cd "$2" && pwd)
controller=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
home=${KAFKA_HOME:-$HOME/.cache/notestream/kafka-4.4.0}
if [ ! -d "$home/libs" ]; then
	echo "$0: Apache Kafka is not installed in $home: run scripts/setup.sh (make setup)" >&2
	exit 1
fi

protocol=PLAINTEXT
sasl=()
if [ -n "${KAFKA_SASL_USER:-}" ]; then
	protocol=SASL_PLAINTEXT
	# The broker's own connections to its client listener log in as the same user.
	login="username=\"$KAFKA_SASL_USER\" password=\"$KAFKA_SASL_PASSWORD\""
	scram="org.apache.kafka.common.security.scram.ScramLoginModule required $login;"
	plain="org.apache.kafka.common.security.plain.PlainLoginModule required $login user_$KAFKA_SASL_USER=\"$KAFKA_SASL_PASSWORD\";"
	sasl=(
		"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
		"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256"
		"listener.name.client.plain.sasl.jaas.config=$plain"
		"listener.name.client.scram-sha-256.sasl.jaas.config=$scram"
		"listener.name.client.scram-sha-512.sasl.jaas.config=$scram"
	)
fi

# The configuration is written on every start: the ports and options may differ from the last run.
props="$data/server.properties"
{
	cat <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller
listeners=CLIENT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=CLIENT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,CLIENT:$protocol
log.dirs=$data/log
num.partitions=${KAFKA_PARTITIONS:-1}
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=1000
EOF
	for line in "${sasl[@]}"; do echo "$line"; done
} >"$props"

classpath="$home/libs/*"
java=(java ${KAFKA_JVM_OPTS:--Xms256m -Xmx1g -XX:+UseG1GC} -Djava.awt.headless=true
	"-Dlog4j2.configurationFile=$home/log4j2.properties" -cp "$classpath")

if [ ! -f "$data/log/meta.properties" ]; then
	# A cluster id is 16 random bytes in unpadded URL-safe base64 (what `kafka-storage random-uuid`
	# prints), made here to spare a JVM start.
	id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
	format=("${java[@]}" kafka.tools.StorageTool format --standalone -c "$props" -t "$id")
	if [ -n "${KAFKA_SASL_USER:-}" ]; then
		for m in SCRAM-SHA-256 SCRAM-SHA-512; do
			format+=(--add-scram "$m=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]")
		done
	fi
	"${format[@]}" >/dev/null
fi

exec "${java[@]}" kafka.Kafka "$props"
