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

tmp=$(mktemp -d)
broker_pid=
cleanup() {
	if [[ -n $broker_pid ]]; then kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

data=${1:-}
if [[ -z $data ]]; then
	data=$tmp/interactions.csv
	# Realistic sizes: 20k users, 5k pages, a few actions, one row in 500 unreadable.
	awk -v n="$ROWS" 'BEGIN {
		srand(1); split("page_view edit create delete share", a, " ")
		print "user_id,timestamp,action_type,page_id,duration_ms,app_version"
		t = 1688169600
		for (i = 0; i < n; i++) {
			ts = strftime("%Y-%m-%d %H:%M:%S", t + int(i * 2.6) - int(rand() * 300), 1)
			if (i % 500 == 0) ts = "bad"
			printf "u%d,%s,%s,p%d,%d,5.%d.%d\n", int(rand() * 20000), ts, a[i % 5 + 1], int(rand() * 5000), int(rand() * 600000), i % 9, i % 4
		}
	}' >"$data"
fi
rows=$(($(wc -l <"$data") - 1))

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
bin/broker --listen "$addr" --data-dir "$tmp/broker" --partitions 8 >"$tmp/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do kcat -L -b "$addr" >/dev/null 2>&1 && break; sleep 0.1; done

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
