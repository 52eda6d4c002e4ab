package main_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/testenv"
)

// kmsg is one record as kcat prints it with kcatFormat.
type kmsg struct {
	partition int
	key       string
	ts        int64
	headers   map[string]string
	value     string
}

const kcatFormat = "%p\t%k\t%T\t%h\t%s\n"

// consume reads a whole topic with kcat, a foreign client.
func consume(t *testing.T, k *testenv.Kafka, topic string, extra ...string) []kmsg {
	t.Helper()
	args := append([]string{"-C", "-b", k.Addr, "-t", topic, "-e", "-q", "-f", kcatFormat}, extra...)
	out := testenv.Kcat(t, nil, args...)
	var msgs []kmsg
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 5)
		if len(f) != 5 {
			t.Fatalf("kcat line %q", sc.Text())
		}
		p, _ := strconv.Atoi(f[0])
		ts, _ := strconv.ParseInt(f[2], 10, 64)
		m := kmsg{partition: p, key: f[1], ts: ts, headers: map[string]string{}, value: f[4]}
		if f[3] != "" {
			for _, kv := range strings.Split(f[3], ",") {
				k, v, _ := strings.Cut(kv, "=")
				m.headers[k] = v
			}
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// topicConfig reads one configuration value of a topic.
func topicConfig(t *testing.T, k *testenv.Kafka, topic, key string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("describe %s: %v", topic, err)
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == key && c.Value != nil {
				return *c.Value
			}
		}
	}
	return ""
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runProducer(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t, "./cmd/producer"), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestReplayDirtyData(t *testing.T) {
	k := testenv.StartKafka(t)
	users := writeFile(t, "users.csv", "user_id,join_date,country,device_type,subscription_type\n"+
		"u1,2022-01-15,US,iPad,premium\n"+ // 2
		"u2,2022-02-01,DE,Android,free\n"+ // 3
		"u3,not-a-date,FR,iPhone,free\n"+ // 4 bad_date
		" ,2022-01-01,US,iPad,free\n"+ // 5 missing_user_id
		"u4,2022-01-01,US\n"+ // 6 malformed
		"u5,2022-01-01,"+strings.Repeat("x", 300)+",iPad,free\n") // 7 field_too_long
	long := strings.Repeat("y", 70<<10)
	interactions := writeFile(t, "interactions.csv", "user_id,timestamp,action_type,page_id,duration_ms,app_version\r\n"+
		"u1,2023-07-01 14:30:15,page_view,p1,12000,5.7.3\r\n"+ // 2
		"u2,2023-07-01T14:31:00.250Z,EDIT,p2,500,5.7.3\r\n"+ // 3
		"u1,2023-07-01 14:32:00+02:00,share,\"p,3\",0,5.7.4\r\n"+ // 4
		"u3,2023-07-01 14:33:00,bogus,p4,-5,1.0\r\n"+ // 5: readable, rule-invalid
		"u1,2023-07-01 14:30:15,page_view,p1,12000\r\n"+ // 6 malformed
		"u1,2023-07-01 14:30:15,page_view,"+strings.Repeat("p", 300)+",1,1\r\n"+ // 7 field_too_long
		"  ,2023-07-01 14:30:15,page_view,p1,1,1\r\n"+ // 8 missing_user_id
		"u1,yesterday,page_view,p1,1,1\r\n"+ // 9 bad_timestamp
		"u1,2023-07-01 14:30:15,page_view,p1,12.5,1\r\n"+ // 10 bad_duration
		"u4,\"2023-07-01 15:00:00\",create,p5,100,5.7.3\r\n"+ // 11
		"u5,2023-07-01 15:00:00,create,"+long+",100,5.7.3\r\n"+ // 12 malformed: line over 64 KiB
		"u6,2023-07-01 15:01:00,edit,\"say \"\"hi\"\"\\\",1,5.7.3\r\n"+ // 13: JSON escapes a quote and a backslash
		"u7,2023-07-01 15:02:00,edit,pé,1,5.7.3\r\n") // 14: not ASCII

	stdout, stderr, err := runProducer(t, nil, "--brokers", k.Addr, "--users", users, "--interactions", interactions)
	if err != nil {
		t.Fatalf("producer: %v\n%s\n%s", err, stdout, stderr)
	}
	for _, want := range []string{
		"users.csv: read 6, produced 2, dead-lettered 4 (malformed 1, field_too_long 1, missing_user_id 1, bad_date 1)",
		"interactions.csv: read 13, produced 7, dead-lettered 6 (malformed 2, field_too_long 1, missing_user_id 1, bad_timestamp 1, bad_duration 1)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}

	// interactions: exactly the readable rows, then the end marker on every partition.
	wantEvents := map[int64]event.Interaction{
		2:  {UserID: "u1", Time: ms("2023-07-01T14:30:15Z"), Action: "page_view", PageID: "p1", DurationMs: 12000, AppVersion: "5.7.3"},
		3:  {UserID: "u2", Time: ms("2023-07-01T14:31:00.250Z"), Action: "EDIT", PageID: "p2", DurationMs: 500, AppVersion: "5.7.3"},
		4:  {UserID: "u1", Time: ms("2023-07-01T12:32:00Z"), Action: "share", PageID: "p,3", DurationMs: 0, AppVersion: "5.7.4"},
		5:  {UserID: "u3", Time: ms("2023-07-01T14:33:00Z"), Action: "bogus", PageID: "p4", DurationMs: -5, AppVersion: "1.0"},
		11: {UserID: "u4", Time: ms("2023-07-01T15:00:00Z"), Action: "create", PageID: "p5", DurationMs: 100, AppVersion: "5.7.3"},
		13: {UserID: "u6", Time: ms("2023-07-01T15:01:00Z"), Action: "edit", PageID: `say "hi"\`, DurationMs: 1, AppVersion: "5.7.3"},
		14: {UserID: "u7", Time: ms("2023-07-01T15:02:00Z"), Action: "edit", PageID: "pé", DurationMs: 1, AppVersion: "5.7.3"},
	}
	lineOf := map[string]int64{} // event values are unique here
	for line, in := range wantEvents {
		lineOf[string(record.AppendInteraction(nil, &in))] = line
	}
	ends := map[int]bool{}
	gotEvents := 0
	for _, m := range consume(t, k, "interactions") {
		if kind, ok := m.headers[record.ControlHeader]; ok {
			c, err := record.DecodeControl([]byte(m.value))
			if err != nil || m.key != "" || c.Kind != kind {
				t.Fatalf("control record %+v: %+v, %v", m, c, err)
			}
			if kind == record.ControlEnd {
				ends[m.partition] = true
				if c.EventTime != ms("2023-07-01T15:02:00Z") {
					t.Errorf("end event time %d", c.EventTime)
				}
			}
			continue
		}
		if ends[m.partition] {
			t.Errorf("event after the end marker on partition %d: %+v", m.partition, m)
		}
		if len(m.headers) > 0 {
			t.Errorf("event with headers: %+v", m)
		}
		line, ok := lineOf[m.value]
		want, ok2 := wantEvents[line]
		if !ok || !ok2 {
			t.Fatalf("unexpected event %+v", m)
		}
		delete(wantEvents, line)
		gotEvents++
		if m.key != want.UserID || m.ts != want.Time {
			t.Errorf("line %d: got key %q ts %d, want %+v", line, m.key, m.ts, want)
		}
	}
	if len(wantEvents) > 0 {
		t.Errorf("missing events: %+v", wantEvents)
	}
	if len(ends) != 8 {
		t.Errorf("end markers on %d partitions, want 8", len(ends))
	}

	// users: log-compacted, holding the readable users.
	if policy := topicConfig(t, k, "users", "cleanup.policy"); policy != "compact" {
		t.Errorf("users cleanup.policy = %q, want compact", policy)
	}
	var gotUsers []string
	for _, m := range consume(t, k, "users") {
		var u event.User
		if err := record.DecodeUser([]byte(m.value), &u); err != nil || u.UserID != m.key {
			t.Fatalf("user %+v: %v", m, err)
		}
		gotUsers = append(gotUsers, fmt.Sprintf("%s %s %s %s %s", u.UserID, u.JoinDate, u.Country, u.DeviceType, u.SubscriptionType))
	}
	slices.Sort(gotUsers)
	if want := []string{"u1 2022-01-15 US iPad premium", "u2 2022-02-01 DE Android free"}; !slices.Equal(gotUsers, want) {
		t.Errorf("users = %q, want %q", gotUsers, want)
	}

	// ingest.dlq: exactly the unreadable rows of both files, raw, with their reason.
	wantDLQ := map[string]string{
		"users.csv:4":         "bad_date",
		"users.csv:5":         "missing_user_id",
		"users.csv:6":         "malformed",
		"users.csv:7":         "field_too_long",
		"interactions.csv:6":  "malformed",
		"interactions.csv:7":  "field_too_long",
		"interactions.csv:8":  "missing_user_id",
		"interactions.csv:9":  "bad_timestamp",
		"interactions.csv:10": "bad_duration",
		"interactions.csv:12": "malformed",
	}
	rawLines := map[string]string{"users.csv:4": "u3,not-a-date,FR,iPhone,free", "interactions.csv:9": "u1,yesterday,page_view,p1,1,1"}
	for _, m := range consume(t, k, "ingest.dlq", "-X", "fetch.message.max.bytes=1048576") {
		id := m.headers["source"] + ":" + m.headers["line"]
		if wantDLQ[id] != m.headers["reason"] {
			t.Errorf("dead letter %s: reason %q, want %q", id, m.headers["reason"], wantDLQ[id])
		}
		if raw, ok := rawLines[id]; ok && m.value != raw {
			t.Errorf("dead letter %s: value %q, want %q", id, m.value, raw)
		}
		delete(wantDLQ, id)
	}
	if len(wantDLQ) > 0 {
		t.Errorf("missing dead letters: %v", wantDLQ)
	}
}

// generate writes n interaction rows, every 97th unreadable, with times a little out of order.
func generate(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("user_id,timestamp,action_type,page_id,duration_ms,app_version\n")
	base := time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC)
	actions := []string{"page_view", "edit", "create", "delete", "share"}
	for i := range n {
		ts := base.Add(time.Duration(i)*time.Second - time.Duration(i%7)*time.Minute)
		if i%97 == 0 {
			fmt.Fprintf(w, "u%d,%s,page_view,p%d,%s,5.7.3\n", i%5000, ts.Format(time.DateTime), i%300, "oops")
			continue
		}
		fmt.Fprintf(w, "u%d,%s,%s,p%d,%d,5.7.3\n", i%5000, ts.Format(time.DateTime), actions[i%5], i%300, i%60000)
	}
	if err := firstErr(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	return path
}

// eventLines maps the JSON value of every readable row of an interactions file to its line; generate
// writes no two equal rows (their times differ).
func eventLines(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := map[string]int{}
	rd := csvin.NewInteractionReader(f)
	var in event.Interaction
	for {
		reason, err := rd.Next(&in)
		if err == io.EOF {
			return lines
		}
		if err != nil {
			t.Fatal(err)
		}
		if reason == event.OK {
			lines[string(record.AppendInteraction(nil, &in))] = int(rd.Line())
		}
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestResumeAfterBrokerKill stops the broker mid-replay and restarts it on its data directory: once
// in an orderly way and back within the producer's --timeout, when the producer must recover and
// finish, and once with SIGKILL and back only after --timeout, when it must exit non-zero. After
// --resume every row must be on the topics exactly once.
//
// The crash case ends in --resume on purpose. kfake keeps idempotent producers' sequence numbers only
// in the state it saves on an orderly stop, so after a SIGKILL it takes a retried batch that it had
// already written but not acknowledged as new and appends it twice (Kafka and Redpanda rebuild that
// state from the log). A producer that carries on across such a crash can therefore duplicate its last
// in-flight batches on kfake; resuming reads back what the topics hold and duplicates nothing.
func TestResumeAfterBrokerKill(t *testing.T) {
	for _, tc := range []struct {
		name     string
		crash    bool
		down     time.Duration
		timeout  string
		wantFail bool
	}{
		// Back within --timeout: an orderly stop, a second down, then Apache Kafka's own start, which
		// takes 3 s on an idle machine and up to 12 s on a loaded one (the broker answers only then).
		{"recovers after a restart", false, time.Second, "30s", false},
		{"gives up after a crash", true, 6 * time.Second, "3s", true},
	} {
		t.Run(tc.name, func(t *testing.T) { testResume(t, tc.crash, tc.down, tc.timeout, tc.wantFail) })
	}
}

func testResume(t *testing.T, crash bool, down time.Duration, timeout string, wantFail bool) {
	const rows = 300_000
	k := testenv.StartKafka(t)
	data := generate(t, rows)

	// 300k rows one event-second apart at 60000x: about 5 s, so the broker stops mid-replay.
	cmd := exec.Command(testenv.Binary(t, "./cmd/producer"), "--brokers", k.Addr, "--interactions", data,
		"--timeout", timeout, "--speed", "60000")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Mid-replay: a tenth of the rows on the topic, and the producer still running.
	// A fresh listing every time: the client's metadata cache would hide the new topic for 5 s.
	adm := kadm.NewClient(k.Client(t, kgo.MetadataMinAge(10*time.Millisecond)))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		ends, err := adm.ListEndOffsets(context.Background(), "interactions")
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		if err == nil && n >= rows/10 {
			t.Logf("stopping the broker at %d records, %v after the start", n, time.Since(started))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records on the topic after a minute (%v)", n, err)
		}
	}
	select {
	case err := <-exited:
		t.Fatalf("the replay ended (%v) before the broker was stopped:\n%s", err, out.String())
	default:
	}
	if crash {
		k.Stop()
	} else {
		k.Shutdown()
	}
	time.Sleep(down)
	k.Start()
	err := <-exited
	t.Logf("first run (err %v):\n%s", err, out.String())
	if wantFail && (err == nil || !strings.Contains(out.String(), "unreachable")) {
		t.Fatalf("broker down %s, --timeout %s: want a non-zero exit saying unreachable, got %v", down, timeout, err)
	}
	if !wantFail && err != nil {
		t.Fatalf("broker down %s, --timeout %s: want the replay to recover, got %v", down, timeout, err)
	}

	stdout, stderr, err := runProducer(t, nil, "--brokers", k.Addr, "--interactions", data, "--resume")
	if err != nil {
		t.Fatalf("resume: %v\n%s\n%s", err, stdout, stderr)
	}
	t.Logf("resume:\n%s", stdout)

	seen := make([]int, rows+2)
	lineOf := eventLines(t, data)
	for _, topic := range []string{"interactions", "ingest.dlq"} {
		for _, m := range consume(t, k, topic) {
			if _, ok := m.headers[record.ControlHeader]; ok {
				continue
			}
			line, err := strconv.Atoi(m.headers["line"])
			if topic == "interactions" {
				line, err = lineOf[m.value], nil
			}
			if err != nil || line < 2 || line > rows+1 {
				t.Fatalf("%s record %+v: no line", topic, m)
			}
			seen[line]++
		}
	}
	exactlyOnce(t, seen, rows)
}

// exactlyOnce fails the test unless seen counts each of the file's rows (lines 2 … rows+1, after the
// header) once.
func exactlyOnce(t *testing.T, seen []int, rows int) {
	t.Helper()
	var missing, dup []int
	for line := 2; line <= rows+1; line++ {
		switch {
		case seen[line] == 0:
			missing = append(missing, line)
		case seen[line] > 1:
			dup = append(dup, line)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("%d rows missing (first %v), %d duplicated (first %v)", len(missing), head(missing), len(dup), head(dup))
	}
}

func head(s []int) []int { return s[:min(len(s), 5)] }

func TestSASL(t *testing.T) {
	k := testenv.StartKafka(t, testenv.SASL("alice", "s3cret"))
	data := writeFile(t, "i.csv", "u1,2023-07-01 14:30:15,page_view,p1,12000,5.7.3\n")
	args := []string{"--brokers", k.Addr, "--interactions", data, "--sasl-mechanism", "scram-sha-256",
		"--sasl-user", "alice", "--timeout", "5s"}

	stdout, stderr, err := runProducer(t, []string{"NOTESTREAM_SASL_PASSWORD=s3cret"}, args...)
	if err != nil {
		t.Fatalf("producer with the right password: %v\n%s\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "i.csv: read 1, produced 1, dead-lettered 0") {
		t.Fatalf("summary: %s", stdout)
	}

	stdout, stderr, err = runProducer(t, []string{"NOTESTREAM_SASL_PASSWORD=wrong-pass"}, args...)
	if err == nil {
		t.Fatalf("producer with a wrong password succeeded:\n%s", stdout)
	}
	if !strings.Contains(stderr, "SASL") || strings.Contains(stderr, "wrong-pass") {
		t.Fatalf("want a clear SASL error without the password, got:\n%s", stderr)
	}
}

func TestUnreachableBrokers(t *testing.T) {
	data := writeFile(t, "i.csv", "u1,2023-07-01 14:30:15,page_view,p1,12000,5.7.3\n")
	start := time.Now()
	_, stderr, err := runProducer(t, nil, "--brokers", "127.0.0.1:1", "--interactions", data, "--timeout", "2s")
	if err == nil || !strings.Contains(stderr, "unreachable") {
		t.Fatalf("want a non-zero exit saying unreachable, got %v:\n%s", err, stderr)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("gave up after %s with --timeout 2s", d)
	}
}

// TestSpeedAndProgress replays two hours of event time at 3600x, out of order: about 2 s, with
// progress control records carrying the highest event time read so far on every partition.
func TestSpeedAndProgress(t *testing.T) {
	k := testenv.StartKafka(t)
	data := writeFile(t, "i.csv", "u1,2023-07-01 10:00:00,edit,p1,1,1\n"+
		"u2,2023-07-01 11:00:00,edit,p1,1,1\n"+
		"u3,2023-07-01 10:30:00,edit,p1,1,1\n"+ // older than the maximum: no wait
		"u4,2023-07-01 12:00:00,edit,p1,1,1\n")
	testenv.Binary(t, "./cmd/producer") // built before the clock starts
	start := time.Now()
	stdout, stderr, err := runProducer(t, nil, "--brokers", k.Addr, "--interactions", data, "--speed", "3600",
		"--progress-interval", "100ms")
	if err != nil {
		t.Fatalf("producer: %v\n%s\n%s", err, stdout, stderr)
	}
	if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
		t.Fatalf("two hours at 3600x took %s, want about 2 s", d)
	}
	progress := map[int][]int64{}
	for _, m := range consume(t, k, "interactions") {
		if m.headers[record.ControlHeader] != record.ControlProgress {
			continue
		}
		c, err := record.DecodeControl([]byte(m.value))
		if err != nil || m.ts != c.EventTime {
			t.Fatalf("progress record %+v: %+v, %v", m, c, err)
		}
		progress[m.partition] = append(progress[m.partition], c.EventTime)
	}
	if len(progress) != 8 {
		t.Fatalf("progress records on %d partitions, want 8", len(progress))
	}
	for p, times := range progress {
		if !slices.IsSorted(times) || times[len(times)-1] != ms("2023-07-01T12:00:00Z") {
			t.Fatalf("partition %d: progress event times %v", p, times)
		}
	}
}

// TestResumeOnFreshTopics: --resume against topics the same run creates produces everything (there is
// nothing to resume from), and a second --resume produces nothing.
func TestResumeOnFreshTopics(t *testing.T) {
	k := testenv.StartKafka(t)
	data := generate(t, 1000)
	run := func() string {
		t.Helper()
		stdout, stderr, err := runProducer(t, nil, "--brokers", k.Addr, "--interactions", data, "--resume")
		if err != nil {
			t.Fatalf("--resume: %v\n%s\n%s", err, stdout, stderr)
		}
		return stdout
	}
	if out := run(); !strings.Contains(out, "read 1000, produced 989, dead-lettered 11") || strings.Contains(out, "skipped") {
		t.Fatalf("first --resume on fresh topics: %s", out)
	}
	if out := run(); !strings.Contains(out, "read 1000, produced 0, dead-lettered 0, skipped on resume 1000") {
		t.Fatalf("second --resume: %s", out)
	}
}
