#!/usr/bin/env bash
# bench-nightly.sh: the cost of a nightly compactor run. A year of interactions (datagen --clean: 20k
# users, 365 days) without its last day is produced into one bin/broker and compacted from scratch;
# then the last day is produced and `compactor run` is timed RUNS times, each on a fresh copy of the
# year's lake. With BASE=path/to/another/compactor, that binary gets a lake of its own and its nightly
# runs alternate with bin/compactor's, for a before/after on the same input and load; ALSO='name=path
# ...' adds more binaries the same way. With YEARS=n the year run is timed n times per binary, the runs
# alternating. With PROFILE=dir, each year run and each nightly run writes a CPU profile there
# (<name>-year-<n>.pprof, <name>-<run>.pprof). With SHUFFLE=1 the year is in random order (datagen
# --shuffle) and is produced in that order (--order file; the producer's default, --order time, would
# sort it again), so every plan range holds rows of every day. Each timed run first waits for the
# deletions before it to age out (settle in scripts/benchlib.sh; SETTLE=0 skips the wait).
# Each lake's bronze objects per day are printed after the year and after each nightly run.
# Usage: scripts/bench-nightly.sh   (env USERS, DAYS, PARALLEL, RUNS, YEARS, BASE, ALSO, PROFILE, SHUFFLE)
set -euo pipefail
USERS=${USERS:-20000}
DAYS=${DAYS:-365}
PARALLEL=${PARALLEL:-2}
RUNS=${RUNS:-3}
YEARS=${YEARS:-1}
BASE=${BASE:-}
ALSO=${ALSO:-}
PROFILE=${PROFILE:-}
SHUFFLE=${SHUFFLE:-}
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/broker ./cmd/datagen ./cmd/producer ./cmd/compactor

. scripts/benchlib.sh

shuffle=() order=()
[[ -n $SHUFFLE ]] && shuffle=(--shuffle) order=(--order file)
bin/datagen --users "$USERS" --days "$DAYS" --start 2023-01-01 --out "$tmp" --quiet --clean "${shuffle[@]}"
csv=$tmp/user_interactions.csv
# The night brings the last generated day (and the few sessions that run past its midnight).
last=$(date -u -d "2023-01-01 + $((DAYS - 1)) days" +%F)
awk -F, -v last="$last" 'NR == 1 || substr($2, 1, 10) < last' "$csv" >"$tmp/year.csv"
awk -F, -v last="$last" 'NR == 1 || substr($2, 1, 10) >= last' "$csv" >"$tmp/night.csv"
echo "before $last: $(($(wc -l <"$tmp/year.csv") - 1)) rows; from $last: $(($(wc -l <"$tmp/night.csv") - 1)) rows"

# per_day LAKE prints the bronze/interactions objects per day: days, most in a day, total.
per_day() {
	find "$1/bronze/interactions" -name '*.parquet' | awk -F/ '{n[$(NF-1)]++} END {m = 0; t = 0; for (d in n) {t += n[d]; if (n[d] > m) m = n[d]}; printf "%d days, at most %d bronze objects a day, %d in all\n", length(n), m, t}'
}

start_broker
produce() { bin/producer --brokers "$addr" --log-level warn "${order[@]}" "$@"; }
produce --users "$tmp/user_metadata.csv" --interactions "$tmp/year.csv"

declare -A bins=([new]=bin/compactor)
[[ -n $BASE ]] && bins[base]=$BASE
for spec in $ALSO; do bins[${spec%%=*}]=${spec#*=}; done
names=$(printf '%s\n' "${!bins[@]}" | sort)
# The year runs alternate between the binaries; the first one's lake is the one the nights extend.
for year in $(seq "$YEARS"); do
	for name in $names; do
		lake=$tmp/year-$name
		((year > 1)) && lake=$tmp/year-$name-$year
		prof=()
		[[ -n $PROFILE ]] && prof=(--cpuprofile "$PROFILE/$name-year-$year.pprof")
		settle
		echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
		/usr/bin/time -o "$tmp/time" -f "$name year run $year: %e s %M KB (%U s user, %S s sys)" \
			"${bins[$name]}" run --brokers "$addr" --lake "file://$lake" --parallel "$PARALLEL" "${prof[@]}" >"$tmp/compactor.log" 2>&1 || { cat "$tmp/compactor.log"; exit 1; }
		cat "$tmp/time"
		((year > 1)) && rm -rf "$lake"
	done
done
for name in "${!bins[@]}"; do
	index=$tmp/year-$name/_state/cohort_index.parquet
	echo "$name lake: $(du -sh "$tmp/year-$name" | cut -f1)$([[ -f $index ]] && echo ", cohort index $(du -h "$index" | cut -f1)"); $(per_day "$tmp/year-$name")"
done
produce --interactions "$tmp/night.csv"

for run in $(seq "$RUNS"); do
	for name in $names; do
		lake=$tmp/night-$name-$run
		cp -a "$tmp/year-$name" "$lake"
		settle
		echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
		prof=()
		[[ -n $PROFILE ]] && prof=(--cpuprofile "$PROFILE/$name-$run.pprof")
		/usr/bin/time -o "$tmp/time" -f "$name nightly run $run: %e s %M KB (%U s user, %S s sys)" \
			"${bins[$name]}" run --brokers "$addr" --lake "file://$lake" --parallel "$PARALLEL" "${prof[@]}" >"$tmp/compactor.log" 2>&1 || { cat "$tmp/compactor.log"; exit 1; }
		cat "$tmp/time"
		grep -o 'silver rebuilt.*weeks' "$tmp/compactor.log" || true
		echo "$name nightly lake: $(per_day "$lake")"
		rm -rf "$lake"
	done
done
