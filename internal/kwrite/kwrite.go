// Package kwrite produces records to Kafka idempotently by building the record batches itself.
//
// franz-go's producer spends most of a fast replay's CPU on per-record bookkeeping (a promise, a
// buffered record, a callback each). A Writer appends records straight into one open batch per
// partition, seals a batch when it is full, compresses and checksums it on a goroutine per core (snappy
// in 64 KiB blocks, framed as the Java client frames them), and sends the oldest unacknowledged batch of
// every partition in one produce request per leader, with acks from all in-sync replicas. The producer ID and per-partition sequence numbers make a resent batch a no-op
// at the broker, so a batch is resent unchanged after any retriable error until it is acknowledged or
// Config.Timeout passes without progress. At most one batch per partition is in flight, so a partition
// always holds a prefix, in append order, of what was appended to it; after the first non-retriable
// error nothing more is sent.
//
// One goroutine appends (Topic.Append, Linger, Flush); acknowledgements are counted per tally.
package kwrite

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Tallies is the number of counters acknowledgements are counted in (Topic.Append's tally).
const Tallies = 16

// ErrTimeout means nothing was acknowledged for Config.Timeout while records were waiting.
var ErrTimeout = errors.New("kwrite: nothing acknowledged")

// ErrLost means the broker no longer holds records it acknowledged (its log was truncated: a disk that
// lost unflushed writes, an unclean leader election). The Writer does not keep acknowledged records,
// so what the partition holds must be read back to write the rest again (the producer's --resume).
var ErrLost = errors.New("kwrite: the broker lost acknowledged records")

// errStopped is seal's answer when its wait was called off.
var errStopped = errors.New("kwrite: stopped waiting")

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record to append. A nil Key or Value is null.
type Record struct {
	Key, Value []byte
	// AppendValue, when set, appends the value to dst in place of Value, so that it is encoded
	// straight into the batch. It may be called twice for one record and must append the same bytes.
	AppendValue func(dst []byte) []byte
	Timestamp   int64 // unix milliseconds
	Headers     []Header
}

// Config configures a Writer. Zero values take the defaults in Validate.
type Config struct {
	Client      *kgo.Client          // connections, TLS and SASL; its RequiredAcks must be all (the default)
	Compression kgo.CompressionCodec // default none
	BatchBytes  int                  // uncompressed bytes per batch (default 1,000,000, under Kafka's message.max.bytes)
	MaxBuffered int                  // bytes of sealed batches not yet acknowledged before Append blocks (default 32 MiB)
	Linger      time.Duration        // how long Linger lets an open batch wait (default 10 ms)
	Timeout     time.Duration        // fail when nothing is acknowledged this long (default 30 s)
	Logger      *slog.Logger
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Client == nil {
		return errors.New("kwrite: no client")
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1_000_000
	}
	if c.MaxBuffered == 0 {
		// Partitions fed at the same rate fill their batches together; room for several such waves
		// keeps Append from waiting a round trip for every one (8 MiB, one wave of 8 partitions,
		// stalled a replay for 40 ms in 250).
		c.MaxBuffered = 32 << 20
	}
	if c.Linger == 0 {
		c.Linger = 10 * time.Millisecond
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.BatchBytes < 0 || c.MaxBuffered < 0 || c.Linger < 0 || c.Timeout < 0 {
		return errors.New("kwrite: negative size or duration")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Writer appends records to batches and produces them. Create it with New, stop it with Close.
type Writer struct {
	cfg        Config
	producerID int64
	epoch      int16

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	toCompress chan *batch
	work       chan struct{} // a batch became ready to send (capacity 1)
	acked      [Tallies]atomic.Int64
	failed     atomic.Bool

	mu       sync.Mutex
	err      error // first failure; guarded by mu, published by failed
	changed  chan struct{}
	topics   []*Topic
	buffered int      // raw bytes of sealed, unacknowledged batches
	free     []*batch // recycled batches
	unsure   int      // queue heads whose last send's outcome is unknown (batch.unsure)
}

// Topic is a topic a Writer appends to.
type Topic struct {
	w     *Writer
	name  string
	id    [16]byte
	parts []partition
}

type partition struct {
	topic *Topic
	id    int32
	open  *batch // owned by the appending goroutine
	seq   int32  // next sequence number; owned by the appending goroutine

	// guarded by Writer.mu
	queue    []*batch // sealed, unacknowledged, in sequence order
	inFlight bool
	leader   int32
	next     int64 // offset after the last acknowledged batch, -1 before the first
	start    int64 // the partition's end offset when the topic was loaded: no batch of this Writer is below it
}

// New starts a Writer: it obtains a producer ID and starts the compressing and sending goroutines.
func New(ctx context.Context, cfg Config) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	compress, err := newCompressor(cfg.Compression)
	if err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, toCompress: make(chan *batch, 64), work: make(chan struct{}, 1), changed: make(chan struct{})}
	if err := w.initProducerID(ctx); err != nil {
		return nil, err
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	// A compressing goroutine per core: compression is most of the Writer's CPU, and at the end of a
	// replay every partition's last batch is sealed at once.
	for range runtime.GOMAXPROCS(0) {
		w.wg.Go(func() { w.compressLoop(compress()) })
	}
	w.wg.Go(w.sendLoop)
	return w, nil
}

func (w *Writer) initProducerID(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionTimeoutMillis = 60_000
		resp, err := req.RequestWith(ctx, w.cfg.Client)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err == nil {
			w.producerID, w.epoch = resp.ProducerID, resp.ProducerEpoch
			return nil
		}
		if !kerr.IsRetriable(err) || ctx.Err() != nil {
			return fmt.Errorf("kwrite: init producer id: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Topic loads the topic's partitions and leaders. Call it before appending, from the appending
// goroutine. A second call for the same name returns the same Topic: two would number their batches
// from the same sequence, and the broker would drop one's as duplicates of the other's.
func (w *Writer) Topic(ctx context.Context, name string) (*Topic, error) {
	for _, t := range w.topics {
		if t.name == name {
			return t, nil
		}
	}
	t := &Topic{w: w, name: name}
	var mt kmsg.MetadataResponseTopic
	for {
		meta, err := w.metadata(ctx, name)
		if err != nil {
			return nil, err
		}
		mt = meta[0]
		err = kerr.ErrorForCode(mt.ErrorCode)
		if err == nil && len(mt.Partitions) > 0 {
			break
		}
		if err == nil {
			err = errors.New("no partitions")
		}
		// A topic created a moment ago may not be in every broker's metadata yet.
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kwrite: topic %s: %w", name, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.id = mt.TopicID
	ends, err := w.endOffsets(ctx, name, len(mt.Partitions))
	if err != nil {
		return nil, err
	}
	t.parts = make([]partition, len(mt.Partitions))
	for i := range t.parts {
		t.parts[i] = partition{topic: t, id: int32(i), leader: -1, next: -1, start: ends[i]}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.setLeaders(mt)
	w.topics = append(w.topics, t)
	return t, nil
}

// endOffsets is the end offset of each of the topic's n partitions, where a lookup of a batch whose
// answer was lost starts before the partition's first acknowledgement.
func (w *Writer) endOffsets(ctx context.Context, name string, n int) ([]int64, error) {
	ends := make([]int64, n)
	for {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = name
		for i := range n {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = int32(i), -1 // latest
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, w.cfg.Client)
		got := 0
		if err == nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err = cmp.Or(err, kerr.ErrorForCode(p.ErrorCode)); err == nil && t.Topic == name && p.Partition >= 0 && int(p.Partition) < n {
						ends[p.Partition] = p.Offset
						got++
					}
				}
			}
			if err == nil && got < n {
				err = errors.New("partitions missing from the answer")
			}
		}
		if err == nil {
			return ends, nil
		}
		if !isRetriable(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("kwrite: topic %s: end offsets: %w", name, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Partitions is the topic's partition count when it was loaded.
func (t *Topic) Partitions() int32 { return int32(len(t.parts)) }

func (w *Writer) metadata(ctx context.Context, topics ...string) ([]kmsg.MetadataResponseTopic, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, w.cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("kwrite: metadata: %w", err)
	}
	out := make([]kmsg.MetadataResponseTopic, len(topics))
	for i, name := range topics {
		out[i].ErrorCode = kerr.UnknownTopicOrPartition.Code
		for _, mt := range resp.Topics {
			if mt.Topic != nil && *mt.Topic == name {
				out[i] = mt
			}
		}
	}
	return out, nil
}

// setLeaders records the partitions' leaders; w.mu is held.
func (t *Topic) setLeaders(mt kmsg.MetadataResponseTopic) {
	for _, mp := range mt.Partitions {
		if mp.Partition >= 0 && int(mp.Partition) < len(t.parts) {
			leader := mp.Leader
			if mp.ErrorCode != 0 {
				leader = -1
			}
			t.parts[mp.Partition].leader = leader
		}
	}
}

// Append adds r to partition part of the topic. It blocks while too much is waiting for
// acknowledgement, and returns the Writer's first failure once there is one. tally (< Tallies) names
// the counter that counts r once it is acknowledged. The Writer keeps no reference to r.
func (t *Topic) Append(part int32, tally uint8, r *Record) error {
	if t.w.failed.Load() {
		return t.w.Err()
	}
	if part < 0 || int(part) >= len(t.parts) {
		return fmt.Errorf("kwrite: %s has no partition %d", t.name, part)
	}
	p := &t.parts[part]
	b := p.open
	if b == nil {
		b = t.w.openBatch(p, r.Timestamp)
	}
	start, maxTime := len(b.raw), b.maxTime
	b.add(r, r.Timestamp-b.firstTime)
	if len(b.raw) > t.w.cfg.BatchBytes+headerLen && b.n > 1 {
		// r does not fit: it starts the next batch.
		b.raw, b.n, b.maxTime = b.raw[:start], b.n-1, maxTime
		if err := t.w.seal(p, nil); err != nil {
			return err
		}
		b = t.w.openBatch(p, r.Timestamp)
		b.add(r, 0)
	}
	b.tally[tally]++
	return nil
}

// openBatch makes a recycled or new batch p's open one.
func (w *Writer) openBatch(p *partition, firstTime int64) *batch {
	w.mu.Lock()
	var b *batch
	if n := len(w.free); n > 0 {
		b, w.free = w.free[n-1], w.free[:n-1]
	}
	w.mu.Unlock()
	if b == nil {
		b = &batch{raw: make([]byte, 0, w.cfg.BatchBytes+headerLen+1024)}
	}
	b.reset()
	b.part, b.firstTime, b.maxTime, b.openedAt = p, firstTime, firstTime, time.Now().UnixNano()
	p.open = b
	return b
}

// seal closes p's open batch and queues it for compression, waiting while too much is buffered or
// until done is closed (the batch then stays open).
func (w *Writer) seal(p *partition, done <-chan struct{}) error {
	b := p.open
	w.mu.Lock()
	for w.buffered > 0 && w.buffered+len(b.raw) > w.cfg.MaxBuffered && w.err == nil {
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-done:
			return errStopped
		}
		w.mu.Lock()
	}
	if err := w.err; err != nil {
		w.mu.Unlock()
		return err
	}
	p.open = nil
	b.seal(w.producerID, w.epoch, p.seq)
	p.seq = int32((int64(p.seq) + int64(b.n)) & (1<<31 - 1)) // sequences wrap to 0 after MaxInt32
	w.buffered += len(b.raw)
	p.queue = append(p.queue, b)
	w.mu.Unlock()
	select {
	case w.toCompress <- b:
		return nil
	case <-w.ctx.Done():
		return w.Err()
	}
}

// Linger seals every open batch that has waited for Config.Linger and returns how long until the next
// one will have (0 when none is open). The appending goroutine calls it when it is about to wait.
func (w *Writer) Linger() (time.Duration, error) {
	now := time.Now().UnixNano()
	next := time.Duration(0)
	for _, t := range w.topics {
		for i := range t.parts {
			p := &t.parts[i]
			if p.open == nil {
				continue
			}
			left := time.Duration(p.open.openedAt + int64(w.cfg.Linger) - now)
			if left > 0 {
				if next == 0 || left < next {
					next = left
				}
				continue
			}
			if err := w.seal(p, nil); err != nil {
				return 0, err
			}
		}
	}
	return next, nil
}

// Flush seals every open batch and waits until all are acknowledged, the Writer fails, or ctx ends.
func (w *Writer) Flush(ctx context.Context) error {
	for _, t := range w.topics {
		for i := range t.parts {
			if t.parts[i].open != nil {
				if err := w.seal(&t.parts[i], ctx.Done()); err == errStopped {
					return fmt.Errorf("kwrite: flush: %w", context.Cause(ctx))
				} else if err != nil {
					return err
				}
			}
		}
	}
	for {
		w.mu.Lock()
		pending := w.buffered > 0
		err, changed := w.err, w.changed
		w.mu.Unlock()
		if err != nil {
			return err
		}
		if !pending {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("kwrite: flush: %w", context.Cause(ctx))
		}
	}
}

// Acked is the number of acknowledged records counted in tally.
func (w *Writer) Acked(tally uint8) int64 { return w.acked[tally].Load() }

// Err is the Writer's first failure, or nil.
func (w *Writer) Err() error {
	if !w.failed.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close stops the Writer's goroutines; batches not yet acknowledged are abandoned. It is idempotent.
func (w *Writer) Close() {
	w.fail(errors.New("kwrite: closed"))
	w.cancel()
	w.wg.Wait()
}

// fail records the first failure and wakes every waiter.
func (w *Writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	w.err = err
	w.failed.Store(true)
	w.broadcast()
}

// broadcast wakes whoever waits on changed; w.mu is held.
func (w *Writer) broadcast() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// compressLoop compresses and checksums sealed batches. Batches of a partition may finish out of
// order; the sender waits for the oldest.
func (w *Writer) compressLoop(compress compressFunc) {
	for {
		select {
		case <-w.ctx.Done():
			return
		case b := <-w.toCompress:
			b.finish(compress)
			w.mu.Lock()
			b.ready = true
			w.mu.Unlock()
			select {
			case w.work <- struct{}{}:
			default:
			}
		}
	}
}

// newCompressor returns a constructor of the compressFunc of each compressing goroutine: nil for none,
// framed snappy (appendSnappy), or franz-go's compressor for the other codecs.
func newCompressor(codec kgo.CompressionCodec) (func() compressFunc, error) {
	switch codec {
	case kgo.NoCompression():
		return func() compressFunc { return nil }, nil
	case kgo.SnappyCompression():
		return func() compressFunc {
			return func(dst, src []byte) ([]byte, int8) { return appendSnappy(dst, src), int8(kgo.CodecSnappy) }
		}, nil
	}
	comp, err := kgo.DefaultCompressor(codec)
	if err != nil {
		return nil, fmt.Errorf("kwrite: compressor: %w", err)
	}
	return func() compressFunc {
		var buf bytes.Buffer
		return func(dst, src []byte) ([]byte, int8) {
			buf.Reset()
			out, codec := comp.Compress(&buf, src)
			return append(dst, out...), int8(codec)
		}
	}, nil
}

// compressFunc appends src compressed to dst and returns the codec used (0 or less when it did not
// compress).
type compressFunc func(dst, src []byte) ([]byte, int8)

// produce is one request to one leader.
type produce struct {
	leader  int32
	batches []*batch
	resp    *kmsg.ProduceResponse
	err     error
}

// sendLoop sends, per leader, the oldest unacknowledged batch of every partition that has one ready,
// waits for every answer, and repeats.
func (w *Writer) sendLoop() {
	var stuckSince time.Time // when the first failed request since the last acknowledgement was sent
	backoff := time.Duration(0)
	for {
		sent := time.Now()
		// Batches whose last send went unanswered are looked up before anything is resent.
		progress, retry, err := w.resolve()
		if err == nil {
			reqs := w.nextRequests()
			if len(reqs) == 0 && retry == nil {
				if !progress {
					select {
					case <-w.ctx.Done():
						return
					case <-w.work:
					}
				}
				continue
			}
			var wg sync.WaitGroup
			for _, pr := range reqs {
				wg.Go(func() { w.send(pr) })
			}
			wg.Wait()
			var sentProgress bool
			var sentRetry error
			sentProgress, sentRetry, err = w.handle(reqs)
			progress, retry = progress || sentProgress, cmp.Or(retry, sentRetry)
		}
		if err != nil {
			w.fail(err)
			return
		}
		if progress {
			stuckSince, backoff = time.Time{}, 0
		}
		if retry == nil {
			continue
		}
		if stuckSince.IsZero() {
			stuckSince = sent
		}
		if time.Since(stuckSince) >= w.cfg.Timeout {
			w.fail(fmt.Errorf("%w for %s: %w", ErrTimeout, w.cfg.Timeout, retry))
			return
		}
		w.cfg.Logger.Debug("retrying produce", "err", retry)
		backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
		select {
		case <-w.ctx.Done():
			return
		case <-time.After(backoff):
		}
		w.refreshLeaders()
	}
}

// nextRequests takes the ready head batch of every partition with nothing in flight, per leader.
func (w *Writer) nextRequests() []*produce {
	w.mu.Lock()
	defer w.mu.Unlock()
	var reqs []*produce
	for _, t := range w.topics {
		for i := range t.parts {
			p := &t.parts[i]
			if p.inFlight || len(p.queue) == 0 || !p.queue[0].ready || p.queue[0].unsure {
				continue
			}
			j := slices.IndexFunc(reqs, func(pr *produce) bool { return pr.leader == p.leader })
			if j < 0 {
				j = len(reqs)
				reqs = append(reqs, &produce{leader: p.leader})
			}
			p.inFlight = true
			reqs[j].batches = append(reqs[j].batches, p.queue[0])
		}
	}
	return reqs
}

func (w *Writer) send(pr *produce) {
	if pr.leader < 0 {
		pr.err = kerr.LeaderNotAvailable
		return
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = int32(min(w.cfg.Timeout, 30*time.Second).Milliseconds())
	for _, b := range pr.batches {
		t := b.part.topic
		i := slices.IndexFunc(req.Topics, func(rt kmsg.ProduceRequestTopic) bool { return rt.Topic == t.name })
		if i < 0 {
			i = len(req.Topics)
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic, rt.TopicID = t.name, t.id
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = b.part.id, b.wire
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Timeout)
	defer cancel()
	resp, err := w.cfg.Client.Broker(int(pr.leader)).Request(ctx, req)
	if err != nil {
		pr.err = err
		return
	}
	pr.resp = resp.(*kmsg.ProduceResponse)
}

// handle applies the answers: acknowledged batches leave their queues; a retriable error leaves the
// batch at its queue's head to be resent (returned as retry); anything else is the Writer's failure.
func (w *Writer) handle(reqs []*produce) (progress bool, retry, fatal error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, pr := range reqs {
		for _, b := range pr.batches {
			err, base := pr.err, int64(-1)
			if err == nil {
				base, err = partitionResult(pr.resp, b)
			}
			p := b.part
			p.inFlight = false
			switch {
			case err == nil || errors.Is(err, kerr.DuplicateSequenceNumber):
				fatal = cmp.Or(fatal, w.ack(b, base))
				progress = true
			case errors.Is(err, kerr.OutOfOrderSequenceNumber):
				// The broker holds fewer of this producer's batches than it acknowledged (at most one
				// is in flight, so the Writer skipped none). Kafka's own producer fails the batch and
				// bumps its epoch to go on (KIP-360); going on here would leave a gap.
				fatal = fmt.Errorf("%w: produce to %s[%d]: the broker's sequence for this producer is behind the batches it acknowledged; nothing after them was written to this partition: %w",
					ErrLost, p.topic.name, p.id, err)
			case errors.Is(err, kerr.UnknownProducerID):
				fatal = fmt.Errorf("produce to %s[%d]: the broker does not know this producer (its state expired or was lost), so it cannot tell a resent batch from a new one; nothing after the last acknowledged record was written to this partition: %w",
					p.topic.name, p.id, err)
			case isRetriable(err):
				// The broker may have appended the batch all the same (an answer lost with its
				// connection, a replication timeout). A restarted Apache Kafka that forgot this producer
				// (its records' timestamps are older than producer.id.expiration.ms, as a replay's event
				// times are) would append a resent copy again, so the batch is looked up first.
				if !b.unsure {
					b.unsure = true
					w.unsure++
				}
				retry = fmt.Errorf("produce to %s[%d]: %w", p.topic.name, p.id, err)
			default:
				fatal = fmt.Errorf("produce to %s[%d]: %w", p.topic.name, p.id, err)
			}
		}
	}
	if progress {
		w.broadcast()
	}
	return progress, retry, fatal
}

// ack removes the acknowledged head batch b, appended at offset base (-1 when unknown), from its
// partition's queue and counts its records; w.mu is held. It returns ErrLost when base shows that the
// broker lost acknowledged records.
func (w *Writer) ack(b *batch, base int64) error {
	p := b.part
	var err error
	if base >= 0 && base < p.next {
		// Offsets only grow, whoever writes: an offset handed out again means the log lost
		// what held it. The broker had forgotten this producer too, or it would have refused
		// the sequence gap: Apache Kafka forgets a producer whose records' timestamps are
		// older than producer.id.expiration.ms, as a replay's event times are.
		err = fmt.Errorf("%w: %s[%d] appended a batch at offset %d, below offset %d after the last acknowledged one; nothing after that batch was written to this partition",
			ErrLost, p.topic.name, p.id, base, p.next)
	}
	if base >= 0 {
		p.next = base + int64(b.n)
	}
	p.queue = p.queue[1:]
	w.buffered -= len(b.raw)
	for i, n := range b.tally {
		if n > 0 {
			w.acked[i].Add(int64(n))
		}
	}
	b.part = nil
	w.free = append(w.free, b)
	return err
}

// resolve looks up in its partition's log every queue head whose last send went unanswered: one that is
// there is acknowledged at its offset, one that is not is sent again. A failed lookup is a retry.
func (w *Writer) resolve() (progress bool, retry, fatal error) {
	type find struct {
		b      *batch
		leader int32
		from   int64
		base   int64
		err    error
	}
	w.mu.Lock()
	if w.unsure == 0 {
		w.mu.Unlock()
		return false, nil, nil
	}
	var finds []find
	for _, t := range w.topics {
		for i := range t.parts {
			p := &t.parts[i]
			if len(p.queue) > 0 && p.queue[0].unsure {
				from := p.next
				if from < 0 {
					from = p.start
				}
				finds = append(finds, find{b: p.queue[0], leader: p.leader, from: from})
			}
		}
	}
	w.mu.Unlock()
	for i := range finds {
		f := &finds[i]
		f.base, f.err = w.lookup(f.b, f.leader, f.from)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range finds {
		p := f.b.part
		if f.err != nil {
			retry = fmt.Errorf("look up %s[%d]'s unanswered batch: %w", p.topic.name, p.id, f.err)
			continue
		}
		f.b.unsure = false
		w.unsure--
		if f.base >= 0 {
			w.cfg.Logger.Debug("unanswered batch found in the log", "topic", p.topic.name, "partition", p.id, "offset", f.base)
			fatal = cmp.Or(fatal, w.ack(f.b, f.base))
			progress = true
		}
	}
	if progress {
		w.broadcast()
	}
	return progress, retry, fatal
}

// lookup reads the batch headers of b's partition from offset from to the high watermark and returns
// the offset of the batch with b's producer ID, epoch and base sequence, or -1 when there is none.
// Only this Writer writes with its producer ID, so the match is exact; other producers' batches are
// skipped.
func (w *Writer) lookup(b *batch, leader int32, from int64) (int64, error) {
	if leader < 0 {
		return -1, kerr.LeaderNotAvailable
	}
	p := b.part
	seq := binary.BigEndian.Uint32(b.raw[offSequence:])
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Timeout)
	defer cancel()
	for {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 0, 4<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = p.topic.name, p.topic.id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p.id, from, 4<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := w.cfg.Client.Broker(int(leader)).Request(ctx, req)
		if err != nil {
			return -1, err
		}
		resp := kresp.(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return -1, err
		}
		var part *kmsg.FetchResponseTopicPartition
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].Partition == p.id {
					part = &resp.Topics[i].Partitions[j]
				}
			}
		}
		if part == nil {
			return -1, errors.New("no answer for the partition")
		}
		err = kerr.ErrorForCode(part.ErrorCode)
		if errors.Is(err, kerr.OffsetOutOfRange) {
			// The log ends below from: it lost acknowledged batches, and the resent batch, appended
			// at an offset handed out before, will show it (ErrLost).
			return -1, nil
		}
		if err != nil {
			return -1, err
		}
		if from >= part.HighWatermark {
			return -1, nil
		}
		recs, advanced := part.RecordBatches, false
		for len(recs) >= headerLen {
			size := offLeaderEpoch + int(binary.BigEndian.Uint32(recs[offLength:]))
			if size < headerLen || size > len(recs) {
				break // a batch cut off at the fetch's size limit
			}
			base, next := int64(binary.BigEndian.Uint64(recs)), int64(0)
			if recs[offMagic] == 2 {
				if int64(binary.BigEndian.Uint64(recs[offProducerID:])) == w.producerID &&
					int16(binary.BigEndian.Uint16(recs[offEpoch:])) == w.epoch &&
					binary.BigEndian.Uint32(recs[offSequence:]) == seq {
					return base, nil
				}
				next = base + int64(binary.BigEndian.Uint32(recs[offLastDelta:])) + 1
			} else {
				next = base + 1 // an old-format message set: no producer
			}
			if next > from {
				from, advanced = next, true
			}
			recs = recs[size:]
		}
		if !advanced {
			return -1, fmt.Errorf("fetch from offset %d, below the high watermark %d, returned no whole batch", from, part.HighWatermark)
		}
	}
}

func isRetriable(err error) bool {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable
	}
	return true // connection and request errors: the batch is resent
}

// partitionResult is the answer for b's partition: the offset it was appended at, or an error.
func partitionResult(resp *kmsg.ProduceResponse, b *batch) (int64, error) {
	t := b.part.topic
	for _, rt := range resp.Topics {
		if rt.Topic != t.name && (rt.Topic != "" || rt.TopicID != t.id) {
			continue
		}
		for _, rp := range rt.Partitions {
			if rp.Partition == b.part.id {
				return rp.BaseOffset, kerr.ErrorForCode(rp.ErrorCode)
			}
		}
	}
	return -1, fmt.Errorf("kwrite: no answer for %s[%d]", t.name, b.part.id)
}

// refreshLeaders reloads every topic's leaders after a retriable error.
func (w *Writer) refreshLeaders() {
	w.mu.Lock()
	topics := slices.Clone(w.topics)
	w.mu.Unlock()
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.name
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Timeout)
	defer cancel()
	meta, err := w.metadata(ctx, names...)
	if err != nil {
		w.cfg.Logger.Debug("refresh leaders", "err", err)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, t := range topics {
		t.setLeaders(meta[i])
	}
}
