package kwrite_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/notestream/notestream/internal/kwrite"
	"github.com/notestream/notestream/internal/testenv"
)

// These tests run a Writer against a real single-node Apache Kafka broker (testenv.StartKafka) and
// read back with Kafka's own Java console consumer or a franz-go consumer. Faults are real: the broker
// is killed with SIGKILL, its log truncated on disk, its topic grown with CreatePartitions.

// replayBase is a record timestamp in the past, as the producer's event times are.
const replayBase = 1_688_169_600_000 // 2023-07-01T00:00:00Z

// recentBase is a base for randRecord's timestamps (up to 10,000 s either side) that keeps them in the
// last six hours: newer than producer.id.expiration.ms (a day) and not in the future, which Apache
// Kafka refuses beyond message.timestamp.after.max.ms (an hour).
func recentBase() int64 { return time.Now().UnixMilli() - 20_000_000 }

func apacheClient(t *testing.T, k *testenv.Kafka) func(...kgo.Opt) *kgo.Client {
	return func(opts ...kgo.Opt) *kgo.Client { return k.Client(t, opts...) }
}

func createApacheTopic(t *testing.T, k *testenv.Kafka, name string, partitions int32) {
	t.Helper()
	resp, err := kadm.NewClient(k.Client(t)).CreateTopic(testCtx(t, 30*time.Second), partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// newApacheWriter starts a Writer on its own client; t.Cleanup closes it before the client and broker.
func newApacheWriter(t *testing.T, k *testenv.Kafka, cfg kwrite.Config) *kwrite.Writer {
	t.Helper()
	cfg.Client = k.Client(t)
	w, err := kwrite.New(testCtx(t, 30*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// nullLiteral is what the console consumer prints for null, passed through the deserializer like
// bytes; the records the test writes never hold these two bytes (notNullLiteral).
const nullLiteral = `\N`

// javaBytes is b as the console consumer prints it with BytesDeserializer (org.apache.kafka.common.
// utils.Bytes.toString: printable ASCII but the backslash as is, every other byte as \xHH), null as
// the escaped nullLiteral.
func javaBytes(b []byte) string {
	if b == nil {
		b = []byte(nullLiteral)
	}
	var s strings.Builder
	for _, c := range b {
		if c >= ' ' && c <= '~' && c != '\\' {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, `\x%02X`, c)
		}
	}
	return s.String()
}

func headerValues(r kwrite.Record) [][]byte {
	var vs [][]byte
	for _, h := range r.Headers {
		vs = append(vs, h.Value)
	}
	return vs
}

// consoleLine is r as the console consumer prints it with consoleConsumerArgs' formatter properties.
func consoleLine(part int32, offset int, r kwrite.Record) string {
	headers := "NO_HEADERS"
	if len(r.Headers) > 0 {
		hs := make([]string, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = h.Key + ":" + javaBytes(h.Value)
		}
		headers = strings.Join(hs, ",")
	}
	return fmt.Sprintf("CreateTime:%d\tPartition:%d\tOffset:%d\t%s\t%s\t%s", r.Timestamp, part, offset, headers, javaBytes(r.Key), javaBytes(r.Value))
}

// TestApacheConsoleConsumerReads: Kafka's Java console consumer reads back, exactly, what Writers of
// every codec kwrite offers (none, gzip, snappy, lz4, zstd) wrote to a real broker: binary keys, values
// and header values, null and empty ones, headers in order, timestamps older than their batch's first,
// per-partition order. Each codec's Writer has two partitions of one topic, so that one console
// consumer run reads them all; a last Writer sends snappy batches of about 1 MB, which kwrite frames in
// many blocks. The Java consumer checks the CRCs; the broker, which validates and decompresses every
// batch it appends, keeps each batch's codec (checked through franz-go).
func TestApacheConsoleConsumerReads(t *testing.T) {
	k := testenv.StartKafka(t)
	const topic = "console"
	type writer struct {
		codec      int
		batchBytes int
		valueBytes int
	}
	var writers []writer
	for ci := range codecs {
		writers = append(writers, writer{ci, 4000, 300})
	}
	writers = append(writers, writer{1, 1_000_000, 0}) // snappy: about 1 MB batches of 16 blocks of 64 KiB
	createApacheTopic(t, k, topic, int32(2*len(writers)))
	rng := rand.New(rand.NewPCG(13, 1))
	var total int
	wants := map[tp][]kwrite.Record{}
	for wi, wr := range writers {
		codec := codecs[wr.codec]
		w := newApacheWriter(t, k, kwrite.Config{Compression: codec.codec, BatchBytes: wr.batchBytes})
		a := newAppender(t, w, topic)
		n := 300
		if wr.valueBytes == 0 {
			n = 40
		}
		for i := range n {
			r := kwrite.Record{Key: kwrite.RandBytes(rng, 30), Timestamp: replayBase + rng.Int64N(20_000_000) - 10_000_000}
			if wr.valueBytes > 0 {
				r.Value = kwrite.RandBytes(rng, wr.valueBytes)
			} else {
				r.Value = []byte(strings.Repeat(fmt.Sprintf("compressible %d ", i), 4000))
			}
			for j := range rng.IntN(4) {
				r.Headers = append(r.Headers, kwrite.Header{Key: "h" + strconv.Itoa(j), Value: kwrite.RandBytes(rng, 16)})
			}
			for _, b := range append([][]byte{r.Key, r.Value}, headerValues(r)...) {
				if string(b) == nullLiteral {
					t.Fatalf("record %d holds the console consumer's null literal: pick another seed", i)
				}
			}
			a.mustAppend(t, topic, int32(2*wi+i%2), 0, r)
		}
		if err := w.Flush(testCtx(t, 60*time.Second)); err != nil {
			t.Fatalf("%s: %v", codec.name, err)
		}
		a.checkAcked(t, w)
		for k, recs := range a.want {
			wants[k] = recs
			total += len(recs)
		}
	}

	out := testenv.KafkaTool(t, "org.apache.kafka.tools.consumer.ConsoleConsumer",
		"--bootstrap-server", k.Addr, "--command-config", k.ClientProperties(t), "--topic", topic,
		"--from-beginning", "--max-messages", strconv.Itoa(total), "--timeout-ms", "60000",
		"--command-property", "check.crcs=true", "--command-property", "max.partition.fetch.bytes=2000000",
		"--key-deserializer", "org.apache.kafka.common.serialization.BytesDeserializer",
		"--value-deserializer", "org.apache.kafka.common.serialization.BytesDeserializer",
		"--formatter-property", "print.timestamp=true", "--formatter-property", "print.partition=true",
		"--formatter-property", "print.offset=true", "--formatter-property", "print.headers=true",
		"--formatter-property", "print.key=true", "--formatter-property", "null.literal="+nullLiteral,
		"--formatter-property", "headers.deserializer=org.apache.kafka.common.serialization.BytesDeserializer")
	got := map[int32][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		f := strings.SplitN(line, "\t", 3)
		var part int32
		if len(f) < 2 || !strings.HasPrefix(f[1], "Partition:") {
			t.Fatalf("the console consumer printed %q", line)
		}
		if _, err := fmt.Sscan(strings.TrimPrefix(f[1], "Partition:"), &part); err != nil {
			t.Fatalf("the console consumer printed %q: %v", line, err)
		}
		got[part] = append(got[part], line)
	}
	for wi, wr := range writers {
		codec := codecs[wr.codec].name
		for part := int32(2 * wi); part < int32(2*wi+2); part++ {
			want := wants[tp{topic, part}]
			if len(got[part]) != len(want) {
				t.Fatalf("partition %d (%s): the console consumer read %d records, want %d", part, codec, len(got[part]), len(want))
			}
			for i, r := range want {
				if w := consoleLine(part, i, r); got[part][i] != w {
					t.Fatalf("partition %d (%s) offset %d: the console consumer read\n%q\nwant\n%q", part, codec, i, got[part][i], w)
				}
			}
		}
	}

	// The broker appends a batch with the codec it came with (compression.type=producer).
	back := readBackWith(t, apacheClient(t, k), topic)
	checkExactly(t, back, wants)
	for wi, wr := range writers {
		codec := codecs[wr.codec]
		compressed := 0
		for part := int32(2 * wi); part < int32(2*wi+2); part++ {
			for _, r := range back[tp{topic, part}] {
				switch typ := int8(r.Attrs.CompressionType()); typ {
				case codec.typ:
					compressed++
				case 0: // kwrite sends a batch uncompressed when compressing does not make it smaller
				default:
					t.Fatalf("%s: partition %d offset %d is stored with codec %d", codec.name, part, r.Offset, typ)
				}
			}
		}
		if codec.typ != 0 && compressed == 0 {
			t.Errorf("%s: no record is stored compressed", codec.name)
		}
	}
}

// ackedTotal is the Writer's acknowledged records over every tally.
func ackedTotal(w *kwrite.Writer) int64 {
	var n int64
	for i := range kwrite.Tallies {
		n += w.Acked(uint8(i))
	}
	return n
}

// waitAcked waits until the Writer has n records acknowledged, or fails the test.
func waitAcked(t *testing.T, w *kwrite.Writer, n int64, done <-chan error) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for ackedTotal(w) < n {
		select {
		case err := <-done:
			t.Fatalf("the appender stopped before %d records were acknowledged: %v", n, err)
		case <-deadline:
			t.Fatalf("%d of %d records acknowledged after 2 minutes", ackedTotal(w), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestApacheBrokerKill: a Writer keeps appending while the broker is killed with SIGKILL and
// restarted on the same data dir, twice. Apache Kafka rebuilds the producer's sequence state from its
// log, so the batches the Writer resends (those in flight at the kill, perhaps already appended)
// are deduplicated: every partition holds every record exactly once, in order, and the
// acknowledgement tallies match, without any resume logic.
func TestApacheBrokerKill(t *testing.T) {
	k := testenv.StartKafka(t)
	const topic, parts, n = "kill", 4, 30_000
	createApacheTopic(t, k, topic, parts)
	// Small batches and little buffering: the appender is at most a few batches ahead of the broker,
	// so it is still appending at every kill.
	w := newApacheWriter(t, k, kwrite.Config{BatchBytes: 4000, MaxBuffered: 64 << 10, Timeout: 2 * time.Minute})
	a := newAppender(t, w, topic)
	done := make(chan error, 1)
	now := recentBase()
	go func() {
		rng := rand.New(rand.NewPCG(13, 2))
		for i := range n {
			if err := a.append(topic, int32(i%parts), uint8(i%kwrite.Tallies), randRecord(rng, now)); err != nil {
				done <- fmt.Errorf("append %d: %w", i, err)
				return
			}
			if i%100 == 0 {
				if _, err := w.Linger(); err != nil {
					done <- err
					return
				}
			}
		}
		done <- w.Flush(testCtx(t, 3*time.Minute))
	}()
	for round := 1; round <= 2; round++ {
		waitAcked(t, w, int64(round*n/3), done)
		k.Stop()
		if acked := ackedTotal(w); acked >= n {
			t.Fatalf("round %d: all %d records were acknowledged before the kill", round, acked)
		}
		k.Start()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkExactly(t, readBackWith(t, apacheClient(t, k), topic), a.want)
	a.checkAcked(t, w)
}

// truncateLog cuts partition dir's only log segment after its first keep record batches and removes
// its producer-state snapshots, as a disk that lost unflushed writes would leave it; it returns the
// records the kept batches hold.
func truncateLog(t *testing.T, dir string, keep int) int {
	t.Helper()
	path := filepath.Join(dir, "00000000000000000000.log")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at, records := 0, 0
	for range keep {
		if len(b) < at+61 {
			t.Fatalf("%s holds fewer than %d batches", path, keep)
		}
		records += int(binary.BigEndian.Uint32(b[at+57:]))
		at += 12 + int(binary.BigEndian.Uint32(b[at+8:]))
	}
	if at >= len(b) {
		t.Fatalf("%s holds only %d batches", path, keep)
	}
	if err := os.Truncate(path, int64(at)); err != nil {
		t.Fatal(err)
	}
	snapshots, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	for _, s := range snapshots {
		if err := os.Remove(s); err != nil {
			t.Fatal(err)
		}
	}
	return records
}

// TestApacheLostAcknowledged: the broker loses batches it acknowledged (here its log is cut while it
// is down; in production a disk that lost unflushed writes, an unclean leader election). The Writer
// no longer holds those records, and going on would leave a gap in the partition, so it fails with
// ErrLost and sends nothing more to the partition.
//
// How the broker shows the loss depends on the records' timestamps. With recent ones it rebuilds the
// producer's state from what its log still holds and answers the Writer's next batch with
// OUT_OF_ORDER_SEQUENCE_NUMBER (Kafka's own idempotent producer then fails that batch and bumps its
// epoch to go on, KIP-360). With a replay's event times, older than producer.id.expiration.ms (a day),
// it drops the producer's state as expired when it loads it, accepts any sequence, and appends the
// batch at an offset it had already handed out: the Writer sees that offset go back.
func TestApacheLostAcknowledged(t *testing.T) {
	for _, tc := range []struct {
		name string
		base int64 // record timestamps
		// appended: whether the first batch after the loss is appended (behind the gap)
		appended bool
	}{
		{"recent timestamps", recentBase(), false},
		{"event times of 2023", replayBase, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := testenv.StartKafka(t)
			const topic, before, after = "lost", 100, 10
			createApacheTopic(t, k, topic, 1)
			w := newApacheWriter(t, k, kwrite.Config{BatchBytes: 2000, Timeout: time.Minute})
			a := newAppender(t, w, topic)
			rng := rand.New(rand.NewPCG(13, 3))
			for range before {
				a.mustAppend(t, topic, 0, 0, randRecord(rng, tc.base))
			}
			if err := w.Flush(testCtx(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			k.Stop()
			kept := truncateLog(t, filepath.Join(k.DataDir, "log", topic+"-0"), 2)
			k.Start()
			for range after {
				a.mustAppend(t, topic, 0, 1, randRecord(rng, tc.base))
			}
			err := w.Flush(testCtx(t, 90*time.Second))
			if !errors.Is(err, kwrite.ErrLost) || errors.Is(err, kerr.OutOfOrderSequenceNumber) == tc.appended {
				t.Fatalf("Flush after the broker lost acknowledged batches = %v, want ErrLost (from OUT_OF_ORDER_SEQUENCE_NUMBER: %v)", err, !tc.appended)
			}
			t.Log(err)
			if err := a.append(topic, 0, 1, randRecord(rng, tc.base)); !errors.Is(err, kwrite.ErrLost) {
				t.Fatalf("Append after the failure = %v, want the failure", err)
			}
			// The partition holds what survived, then, if the broker took it, the first batch after
			// the loss, which the Writer counts as acknowledged; nothing more.
			k0 := tp{topic, 0}
			got := readBackWith(t, apacheClient(t, k), topic)[k0]
			extra := int(w.Acked(1))
			if tc.appended != (extra > 0) || extra >= after {
				t.Fatalf("%d records acknowledged after the loss", extra)
			}
			checkPrefix(t, k0, got[:min(len(got), kept)], a.want[k0], kept)
			checkPrefix(t, k0, got[kept:], a.want[k0][before:], extra)
		})
	}
}

// TestApachePartitionsGrow: partitions added to a topic while a Writer appends to it (kadm
// CreatePartitions mid-write) change nothing for the Writer: it keeps the partition count it loaded,
// so a key stays on the partition it was put on for the whole replay. Appending to a new partition is
// an error, even after the broker's restart has made the Writer reload the topic's leaders from
// metadata that lists the new partitions; the new partitions stay empty, and the old ones hold every
// record exactly once.
func TestApachePartitionsGrow(t *testing.T) {
	k := testenv.StartKafka(t)
	const topic, parts, n = "grow", 2, 200
	createApacheTopic(t, k, topic, parts)
	w := newApacheWriter(t, k, kwrite.Config{BatchBytes: 2000, Timeout: 2 * time.Minute})
	a := newAppender(t, w, topic)
	rng := rand.New(rand.NewPCG(13, 4))
	now := recentBase()
	appendSome := func() {
		for i := range n {
			a.mustAppend(t, topic, int32(i%parts), 0, randRecord(rng, now))
		}
	}
	appendSome()
	adm := kadm.NewClient(k.Client(t))
	ctx := testCtx(t, 30*time.Second)
	resp, err := adm.CreatePartitions(ctx, 2, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	appendSome() // into open and queued batches, some sent before the growth, some after
	if err := w.Flush(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	meta, err := adm.ListTopics(ctx, topic)
	if err != nil || len(meta[topic].Partitions) != parts+2 {
		t.Fatalf("after CreatePartitions the topic lists %d partitions (%v), want %d", len(meta[topic].Partitions), err, parts+2)
	}
	k.Shutdown()
	k.Start()
	appendSome() // the first send fails, and the Writer reloads the leaders: the metadata lists 4
	if err := w.Flush(testCtx(t, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	again, err := w.Topic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Partitions(); got != parts {
		t.Errorf("Partitions() = %d after the topic grew, want the %d it was loaded with", got, parts)
	}
	if err := again.Append(parts, 0, &kwrite.Record{Value: []byte("x")}); err == nil || !strings.Contains(err.Error(), "no partition 2") {
		t.Errorf("Append to a partition added after the topic was loaded = %v, want an error naming it", err)
	}
	checkExactly(t, readBackWith(t, apacheClient(t, k), topic), a.want)
	a.checkAcked(t, w)
}

// TestApacheFutureTimestamp: Apache Kafka refuses a batch holding a record timestamp more than the
// topic's message.timestamp.after.max.ms (default an hour) ahead of its clock with INVALID_TIMESTAMP
// (kfake takes any timestamp). The Writer fails on it, naming the partition, with nothing of the batch
// written; on a topic that allows any timestamp the same records go through.
func TestApacheFutureTimestamp(t *testing.T) {
	k := testenv.StartKafka(t)
	createApacheTopic(t, k, "future", 1)
	resp, err := kadm.NewClient(k.Client(t)).CreateTopic(testCtx(t, 30*time.Second), 1, 1,
		map[string]*string{"message.timestamp.after.max.ms": kadm.StringPtr("9223372036854775807")}, "future.allowed")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(2 * time.Hour).UnixMilli()
	for _, tc := range []struct {
		topic string
		want  error
	}{{"future", kerr.InvalidTimestamp}, {"future.allowed", nil}} {
		w := newApacheWriter(t, k, kwrite.Config{})
		a := newAppender(t, w, tc.topic)
		a.mustAppend(t, tc.topic, 0, 0, kwrite.Record{Value: []byte("now"), Timestamp: time.Now().UnixMilli()})
		a.mustAppend(t, tc.topic, 0, 0, kwrite.Record{Value: []byte("in two hours"), Timestamp: future})
		err := w.Flush(testCtx(t, 30*time.Second))
		if !errors.Is(err, tc.want) || (err != nil) != (tc.want != nil) || err != nil && !strings.Contains(err.Error(), tc.topic+"[0]") {
			t.Fatalf("%s: Flush = %v, want %v", tc.topic, err, tc.want)
		}
		got := readBackWith(t, apacheClient(t, k), tc.topic)
		if tc.want != nil {
			if n := len(got[tp{tc.topic, 0}]); n != 0 {
				t.Fatalf("%s holds %d records of the refused batch", tc.topic, n)
			}
			continue
		}
		checkExactly(t, got, a.want)
	}
}

func isRetriableOrIO(err error) bool {
	var ke *kerr.Error
	return !errors.As(err, &ke) || ke.Retriable
}

// TestApacheBrokerForgetsOldProducers shows why the broker's idempotence does not cover a crash when
// record timestamps are old, and so why a Writer looks an unanswered batch up in the log before
// resending it (TestApacheResendAfterRestart). A batch is appended, the broker is killed and
// restarted, and the same batch (same producer ID, epoch and sequence: a resend whose first answer was
// lost in the crash) is sent again. With recent timestamps the restarted broker knows the producer
// from its log and answers with the first copy's offset, appending nothing. With event times of 2023
// it drops the producer's state as expired when it loads it (producer.id.expiration.ms, a day, counts
// from the records' timestamps, and cannot be set above 24.8 days), takes the batch as new, and
// appends it again.
func TestApacheBrokerForgetsOldProducers(t *testing.T) {
	k := testenv.StartKafka(t)
	cl := k.Client(t)
	ctx := testCtx(t, 2*time.Minute)
	topics := map[string]int64{"recent": recentBase(), "old": replayBase}
	for topic := range topics {
		createApacheTopic(t, k, topic, 1)
	}
	details, err := kadm.NewClient(cl).ListTopics(ctx, "recent", "old")
	if err != nil {
		t.Fatal(err)
	}
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionTimeoutMillis = 60_000
	ir, err := init.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(ir.ErrorCode)
	}
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	batches := map[string][]byte{}
	for topic, base := range topics {
		recs := make([]kwrite.Record, n)
		for i := range recs {
			recs[i] = kwrite.Record{Key: []byte("k"), Value: []byte(fmt.Sprint(i)), Timestamp: base + int64(i)}
		}
		batches[topic] = kwrite.EncodeBatch(t, ir.ProducerID, ir.ProducerEpoch, recs)
	}
	produce := func(topic string) int64 {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 30_000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = topic, details[topic].ID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batches[topic]
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		for {
			// A topic created a moment ago may not be in the broker's metadata yet (UNKNOWN_TOPIC_ID),
			// and the connection to the killed broker ends in EOF: both are retried.
			resp, err := cl.Broker(1).Request(ctx, req) // node.id=1 (scripts/apache-kafka.sh)
			if err == nil {
				p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
				if err = kerr.ErrorForCode(p.ErrorCode); err == nil {
					return p.BaseOffset
				}
			}
			if !isRetriableOrIO(err) || ctx.Err() != nil {
				t.Fatalf("produce to %s: %v", topic, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for topic := range topics {
		if off := produce(topic); off != 0 {
			t.Fatalf("%s: the first copy was appended at offset %d", topic, off)
		}
	}
	k.Stop()
	k.Start()
	for topic, want := range map[string]int64{"recent": 0, "old": n} {
		if off := produce(topic); off != want {
			t.Errorf("%s: after the restart the resent batch is at offset %d, want %d", topic, off, want)
		}
	}
}

// dropAnswer dials the broker for a client and, once armed, loses the first answer to a produce
// request: the broker has appended the batch (acks from all replicas: it answers only after), but the
// client sees its connection close instead.
type dropAnswer struct {
	armed   atomic.Bool
	dropped chan struct{} // receives when an answer was dropped
}

func (d *dropAnswer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	return &dropConn{Conn: c, d: d}, nil
}

type dropConn struct {
	net.Conn
	d       *dropAnswer
	produce atomic.Bool // a produce request was written (franz-go writes each request in one Write)
}

func (c *dropConn) Write(b []byte) (int, error) {
	if len(b) >= 6 && binary.BigEndian.Uint16(b[4:]) == uint16(kmsg.Produce) {
		c.produce.Store(true)
	}
	return c.Conn.Write(b)
}

func (c *dropConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.produce.Load() && c.d.armed.CompareAndSwap(true, false) {
		c.Conn.Close()
		c.d.dropped <- struct{}{}
		return 0, errors.New("test: connection lost before the answer")
	}
	return n, err
}

// TestApacheResendAfterRestart: a Writer's produce answer is lost (its connection closes once the
// broker has appended the batch), and the broker is then killed with SIGKILL, or stopped with SIGTERM,
// and restarted on the same data dir, while the Writer retries. The records carry event times of
// 2023, so the restarted broker has forgotten the producer (TestApacheBrokerForgetsOldProducers) and
// would append a resent batch a second time; the Writer finds the batch in the log instead and goes
// on. It happens twice per topic: for the Writer's first batch (looked up from the end offset the
// topic had when the Writer loaded it, after another producer's records) and after acknowledged ones.
// Every record is in the topic exactly once, in order, and the tallies match.
func TestApacheResendAfterRestart(t *testing.T) {
	k := testenv.StartKafka(t)
	for _, mode := range []struct {
		name string
		stop func()
	}{{"kill -9", k.Stop}, {"SIGTERM", k.Shutdown}} {
		t.Run(mode.name, func(t *testing.T) {
			topic := "resend." + strings.ReplaceAll(mode.name, " ", "")
			k0 := tp{topic, 0}
			createApacheTopic(t, k, topic, 1)
			rng := rand.New(rand.NewPCG(13, 5))
			// Another producer's records come first.
			other := newApacheWriter(t, k, kwrite.Config{})
			ao := newAppender(t, other, topic)
			for range 3 {
				ao.mustAppend(t, topic, 0, 0, randRecord(rng, replayBase))
			}
			if err := other.Flush(testCtx(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}

			d := &dropAnswer{dropped: make(chan struct{}, 1)}
			w, err := kwrite.New(testCtx(t, 30*time.Second), kwrite.Config{
				Client: k.Client(t, kgo.Dialer(d.dial)), BatchBytes: 2000, Timeout: 2 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Close)
			a := newAppender(t, w, topic)
			a.want[k0] = slices.Clone(ao.want[k0])
			for round := range 2 {
				d.armed.Store(true)
				for range 20 {
					a.mustAppend(t, topic, 0, uint8(round), randRecord(rng, replayBase))
				}
				done := make(chan error, 1)
				go func() { done <- w.Flush(testCtx(t, 3*time.Minute)) }()
				select {
				case <-d.dropped:
				case err := <-done:
					t.Fatalf("round %d: Flush returned %v before an answer was dropped", round, err)
				case <-time.After(time.Minute):
					t.Fatalf("round %d: no produce answer to drop after a minute", round)
				}
				mode.stop()
				k.Start()
				if err := <-done; err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			checkExactly(t, readBackWith(t, apacheClient(t, k), topic), a.want)
			a.checkAcked(t, w)
		})
	}
}
