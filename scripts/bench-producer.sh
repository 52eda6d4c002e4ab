#!/usr/bin/env bash
# bench-producer.sh replays a ROWS-row interactions CSV with bin/producer (parsing, validation, JSON,
# keys and headers included) and sends the same lines with `kcat -P -l`, against one bin/broker in the
# same run, RUNS times each, taking turns to go first; it prints every time with the CPU seconds of the
# client and of the broker meanwhile, and the ratio of the median times (kcat / producer). Each run
# writes a topic of its own, as kcat does; the producer's other topics (dead letters, users, late) are
# created by the first run and shared, as on a cluster that has them.
# Usage: scripts/bench-producer.sh [file.csv]   (env ROWS, RUNS, COMPRESSION)
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
ours=() theirs=()
for i in $(seq "$RUNS"); do
	if ((i % 2)); then run_ours; run_kcat; first=producer; else run_kcat; run_ours; first=kcat; fi
	printf 'run %d (%s first): %s, %s\n' "$i" "$first" "$ours_line" "$kcat_line"
done
cat "$tmp/summary"
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
mo=$(median "${ours[@]}")
mk=$(median "${theirs[@]}")
printf 'rows %d, compression %s, median of %d runs: producer %.3f s (%.0f rows/s), kcat -P -l %.3f s, kcat/producer = %.2f\n' \
	"$rows" "$COMPRESSION" "$RUNS" "$mo" "$(echo "$rows / $mo" | bc -l)" "$mk" "$(echo "$mk / $mo" | bc -l)"
