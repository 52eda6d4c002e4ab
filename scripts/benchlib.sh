# benchlib.sh: what the benchmark scripts share. Source it from the repository's root after `set -euo
# pipefail`: it makes $tmp, a temporary directory removed on exit together with the broker.

tmp=$(mktemp -d)
broker_pid=
bench_cleanup() {
	if [[ -n $broker_pid ]]; then kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap bench_cleanup EXIT

# settle waits, before a timed run, until the inodes that earlier steps deleted can be reused. An ext4
# without a journal (this machine's) skips, when it allocates an inode, every one deleted in the last
# 30 s (recently_deleted in fs/ext4/ialloc.c), one lookup each: a run started right after another
# run's deletions, or after rm -rf of its lake, paid for them in system time, up to 15 s in a 12 s
# run, more for the binary that creates more files. SETTLE=0 skips the wait.
settle() {
	sync
	sleep "${SETTLE:-35}"
}

# start_broker starts a broker (8 partitions for the topics it creates) on a free port with its data in
# $tmp and sets $addr once it answers: bin/broker (kfake), or with KAFKA=apache Apache Kafka through
# scripts/apache-kafka.sh with its default JVM flags, ready once its metadata lists it (kcat -L).
start_broker() {
	local port
	free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
	port=$(free_port)
	addr=127.0.0.1:$port
	if [[ ${KAFKA:-kfake} == apache ]]; then
		KAFKA_CONTROLLER_PORT=$(free_port) KAFKA_PARTITIONS=8 scripts/apache-kafka.sh "$port" "$tmp/kafka" >"$tmp/broker.log" 2>&1 &
		broker_pid=$!
		for _ in $(seq 600); do
			kcat -L -b "$addr" -m 1 2>/dev/null | grep -q '1 brokers:' && return
			kill -0 "$broker_pid" 2>/dev/null || break
			sleep 0.1
		done
	else
		bin/broker --listen "$addr" --data-dir "$tmp/broker" --partitions 8 >"$tmp/broker.log" 2>&1 &
		broker_pid=$!
		for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return; sleep 0.1; done
	fi
	echo "broker did not start: $(tail -50 "$tmp/broker.log")" >&2
	return 1
}

# interactions_csv ROWS FILE writes ROWS interactions of realistic sizes: 20k users, 5k pages, five
# actions, times about 2.6 s apart and up to 5 minutes out of order, one row in 500 unreadable.
interactions_csv() {
	awk -v n="$1" 'BEGIN {
		srand(1); split("page_view edit create delete share", a, " ")
		print "user_id,timestamp,action_type,page_id,duration_ms,app_version"
		t = 1688169600
		for (i = 0; i < n; i++) {
			ts = strftime("%Y-%m-%d %H:%M:%S", t + int(i * 2.6) - int(rand() * 300), 1)
			if (i % 500 == 0) ts = "bad"
			printf "u%d,%s,%s,p%d,%d,5.%d.%d\n", int(rand() * 20000), ts, a[i % 5 + 1], int(rand() * 5000), int(rand() * 600000), i % 9, i % 4
		}
	}' >"$2"
}
