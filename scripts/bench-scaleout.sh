#!/usr/bin/env bash
# bench-scaleout.sh: one `compactor run` against N started together on the same input. A year of
# interactions (datagen --clean: USERS users, DAYS days) is produced into one bin/broker; then, RUNS
# times, one process and N processes each compact it into a fresh lake, alternating, with the wall
# time from the first start to the last exit. The N-process lake must equal the one-process lake
# byte for byte (diff -r, leases and lock files aside). With BASE=path/to/another/compactor, that
# binary's single-process run is timed too, for a before/after of one process on the same load.
# Usage: scripts/bench-scaleout.sh   (env USERS, DAYS, N, PARALLEL, RUNS, BASE)
set -euo pipefail
USERS=${USERS:-20000}
DAYS=${DAYS:-365}
N=${N:-3}
PARALLEL=${PARALLEL:-2}
RUNS=${RUNS:-2}
BASE=${BASE:-}
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/broker ./cmd/datagen ./cmd/producer ./cmd/compactor

. scripts/benchlib.sh

bin/datagen --users "$USERS" --days "$DAYS" --start 2023-01-01 --out "$tmp" --quiet --clean
echo "$(($(wc -l <"$tmp/user_interactions.csv") - 1)) interactions, $USERS users"
start_broker
bin/producer --brokers "$addr" --log-level warn --users "$tmp/user_metadata.csv" --interactions "$tmp/user_interactions.csv"

# compact NAME BIN PROCS times PROCS processes of BIN started together on a fresh lake $tmp/NAME.
compact() {
	local name=$1 bin=$2 procs=$3 pids=() start end i
	rm -rf "$tmp/$name"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
	start=$(date +%s.%N)
	for i in $(seq "$procs"); do
		"$bin" run --brokers "$addr" --lake "file://$tmp/$name" --parallel "$PARALLEL" >"$tmp/$name-$i.log" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { cat "$tmp/$name-$((i + 1)).log"; exit 1; }
	done
	end=$(date +%s.%N)
	printf '%s: %d process(es), %.1f s wall;' "$name" "$procs" "$(echo "$end - $start" | bc)"
	for i in $(seq "$procs"); do
		printf ' [%s]' "$(grep -o '[0-9]* units of work done here, [0-9]* records read' "$tmp/$name-$i.log")"
	done
	echo
}

for run in $(seq "$RUNS"); do
	[[ -n $BASE ]] && compact base "$BASE" 1
	compact one bin/compactor 1
	compact many bin/compactor "$N"
	if diff -r -x '.*' -x '_lease' "$tmp/one" "$tmp/many" >/dev/null; then
		echo "run $run: the $N-process lake equals the one-process lake"
	else
		echo "run $run: the lakes differ:" && diff -rq -x '.*' -x '_lease' "$tmp/one" "$tmp/many" | head
		exit 1
	fi
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
