#!/usr/bin/env bash
# abba-producer.sh compares two producer builds: it replays one CSV file with each, ROUNDS times, the
# order swapped every round and a second's pause before each replay, against one bin/broker on a fresh
# data directory, and prints each build's median and mean wall time, median CPU (user + system) and how
# many rounds the first build won. On a shared machine only such interleaved comparisons show
# differences of a few percent.
# Usage: scripts/abba-producer.sh OLD_BINARY NEW_BINARY [file.csv]   (env ROUNDS, default 16; ROWS for
# the generated file, as in bench-producer.sh)
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2")
ROUNDS=${ROUNDS:-16}
ROWS=${ROWS:-1000000}
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/broker

. scripts/benchlib.sh
data=${3:-}
if [[ -z $data ]]; then
	data=$tmp/interactions.csv
	interactions_csv "$ROWS" "$data" # the rows bench-producer.sh replays
fi
start_broker

run() { # run SIDE BINARY ROUND: appends "SIDE wall_us cpu_s" to $tmp/runs
	sleep 1
	local t0 t1
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S' -o "$tmp/cpu" "$2" --brokers "$addr" --interactions "$data" \
		--topic-interactions "abba.$1.$3" >/dev/null 2>"$tmp/producer.log"
	t1=$(date +%s%N)
	echo "$1 $(((t1 - t0) / 1000)) $(awk '{print $1 + $2}' "$tmp/cpu")" >>"$tmp/runs"
}
for i in $(seq "$ROUNDS"); do
	if ((i % 2)); then run old "$old" "$i"; run new "$new" "$i"; else run new "$new" "$i"; run old "$old" "$i"; fi
done
python3 - "$tmp/runs" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for side in ("old", "new"):
    wall = [int(r[1]) / 1e6 for r in rows if r[0] == side]
    cpu = [float(r[2]) for r in rows if r[0] == side]
    print(f"{side}: wall median {statistics.median(wall):.4f} s, mean {statistics.mean(wall):.4f} s, "
          f"min {min(wall):.4f} s; cpu median {statistics.median(cpu):.3f} s (n={len(wall)})")
wins = sum(1 for i in range(0, len(rows), 2)
           if (rows[i][0] == "new") == (int(rows[i][1]) < int(rows[i + 1][1])))
print(f"new faster in {wins} of {len(rows) // 2} rounds")
EOF
