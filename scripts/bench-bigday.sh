#!/usr/bin/env bash
# bench-bigday.sh: peak memory of `compactor run` on one day of many events (issue 18's memory
# bound). datagen --clean with USERS users over DAYS days, every day's events folded onto
# 2023-03-01 (rows whose timestamp has a UTC offset dropped, so none leaves the day): the day grows
# with DAYS while the users stay the same. With the default 1M users, DAYS=3 gives about 2M events
# and DAYS=31 about 20M. Produced into one bin/broker, compacted once with --memory MEMORY (default:
# the compactor's default), timed by /usr/bin/time; then tools/duckcheck (cgo, its own module)
# computes gold from the same CSV files with DuckDB and compares the gold tables row for row
# (CHECK=0 skips it).
# Usage: scripts/bench-bigday.sh   (env USERS, DAYS, MEMORY, PARALLEL, CHECK)
set -euo pipefail
USERS=${USERS:-1000000}
DAYS=${DAYS:-3}
MEMORY=${MEMORY:-}
PARALLEL=${PARALLEL:-2}
CHECK=${CHECK:-1}
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/broker ./cmd/datagen ./cmd/producer ./cmd/compactor
[[ $CHECK == 1 ]] && (cd tools/duckcheck && CGO_ENABLED=1 go build -o ../../bin/duckcheck .)

. scripts/benchlib.sh

mkdir "$tmp/raw" "$tmp/csv"
bin/datagen --users "$USERS" --days "$DAYS" --start 2023-03-01 --out "$tmp/raw" --quiet --clean
awk -F, -v OFS=, 'NR == 1 { print; next } $2 ~ /[+-][0-9][0-9]:[0-9][0-9]$/ { next } { $2 = "2023-03-01" substr($2, 11); print }' \
	"$tmp/raw/user_interactions.csv" >"$tmp/csv/user_interactions.csv"
mv "$tmp/raw/user_metadata.csv" "$tmp/csv/"
rm -r "$tmp/raw"
echo "one day: $(($(wc -l <"$tmp/csv/user_interactions.csv") - 1)) events, $(($(wc -l <"$tmp/csv/user_metadata.csv") - 1)) user rows"

start_broker
bin/producer --brokers "$addr" --users "$tmp/csv/user_metadata.csv" --interactions "$tmp/csv/user_interactions.csv" --log-level warn

mem=()
[[ -n $MEMORY ]] && mem=(--memory "$MEMORY")
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f "compactor run: %e s wall, %U s user, %S s sys, %M KiB peak RSS" \
	bin/compactor run --brokers "$addr" --lake "file://$tmp/lake" --parallel "$PARALLEL" --spill-dir "$tmp" "${mem[@]}" 2>&1 |
	grep -v '^time=.* level=INFO msg=\(plan\|"new users"\)' || true
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "lake: $(du -sh "$tmp/lake" | cut -f1), spill left: $(find "$tmp" -maxdepth 1 -name 'notestream-*' | wc -l)"
# The largest object of each table, for the object sizes of the README's 1 TB plan.
find "$tmp/lake" -name '*.parquet' -printf '%s %P\n' | awk '{split($2, p, "/"); t = p[1] "/" p[2]; if ($1 > max[t]) max[t] = $1} END {for (t in max) printf "largest %s object: %.1f MB\n", t, max[t] / 1e6}' | sort
if [[ $CHECK == 1 ]]; then
	/usr/bin/time -f "duckcheck: %e s wall, %M KiB peak RSS" bin/duckcheck --csv "$tmp/csv" --lake "$tmp/lake"
fi
