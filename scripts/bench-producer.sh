#!/usr/bin/env bash
# bench-producer.sh replays a ROWS-row interactions CSV with bin/producer (parsing, validation, JSON,
# keys and headers included) and sends the same lines with `kcat -P -l`, against one bin/broker in the
# same run, RUNS times each, taking turns to go first; it prints every time with the CPU seconds of the
# client and of the broker meanwhile, and the ratio of the median times (kcat / producer). Each run
# writes a topic of its own, as kcat does; the producer's other topics (dead letters, users, late) are
# created by the first run and shared, as on a cluster that has them.
# With KAFKA=apache the broker is Apache Kafka (scripts/apache-kafka.sh, its default JVM flags), and
# Kafka's own kafka-producer-perf-test (ProducerPerformance, the Java producer with its defaults: acks
# all, idempotent) sends ROWS of the same lines, picked at random, with COMPRESSION, as a third side.
# Usage: scripts/bench-producer.sh [file.csv]   (env ROWS, RUNS, COMPRESSION, KAFKA=kfake|apache)
set -euo pipefail
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-5}
COMPRESSION=${COMPRESSION:-snappy}
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/broker ./cmd/producer

. scripts/benchlib.sh
data=${1:-}
if [[ -z $data ]]; then
	data=$tmp/interactions.csv
	interactions_csv "$ROWS" "$data"
fi
rows=$(($(wc -l <"$data") - 1))
start_broker

now() { date +%s.%N; }
tck=$(getconf CLK_TCK)
broker_cpu() { awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$broker_pid/stat"; }
client_cpu() { awk '{printf "%.2f", $1 + $2}' "$tmp/cpu"; }
# Each side starts after a second's pause, so the previous run's writes (the broker persists what it
# acknowledges) have settled, and the sides take turns going first: back-to-back runs favour the first.
run_ours() {
	sleep 1
	local b0 t0
	b0=$(broker_cpu)
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$tmp/cpu" bin/producer --brokers "$addr" --interactions "$data" --compression "$COMPRESSION" \
		--topic-interactions "bench.ours.$i" --topic-dlq bench.dlq --topic-users bench.users \
		--topic-late bench.late >"$tmp/summary" 2>"$tmp/producer.log"
	ours+=("$(echo "$(now) - $t0" | bc)")
	ours_line=$(printf 'producer %.3f s (cpu %s s, broker %.2f s)' "${ours[-1]}" "$(client_cpu)" "$(echo "$(broker_cpu) - $b0" | bc)")
}
run_kcat() {
	sleep 1
	local b0 t0
	b0=$(broker_cpu)
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$tmp/cpu" kcat -P -l -b "$addr" -t "bench.kcat.$i" "$data"
	theirs+=("$(echo "$(now) - $t0" | bc)")
	kcat_line=$(printf 'kcat %.3f s (cpu %s s, broker %.2f s)' "${theirs[-1]}" "$(client_cpu)" "$(echo "$(broker_cpu) - $b0" | bc)")
}
kafka_home=${KAFKA_HOME:-$HOME/.cache/notestream/kafka-4.4.0}
# run_perf's time includes the JVM's start; perf_line also has the tool's own records/s, which does not.
run_perf() {
	sleep 1
	local b0 t0
	b0=$(broker_cpu)
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$tmp/cpu" java -Xmx512M "-Dlog4j2.configurationFile=$kafka_home/log4j2.properties" \
		-cp "$kafka_home/libs/*" org.apache.kafka.tools.ProducerPerformance --bootstrap-server "$addr" \
		--topic "bench.perf.$i" --num-records "$rows" --throughput -1 --payload-file "$data" \
		--command-property "compression.type=$COMPRESSION" >"$tmp/perf.out" 2>&1
	perfs+=("$(echo "$(now) - $t0" | bc)")
	perf_line=$(printf 'perf-test %.3f s (%s records/s by itself; cpu %s s, broker %.2f s)' "${perfs[-1]}" \
		"$(tail -1 "$tmp/perf.out" | sed -n 's/.*sent, \([0-9.]*\) records\/sec.*/\1/p')" "$(client_cpu)" "$(echo "$(broker_cpu) - $b0" | bc)")
}
ours=() theirs=() perfs=()
for i in $(seq "$RUNS"); do
	if ((i % 2)); then run_ours; run_kcat; first=producer; else run_kcat; run_ours; first=kcat; fi
	if [[ ${KAFKA:-kfake} == apache ]]; then
		run_perf
		printf 'run %d (%s first): %s, %s, %s\n' "$i" "$first" "$ours_line" "$kcat_line" "$perf_line"
	else
		printf 'run %d (%s first): %s, %s\n' "$i" "$first" "$ours_line" "$kcat_line"
	fi
done
cat "$tmp/summary"
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
mo=$(median "${ours[@]}")
mk=$(median "${theirs[@]}")
printf 'broker %s, rows %d, compression %s, median of %d runs: producer %.3f s (%.0f rows/s), kcat -P -l %.3f s, kcat/producer = %.2f\n' \
	"${KAFKA:-kfake}" "$rows" "$COMPRESSION" "$RUNS" "$mo" "$(echo "$rows / $mo" | bc -l)" "$mk" "$(echo "$mk / $mo" | bc -l)"
if [[ ${KAFKA:-kfake} == apache ]]; then
	mp=$(median "${perfs[@]}")
	printf 'kafka-producer-perf-test %.3f s (JVM start included), perf-test/producer = %.2f\n' "$mp" "$(echo "$mp / $mo" | bc -l)"
fi
