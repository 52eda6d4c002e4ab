#!/usr/bin/env bash
# bench-order.sh measures the time-ordered replay (SPEC section 10) on a ROWS-row file shaped like the
# data challenge's (timestamps uniform over 2023, users drawn from a million, no order, no header),
# against one bin/broker, RUNS rounds, each side in turn going first:
#   gnu       LC_ALL=C sort -t, -k2,2 -s -S M of the file, M the first of SORT_MEMORY (its output is
#             the sorted file)
#   time M    bin/producer --order time --sort-memory M of the unsorted file, for each M of SORT_MEMORY;
#             its sort phase (read, parse, sort and spill: the log's sort_seconds) is compared with gnu
#   file      bin/producer --order file of the sorted file: the replay that needs no sort
# Every run prints wall seconds, CPU seconds (user+sys) and peak RSS; after every time-ordered run the
# spill directory must be empty. It ends with the medians and the ratios sort-phase/gnu and time/file.
# Usage: scripts/bench-order.sh   (env ROWS, RUNS, SORT_MEMORY: one size or several, e.g. "1G 256M")
set -euo pipefail
ROWS=${ROWS:-5000000}
RUNS=${RUNS:-3}
SORT_MEMORY=${SORT_MEMORY:-1G}
read -ra mems <<<"$SORT_MEMORY"
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/broker ./cmd/producer

. scripts/benchlib.sh
unsorted=$tmp/unsorted.csv sorted=$tmp/sorted.csv
awk -v n="$ROWS" 'BEGIN {
	srand(14); split("page_view edit create delete share", a, " ")
	for (i = 0; i < n; i++)
		printf "u%d,%s,%s,p%d,%d,5.%d.%d\n", int(rand() * 1000000), strftime("%Y-%m-%d %H:%M:%S", 1672531200 + int(rand() * 31536000), 1),
			a[int(rand() * 5) + 1], int(rand() * 5000), int(rand() * 600000), i % 9, i % 4
}' >"$unsorted"
printf 'file: %d rows, %d bytes; sort memory %s; load average %s\n' "$ROWS" "$(stat -c %s "$unsorted")" "$SORT_MEMORY" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
start_broker
mkdir -p "$tmp/spill" "$tmp/gnusort"

measure() { /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$@"; read -r wall user sys rss <"$tmp/time"; cpu=$(echo "$user + $sys" | bc); }
declare -A timed sortp
gnu=() filed=()
run_gnu() {
	measure env LC_ALL=C sort -t, -k2,2 -s -S "${mems[0]}" -T "$tmp/gnusort" -o "$sorted" "$unsorted"
	gnu+=("$wall")
	printf '  gnu sort -S %s: %.2f s (cpu %.2f s), peak RSS %d MiB\n' "${mems[0]}" "$wall" "$cpu" "$((rss / 1024))"
}
run_time() {
	local m=$1 sort_s runs
	measure bin/producer --brokers "$addr" --interactions "$unsorted" --sort-memory "$m" --sort-dir "$tmp/spill" \
		--topic-interactions "bench.time.$m.$i" --topic-dlq bench.dlq --topic-users bench.users --topic-late bench.late \
		>"$tmp/summary" 2>"$tmp/producer.log"
	sort_s=$(grep -o 'sort_seconds=[0-9.]*' "$tmp/producer.log" | cut -d= -f2)
	runs=$(grep -o 'runs_on_disk=[0-9]*' "$tmp/producer.log" | cut -d= -f2)
	timed[$m]+="$wall " sortp[$m]+="$sort_s "
	if [[ -n $(ls -A "$tmp/spill") ]]; then echo "spill directory not empty after the replay: $(ls "$tmp/spill")" >&2; exit 1; fi
	printf '  --order time --sort-memory %s: %.2f s (cpu %.2f s; sort phase %.2f s, %s runs on disk), peak RSS %d MiB, spill dir empty\n' \
		"$m" "$wall" "$cpu" "$sort_s" "$runs" "$((rss / 1024))"
}
run_file() {
	measure bin/producer --brokers "$addr" --interactions "$sorted" --order file \
		--topic-interactions "bench.file.$i" --topic-dlq bench.dlq --topic-users bench.users --topic-late bench.late \
		>"$tmp/summary.file" 2>"$tmp/producer.file.log"
	filed+=("$wall")
	printf '  --order file of the sorted file: %.2f s (cpu %.2f s), peak RSS %d MiB\n' "$wall" "$cpu" "$((rss / 1024))"
}
run_times() { for m in "${mems[@]}"; do run_time "$m"; done; }
i=0
run_gnu # makes the sorted file
for i in $(seq "$RUNS"); do
	sleep 1
	echo "round $i (load average $(cut -d' ' -f1 /proc/loadavg)):"
	if ((i % 2)); then run_times; run_file; ((i == 1)) || run_gnu; else run_gnu; run_file; run_times; fi
done
cat "$tmp/summary"
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
mg=$(median "${gnu[@]}") mf=$(median "${filed[@]}")
printf 'rows %d, medians: gnu sort -S %s %.2f s, --order file of the sorted file %.2f s\n' "$ROWS" "${mems[0]}" "$mg" "$mf"
for m in "${mems[@]}"; do
	# shellcheck disable=SC2086
	mt=$(median ${timed[$m]}) ms=$(median ${sortp[$m]})
	printf '  --sort-memory %s: sort phase %.2f s, --order time %.2f s; sort phase / gnu sort = %.2f (goal <= 1), time-ordered / file-ordered = %.2f (goal <= 2)\n' \
		"$m" "$ms" "$mt" "$(echo "$ms / $mg" | bc -l)" "$(echo "$mt / $mf" | bc -l)"
done
