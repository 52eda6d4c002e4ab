// Package producer replays the user metadata and interactions CSV exports into Kafka topics.
//
// Topics: users rows go to the users topic and interaction rows to the interactions topic, keyed by
// user_id with the event time as record timestamp; users records also carry the headers source (file
// name) and line, events none (they are the hot path: the headers were a fifth of their bytes).
// Unreadable rows of either file go to the dead-letter topic with the raw line as value and headers
// reason, source and line. Control records (record.ControlHeader) on every interactions partition carry
// the maximum event time read so far (progress) and mark the end of the replay (end); they also carry
// source and line, line being a line up to which every row meant for the partition precedes them.
//
// Resume keeps no local state. Records are placed on partitions explicitly (events by the Kafka
// murmur2 hash of the key, exactly franz-go's default; dead letters by line number), and with
// idempotent producing a partition holds a gapless prefix, in file order, of the rows meant for it:
// franz-go fails every later buffered record of a partition once one fails (recBuf.failAllRecords in
// kgo/sink.go). On the dead-letter and users topics the line header of the last record of this source
// on a partition says which of its rows are there. On the interactions topic a replay sends a progress
// control record to a partition before its first event there, so every event follows a control record
// of its own source: the last such record's line, plus the count of events after it, says which rows
// are there. On --resume a row is skipped when it is among those. The source is the file's base name:
// resume assumes the same file.
package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/kafkaauth"
	"github.com/notestream/notestream/internal/record"
)

// Header keys of event and dead-letter records.
const (
	HeaderSource = "source"
	HeaderLine   = "line"
	HeaderReason = "reason"
)

// ErrUnreachable means the brokers did not answer, or acknowledged nothing, for Config.Timeout.
var ErrUnreachable = errors.New("producer: brokers unreachable")

// Config configures a replay. Zero values take the documented defaults in Validate.
type Config struct {
	Brokers          []string      // default 127.0.0.1:9092
	UsersFile        string        // user_metadata CSV; empty to skip
	InteractionsFile string        // user_interactions CSV, "-" for Stdin; empty to skip
	Stdin            io.Reader     // read for "-"
	Speed            float64       // event ms per wall ms; 0 replays as fast as possible
	Resume           bool          // skip rows already on the topics (see the package comment)
	ProgressInterval time.Duration // progress control records at least this often (default 1 s)
	ProgressRows     int64         // and at least every this many rows (default 100,000)
	Timeout          time.Duration // give up when brokers stay unreachable this long (default 30 s)

	TopicInteractions string // default "interactions"
	TopicUsers        string // default "users"
	TopicDLQ          string // default "ingest.dlq"
	TopicLate         string // default "interactions.late"; created here, written by the consumer
	Partitions        int32  // for topics this creates (default 8)
	Replication       int16  // for topics this creates (default 1)

	Compression string           // none, snappy, lz4 or zstd (default snappy)
	Security    kafkaauth.Config // TLS and SASL
	ClientOpts  []kgo.Opt        // other client options
	Logger      *slog.Logger
	Reporter    Reporter // nil for none
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"127.0.0.1:9092"}
	}
	if c.UsersFile == "" && c.InteractionsFile == "" {
		return errors.New("nothing to replay: give --users and/or --interactions")
	}
	if c.UsersFile == "-" {
		return errors.New("--users cannot be stdin")
	}
	if c.Speed < 0 {
		return fmt.Errorf("speed %v: must be positive", c.Speed)
	}
	setDefault(&c.ProgressInterval, time.Second)
	setDefault(&c.ProgressRows, 100_000)
	setDefault(&c.Timeout, 30*time.Second)
	setDefault(&c.TopicInteractions, "interactions")
	setDefault(&c.TopicUsers, "users")
	setDefault(&c.TopicDLQ, "ingest.dlq")
	setDefault(&c.TopicLate, "interactions.late")
	setDefault(&c.Partitions, 8)
	setDefault(&c.Replication, 1)
	// Snappy: measured on the 1M-row benchmark, about 18% less producer CPU than lz4 for the same broker
	// CPU (near equal sizes); none triples the bytes and doubles the broker's CPU.
	setDefault(&c.Compression, "snappy")
	if c.Partitions < 0 || c.Replication < 0 {
		return errors.New("partitions and replication must be positive")
	}
	if _, err := codec(c.Compression); err != nil {
		return err
	}
	if err := c.Security.Validate(); err != nil {
		return err
	}
	if c.Stdin == nil {
		c.Stdin = os.Stdin
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func codec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("unknown compression %q (want none, snappy, lz4 or zstd)", name)
}

// FileSummary counts what happened to one input file's rows: Read = Produced + DeadLettered + Skipped.
type FileSummary struct {
	File         string
	Read         int64
	Produced     int64
	DeadLettered int64
	ByReason     map[string]int64 // dead-lettered rows by reason
	Skipped      int64            // already on the topics (--resume)
}

func (s FileSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: read %d, produced %d, dead-lettered %d", s.File, s.Read, s.Produced, s.DeadLettered)
	if len(s.ByReason) > 0 {
		b.WriteString(" (")
		first := true
		for r := event.Malformed; r <= event.BadDate; r++ {
			if n := s.ByReason[r.String()]; n > 0 {
				if !first {
					b.WriteString(", ")
				}
				first = false
				fmt.Fprintf(&b, "%s %d", r, n)
			}
		}
		b.WriteString(")")
	}
	if s.Skipped > 0 {
		fmt.Fprintf(&b, ", skipped on resume %d", s.Skipped)
	}
	return b.String()
}

// Run replays the users file, waits until every users record is acknowledged, then replays the
// interactions file with progress and end control records. It returns nil only when every record was
// acknowledged. The summaries cover the files read so far, also on error.
func Run(ctx context.Context, cfg Config) ([]FileSummary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	comp, _ := codec(cfg.Compression)
	secOpts, err := cfg.Security.Opts()
	if err != nil {
		return nil, err
	}
	cfg.ClientOpts = append(secOpts, cfg.ClientOpts...)
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(comp),
		// Measured on loopback with 1M rows: a small buffer keeps the recycled records in cache (user CPU
		// 1.3 s with 100k buffered, 0.5 s with 4k), and with little buffered lingering only adds latency.
		// Batches still fill while earlier requests are in flight. Produce blocks once the buffer is
		// full: backpressure with bounded memory.
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(4096),
		kgo.MaxBufferedBytes(32 << 20),
		// After a broker restart the client refreshes metadata before producing again; the default
		// minimum age of 5 s made every outage last at least that long.
		kgo.MetadataMinAge(500 * time.Millisecond),
		kgo.WithLogger(newKgoLogger(cfg.Logger)),
	}, cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	p := &producer{cfg: cfg, cl: cl, adm: kadm.NewClient(cl)}
	p.pool.New = func() any { return &kgo.Record{Headers: make([]kgo.RecordHeader, 0, 3)} }
	p.promise = p.onAck

	if err := p.connect(ctx); err != nil {
		return nil, err
	}
	if err := p.ensureTopics(ctx); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.cancel = cancel
	watchDone := make(chan struct{})
	defer func() { <-watchDone }()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		defer close(watchDone)
		p.watchAcks(watchCtx)
	}()

	var sums []FileSummary
	for _, f := range []struct {
		path  string
		users bool
	}{{cfg.UsersFile, true}, {cfg.InteractionsFile, false}} {
		if f.path == "" {
			continue
		}
		sum, err := p.replayFile(ctx, f.path, f.users)
		sums = append(sums, sum)
		if err != nil {
			return sums, err
		}
	}
	return sums, nil
}

type producer struct {
	cfg     Config
	cl      *kgo.Client
	adm     *kadm.Client
	pool    sync.Pool
	promise func(*kgo.Record, error)
	cancel  context.CancelCauseFunc

	partitions map[string]int32 // partition count per topic
	created    map[string]bool  // topics this run created: empty, so nothing to resume from

	ackedEvents, ackedDLQ, ackedControl, failedRecords atomic.Int64
	ackedByReason                                      [event.BadDate + 1]atomic.Int64 // dead letters
	errOnce                                            sync.Once
	err                                                error // first produce error, set once
	failed                                             atomic.Bool
}

// connect waits up to Timeout for a broker to answer. A rejected login fails at once.
func (p *producer) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var last error
	eofs := 0
	for {
		// Short attempts, so the cause (refused, TLS, SASL) is reported rather than only the deadline.
		attempt, cancelAttempt := context.WithTimeout(ctx, min(p.cfg.Timeout, 2*time.Second))
		err := p.cl.Ping(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		if !errors.Is(err, context.DeadlineExceeded) || last == nil {
			last = err
		}
		p.cfg.Logger.Debug("ping brokers", "err", err)
		if isAuthError(err) {
			return fmt.Errorf("brokers %s rejected the SASL login: %w", strings.Join(p.cfg.Brokers, ","), err)
		}
		// Some brokers (kfake among them) close the connection on a failed login instead of answering
		// SASL_AUTHENTICATION_FAILED; a connection that opens and then closes right away says the same.
		if p.cfg.Security.SASLMechanism != "" && errors.Is(err, io.EOF) {
			if eofs++; eofs == 3 {
				return fmt.Errorf("brokers %s closed the connection during the SASL login: check --sasl-user, the password and --sasl-mechanism (%s): %w",
					strings.Join(p.cfg.Brokers, ","), p.cfg.Security.SASLMechanism, err)
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %s for %s: %w", ErrUnreachable, strings.Join(p.cfg.Brokers, ","), p.cfg.Timeout, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func isAuthError(err error) bool {
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.IllegalSaslState) ||
		errors.Is(err, kerr.UnsupportedSaslMechanism)
}

// waitPartitions lists topic until its metadata shows partitions (a topic just created elsewhere may
// not be in the brokers' metadata yet).
func (p *producer) waitPartitions(ctx context.Context, topic string) (int32, error) {
	for {
		details, err := p.adm.ListTopics(ctx, topic)
		if err != nil {
			return 0, fmt.Errorf("list topic: %w", err)
		}
		if d, ok := details[topic]; ok && d.Err == nil && len(d.Partitions) > 0 {
			return int32(len(d.Partitions)), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no partitions listed: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureTopics creates the missing topics (users log-compacted) and learns every partition count.
func (p *producer) ensureTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	c := p.cfg
	topics := []string{c.TopicInteractions, c.TopicUsers, c.TopicDLQ, c.TopicLate}
	p.partitions = make(map[string]int32, len(topics))
	p.created = make(map[string]bool, len(topics))
	// kgo caches metadata answers for MetadataMinAge (5 s), so a second ListTopics right after creating
	// would still miss the new topics: the counts come from this listing and the create responses.
	details, err := p.adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, t := range topics {
		if d, ok := details[t]; ok && d.Err == nil && len(d.Partitions) > 0 {
			p.partitions[t] = int32(len(d.Partitions))
			continue
		}
		var configs map[string]*string
		if t == c.TopicUsers {
			configs = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		}
		resp, err := p.adm.CreateTopic(ctx, c.Partitions, c.Replication, configs, t)
		if err == nil {
			err = resp.Err
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			// Another client created it since the listing (a starting consumer creates the late topic).
			n, err := p.waitPartitions(ctx, t)
			if err != nil {
				return fmt.Errorf("create topic %s: created concurrently, then %w", t, err)
			}
			p.partitions[t] = n
			continue
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
		p.partitions[t] = c.Partitions
		if resp.NumPartitions > 0 {
			p.partitions[t] = resp.NumPartitions
		}
		p.created[t] = true
		c.Logger.Info("created topic", "topic", t, "partitions", p.partitions[t], "replication", c.Replication)
	}
	return nil
}

// fail records the first produce error and stops the replay.
func (p *producer) fail(err error) {
	p.errOnce.Do(func() {
		p.err = err
		p.failed.Store(true)
		p.cancel(err)
	})
}

func (p *producer) firstErr() error {
	if p.failed.Load() {
		return p.err
	}
	return nil
}

// onAck is the promise of every record: count it and recycle the record.
func (p *producer) onAck(r *kgo.Record, err error) {
	switch {
	case err != nil:
		p.failedRecords.Add(1)
		p.fail(fmt.Errorf("produce to %s[%d]: %w", r.Topic, r.Partition, err))
	case len(r.Headers) > 0 && r.Headers[0].Key == record.ControlHeader:
		p.ackedControl.Add(1)
	case r.Topic == p.cfg.TopicDLQ:
		p.ackedDLQ.Add(1)
		for _, h := range r.Headers {
			if h.Key != HeaderReason {
				continue
			}
			if reason, err := event.ParseReason(string(h.Value)); err == nil && reason.Unreadable() {
				p.ackedByReason[reason].Add(1)
			}
		}
	default:
		p.ackedEvents.Add(1)
	}
	p.recycle(r)
}

func (p *producer) acked() int64 {
	return p.ackedEvents.Load() + p.ackedDLQ.Load() + p.ackedControl.Load() + p.failedRecords.Load()
}

// watchAcks fails the replay when records are buffered but nothing is acknowledged for Timeout: the
// brokers are unreachable, and franz-go would otherwise retry forever.
func (p *producer) watchAcks(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastChange := p.acked(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if n := p.acked(); n != last || p.cl.BufferedProduceRecords() == 0 {
				last, lastChange = n, now
				continue
			}
			if now.Sub(lastChange) >= p.cfg.Timeout {
				p.fail(fmt.Errorf("%w: nothing acknowledged for %s (%d records buffered)",
					ErrUnreachable, p.cfg.Timeout, p.cl.BufferedProduceRecords()))
				return
			}
		}
	}
}

func (p *producer) get() *kgo.Record { return p.pool.Get().(*kgo.Record) }

// addHeader appends a header, reusing the value buffer a recycled record already has in that slot.
func addHeader(r *kgo.Record, key string) *[]byte {
	n := len(r.Headers)
	if n < cap(r.Headers) {
		r.Headers = r.Headers[:n+1]
	} else {
		r.Headers = append(r.Headers, kgo.RecordHeader{})
	}
	h := &r.Headers[n]
	h.Key = key
	h.Value = h.Value[:0]
	return &h.Value
}

func setOrigin(r *kgo.Record, source string, line int64) {
	v := addHeader(r, HeaderSource)
	*v = append(*v, source...)
	v = addHeader(r, HeaderLine)
	*v = strconv.AppendInt(*v, line, 10)
}

// input is an open CSV file with its byte count for progress.
type input struct {
	name   string // the source header: the file's base name, or "stdin"
	r      *countingReader
	size   int64
	closer io.Closer
}

func (p *producer) open(path string) (*input, error) {
	if path == "-" {
		return &input{name: "stdin", r: &countingReader{r: p.cfg.Stdin}, size: -1}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return &input{name: filepath.Base(path), r: &countingReader{r: f}, size: size, closer: f}, nil
}

// replay is the state of one file's replay.
type replay struct {
	in          *input
	users       bool
	topic       string
	partitioner kgo.TopicPartitioner
	nParts      int32
	nDLQ        int32
	done        resumePoint // per partition, the rows already on the topics
	marked      []bool      // per interactions partition: a control record of this replay precedes its events
	pace        pacer

	read    atomic.Int64
	skipped int64

	maxEvent     int64
	lastLine     int64
	lastProgress time.Time
	rowsSince    int64
}

func (p *producer) replayFile(ctx context.Context, path string, users bool) (FileSummary, error) {
	in, err := p.open(path)
	if err != nil {
		return FileSummary{File: path}, err
	}
	if in.closer != nil {
		defer in.closer.Close()
	}
	rp := &replay{in: in, users: users, topic: p.cfg.TopicInteractions, nDLQ: p.partitions[p.cfg.TopicDLQ],
		pace: pacer{speed: p.cfg.Speed, now: time.Now}, lastProgress: time.Now()}
	if users {
		rp.topic = p.cfg.TopicUsers
		rp.pace.speed = 0
	}
	rp.nParts = p.partitions[rp.topic]
	rp.marked = make([]bool, rp.nParts)
	rp.partitioner = kgo.StickyKeyPartitioner(nil).ForTopic(rp.topic)
	if p.cfg.Resume {
		if rp.done, err = p.resumePoint(ctx, in.name, rp.topic); err != nil {
			return FileSummary{File: in.name}, err
		}
		p.cfg.Logger.Info("resuming", "file", in.name, "topic", rp.topic,
			"last_lines", rp.done.events, "last_dlq_lines", rp.done.dlq)
	}

	startEvents, startDLQ := p.ackedEvents.Load(), p.ackedDLQ.Load()
	var startByReason [event.BadDate + 1]int64
	for r := range startByReason {
		startByReason[r] = p.ackedByReason[r].Load()
	}
	start := time.Now()
	status := func() Status {
		return Status{File: in.name, Read: rp.read.Load(), Produced: p.ackedEvents.Load() - startEvents,
			DeadLetter: p.ackedDLQ.Load() - startDLQ, Bytes: in.r.n.Load(), TotalBytes: in.size,
			Elapsed: time.Since(start)}
	}
	stopReport := p.report(status)

	err = p.readRows(ctx, rp)
	if err == nil && !users {
		err = p.sendControl(ctx, rp, record.ControlEnd)
	}
	if err == nil {
		err = p.flush(ctx)
	}
	stopReport()

	sum := FileSummary{File: in.name, Read: rp.read.Load(), Produced: p.ackedEvents.Load() - startEvents,
		DeadLettered: p.ackedDLQ.Load() - startDLQ, Skipped: rp.skipped, ByReason: map[string]int64{}}
	for r := range startByReason {
		if n := p.ackedByReason[r].Load() - startByReason[r]; n > 0 {
			sum.ByReason[event.Reason(r).String()] = n
		}
	}
	if err != nil {
		return sum, err
	}
	p.cfg.Logger.Info("replayed", "file", in.name, "read", sum.Read, "produced", sum.Produced,
		"dead_lettered", sum.DeadLettered, "skipped", sum.Skipped, "elapsed", time.Since(start).Round(time.Millisecond))
	return sum, nil
}

// report calls the Reporter every 200 ms until the returned stop function is called.
func (p *producer) report(status func() Status) (stop func()) {
	rep := p.cfg.Reporter
	if rep == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				rep.Finish(status())
				return
			case <-tick.C:
				rep.Update(status())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// flush waits until every buffered record is acknowledged or the replay fails.
func (p *producer) flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		if e := p.firstErr(); e != nil {
			return e
		}
		return fmt.Errorf("flush: %w", err)
	}
	return p.firstErr()
}

// readRows reads the file and produces every row.
func (p *producer) readRows(ctx context.Context, rp *replay) error {
	if rp.users {
		rd := csvin.NewUserReader(rp.in.r)
		var u event.User
		for {
			reason, err := rd.Next(&u)
			if err != nil {
				return p.readEnd(ctx, rp, err)
			}
			if err := p.row(ctx, rp, reason, rd.Line(), rd.Raw(), &u, nil); err != nil {
				return err
			}
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	full, free := parseInteractions(rp.in.r, stop)
	for b := range full {
		for i := range b.rows {
			row := &b.rows[i]
			if err := p.row(ctx, rp, row.reason, row.line, row.raw, nil, &row.in); err != nil {
				return err
			}
		}
		if b.err != nil {
			return p.readEnd(ctx, rp, b.err)
		}
		free <- b
	}
	return p.readEnd(ctx, rp, io.ErrUnexpectedEOF) // unreachable: the last batch carries the error
}

func (p *producer) readEnd(ctx context.Context, rp *replay, err error) error {
	if err == io.EOF {
		return p.firstErr()
	}
	if e := p.firstErr(); e != nil {
		return e
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return fmt.Errorf("read %s: %w", rp.in.name, err)
}

// row produces one row: an interaction (in), a user (u), or a dead letter when reason is not OK.
func (p *producer) row(ctx context.Context, rp *replay, reason event.Reason, line int64, raw []byte,
	u *event.User, in *event.Interaction) error {
	if p.failed.Load() {
		return p.err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	rp.read.Add(1)
	rp.lastLine = line
	if reason != event.OK {
		part := int32(line % int64(rp.nDLQ))
		if line <= rp.done.dlqLine(part) {
			rp.skipped++
			return nil
		}
		r := p.get()
		r.Topic, r.Partition = p.cfg.TopicDLQ, part
		r.Value = append(r.Value, raw...)
		setOrigin(r, rp.in.name, line)
		v := addHeader(r, HeaderReason)
		*v = append(*v, reason.String()...)
		p.cl.Produce(ctx, r, p.promise)
		return nil
	}

	r := p.get()
	if in != nil {
		r.Key = append(r.Key, in.UserID...)
		rp.maxEvent = max(rp.maxEvent, in.Time)
	} else {
		r.Key = append(r.Key, u.UserID...)
	}
	// The key is never nil (csvin rejects an empty user_id), so this is the Kafka murmur2 key hash, the
	// same partition franz-go's and Java's default partitioners choose, and stable across runs.
	part := int32(rp.partitioner.Partition(r, int(rp.nParts)))
	if rp.done.skipEvent(part, line) {
		rp.skipped++
		p.recycle(r)
		return nil
	}
	r.Topic, r.Partition = rp.topic, part
	if rp.users {
		r.Value = record.AppendUser(r.Value, u)
		setOrigin(r, rp.in.name, line)
		p.cl.Produce(ctx, r, p.promise)
		return nil
	}
	if !rp.marked[part] {
		p.control(ctx, rp, part, record.ControlProgress, line-1)
	}
	r.Timestamp = time.UnixMilli(in.Time)
	r.Value = record.AppendInteraction(r.Value, in)
	p.cl.Produce(ctx, r, p.promise)
	if err := rp.pace.wait(ctx, rp.maxEvent); err != nil {
		return context.Cause(ctx)
	}
	rp.rowsSince++
	if rp.rowsSince >= p.cfg.ProgressRows || (rp.rowsSince&255 == 0 && time.Since(rp.lastProgress) >= p.cfg.ProgressInterval) ||
		(rp.pace.speed > 0 && time.Since(rp.lastProgress) >= p.cfg.ProgressInterval) {
		return p.sendControl(ctx, rp, record.ControlProgress)
	}
	return nil
}

// recycle returns a record, acknowledged or never produced, to the pool with its buffers.
func (p *producer) recycle(r *kgo.Record) {
	*r = kgo.Record{Key: r.Key[:0], Value: r.Value[:0], Headers: r.Headers[:0]}
	p.pool.Put(r)
}

// sendControl sends a control record of kind to every interactions partition. Each is produced after
// the rows read so far, so a consumer sees it after every earlier event of its partition. Progress
// skips a partition still holding rows to skip on --resume (they would precede it).
func (p *producer) sendControl(ctx context.Context, rp *replay, kind string) error {
	rp.rowsSince, rp.lastProgress = 0, time.Now()
	for part := range rp.nParts {
		if kind == record.ControlProgress && rp.done.pending(part) {
			continue
		}
		p.control(ctx, rp, part, kind, rp.lastLine)
	}
	return p.firstErr()
}

// control produces one control record of kind to part; every row meant for part up to line precedes it.
func (p *producer) control(ctx context.Context, rp *replay, part int32, kind string, line int64) {
	rp.marked[part] = true
	r := p.get()
	r.Topic, r.Partition = rp.topic, part
	r.Timestamp = time.UnixMilli(rp.maxEvent)
	r.Value = record.AppendControl(r.Value, record.Control{Kind: kind, EventTime: rp.maxEvent})
	v := addHeader(r, record.ControlHeader)
	*v = append(*v, kind...)
	setOrigin(r, rp.in.name, line)
	p.cl.Produce(ctx, r, p.promise)
}
