package main_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/testenv"
)

// challengeFile writes n rows the way the original data challenge generates them: timestamps uniform
// over 2023, users drawn at random, no order. Every 40th row has a bad duration; every 1000th row has
// the timestamp of the row before it (ties). duration_ms is the row number, so no two rows are equal.
func challengeFile(t *testing.T, n int, seed uint64) (path string, bad map[int]bool) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "challenge.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("user_id,timestamp,action_type,page_id,duration_ms,app_version\n")
	rng := rand.New(rand.NewPCG(seed, 1))
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	actions := []string{"page_view", "edit", "create", "delete", "share"}
	bad = map[int]bool{}
	var ts time.Time
	for i := range n {
		line := i + 2
		if i%1000 != 1 {
			ts = time.Unix(start+rng.Int64N(365*86400), 0).UTC()
		}
		dur := strconv.Itoa(i)
		if i%40 == 7 {
			dur, bad[line] = "n/a", true
		}
		fmt.Fprintf(w, "u%d,%s,%s,p%d,%s,5.%d.0\n", rng.IntN(20000), ts.Format(time.DateTime), actions[rng.IntN(5)],
			rng.IntN(500), dur, rng.IntN(9))
	}
	if err := firstErr(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	return path, bad
}

// checkOnce checks that the topics hold every row of data exactly once: readable rows as events, the
// others as dead letters with their own line. In time order, each partition's events come by time, ties
// by line; in file order, by line.
func checkOnce(t *testing.T, k *testenv.Kafka, data string, bad map[int]bool, n int, byTime bool) {
	t.Helper()
	lineOf := eventLines(t, data)
	seen := make([]int, n+2)
	type pos struct {
		ts   int64
		line int
	}
	last := map[int]pos{}
	for _, m := range consume(t, k, "interactions") {
		if _, ok := m.headers[record.ControlHeader]; ok {
			continue
		}
		line := lineOf[m.value]
		if line == 0 || bad[line] {
			t.Fatalf("event %+v: not a readable row of the file", m)
		}
		seen[line]++
		p, cur := last[m.partition], pos{m.ts, line}
		if byTime && (cur.ts < p.ts || cur.ts == p.ts && cur.line < p.line) || !byTime && cur.line < p.line {
			t.Fatalf("partition %d: line %d (time %d) after line %d (time %d)", m.partition, cur.line, cur.ts, p.line, p.ts)
		}
		last[m.partition] = cur
	}
	for _, m := range consume(t, k, "ingest.dlq") {
		line, err := strconv.Atoi(m.headers["line"])
		if err != nil || !bad[line] || m.headers["reason"] != "bad_duration" {
			t.Fatalf("dead letter %+v: not a bad row of the file", m)
		}
		seen[line]++
	}
	exactlyOnce(t, seen, n)
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Fatalf("%s holds %d entries after the replay, first %s", dir, len(entries), entries[0].Name())
	}
}

// TestReplayInTimeOrder replays an unsorted file with runs spilled to disk, then the same file with
// --order file.
func TestReplayInTimeOrder(t *testing.T) {
	const n = 60_000
	data, bad := challengeFile(t, n, 1)
	for _, order := range []string{"time", "file"} {
		t.Run(order, func(t *testing.T) {
			k := testenv.StartKafka(t)
			sortDir := t.TempDir()
			stdout, stderr, err := runProducer(t, nil, "--brokers", k.Addr, "--interactions", data, "--order", order,
				"--sort-memory", "1M", "--sort-dir", sortDir)
			if err != nil {
				t.Fatalf("producer: %v\n%s\n%s", err, stdout, stderr)
			}
			want := fmt.Sprintf("read %d, produced %d, dead-lettered %d", n, n-len(bad), len(bad))
			if !strings.Contains(stdout, want) {
				t.Fatalf("summary %q, want %q", stdout, want)
			}
			if order == "time" && !strings.Contains(stderr, "msg=sorted") || strings.Contains(stderr, "runs_on_disk=0 ") {
				t.Fatalf("order %s: no runs spilled with 1 MiB of sort memory:\n%s", order, stderr)
			}
			checkOnce(t, k, data, bad, n, order == "time")
			emptyDir(t, sortDir)
		})
	}
}

// TestInOrderFileSpillsNothing: a file already in time order is noticed in the first pass.
func TestInOrderFileSpillsNothing(t *testing.T) {
	const n = 50_000
	k := testenv.StartKafka(t)
	var b strings.Builder
	b.WriteString("user_id,timestamp,action_type,page_id,duration_ms,app_version\n")
	base := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(&b, "u%d,%s,edit,p%d,%d,5.7.3\n", i%777, base.Add(time.Duration(i)*time.Second).Format(time.DateTime), i%50, i)
	}
	data := writeFile(t, "sorted.csv", b.String())
	sortDir := t.TempDir()
	stdout, stderr, err := runProducer(t, nil, "--brokers", k.Addr, "--interactions", data, "--sort-memory", "1M",
		"--sort-dir", sortDir)
	if err != nil {
		t.Fatalf("producer: %v\n%s\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stderr, "in_order=true runs_on_disk=0 spilled_bytes=0") {
		t.Fatalf("an in-order file was spilled:\n%s", stderr)
	}
	checkOnce(t, k, data, nil, n, true)
	emptyDir(t, sortDir)
}

// startProducer starts the producer and sends its stderr lines on the returned channel.
func startProducer(t *testing.T, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t, "./cmd/producer"), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody listens any more
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, lines
}

// TestKillDuringSortThenResume kills the producer with SIGKILL while it spills sorted runs, then
// resumes: nothing twice, nothing missing, and the killed run's spill directory is removed.
func TestKillDuringSortThenResume(t *testing.T) {
	const n = 300_000
	data, bad := challengeFile(t, n, 2)
	k := testenv.StartKafka(t)
	sortDir := t.TempDir()
	cmd, _ := startProducer(t, "--brokers", k.Addr, "--interactions", data, "--sort-memory", "1M", "--sort-dir", sortDir)
	deadline := time.Now().Add(60 * time.Second)
	for {
		runs, _ := filepath.Glob(filepath.Join(sortDir, "notestream-sort-*", "run-*"))
		if len(runs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no sorted run spilled within 60 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if events := consume(t, k, "interactions"); len(events) > 0 {
		t.Fatalf("%d records on the interactions topic: the kill came after the sort", len(events))
	}
	if left, _ := filepath.Glob(filepath.Join(sortDir, "notestream-sort-*")); len(left) == 0 {
		t.Fatal("SIGKILL left no spill directory: nothing to check")
	}
	stdout, stderr, err := runProducer(t, nil, "--brokers", k.Addr, "--interactions", data, "--resume",
		"--sort-memory", "1M", "--sort-dir", sortDir)
	if err != nil {
		t.Fatalf("resume: %v\n%s\n%s", err, stdout, stderr)
	}
	t.Logf("resume: %s", stdout)
	checkOnce(t, k, data, bad, n, true)
	emptyDir(t, sortDir)
}

// TestKillDuringTimeOrderedReplayThenResume kills the producer with SIGKILL while it produces the
// merged rows, then resumes: the resume point is a position in the merged order, and every partition
// stays in time order across the two runs.
func TestKillDuringTimeOrderedReplayThenResume(t *testing.T) {
	const n = 100_000
	data, bad := challengeFile(t, n, 3)
	k := testenv.StartKafka(t)
	sortDir := t.TempDir()
	// A year in about 8 s once sorted.
	cmd, lines := startProducer(t, "--brokers", k.Addr, "--interactions", data, "--speed", "4000000",
		"--sort-memory", "1M", "--sort-dir", sortDir)
	deadline := time.After(60 * time.Second)
	for sorted := false; !sorted; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the producer ended before sorting")
			}
			sorted = strings.Contains(l, "msg=sorted")
		case <-deadline:
			t.Fatal("not sorted within 60 s")
		}
	}
	time.Sleep(2 * time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	var events int
	for _, m := range consume(t, k, "interactions") {
		if _, ok := m.headers[record.ControlHeader]; !ok {
			events++
		}
	}
	if events == 0 || events >= n-len(bad) {
		t.Fatalf("%d of %d events produced before the kill: want a part", events, n-len(bad))
	}
	t.Logf("%d of %d events produced before the kill", events, n-len(bad))
	stdout, stderr, err := runProducer(t, nil, "--brokers", k.Addr, "--interactions", data, "--resume",
		"--sort-memory", "1M", "--sort-dir", sortDir)
	if err != nil {
		t.Fatalf("resume: %v\n%s\n%s", err, stdout, stderr)
	}
	t.Logf("resume: %s", stdout)
	checkOnce(t, k, data, bad, n, true)
	emptyDir(t, sortDir)

	// Resuming a time-ordered replay in file order is refused: the positions would not match.
	_, stderr, err = runProducer(t, nil, "--brokers", k.Addr, "--interactions", data, "--resume", "--order", "file")
	if err == nil || !strings.Contains(stderr, "resume with --order time") {
		t.Fatalf("resume in the other order: %v\n%s", err, stderr)
	}
}

// TestSortDirUnusable: when runs cannot be spilled the replay fails with the cause and a non-zero
// exit, and produces no event (a full disk fails the same way: see the README).
func TestSortDirUnusable(t *testing.T) {
	data, _ := challengeFile(t, 60_000, 4)
	k := testenv.StartKafka(t)
	notDir := writeFile(t, "not-a-dir", "x")
	stdout, stderr, err := runProducer(t, nil, "--brokers", k.Addr, "--interactions", data, "--sort-memory", "1M",
		"--sort-dir", notDir)
	if err == nil || !strings.Contains(stderr, "extsort: spill directory") || !strings.Contains(stderr, "not a directory") {
		t.Fatalf("spilling into a file: %v\n%s\n%s", err, stdout, stderr)
	}
	for _, m := range consume(t, k, "interactions") {
		if _, ok := m.headers[record.ControlHeader]; !ok {
			t.Fatalf("an event was produced by a replay whose sort failed: %+v", m)
		}
	}
}

// TestSortMemoryBounded: a file whose rows take several times --sort-memory replays in time order
// with peak RSS under 2 × --sort-memory plus the README's 128 MiB for the rest of the producer, and
// leaves the spill directory empty. (scripts/bench-order.sh measures the same on 1 GB.)
func TestSortMemoryBounded(t *testing.T) {
	const n = 1_500_000 // about 115 MB of rows in memory
	data, bad := challengeFile(t, n, 5)
	k := testenv.StartKafka(t)
	sortDir := t.TempDir()
	// GNU time measures the producer from a small parent: the rusage of a child of this (large) test
	// process counts the parent's memory that the child shared until its exec.
	rss := filepath.Join(t.TempDir(), "maxrss")
	cmd := exec.Command("/usr/bin/time", "-f", "%M", "-o", rss, testenv.Binary(t, "./cmd/producer"),
		"--brokers", k.Addr, "--interactions", data, "--sort-memory", "8M", "--sort-dir", sortDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("producer: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("read %d, produced %d, dead-lettered %d", n, n-len(bad), len(bad)); !strings.Contains(string(out), want) {
		t.Fatalf("summary does not say %q:\n%s", want, out)
	}
	kib, err := os.ReadFile(rss)
	if err != nil {
		t.Fatal(err)
	}
	peakKiB, err := strconv.ParseInt(strings.TrimSpace(string(kib)), 10, 64)
	if err != nil {
		t.Fatalf("/usr/bin/time: %q: %v", kib, err)
	}
	peak := peakKiB << 10
	const limit = 2*8<<20 + 128<<20
	t.Logf("peak RSS %d MiB (limit %d MiB)", peak>>20, limit>>20)
	if peak > limit {
		t.Fatalf("peak RSS %d MiB, over 2 × --sort-memory + 128 MiB = %d MiB", peak>>20, limit>>20)
	}
	emptyDir(t, sortDir)
}

// TestTimeOrderFromPipe: a named pipe is sorted too, though it cannot be read twice: its in-order
// prefix is spilled rather than read again.
func TestTimeOrderFromPipe(t *testing.T) {
	const n = 50_000
	var b strings.Builder
	b.WriteString("user_id,timestamp,action_type,page_id,duration_ms,app_version\n")
	base := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n - 1 {
		fmt.Fprintf(&b, "u%d,%s,edit,p%d,%d,5.7.3\n", i%777, base.Add(time.Duration(i)*time.Second).Format(time.DateTime), i%50, i)
	}
	fmt.Fprintf(&b, "u1,%s,edit,p1,%d,5.7.3\n", base.Add(-time.Hour).Format(time.DateTime), n) // the earliest, last
	data := writeFile(t, "prefix.csv", b.String())
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = f.WriteString(b.String())
	}()
	k := testenv.StartKafka(t)
	sortDir := t.TempDir()
	stdout, stderr, err := runProducer(t, nil, "--brokers", k.Addr, "--interactions", fifo, "--sort-memory", "1M",
		"--sort-dir", sortDir)
	if err != nil {
		t.Fatalf("producer: %v\n%s\n%s", err, stdout, stderr)
	}
	if strings.Contains(stderr, "runs_on_disk=0 ") {
		t.Fatalf("nothing spilled from a pipe larger than the sort memory:\n%s", stderr)
	}
	checkOnce(t, k, data, nil, n, true)
	emptyDir(t, sortDir)
}
