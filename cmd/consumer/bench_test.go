package main_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/testenv"
)

// BenchmarkEndToEnd replays a million events once, then per iteration reads the whole topic with a
// plain franz-go consumer (records only) and with a fresh consumer deployment (new group and prefix)
// from start until every partition is checkpointed at its end; it reports both rates, on Apache
// Kafka and on kfake.
//
//	go test ./cmd/consumer -run '^$' -bench EndToEnd -benchtime 1x
func BenchmarkEndToEnd(b *testing.B) {
	for _, broker := range []struct {
		name string
		opts []testenv.KafkaOption
	}{{"apache", nil}, {"kfake", []testenv.KafkaOption{testenv.Kfake()}}} {
		b.Run(broker.name, func(b *testing.B) { benchEndToEnd(b, broker.opts...) })
	}
}

func benchEndToEnd(b *testing.B, opts ...testenv.KafkaOption) {
	k := testenv.StartKafka(b, opts...)
	r := testenv.StartRedis(b)
	rdb := redisClient(b, r.URL)
	const events = 1_000_000
	interactions, users := dataset(b, 50_000, events, 3, 5)
	produce(b, k, "--users", users, "--interactions", interactions)
	total := countRecords(b, k)

	var plain, full, plainCPU, fullCPU time.Duration
	for i := 0; b.Loop(); i++ {
		start, startCPU := time.Now(), cpuTime(b, os.Getpid())
		cl := k.Client(b, kgo.ConsumeTopics("interactions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(32<<20))
		for n := int64(0); n < total; {
			fs := cl.PollFetches(context.Background())
			n += int64(fs.NumRecords())
		}
		plain += time.Since(start)
		plainCPU += cpuTime(b, os.Getpid()) - startCPU
		cl.Close()

		prefix := fmt.Sprintf("bench%d:", i)
		c := newConsumer(b, fmt.Sprintf("bench%d", i), k, r.URL, prefix, prefix)
		c.args = append(c.args, "--checkpoint-interval", "1s", "--log-level", "warn") // the defaults
		start = time.Now()
		c.start()
		waitDone(b, c, k, rdb, prefix, 5*time.Minute)
		full += time.Since(start)
		fullCPU += cpuTime(b, c.cmd.Process.Pid)
		b.ReportMetric(float64(vmHWM(b, c.cmd.Process.Pid))/1024, "peak-RSS-MiB")
		c.kill()
	}
	b.ReportMetric(float64(events)*float64(b.N)/plain.Seconds(), "plain-franz-go-events/s")
	b.ReportMetric(float64(events)*float64(b.N)/full.Seconds(), "consumer-events/s")
	// CPU per event does not depend on what else runs on the machine, unlike the rates.
	b.ReportMetric(plainCPU.Seconds()/float64(b.N), "plain-CPU-s/1M")
	b.ReportMetric(fullCPU.Seconds()/float64(b.N), "consumer-CPU-s/1M")
}

// cpuTime is the user and system CPU time a process has used so far, from /proc/<pid>/stat.
func cpuTime(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name's closing parenthesis; utime and stime are the 12th and 13th.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// BenchmarkOpenSessions measures the consumer's peak RSS holding a million open sessions: one event
// of each of a million users within ten minutes of event time, so none closes before the end record.
//
//	go test ./cmd/consumer -run '^$' -bench OpenSessions -benchtime 1x
func BenchmarkOpenSessions(b *testing.B) {
	k := testenv.StartKafka(b)
	r := testenv.StartRedis(b)
	rdb := redisClient(b, r.URL)
	const users = 1_000_000
	path := filepath.Join(b.TempDir(), "interactions.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	start := time.Date(2023, 7, 1, 12, 0, 0, 0, time.UTC)
	for u := range users {
		ts := start.Add(time.Duration(u) * 600 * time.Millisecond / 1000)
		fmt.Fprintf(w, "user%07d,%s,edit,p%d,1000,5.7.3\n", u, ts.Format("2006-01-02 15:04:05"), u%1000)
	}
	w.Flush()
	f.Close()
	produce(b, k, "--interactions", path)
	for i := 0; b.Loop(); i++ {
		prefix := fmt.Sprintf("open%d:", i)
		c := newConsumer(b, fmt.Sprintf("open%d", i), k, r.URL, prefix, prefix)
		c.start()
		waitDone(b, c, k, rdb, prefix, 5*time.Minute)
		b.ReportMetric(float64(vmHWM(b, c.cmd.Process.Pid))/1024, "peak-RSS-MiB")
		c.kill()
	}
}

// vmHWM is the peak resident set size of a process in KiB.
func vmHWM(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

func countRecords(b *testing.B, k *testenv.Kafka) int64 {
	ends, err := kadm.NewClient(k.Client(b)).ListEndOffsets(context.Background(), "interactions")
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}
