#!/usr/bin/env bash
# bench-nights.sh: the bronze layout that nightly runs leave. NIGHTS days of interactions (datagen
# --clean, USERS users) are produced one day a night, each night followed by `compactor run` on one
# file:// lake; one row in 500 comes 1 to 7 nights late (into a day already compacted). Prints each
# night's wall time and, at the end, the bronze/interactions objects per day.
# Usage: scripts/bench-nights.sh   (env USERS, NIGHTS)
set -euo pipefail
USERS=${USERS:-20000}
NIGHTS=${NIGHTS:-30}
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/broker ./cmd/datagen ./cmd/producer ./cmd/compactor

. scripts/benchlib.sh

bin/datagen --users "$USERS" --days "$NIGHTS" --start 2023-01-01 --out "$tmp" --quiet --clean
# Night n (1-based) brings day n's rows, and a late few of earlier days.
for n in $(seq "$NIGHTS"); do date -u -d "2023-01-01 + $((n - 1)) days" +%F; done >"$tmp/days"
awk -F, -v dir="$tmp" -v nights="$NIGHTS" '
	FNR == NR { day[$1] = FNR; next }
	FNR == 1 { header = $0; next }
	{
		d = day[substr($2, 1, 10)]
		if (d == 0) d = nights # past the last day: its night
		n = (NR % 500 == 0) ? d + 1 + NR % 7 : d
		if (n > nights) n = nights
		f = dir "/night-" n ".csv"
		if (!(f in seen)) { print header >f; seen[f] = 1 }
		print >f
	}' "$tmp/days" "$tmp/user_interactions.csv"
start_broker
bin/producer --brokers "$addr" --log-level warn --users "$tmp/user_metadata.csv"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $(seq "$NIGHTS"); do
	bin/producer --brokers "$addr" --log-level warn --interactions "$tmp/night-$n.csv" >/dev/null
	/usr/bin/time -o "$tmp/time" -f "night $n: %e s %M KB" bin/compactor run --brokers "$addr" --lake "file://$tmp/lake" >"$tmp/compactor.log" 2>&1 || { cat "$tmp/compactor.log"; exit 1; }
	cat "$tmp/time"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
find "$tmp/lake/bronze/interactions" -name '*.parquet' | awk -F/ '{n[$(NF-1)]++} END {m = 0; t = 0; for (d in n) {t += n[d]; if (n[d] > m) m = n[d]}; printf "%d days, at most %d bronze objects a day, %d in all\n", length(n), m, t}'
echo "staging left: $(find "$tmp/lake" -path '*_staging*' -type f | wc -l) objects"
