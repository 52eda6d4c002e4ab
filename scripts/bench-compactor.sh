#!/usr/bin/env bash
# bench-compactor.sh: a year of interactions (datagen --clean: 20k users, 365 days, ~4.9M rows)
# produced into one bin/broker, then `compactor run` into a file:// lake from scratch and a full
# `compactor backfill`, then DuckDB (tools/duckcheck, cgo, its own module) computing the same gold from
# the same CSV files, reading every lake table and comparing the gold tables row for row. Wall time
# and peak RSS from /usr/bin/time. RUNS>1 alternates `compactor run` (each into a new lake) and DuckDB
# that many times, for figures less at the mercy of a shared machine's load.
# Usage: scripts/bench-compactor.sh   (env USERS, DAYS, PARALLEL, RUNS)
set -euo pipefail
USERS=${USERS:-20000}
DAYS=${DAYS:-365}
PARALLEL=${PARALLEL:-2}
RUNS=${RUNS:-1}
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/broker ./cmd/datagen ./cmd/producer ./cmd/compactor
(cd tools/duckcheck && CGO_ENABLED=1 go build -o ../../bin/duckcheck .)

. scripts/benchlib.sh

bin/datagen --users "$USERS" --days "$DAYS" --out "$tmp" --quiet --clean
echo "interactions: $(($(wc -l <"$tmp/user_interactions.csv") - 1)) rows, $(du -h "$tmp/user_interactions.csv" | cut -f1)"

start_broker
bin/producer --brokers "$addr" --users "$tmp/user_metadata.csv" --interactions "$tmp/user_interactions.csv" --log-level warn

measure() { # label, command...
	local label=$1
	shift
	/usr/bin/time -f "$label: %e s wall, %U s user, %S s sys, %M KiB peak RSS" "$@"
}
# Every run writes a lake of its own, all removed at the end, and waits for the files the one before
# deleted (settle in benchlib.sh).
for run in $(seq "$RUNS"); do
	lake=$tmp/lake$run
	settle
	measure "compactor run (bronze+silver+gold)" bin/compactor run --brokers "$addr" --lake "file://$lake" --parallel "$PARALLEL"
	measure "duckdb gold from CSV" bin/duckcheck --csv "$tmp"
done
echo "lake: $(du -sh "$lake" | cut -f1), $(find "$lake" -name '*.parquet' | wc -l) objects"
settle
measure "compactor backfill (silver+gold of every day)" bin/compactor backfill --lake "file://$lake" --parallel "$PARALLEL"
bin/duckcheck --csv "$tmp" --lake "$lake"
