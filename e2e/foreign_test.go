package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/testenv"
)

// TestForeignReaders replays a million dirty rows into Apache Kafka and reads the topics back with
// Kafka's own Java console consumer, printing keys, headers and timestamps: interactions holds
// exactly the readable rows (each keyed by its user, stamped with its event time), beside control
// records marked by their header; ingest.dlq holds every unreadable row of both files with its reason,
// source and line; users holds every readable user, last row last, and is log-compacted as Kafka's
// configs tool describes it.
func TestForeignReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("a million rows")
	}
	k := testenv.StartKafka(t)
	input := filepath.Join(t.TempDir(), "input")
	run(t, testenv.Binary(t, "./cmd/datagen"), "--users", "4300", "--days", "365", "--seed", "5", "--out", input, "--quiet")
	interactions := filepath.Join(input, "user_interactions.csv")
	users := filepath.Join(input, "user_metadata.csv")
	want := readInput(t, interactions, users)
	if want.events < 990_000 || len(want.dlq) < 1000 || len(want.users) < 3000 {
		t.Fatalf("datagen wrote %d readable events, %d unreadable rows, %d users: not the dirty million", want.events, len(want.dlq), len(want.users))
	}
	run(t, testenv.Binary(t, "./cmd/producer"), "--brokers", k.Addr, "--users", users, "--interactions", interactions)

	// interactions: the multiset of event values equals the readable rows'.
	controls := 0
	left := want.events
	for m := range consoleConsume(t, k, "interactions", true) {
		if kind, ok := m.headers[record.ControlHeader]; ok {
			if c, err := record.DecodeControl(m.value); err != nil || c.Kind != kind || m.key != "null" {
				t.Fatalf("control record %q: %+v, %v", m.line, c, err)
			}
			controls++
			continue
		}
		var in event.Interaction
		if err := record.DecodeInteraction(m.value, &in); err != nil {
			t.Fatalf("undecodable event %q: %v", m.line, err)
		}
		if m.key != in.UserID || m.ts != in.Time || len(m.headers) > 0 {
			t.Fatalf("event %q: want key %s, timestamp %d, no headers", m.line, in.UserID, in.Time)
		}
		h := maphash.Bytes(want.seed, m.value)
		if want.values[h] == 0 {
			t.Fatalf("event %q: not a readable row of the input, or one too many", m.line)
		}
		want.values[h]--
		left--
	}
	if left != 0 || controls == 0 {
		t.Errorf("interactions: %d readable rows not read, %d control records", left, controls)
	}

	// ingest.dlq: every unreadable row, once, with its reason.
	got := map[string]string{}
	for m := range consoleConsume(t, k, "ingest.dlq", false) {
		id := m.headers["source"] + ":" + m.headers["line"]
		if _, dup := got[id]; dup || m.headers["reason"] == "" {
			t.Errorf("dead letter %q: twice, or without a reason", m.line)
		}
		got[id] = m.headers["reason"]
	}
	if !maps.Equal(got, want.dlq) {
		t.Errorf("ingest.dlq: %d dead letters, want %d", len(got), len(want.dlq))
		for id, r := range want.dlq {
			if got[id] != r {
				t.Errorf("dead letter %s: reason %q, want %q", id, got[id], r)
			}
		}
	}

	// users: the last record of each key is the user's last readable row (what compaction keeps).
	last := map[string]string{}
	for m := range consoleConsume(t, k, "users", true) {
		var u event.User
		if err := record.DecodeUser(m.value, &u); err != nil || u.UserID != m.key {
			t.Fatalf("user record %q: %v", m.line, err)
		}
		last[m.key] = string(m.value)
	}
	if !maps.Equal(last, want.users) {
		t.Errorf("users: %d users, want %d", len(last), len(want.users))
	}

	configs := string(testenv.KafkaTool(t, "org.apache.kafka.tools.ConfigCommand", "--bootstrap-server", k.Addr,
		"--command-config", k.ClientProperties(t), "--describe", "--entity-type", "topics", "--entity-name", "users"))
	if !strings.Contains(configs, "cleanup.policy=compact") {
		t.Errorf("kafka-configs --describe users:\n%s\nwant cleanup.policy=compact", configs)
	}
}

// input is what the topics should hold after a replay of two files, computed from the files.
type input struct {
	seed   maphash.Seed
	values map[uint64]int    // hash of each readable interaction's JSON value: rows with it
	events int               // readable interactions
	dlq    map[string]string // "file:line" of each unreadable row: its reason
	users  map[string]string // user_id: JSON value of its last readable row
}

func readInput(t *testing.T, interactions, users string) input {
	t.Helper()
	in := input{seed: maphash.MakeSeed(), values: map[uint64]int{}, dlq: map[string]string{}, users: map[string]string{}}
	open := func(path string) *os.File {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	ir := csvin.NewInteractionReader(open(interactions))
	var ev event.Interaction
	var buf []byte
	for {
		reason, err := ir.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if reason != event.OK {
			in.dlq[fmt.Sprintf("%s:%d", filepath.Base(interactions), ir.Line())] = reason.String()
			continue
		}
		buf = record.AppendInteraction(buf[:0], &ev)
		in.values[maphash.Bytes(in.seed, buf)]++
		in.events++
	}
	ur := csvin.NewUserReader(open(users))
	var u event.User
	for {
		reason, err := ur.Next(&u)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if reason != event.OK {
			in.dlq[fmt.Sprintf("%s:%d", filepath.Base(users), ur.Line())] = reason.String()
			continue
		}
		in.users[u.UserID] = string(record.AppendUser(nil, &u))
	}
	return in
}

// consoleMsg is one record as the console consumer prints it.
type consoleMsg struct {
	line    []byte
	ts      int64
	headers map[string]string
	key     string
	value   []byte
}

// consoleConsume reads a whole topic with Kafka's console consumer (kafka-console-consumer.sh),
// printing each record's timestamp, headers, key and, if values, its value, one record a line.
func consoleConsume(t *testing.T, k *testenv.Kafka, topic string, values bool) func(func(consoleMsg) bool) {
	t.Helper()
	out := testenv.KafkaTool(t, "org.apache.kafka.tools.consumer.ConsoleConsumer",
		"--bootstrap-server", k.Addr, "--command-config", k.ClientProperties(t),
		"--topic", topic, "--from-beginning", "--timeout-ms", "15000",
		"--formatter-property", "print.timestamp=true", "--formatter-property", "print.headers=true",
		"--formatter-property", "print.key=true", "--formatter-property", "print.value="+strconv.FormatBool(values))
	return func(yield func(consoleMsg) bool) {
		for line := range bytes.Lines(out) {
			line = bytes.TrimSuffix(line, []byte("\n"))
			f := bytes.SplitN(line, []byte("\t"), 4)
			ts, ok := bytes.CutPrefix(f[0], []byte("CreateTime:"))
			if len(f) < 3 || !ok {
				t.Fatalf("console consumer line %q", line)
			}
			m := consoleMsg{line: line, headers: map[string]string{}, key: string(f[2])}
			m.ts, _ = strconv.ParseInt(string(ts), 10, 64)
			if h := string(f[1]); h != "NO_HEADERS" {
				for _, kv := range strings.Split(h, ",") {
					k, v, _ := strings.Cut(kv, ":")
					m.headers[k] = v
				}
			}
			if len(f) == 4 {
				m.value = f[3]
			}
			if !yield(m) {
				return
			}
		}
	}
}
