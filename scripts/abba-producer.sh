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

tmp=$(mktemp -d)
broker_pid=
cleanup() {
	if [[ -n $broker_pid ]]; then kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

data=${3:-}
if [[ -z $data ]]; then
	data=$tmp/interactions.csv
	# The same rows as bench-producer.sh generates.
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

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
bin/broker --listen "$addr" --data-dir "$tmp/broker" --partitions 8 >"$tmp/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do kcat -L -b "$addr" >/dev/null 2>&1 && break; sleep 0.1; done

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
