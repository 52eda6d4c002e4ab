#!/usr/bin/env bash
# make demo: a year of sample data through the whole pipeline on this machine, then the headline numbers
# and report.html. Starts an embedded Kafka broker (kfake) and redis-server, stops both on exit, and
# cleans its own state first, so it can be rerun. KAFKA=apache runs the same demo on Apache Kafka
# (scripts/apache-kafka.sh, installed by make setup) instead of kfake. Tunables (environment):
# DEMO_USERS, DEMO_DAYS, DEMO_START, DEMO_SEED, DEMO_KAFKA_PORT, DEMO_KAFKA_CONTROLLER_PORT (Apache
# Kafka's KRaft controller; default the Kafka port + 1), DEMO_REDIS_PORT, DEMO_HTTP_PORT, NOTESTREAM_TZ.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${DEMO_USERS:-5000}
DAYS=${DEMO_DAYS:-365}
START=${DEMO_START:-2023-01-01}
SEED=${DEMO_SEED:-1}
KAFKA=${KAFKA:-kfake}
KAFKA_PORT=${DEMO_KAFKA_PORT:-29092}
KAFKA_ADDR=127.0.0.1:$KAFKA_PORT
CONTROLLER_PORT=${DEMO_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
REDIS_PORT=${DEMO_REDIS_PORT:-26379}
HTTP_ADDR=127.0.0.1:${DEMO_HTTP_PORT:-28080}
TZ_NAME=${NOTESTREAM_TZ:-UTC}
STATE=demo-data
LAKE=$PWD/lake
REPORT=$PWD/report.html

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

PIDS=()
stop_all() { # in reverse order of start: the consumer's last checkpoint still reaches Kafka and Redis
	local i pid
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PIDS[i]}
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# fetch URL prints a URL's body, failing on HTTP errors, with curl or else wget.
if command -v curl >/dev/null; then
	fetch() { curl -fsS "$1"; }
else
	fetch() { wget -qO- "$1"; }
fi

port_free() { ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
wait_http() { # url seconds
	for _ in $(seq $(($2 * 5))); do
		fetch "$1" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
get() { fetch "http://$HTTP_ADDR$1"; }

case $KAFKA in
kfake) ;;
apache) [ -d "${KAFKA_HOME:-$HOME/.cache/notestream/kafka-4.4.0}/libs" ] || die "Apache Kafka is not installed: run make setup" ;;
*) die "KAFKA=$KAFKA: kfake (the default) or apache" ;;
esac
addrs=("$KAFKA_ADDR" "127.0.0.1:$REDIS_PORT" "$HTTP_ADDR")
[ "$KAFKA" = apache ] && addrs+=("127.0.0.1:$CONTROLLER_PORT")
for addr in "${addrs[@]}"; do
	port_free "$addr" || die "$addr is in use; set DEMO_KAFKA_PORT, DEMO_KAFKA_CONTROLLER_PORT, DEMO_REDIS_PORT or DEMO_HTTP_PORT"
done

say "cleaning earlier demo state ($STATE/, lake/, report.html, profiles/)"
rm -rf "$STATE" "$LAKE" "$REPORT" profiles
mkdir -p "$STATE/input" "$STATE/logs"

say "building bin/"
go build -o bin/ ./cmd/...

say "generating $DAYS days for $USERS users from $START"
bin/datagen --users "$USERS" --days "$DAYS" --start "$START" --seed "$SEED" --out "$STATE/input"
INTERACTIONS=$STATE/input/user_interactions.csv
USERS_CSV=$STATE/input/user_metadata.csv
wc -l "$INTERACTIONS" "$USERS_CSV"

say "profiling the input into profiles/"
bin/profile --interactions "$INTERACTIONS" --users "$USERS_CSV" --out profiles

if [ "$KAFKA" = apache ]; then
	say "starting Apache Kafka on $KAFKA_ADDR, its controller on $CONTROLLER_PORT (data in $STATE/kafka)"
	# The launcher execs the JVM: its PID is the broker's, and SIGTERM on exit is a clean shutdown.
	KAFKA_CONTROLLER_PORT=$CONTROLLER_PORT scripts/apache-kafka.sh "$KAFKA_PORT" "$STATE/kafka" >"$STATE/logs/broker.log" 2>&1 &
	PIDS+=($!)
	wait_kafka=300 # a JVM start, and the storage format on first use
else
	say "starting the embedded Kafka broker on $KAFKA_ADDR (data in $STATE/kafka)"
	bin/broker --listen "$KAFKA_ADDR" --data-dir "$STATE/kafka" >"$STATE/logs/broker.log" 2>&1 &
	PIDS+=($!)
	wait_kafka=50
fi
# Both open their client port once they serve requests.
for _ in $(seq $wait_kafka); do port_free "$KAFKA_ADDR" || break; sleep 0.2; done
port_free "$KAFKA_ADDR" && die "broker did not start; see $STATE/logs/broker.log"

REDIS=
if ! command -v redis-server >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		say "installing redis-server with apt"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >"$STATE/logs/apt.log" 2>&1 || true
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null && command -v apt-get >/dev/null; then
		say "installing redis-server with sudo apt"
		sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >"$STATE/logs/apt.log" 2>&1 || true
	fi
fi
if command -v redis-server >/dev/null; then
	say "starting redis-server on 127.0.0.1:$REDIS_PORT (AOF in $STATE/redis)"
	mkdir -p "$STATE/redis"
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STATE/redis" --appendonly yes \
		--save '' --daemonize no >"$STATE/logs/redis.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do port_free "127.0.0.1:$REDIS_PORT" || break; sleep 0.2; done
	port_free "127.0.0.1:$REDIS_PORT" && die "redis-server did not start; see $STATE/logs/redis.log"
	REDIS=redis://127.0.0.1:$REDIS_PORT/0
else
	say "no redis-server and no way to install one: skipping the real-time consumer (the lake and report still run)"
fi

if [ -n "$REDIS" ]; then
	say "starting the consumer (API on http://$HTTP_ADDR)"
	bin/consumer --brokers "$KAFKA_ADDR" --redis "$REDIS" --http "$HTTP_ADDR" --tz "$TZ_NAME" >"$STATE/logs/consumer.log" 2>&1 &
	PIDS+=($!)
	wait_http "http://$HTTP_ADDR/healthz" 30 || die "consumer did not start; see $STATE/logs/consumer.log"
fi

say "replaying both files into Kafka"
SECONDS=0
bin/producer --brokers "$KAFKA_ADDR" --users "$USERS_CSV" --interactions "$INTERACTIONS" --speed max
echo "producer took ${SECONDS}s"

if [ -n "$REDIS" ]; then
	say "waiting for the consumer to catch up and apply the end of the replay"
	# /readyz is 200 once every partition is checkpointed to its end offset as last listed; the consumer
	# lists end offsets every second, so give it a listing newer than the producer's last record first.
	sleep 2.5
	for i in $(seq 600); do
		fetch "http://$HTTP_ADDR/readyz" >/dev/null 2>&1 && break
		[ "$i" = 600 ] && die "consumer did not catch up in 5 minutes; see $STATE/logs/consumer.log"
		sleep 0.5
	done
	echo "consumer caught up ${SECONDS}s after the replay started"
fi

say "compacting the topics into file://$LAKE"
bin/compactor run --brokers "$KAFKA_ADDR" --lake "file://$LAKE" --tz "$TZ_NAME"
for table in bronze/interactions bronze/users silver/interactions silver/sessions silver/users \
	gold/daily_metrics gold/daily_segments gold/monthly_metrics gold/data_quality gold/daily_sketches; do
	[ -d "$LAKE/$table" ] || die "the lake has no $table"
done

say "headline numbers"
# The last generated day; a few events with time-zone offsets spill into the next one.
LAST=$(date -u -d "$START + $((DAYS - 1)) days" +%F)
bin/report --lake "file://$LAKE" --out "$REPORT" --through "$LAST"
if [ -n "$REDIS" ]; then
	field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
	sessions=$(get "/v1/sessions?date=$LAST")
	printf 'real-time API (Redis)\n'
	printf '  %s: DAU %s, WAU %s, MAU %s\n' "$LAST" "$(get "/v1/dau?date=$LAST" | field dau)" \
		"$(get "/v1/wau?date=$LAST" | field wau)" "$(get "/v1/mau?date=$LAST" | field mau)"
	printf '  %s: %s sessions, avg session %s s, %s actions/session\n' "$LAST" "$(field sessions <<<"$sessions")" \
		"$(field avg_session_duration_s <<<"$sessions")" "$(field avg_actions_per_session <<<"$sessions")"
	printf '  calendar month %s: MAU %s\n' "${LAST:0:7}" "$(get "/v1/mau?month=${LAST:0:7}" | field mau)"
	echo "(sessions equal gold's exactly; active users are HyperLogLog estimates, standard error 0.81%)"
fi

if [ -n "$REDIS" ] && [ "$KAFKA" = apache ]; then
	say "the consumer's group as Kafka's own tool sees it (kafka-consumer-groups --describe)"
	home=${KAFKA_HOME:-$HOME/.cache/notestream/kafka-4.4.0}
	java -Xmx256m -XX:TieredStopAtLevel=1 "-Dlog4j2.configurationFile=$home/log4j2.properties" -cp "$home/libs/*" \
		org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$KAFKA_ADDR" \
		--describe --group notestream-consumer
fi

say "done"
echo "report:   $REPORT"
echo "lake:     $LAKE"
echo "profiles: $PWD/profiles"
echo "logs:     $PWD/$STATE/logs"
