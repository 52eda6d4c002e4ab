package kwrite_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/notestream/notestream/internal/kwrite"
	"github.com/notestream/notestream/internal/testenv"
)

// These tests run a Writer against in-process kfake clusters and read what reached the partitions back
// with a separate franz-go consumer. Faults are injected with kfake's produce controls and faults;
// tests wait on channels fed by those controls, never on sleeps.

var codecs = []struct {
	name  string
	codec kgo.CompressionCodec
	typ   int8 // the attributes' compression bits
}{
	{"none", kgo.NoCompression(), 0},
	{"snappy", kgo.SnappyCompression(), 2},
	{"lz4", kgo.Lz4Compression(), 3},
	{"zstd", kgo.ZstdCompression(), 4},
	{"gzip", kgo.GzipCompression(), 1},
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newClient(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t *testing.T, c *kfake.Cluster, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := kadm.NewClient(newClient(t, c)).CreateTopic(testCtx(t, 10*time.Second), partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// newWriter starts a Writer on its own client; t.Cleanup closes it before the client and cluster.
func newWriter(t *testing.T, c *kfake.Cluster, cfg kwrite.Config) *kwrite.Writer {
	t.Helper()
	cfg.Client = newClient(t, c)
	w, err := kwrite.New(testCtx(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

type tp struct {
	topic string
	part  int32
}

func (k tp) String() string { return fmt.Sprintf("%s[%d]", k.topic, k.part) }

// appender appends through a Writer and remembers what it appended where, and in which tally. It
// appends through one reused Record whose buffers it scribbles over after each Append, as the producer
// does, so a Writer that kept a reference would send garbage.
type appender struct {
	t       *testing.T
	n       int // Append calls
	topics  map[string]*kwrite.Topic
	want    map[tp][]kwrite.Record
	tallies [kwrite.Tallies]int64
	scratch kwrite.Record
}

func newAppender(t *testing.T, w *kwrite.Writer, topics ...string) *appender {
	t.Helper()
	a := &appender{t: t, topics: map[string]*kwrite.Topic{}, want: map[tp][]kwrite.Record{}}
	for _, name := range topics {
		top, err := w.Topic(testCtx(t, 10*time.Second), name)
		if err != nil {
			t.Fatal(err)
		}
		a.topics[name] = top
	}
	return a
}

func reuse(dst, src []byte) []byte {
	if src == nil {
		return nil
	}
	if dst == nil {
		dst = make([]byte, 0, 64)
	}
	return append(dst[:0], src...)
}

func (a *appender) append(topic string, part int32, tally uint8, r kwrite.Record) error {
	s := &a.scratch
	s.Key, s.Value, s.Timestamp = reuse(s.Key, r.Key), reuse(s.Value, r.Value), r.Timestamp
	s.Headers = append(s.Headers[:0], r.Headers...)
	s.AppendValue = nil
	var returned, calledAfter bool
	if a.n++; s.Value != nil && a.n%2 == 0 {
		// Every other value is encoded by AppendValue straight into the batch, as the producer's events are.
		kwrite.SetAppendValue(a.t, s, s.Value, &returned, &calledAfter)
		s.Value = nil
	}
	err := a.topics[topic].Append(part, tally, s)
	returned = true
	if calledAfter {
		a.t.Error("AppendValue was called after Append returned") // Error: appenders run on other goroutines too
	}
	for _, b := range [][]byte{s.Key, s.Value} {
		for i := range b {
			b[i] = '#'
		}
	}
	for i := range s.Headers {
		s.Headers[i] = kwrite.Header{Key: "scribbled", Value: []byte("scribbled")}
	}
	if err == nil {
		k := tp{topic, part}
		a.want[k] = append(a.want[k], r)
		a.tallies[tally]++
	}
	return err
}

func (a *appender) mustAppend(t *testing.T, topic string, part int32, tally uint8, r kwrite.Record) {
	t.Helper()
	if err := a.append(topic, part, tally, r); err != nil {
		t.Fatalf("append to %s[%d]: %v", topic, part, err)
	}
}

// checkAcked compares the Writer's acknowledgement counts with what was appended.
func (a *appender) checkAcked(t *testing.T, w *kwrite.Writer) {
	t.Helper()
	for i, want := range a.tallies {
		if got := w.Acked(uint8(i)); got != want {
			t.Errorf("Acked(%d) = %d, appended %d", i, got, want)
		}
	}
}

// randRecord is a record with a nil, empty or random key and value, headers with nil, empty and random
// values, and a timestamp around base, often older than base.
func randRecord(rng *rand.Rand, base int64) kwrite.Record {
	r := kwrite.Record{Key: kwrite.RandBytes(rng, 30), Value: kwrite.RandBytes(rng, 400),
		Timestamp: base + rng.Int64N(20_000_000) - 10_000_000}
	for range rng.IntN(4) {
		r.Headers = append(r.Headers, kwrite.Header{Key: string(kwrite.RandBytes(rng, 8)), Value: kwrite.RandBytes(rng, 16)})
	}
	return r
}

// readBack reads every record of the topics' partitions, up to the end offsets listed when it starts,
// with a separate consumer client, and checks offsets are 0, 1, 2, ...
func readBack(t *testing.T, c *kfake.Cluster, topics ...string) map[tp][]*kgo.Record {
	t.Helper()
	return readBackWith(t, func(opts ...kgo.Opt) *kgo.Client { return newClient(t, c, opts...) }, topics...)
}

// readBackWith is readBack with clients made by client, for a broker other than kfake.
func readBackWith(t *testing.T, client func(...kgo.Opt) *kgo.Client, topics ...string) map[tp][]*kgo.Record {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	ends, err := kadm.NewClient(client()).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	got := map[tp][]*kgo.Record{}
	parts := map[string]map[int32]kgo.Offset{}
	left := map[tp]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s[%d]: %v", o.Topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			if parts[o.Topic] == nil {
				parts[o.Topic] = map[int32]kgo.Offset{}
			}
			parts[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
			left[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	if len(left) == 0 {
		return got
	}
	cons := client(kgo.ConsumePartitions(parts), kgo.FetchMaxWait(200*time.Millisecond))
	for len(left) > 0 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading back: %v; still to read: %v", ctx.Err(), left)
		}
		fs.EachError(func(topic string, part int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, part, err) })
		fs.EachRecord(func(r *kgo.Record) {
			k := tp{r.Topic, r.Partition}
			if r.Offset != int64(len(got[k])) {
				t.Fatalf("%v: offset %d after %d records", k, r.Offset, len(got[k]))
			}
			got[k] = append(got[k], r)
			if end, ok := left[k]; ok && r.Offset+1 >= end {
				delete(left, k)
			}
		})
	}
	return got
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func showBytes(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) > 12 {
		return fmt.Sprintf("%q...(%d bytes)", b[:12], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// diffRecord describes how got differs from want, or returns "".
func diffRecord(got *kgo.Record, want kwrite.Record) string {
	var d []string
	if !sameBytes(got.Key, want.Key) {
		d = append(d, fmt.Sprintf("key %s, want %s", showBytes(got.Key), showBytes(want.Key)))
	}
	if !sameBytes(got.Value, want.Value) {
		d = append(d, fmt.Sprintf("value %s, want %s", showBytes(got.Value), showBytes(want.Value)))
	}
	if ms := got.Timestamp.UnixMilli(); ms != want.Timestamp {
		d = append(d, fmt.Sprintf("timestamp %d, want %d", ms, want.Timestamp))
	}
	if len(got.Headers) != len(want.Headers) {
		d = append(d, fmt.Sprintf("%d headers, want %d", len(got.Headers), len(want.Headers)))
	} else {
		for i, h := range got.Headers {
			if h.Key != want.Headers[i].Key || !sameBytes(h.Value, want.Headers[i].Value) {
				d = append(d, fmt.Sprintf("header %d %q=%s, want %q=%s", i, h.Key, showBytes(h.Value), want.Headers[i].Key, showBytes(want.Headers[i].Value)))
			}
		}
	}
	return strings.Join(d, "; ")
}

// checkPrefix checks that partition k holds, in order, exactly the first n records appended to it.
func checkPrefix(t *testing.T, k tp, got []*kgo.Record, want []kwrite.Record, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%v holds %d records, want %d (of %d appended)", k, len(got), n, len(want))
	}
	for i := range n {
		if d := diffRecord(got[i], want[i]); d != "" {
			t.Fatalf("%v record %d (offset %d): %s", k, i, got[i].Offset, d)
		}
	}
}

// checkExactly checks that every partition holds exactly what was appended to it, in order, once.
func checkExactly(t *testing.T, got map[tp][]*kgo.Record, want map[tp][]kwrite.Record) {
	t.Helper()
	for k, recs := range got {
		if _, ok := want[k]; !ok {
			t.Fatalf("%v holds %d records, none appended", k, len(recs))
		}
	}
	for k, w := range want {
		checkPrefix(t, k, got[k], w, len(w))
	}
}

// errorResponse answers every partition of req with code, without the broker applying anything.
func errorResponse(req *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// sentBatch is one partition's batch in a produce request, as a control saw it.
type sentBatch struct {
	node     int32
	topicID  [16]byte
	topic    string
	part     int32
	baseSeq  int32
	count    int32
	producer int64
	codec    int8 // compression bits of the attributes
}

func batchesOf(node int32, req *kmsg.ProduceRequest) []sentBatch {
	var out []sentBatch
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			b := sentBatch{node: node, topicID: rt.TopicID, topic: rt.Topic, part: rp.Partition, baseSeq: -1, count: -1}
			if r := rp.Records; len(r) >= 61 {
				b.producer = int64(binary.BigEndian.Uint64(r[43:]))
				b.baseSeq = int32(binary.BigEndian.Uint32(r[53:]))
				b.count = int32(binary.BigEndian.Uint32(r[57:]))
				b.codec = int8(r[22] & 7)
			}
			out = append(out, b)
		}
	}
	return out
}

// observe installs a produce control that lets kfake handle every request and sends what each carried
// on the returned channel (which must be drained or large enough: the control must not block).
func observe(c *kfake.Cluster, buffer int) <-chan []sentBatch {
	ch := make(chan []sentBatch, buffer)
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case ch <- batchesOf(c.CurrentNode(), kreq.(*kmsg.ProduceRequest)):
		default:
		}
		return nil, nil, false
	})
	return ch
}

// TestRoundTrip: with every codec, thousands of records in many small batches to several topics and
// partitions on three brokers come back exactly: null and empty keys and values, headers in order with
// null and empty values, timestamps older than their batch's first, a record bigger than BatchBytes,
// order within each partition, and the acknowledgement tallies.
func TestRoundTrip(t *testing.T) {
	for ci, codec := range codecs {
		t.Run(codec.name, func(t *testing.T) {
			c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(4, "alpha", "beta"))
			createTopic(t, c, "gamma", 1, nil)
			w := newWriter(t, c, kwrite.Config{Compression: codec.codec, BatchBytes: 3000, MaxBuffered: 64 << 10, Timeout: 10 * time.Second})
			a := newAppender(t, w, "alpha", "beta", "gamma")
			sent := observe(c, 100_000)
			rng := rand.New(rand.NewPCG(uint64(ci), 7))
			base := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).UnixMilli()
			edge := []kwrite.Record{
				{Timestamp: base}, // null key, null value
				{Key: []byte{}, Value: []byte{}, Timestamp: base - 86_400_000},   // empty, a day older than the batch's first
				{Key: []byte("k"), Value: make([]byte, 40_000), Timestamp: base}, // alone bigger than BatchBytes
				{Value: []byte("v"), Timestamp: base - 1, Headers: []kwrite.Header{{Key: "a"}, {Key: "", Value: []byte{}}, {Key: "a", Value: []byte("second a")}}},
			}
			names := []string{"alpha", "beta", "gamma"}
			for i := range 2500 {
				name := names[rng.IntN(len(names))]
				part := int32(rng.IntN(int(a.topics[name].Partitions())))
				r := randRecord(rng, base)
				if i%500 == 0 {
					r = edge[i/500%len(edge)]
				}
				a.mustAppend(t, name, part, uint8(rng.IntN(kwrite.Tallies)), r)
			}
			if err := w.Flush(testCtx(t, 20*time.Second)); err != nil {
				t.Fatal(err)
			}
			a.checkAcked(t, w)
			checkExactly(t, readBack(t, c, names...), a.want)
			// A third of the values are runs of "xy": most batches compress. Without faults, each
			// partition's batches were sent once each, numbered on from sequence 0, by one producer.
			var compressed, batches int
			next := map[tp]int32{}
			producer := int64(-1)
			for len(sent) > 0 {
				for _, b := range <-sent {
					batches++
					if b.producer < 0 || producer >= 0 && b.producer != producer {
						t.Fatalf("batch of producer ID %d, earlier ones %d", b.producer, producer)
					}
					producer = b.producer
					k := tp{b.topic, b.part}
					if b.topic == "" { // produce v13 names topics by ID only
						k.topic = fmt.Sprintf("%x", b.topicID)
					}
					if b.baseSeq != next[k] {
						t.Fatalf("%v: batch at sequence %d after %d records", k, b.baseSeq, next[k])
					}
					next[k] += b.count
					if b.codec != 0 {
						compressed++
						if b.codec != codec.typ {
							t.Fatalf("a batch went out with codec %d", b.codec)
						}
					}
				}
			}
			if codec.typ == 0 && compressed > 0 || codec.typ > 0 && compressed < batches/2 {
				t.Fatalf("%d of %d batches compressed with %s", compressed, batches, codec.name)
			}
		})
	}
}

// TestRetriableErrors: the first produce requests are answered NOT_LEADER_FOR_PARTITION or
// REQUEST_TIMED_OUT without being applied; the Writer does not find their batches in the log, so
// every one is resent, and everything arrives once, in order.
func TestRetriableErrors(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	w := newWriter(t, c, kwrite.Config{BatchBytes: 1000, MaxBuffered: 16 << 10, Timeout: 10 * time.Second})
	a := newAppender(t, w, "t")
	sent := observe(c, 10_000) // sees every request before the failing control
	const failing = 5
	var failed atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		n := failed.Add(1)
		if n > failing {
			c.DropControl()
			return nil, nil, false
		}
		c.KeepControl()
		code := kerr.NotLeaderForPartition.Code
		if n%2 == 0 {
			code = kerr.RequestTimedOut.Code
		}
		return errorResponse(kreq.(*kmsg.ProduceRequest), code), nil, true
	})
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 1500 {
		a.mustAppend(t, "t", int32(i%3), uint8(i%2), randRecord(rng, 1e12))
	}
	if err := w.Flush(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := failed.Load(); n <= failing {
		t.Fatalf("only %d produce requests; the control failed %d", n, failing)
	}
	var reqs [][]sentBatch
	for len(sent) > 0 {
		reqs = append(reqs, <-sent)
	}
	checkResent(t, reqs[:failing], reqs[failing:], true)
	a.checkAcked(t, w)
	checkExactly(t, readBack(t, c, "t"), a.want)
}

// TestAppliedThenTimedOut: kfake applies the batches of the first produce requests but answers
// REQUEST_TIMED_OUT, as a broker whose replication timed out does. The Writer looks each such batch up
// in its partition's log before resending it, finds it there, and goes on without sending it again
// (a broker that forgot the producer would append a resent copy twice): everything is there exactly
// once.
func TestAppliedThenTimedOut(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	w := newWriter(t, c, kwrite.Config{BatchBytes: 1000, MaxBuffered: 16 << 10, Timeout: 10 * time.Second})
	a := newAppender(t, w, "t")
	sent := observe(c, 10_000)
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Err: kerr.RequestTimedOut, Count: 4})
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range 1000 {
		a.mustAppend(t, "t", int32(i%2), 0, randRecord(rng, 1e12))
	}
	if err := w.Flush(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if fault.Hits() != 4 {
		t.Fatalf("the fault answered %d requests, want 4", fault.Hits())
	}
	// The first 4 requests were answered with the error: each of their batches was sent again.
	var reqs [][]sentBatch
	for len(sent) > 0 {
		reqs = append(reqs, <-sent)
	}
	checkResent(t, reqs[:4], reqs[4:], false)
	a.checkAcked(t, w)
	checkExactly(t, readBack(t, c, "t"), a.want)
}

// checkResent checks that every batch in failed was sent again in a later request (again), or that
// none was (!again: the Writer found them in the log).
func checkResent(t *testing.T, failed, later [][]sentBatch, again bool) {
	t.Helper()
	type key struct {
		part         int32
		seq, records int32
	}
	resent := map[key]bool{}
	for _, req := range later {
		for _, b := range req {
			resent[key{b.part, b.baseSeq, b.count}] = true
		}
	}
	for _, req := range failed {
		for _, b := range req {
			if resent[key{b.part, b.baseSeq, b.count}] != again {
				t.Fatalf("partition %d's batch of %d records at sequence %d: sent again %v, want %v", b.part, b.count, b.baseSeq, !again, again)
			}
		}
	}
}

// TestResponseLost: kfake applies a produce request, then closes the connection instead of answering.
// The Writer finds the unanswered batches in the log and does not send them again; everything is
// there exactly once. The request is applied by forwarding it, while the control sleeps, to the same
// broker through another client; the control then closes the Writer's connection.
func TestResponseLost(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	side := newClient(t, c)
	w := newWriter(t, c, kwrite.Config{BatchBytes: 1000, MaxBuffered: 16 << 10, Timeout: 10 * time.Second})
	a := newAppender(t, w, "t")

	var (
		forwarding atomic.Bool
		requests   atomic.Int32
		lost       = make(chan []sentBatch, 10) // the batches whose answer was lost
		fwdErr     = make(chan error, 10)
		mu         sync.Mutex
		all        [][]sentBatch // every request from the Writer
	)
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		if forwarding.Load() {
			return nil, nil, false // the forwarded copy: kfake applies it
		}
		mu.Lock()
		all = append(all, batchesOf(c.CurrentNode(), kreq.(*kmsg.ProduceRequest)))
		mu.Unlock()
		n := requests.Add(1)
		if n != 2 && n != 5 && n != 6 {
			c.KeepControl()
			return nil, nil, false
		}
		c.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		node := c.CurrentNode()
		forwarding.Store(true)
		c.SleepControl(func() {
			resp, err := side.Broker(int(node)).Request(context.Background(), req)
			if err == nil {
				for _, rt := range resp.(*kmsg.ProduceResponse).Topics {
					for _, rp := range rt.Partitions {
						if err == nil {
							err = kerr.ErrorForCode(rp.ErrorCode)
						}
					}
				}
			}
			fwdErr <- err
		})
		forwarding.Store(false)
		lost <- batchesOf(node, req)
		return nil, errors.New("test: connection closed before the answer"), true
	})
	rng := rand.New(rand.NewPCG(3, 3))
	for range 1500 {
		a.mustAppend(t, "t", int32(rng.IntN(3)), 0, randRecord(rng, 1e12))
	}
	if err := w.Flush(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(lost) != 3 {
		t.Fatalf("%d answers lost, want 3 (%d produce requests)", len(lost), requests.Load())
	}
	for range 3 {
		if err := <-fwdErr; err != nil {
			t.Fatalf("the forwarded request failed, so nothing was applied before the connection closed: %v", err)
		}
	}
	mu.Lock()
	checkResent(t, [][]sentBatch{all[1]}, all[2:], false)
	checkResent(t, [][]sentBatch{all[4]}, all[5:], false)
	checkResent(t, [][]sentBatch{all[5]}, all[6:], false)
	mu.Unlock()
	a.checkAcked(t, w)
	checkExactly(t, readBack(t, c, "t"), a.want)
}

// TestNonRetriableError: kfake rejects one batch of partition 1 with INVALID_RECORD. Flush and later
// Appends fail with an error naming the topic and partition; partition 1 holds exactly the records
// before the rejected batch and nothing after it; the other partitions hold prefixes of what was
// appended to them; the tallies count exactly what the partitions hold.
func TestNonRetriableError(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "events"))
	w := newWriter(t, c, kwrite.Config{BatchBytes: 1000, MaxBuffered: 8 << 10, Timeout: 10 * time.Second})
	a := newAppender(t, w, "events")
	const failAt = 100 // the first batch of partition 1 at or past this sequence number is rejected
	var rejected atomic.Int32
	rejected.Store(-1)
	c.Fault(kfake.Fault{
		Keys: []kmsg.Key{kmsg.Produce}, Topic: "events", Partitions: []int32{1}, Err: kerr.InvalidRecord,
		When: func(kreq kmsg.Request) bool {
			for _, b := range batchesOf(-1, kreq.(*kmsg.ProduceRequest)) {
				if b.part == 1 && b.baseSeq >= failAt {
					rejected.CompareAndSwap(-1, b.baseSeq)
					return true
				}
			}
			return false
		},
	})
	rng := rand.New(rand.NewPCG(4, 4))
	var appendErr error
	for i := range 3000 {
		if appendErr = a.append("events", int32(i%3), uint8(i%3), randRecord(rng, 1e12)); appendErr != nil {
			break
		}
	}
	err := w.Flush(testCtx(t, 20*time.Second))
	if err == nil {
		t.Fatal("Flush succeeded after a batch was rejected")
	}
	if !errors.Is(err, kerr.InvalidRecord) || !strings.Contains(err.Error(), "events[1]") {
		t.Fatalf("Flush: %v; want INVALID_RECORD naming events[1]", err)
	}
	if appendErr != nil && appendErr.Error() != err.Error() {
		t.Fatalf("Append failed with %v, Flush with %v", appendErr, err)
	}
	if err := a.append("events", 0, 0, kwrite.Record{Value: []byte("late")}); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("Append after the failure: %v, want the failure", err)
	}
	w.Close() // no goroutine is left to send anything
	failed := int(rejected.Load())
	if failed < failAt {
		t.Fatalf("no batch was rejected (%d)", failed)
	}
	got := readBack(t, c, "events")
	checkPrefix(t, tp{"events", 1}, got[tp{"events", 1}], a.want[tp{"events", 1}], failed)
	var held int64
	for p := range int32(3) {
		k := tp{"events", p}
		checkPrefix(t, k, got[k], a.want[k], len(got[k]))
		held += int64(len(got[k]))
	}
	var acked int64
	for i := range uint8(kwrite.Tallies) {
		acked += w.Acked(i)
	}
	if acked != held {
		t.Fatalf("%d records acknowledged, the partitions hold %d", acked, held)
	}
}

// TestMessageTooLarge: a record bigger than the topic's max.message.bytes fails the Writer with
// MESSAGE_TOO_LARGE naming the partition; the records before it are there, none after it.
func TestMessageTooLarge(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1))
	limit := "5000"
	createTopic(t, c, "small", 2, map[string]*string{"max.message.bytes": &limit})
	w := newWriter(t, c, kwrite.Config{BatchBytes: 1000, Timeout: 10 * time.Second})
	a := newAppender(t, w, "small")
	rng := rand.New(rand.NewPCG(5, 5))
	for range 30 {
		a.mustAppend(t, "small", 0, 1, kwrite.Record{Value: []byte("before"), Timestamp: 1})
	}
	huge := make([]byte, 20_000)
	for i := range huge {
		huge[i] = byte(rng.Uint32())
	}
	a.mustAppend(t, "small", 0, 2, kwrite.Record{Value: huge, Timestamp: 2})
	for range 30 {
		_ = a.append("small", 0, 3, kwrite.Record{Value: []byte("after"), Timestamp: 3})
	}
	err := w.Flush(testCtx(t, 20*time.Second))
	if !errors.Is(err, kerr.MessageTooLarge) || !strings.Contains(err.Error(), "small[0]") {
		t.Fatalf("Flush: %v; want MESSAGE_TOO_LARGE naming small[0]", err)
	}
	w.Close()
	k := tp{"small", 0}
	checkPrefix(t, k, readBack(t, c, "small")[k], a.want[k], 30)
	if w.Acked(1) != 30 || w.Acked(2) != 0 || w.Acked(3) != 0 {
		t.Fatalf("acked %d, %d, %d; want 30, 0, 0", w.Acked(1), w.Acked(2), w.Acked(3))
	}
}

// TestTimeout: a broker that never answers produce requests fails Flush with ErrTimeout after about
// Config.Timeout, and Append fails with it afterwards.
func TestTimeout(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	const timeout = 1500 * time.Millisecond
	w := newWriter(t, c, kwrite.Config{Timeout: timeout})
	a := newAppender(t, w, "t")
	var swallowed atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		swallowed.Add(1)
		return nil, nil, true // no answer
	})
	for i := range 10 {
		a.mustAppend(t, "t", int32(i%2), 0, kwrite.Record{Value: []byte("v"), Timestamp: 1})
	}
	start := time.Now()
	err := w.Flush(testCtx(t, 30*time.Second))
	took := time.Since(start)
	if !errors.Is(err, kwrite.ErrTimeout) {
		t.Fatalf("Flush: %v, want ErrTimeout", err)
	}
	t.Logf("Flush failed after %v (Timeout %v, %d requests swallowed): %v", took, timeout, swallowed.Load(), err)
	if took < timeout-50*time.Millisecond || took > timeout*5/3 {
		t.Errorf("Flush failed after %v; Timeout is %v", took, timeout)
	}
	if err := a.append("t", 0, 0, kwrite.Record{}); !errors.Is(err, kwrite.ErrTimeout) {
		t.Fatalf("Append after the timeout: %v", err)
	}
	if w.Acked(0) != 0 {
		t.Fatalf("acked %d", w.Acked(0))
	}
}

// TestLeaderMoves: on a 3-broker cluster, every partition's leader moves to another broker three times
// while the Writer produces; everything arrives exactly once, in order.
func TestLeaderMoves(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "t"))
	w := newWriter(t, c, kwrite.Config{BatchBytes: 1000, MaxBuffered: 6 << 10, Timeout: 10 * time.Second})
	a := newAppender(t, w, "t")
	var (
		requests atomic.Int32
		moves    = make(chan error, 10)
	)
	initial := make([]int32, 6)
	for p := range int32(6) {
		initial[p] = c.LeaderFor("t", p)
	}
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		shift := int32(0)
		switch requests.Add(1) {
		case 5, 15:
			shift = 1
		case 30:
			shift = 2 // 1+1+2: no partition ends on the leader it started with
		}
		if shift > 0 {
			var err error
			for p := range int32(6) {
				err = errors.Join(err, c.MoveTopicPartition("t", p, (c.LeaderFor("t", p)+shift)%3))
			}
			moves <- err
		}
		return nil, nil, false
	})
	rng := rand.New(rand.NewPCG(6, 6))
	for i := range 3000 {
		a.mustAppend(t, "t", int32(rng.IntN(6)), uint8(i%5), randRecord(rng, 1e12))
	}
	if err := w.Flush(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(moves) != 3 {
		t.Fatalf("leaders moved %d times in %d produce requests, want 3", len(moves), requests.Load())
	}
	for range 3 {
		if err := <-moves; err != nil {
			t.Fatal(err)
		}
	}
	for p := range int32(6) {
		if l := c.LeaderFor("t", p); l == initial[p] {
			t.Fatalf("partition %d is led by broker %d again; the test means to move it away", p, l)
		}
	}
	a.checkAcked(t, w)
	checkExactly(t, readBack(t, c, "t"), a.want)
}

// holdFirstProduce holds the first produce request in kfake, unanswered, until release is called (also
// at cleanup); held receives when it is held. kfake then handles it normally.
func holdFirstProduce(t *testing.T, c *kfake.Cluster) (held <-chan struct{}, release func()) {
	h := make(chan struct{}, 1)
	rel := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(rel) }) }
	t.Cleanup(release)
	var first atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if first.CompareAndSwap(false, true) {
			h <- struct{}{}
			c.SleepControl(func() { <-rel })
		}
		return nil, nil, false
	})
	return h, release
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// appendInBackground appends n records of 150 bytes to t[0] on another goroutine (the appending
// goroutine), reporting each Append that returned on appended, then calls Flush and reports its error,
// or the first Append error, on done.
func appendInBackground(t *testing.T, w *kwrite.Writer, a *appender, n int) (appended <-chan int, done <-chan error) {
	ap := make(chan int, n)
	d := make(chan error, 1)
	go func() {
		for i := range n {
			r := kwrite.Record{Key: []byte(fmt.Sprint(i)), Value: bytes.Repeat([]byte{byte('a' + i)}, 150), Timestamp: int64(i)}
			if err := a.append("t", 0, 0, r); err != nil {
				d <- fmt.Errorf("append %d: %w", i, err)
				return
			}
			ap <- i
		}
		d <- w.Flush(context.Background())
	}()
	return ap, d
}

// TestBackpressure: with MaxBuffered 1 and one record a batch, the first batch is sent and held
// unanswered by kfake; the next Append seals a second batch and must block until the first is
// acknowledged. With the default MaxBuffered, every Append returns while the first batch is held.
func TestBackpressure(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxBuffered int
	}{{"MaxBuffered=1", 1}, {"default", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
			w := newWriter(t, c, kwrite.Config{BatchBytes: 100, MaxBuffered: tc.maxBuffered, Timeout: 20 * time.Second})
			a := newAppender(t, w, "t")
			held, release := holdFirstProduce(t, c)
			const n = 10
			appended, done := appendInBackground(t, w, a, n)
			wait(t, held, "the first produce request")
			// Append 0 opens the first batch; Append 1 seals it (nothing buffered yet) and opens the second.
			wait(t, appended, "Append 0")
			wait(t, appended, "Append 1")
			if tc.maxBuffered == 1 {
				// Append 2 must seal the second batch, which does not fit while the first is unacknowledged.
				// Waiting can only miss a bug, never invent one: nothing can acknowledge the held batch.
				select {
				case i := <-appended:
					t.Fatalf("Append %d returned while the first batch was unacknowledged and MaxBuffered is 1", i)
				case err := <-done:
					t.Fatalf("the appender ended while the first batch was unacknowledged: %v", err)
				case <-time.After(300 * time.Millisecond):
				}
			} else {
				for i := 2; i < n; i++ {
					wait(t, appended, fmt.Sprintf("Append %d while the first batch is held", i))
				}
			}
			if got := w.Acked(0); got != 0 {
				t.Fatalf("%d acknowledged while the first request is held", got)
			}
			release()
			if err := wait(t, done, "Flush"); err != nil {
				t.Fatal(err)
			}
			a.checkAcked(t, w)
			checkExactly(t, readBack(t, c, "t"), a.want)
		})
	}
}

// TestCloseUnblocks: Close wakes an Append blocked on MaxBuffered and a Flush waiting for
// acknowledgements; both return an error; Close can be called again, concurrently, and everything
// after it fails instead of blocking.
func TestCloseUnblocks(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxBuffered int
	}{{"Append", 1}, {"Flush", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
			w := newWriter(t, c, kwrite.Config{BatchBytes: 100, MaxBuffered: tc.maxBuffered, Timeout: 20 * time.Second})
			a := newAppender(t, w, "t")
			held, _ := holdFirstProduce(t, c)
			const n = 10
			appended, done := appendInBackground(t, w, a, n)
			wait(t, held, "the first produce request")
			blockedAt := 2 // Append 2 blocks with MaxBuffered 1
			if tc.maxBuffered == 0 {
				blockedAt = n // every Append returns; Flush waits for the held request
			}
			for i := range blockedAt {
				wait(t, appended, fmt.Sprintf("Append %d", i))
			}
			if tc.maxBuffered == 1 { // let Append 2 block (TestBackpressure proves it does)
				select {
				case i := <-appended:
					t.Fatalf("Append %d returned while the first batch was unacknowledged", i)
				case <-time.After(100 * time.Millisecond):
				}
			}
			closed := make(chan struct{})
			go func() { w.Close(); close(closed) }()
			w.Close()
			wait(t, closed, "the concurrent Close")
			err := wait(t, done, "the blocked "+tc.name)
			if err == nil || !strings.Contains(err.Error(), "closed") {
				t.Fatalf("blocked %s returned %v after Close; want the closed error", tc.name, err)
			}
			w.Close()
			if err := a.append("t", 0, 0, kwrite.Record{Value: []byte("x")}); err == nil {
				t.Fatal("Append after Close succeeded")
			}
			if _, err := w.Linger(); tc.maxBuffered == 0 && err != nil {
				t.Fatalf("Linger with nothing open after Close: %v", err)
			}
			if err := w.Flush(testCtx(t, 5*time.Second)); err == nil || !strings.Contains(err.Error(), "closed") {
				t.Fatalf("Flush after Close: %v", err)
			}
			if w.Err() == nil {
				t.Fatal("Err is nil after Close")
			}
		})
	}
}

// TestCloseIdle: a Writer with an open batch closes at once, twice; Linger and Flush then fail.
func TestCloseIdle(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	w := newWriter(t, c, kwrite.Config{Linger: time.Nanosecond})
	a := newAppender(t, w, "t")
	a.mustAppend(t, "t", 0, 0, kwrite.Record{Value: []byte("open")})
	w.Close()
	w.Close()
	if _, err := w.Linger(); err == nil {
		t.Fatal("Linger sealed a batch after Close")
	}
	if err := w.Flush(testCtx(t, 5*time.Second)); err == nil {
		t.Fatal("Flush after Close succeeded")
	}
}

// TestLinger: Linger leaves a batch open until it has waited Config.Linger, reports the time left, then
// seals it, and the sealed batch is sent without Flush; a batch opened later stays open.
func TestLinger(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	const linger = 400 * time.Millisecond
	w := newWriter(t, c, kwrite.Config{Linger: linger})
	a := newAppender(t, w, "t")
	sent := observe(c, 100)
	if left, err := w.Linger(); left != 0 || err != nil {
		t.Fatalf("Linger with nothing open: %v, %v", left, err)
	}
	rec := func(s string) kwrite.Record { return kwrite.Record{Value: []byte(s), Timestamp: 5} }

	t0 := time.Now()
	a.mustAppend(t, "t", 0, 0, rec("p0 first"))
	left, err := w.Linger()
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(t0); left <= 0 && waited < linger || left > linger || left < linger-waited {
		t.Fatalf("Linger %v after the first append reports %v left; Linger is %v", waited, left, linger)
	}
	a.mustAppend(t, "t", 0, 0, rec("p0 second")) // into the same batch: Linger must not have sealed it

	<-time.After(left) // the batch has now waited Linger
	t1 := time.Now()
	a.mustAppend(t, "t", 1, 1, rec("p1 first"))
	left, err = w.Linger() // seals partition 0's batch, not partition 1's
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(t1); left <= 0 && waited < linger || left > linger || left < linger-waited {
		t.Fatalf("Linger %v after opening partition 1's batch reports %v left; Linger is %v", waited, left, linger)
	}
	a.mustAppend(t, "t", 1, 1, rec("p1 second")) // still open

	first := wait(t, sent, "the lingered batch to be sent")
	if len(first) != 1 || first[0].part != 0 || first[0].count != 2 {
		t.Fatalf("the first produce request carries %+v; want partition 0's batch of 2 records only", first)
	}
	if err := w.Flush(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	second := wait(t, sent, "partition 1's batch")
	if len(second) != 1 || second[0].part != 1 || second[0].count != 2 {
		t.Fatalf("the second produce request carries %+v; want partition 1's batch of 2 records", second)
	}
	if left, err := w.Linger(); left != 0 || err != nil {
		t.Fatalf("Linger with nothing open: %v, %v", left, err)
	}
	a.checkAcked(t, w)
	checkExactly(t, readBack(t, c, "t"), a.want)
}

// TestKcatReads: librdkafka (kcat), a foreign client stricter about framing than franz-go, reads the
// batches of every codec back: keys, null keys, values, empty and null values, headers, timestamps older
// than their batch's first, per-partition order. Each codec's Writer has two partitions of one topic, so
// that one kcat run (half a second) reads them all; a last Writer sends snappy batches of about 1 MB,
// which kwrite frames in many blocks. kcat checks the CRCs too.
func TestKcatReads(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1))
	const topic = "kcat"
	type writer struct {
		codec      int
		batchBytes int
		valueBytes int
	}
	var writers []writer
	for ci := range codecs {
		writers = append(writers, writer{ci, 2000, 1})
	}
	writers = append(writers, writer{1, 1_000_000, 60}) // snappy: 6 MB in batches of 16 blocks of 64 KiB
	createTopic(t, c, topic, int32(2*len(writers)), nil)
	type line struct{ ts, keyLen, key, valueLen, headers, value string }
	want := map[int32][]line{}
	for ci, wr := range writers {
		codec := codecs[wr.codec]
		w := newWriter(t, c, kwrite.Config{Compression: codec.codec, BatchBytes: wr.batchBytes, Timeout: 10 * time.Second})
		a := newAppender(t, w, topic)
		for i := range 400 {
			r := kwrite.Record{Timestamp: 1_700_000_000_000 + int64(i%7)*1000 - int64(i%3)*5000}
			l := line{ts: fmt.Sprint(r.Timestamp), keyLen: "-1", valueLen: "-1"}
			if i%5 != 0 {
				r.Key = []byte(fmt.Sprintf("key-%d", i))
				l.keyLen, l.key = fmt.Sprint(len(r.Key)), string(r.Key)
			}
			switch {
			case i%11 == 0: // null value
			case i%13 == 0:
				r.Value = []byte{}
				l.valueLen = "0"
			default:
				r.Value = []byte(fmt.Sprintf("%s value %d %s", codec.name, i, strings.Repeat("compressible ", i%40*wr.valueBytes)))
				l.valueLen, l.value = fmt.Sprint(len(r.Value)), string(r.Value)
			}
			if i%4 == 0 {
				r.Headers = []kwrite.Header{{Key: "h1", Value: []byte(fmt.Sprint(i))}, {Key: "h2", Value: []byte("x")}}
				l.headers = fmt.Sprintf("h1=%d,h2=x", i)
			}
			part := int32(2*ci + i%2)
			a.mustAppend(t, topic, part, 0, r)
			want[part] = append(want[part], l)
		}
		if err := w.Flush(testCtx(t, 20*time.Second)); err != nil {
			t.Fatalf("%s: %v", codec.name, err)
		}
	}
	out := testenv.Kcat(t, nil, "-C", "-b", strings.Join(c.ListenAddrs(), ","), "-t", topic, "-e", "-q",
		"-X", "check.crcs=true", "-f", "%p|%o|%T|%K|%k|%S|%h|%s\n")
	got := map[int32][]line{}
	for _, s := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		f := strings.SplitN(s, "|", 8)
		var part int32
		if _, err := fmt.Sscan(f[0], &part); err != nil || len(f) != 8 {
			t.Fatalf("kcat printed %q", s)
		}
		if f[1] != fmt.Sprint(len(got[part])) {
			t.Fatalf("partition %d: offset %s after %d records", part, f[1], len(got[part]))
		}
		got[part] = append(got[part], line{ts: f[2], keyLen: f[3], key: f[4], valueLen: f[5], headers: f[6], value: f[7]})
	}
	for part, w := range want {
		codec := codecs[writers[part/2].codec].name
		if len(got[part]) != len(w) {
			t.Fatalf("partition %d (%s): kcat read %d records, want %d", part, codec, len(got[part]), len(w))
		}
		for i := range w {
			if got[part][i] != w[i] {
				t.Fatalf("partition %d (%s) offset %d: kcat read %+v, want %+v", part, codec, i, got[part][i], w[i])
			}
		}
	}
}

// TestTimeoutRetriableForever: a broker answering every produce request with NOT_LEADER_FOR_PARTITION
// (quickly, unlike TestTimeout's) fails Flush with ErrTimeout naming the partition about Config.Timeout
// after the first failed request, not never.
func TestTimeoutRetriableForever(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	const timeout = time.Second
	w := newWriter(t, c, kwrite.Config{Timeout: timeout})
	a := newAppender(t, w, "t")
	var answered atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		answered.Add(1)
		return errorResponse(kreq.(*kmsg.ProduceRequest), kerr.NotLeaderForPartition.Code), nil, true
	})
	a.mustAppend(t, "t", 0, 0, kwrite.Record{Value: []byte("v")})
	start := time.Now()
	err := w.Flush(testCtx(t, 30*time.Second))
	took := time.Since(start)
	if !errors.Is(err, kwrite.ErrTimeout) || !errors.Is(err, kerr.NotLeaderForPartition) || !strings.Contains(err.Error(), "t[0]") {
		t.Fatalf("Flush: %v; want ErrTimeout wrapping NOT_LEADER_FOR_PARTITION for t[0]", err)
	}
	// Retries back off up to a second, so the failure comes at most about a second after Timeout.
	if took < timeout || took > timeout+2*time.Second {
		t.Errorf("Flush failed after %v (%d requests); Timeout is %v", took, answered.Load(), timeout)
	}
	if answered.Load() < 2 {
		t.Errorf("%d produce requests: the batch was not retried", answered.Load())
	}
}

// TestConfigValidate: defaults fill zero values; negative sizes and durations and a missing client are
// errors.
func TestConfigValidate(t *testing.T) {
	cl := new(kgo.Client)
	cfg := kwrite.Config{Client: cl}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.BatchBytes <= 0 || cfg.MaxBuffered < cfg.BatchBytes || cfg.Linger <= 0 || cfg.Timeout <= 0 || cfg.Logger == nil {
		t.Fatalf("defaults: %+v", cfg)
	}
	set := kwrite.Config{Client: cl, BatchBytes: 5, MaxBuffered: 7, Linger: time.Minute, Timeout: time.Hour}
	kept := set
	if err := set.Validate(); err != nil || set.BatchBytes != 5 || set.MaxBuffered != 7 || set.Linger != time.Minute || set.Timeout != time.Hour {
		t.Fatalf("Validate changed set values: %+v -> %+v (%v)", kept, set, err)
	}
	for _, bad := range []kwrite.Config{
		{},
		{Client: cl, BatchBytes: -1},
		{Client: cl, MaxBuffered: -1},
		{Client: cl, Linger: -time.Millisecond},
		{Client: cl, Timeout: -time.Second},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", bad)
		}
	}
}

// TestTopicUnknown: loading a topic that does not exist fails once ctx ends, naming the topic.
func TestTopicUnknown(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1))
	w := newWriter(t, c, kwrite.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := w.Topic(ctx, "missing"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Topic(missing): %v", err)
	}
}

// TestFlushRepeatedly: rounds of a few appends then Flush (partial batches, recycled batches, sequence
// numbers continuing across rounds), with Linger between some appends, all arrive once and in order.
func TestFlushRepeatedly(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(2), kfake.SeedTopics(3, "t"))
	w := newWriter(t, c, kwrite.Config{Compression: kgo.ZstdCompression(), BatchBytes: 1500, Linger: time.Millisecond, Timeout: 10 * time.Second})
	a := newAppender(t, w, "t")
	rng := rand.New(rand.NewPCG(8, 8))
	for round := range 60 {
		for i := range rng.IntN(30) {
			a.mustAppend(t, "t", int32(rng.IntN(3)), uint8(round%kwrite.Tallies), randRecord(rng, 1e12))
			if i%7 == 6 {
				if _, err := w.Linger(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Flush(testCtx(t, 10*time.Second)); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i, n := range a.tallies {
			if got := w.Acked(uint8(i)); got != n {
				t.Fatalf("round %d: Acked(%d) = %d after Flush, appended %d", round, i, got, n)
			}
		}
	}
	checkExactly(t, readBack(t, c, "t"), a.want)
}

// TestFlushContextWhileSealing: Flush waits "until all are acknowledged, the Writer fails, or ctx ends".
// When sealing the open batch has to wait for MaxBuffered (the first batch is held unanswered by kfake),
// Flush must still return when its ctx ends, not when Config.Timeout fails the Writer.
func TestFlushContextWhileSealing(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	w := newWriter(t, c, kwrite.Config{BatchBytes: 100, MaxBuffered: 1, Timeout: 30 * time.Second})
	a := newAppender(t, w, "t")
	held, release := holdFirstProduce(t, c)
	value := bytes.Repeat([]byte{'v'}, 150)
	a.mustAppend(t, "t", 0, 0, kwrite.Record{Value: value}) // opens the first batch
	a.mustAppend(t, "t", 0, 0, kwrite.Record{Value: value}) // seals it (sent, held) and opens the second
	wait(t, held, "the first produce request")
	flushed := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	go func() { flushed <- w.Flush(ctx) }()
	select {
	case err := <-flushed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush: %v, want its context's deadline", err)
		}
	case <-time.After(3 * time.Second):
		// Close (at cleanup) unblocks it.
		t.Fatal("Flush still blocked 3 s after its context ended: sealing the open batch waits for MaxBuffered without watching ctx")
	}
	// The batch Flush gave up sealing is still there: once the first is acknowledged, Flush sends it,
	// and both records arrive once, in order (no sequence number was taken for nothing).
	release()
	if err := w.Flush(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	a.checkAcked(t, w)
	checkExactly(t, readBack(t, c, "t"), a.want)
}

// TestTopicTwice: loading the same topic twice gives two Topics whose partitions would each number
// their batches from sequence 0 under the one producer ID. The broker then takes the second Topic's
// batch for a duplicate of the first's (same sequence, same count) and drops it while acknowledging
// it, or rejects it as out of order. Everything appended through either Topic must arrive.
func TestTopicTwice(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	w := newWriter(t, c, kwrite.Config{Timeout: 10 * time.Second})
	ctx := testCtx(t, 10*time.Second)
	t1, err := w.Topic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	t2, err := w.Topic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	var want []kwrite.Record
	for i, top := range []*kwrite.Topic{t1, t2, t1, t2} {
		r := kwrite.Record{Value: []byte(fmt.Sprintf("through Topic %d, round %d", i%2+1, i/2)), Timestamp: int64(i)}
		if err := top.Append(0, 0, &r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("Flush after append %d: %v", i, err)
		}
	}
	k := tp{"t", 0}
	got := readBack(t, c, "t")[k]
	if len(got) != len(want) {
		t.Errorf("%d records acknowledged (Acked), %d appended, %d in the partition", w.Acked(0), len(want), len(got))
	}
	checkPrefix(t, k, got, want, len(want))
}

// TestFlushContextWhileWaiting: a Flush whose context ends while the sealed batches wait for their
// acknowledgement returns the context's error; nothing is lost, and a later Flush completes.
func TestFlushContextWhileWaiting(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	w := newWriter(t, c, kwrite.Config{Timeout: 30 * time.Second})
	a := newAppender(t, w, "t")
	held, release := holdFirstProduce(t, c)
	for i := range 20 {
		a.mustAppend(t, "t", int32(i%2), 0, kwrite.Record{Value: []byte(fmt.Sprint(i))})
	}
	ctx, cancel := context.WithCancel(context.Background())
	flushed := make(chan error, 1)
	go func() { flushed <- w.Flush(ctx) }()
	wait(t, held, "the first produce request")
	cancel()
	if err := wait(t, flushed, "Flush after its context was canceled"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush: %v, want context.Canceled", err)
	}
	release()
	if err := w.Flush(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	a.checkAcked(t, w)
	checkExactly(t, readBack(t, c, "t"), a.want)
}
