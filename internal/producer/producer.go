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
// Records are written by internal/kwrite, which builds the record batches itself: franz-go's producer
// spent most of a replay's CPU on per-record bookkeeping.
//
// Resume keeps no local state. Records are placed on partitions explicitly (events by the Kafka
// murmur2 hash of the key, exactly franz-go's default; dead letters by line number), and with
// idempotent producing a partition holds a gapless prefix, in file order, of the rows meant for it:
// kwrite sends nothing more once a batch fails. On the dead-letter and users topics the line header of
// the last record of this source on a partition says which of its rows are there. On the interactions topic a replay sends a progress
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
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/extsort"
	"github.com/notestream/notestream/internal/kafkaauth"
	"github.com/notestream/notestream/internal/kgolog"
	"github.com/notestream/notestream/internal/kwrite"
	"github.com/notestream/notestream/internal/record"
)

// Header keys of event and dead-letter records.
const (
	HeaderSource = "source"
	HeaderLine   = "line"
	HeaderReason = "reason"
)

// ErrUnreachable means the brokers did not answer, or acknowledged nothing, for Config.Timeout.
var ErrUnreachable = kafkaauth.ErrUnreachable

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
	Order            string        // of interactions files: OrderTime (default) or OrderFile; stdin is always in file order
	SortMemory       int64         // memory OrderTime sorts in (extsort.Config.Memory; default extsort.DefaultMemory)
	SortDir          string        // where sorted runs spill (default the system temp dir)

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
	setDefault(&c.Order, OrderTime)
	if c.Order != OrderTime && c.Order != OrderFile {
		return fmt.Errorf("order %q: want time or file", c.Order)
	}
	sortCfg := extsort.Config{Memory: c.SortMemory, Dir: c.SortDir}
	if err := sortCfg.Validate(); err != nil {
		return err
	}
	c.SortMemory, c.SortDir = sortCfg.Memory, sortCfg.Dir
	setDefault(&c.ProgressInterval, time.Second)
	setDefault(&c.ProgressRows, 100_000)
	setDefault(&c.Timeout, 30*time.Second)
	setDefault(&c.TopicInteractions, event.TopicInteractions)
	setDefault(&c.TopicUsers, event.TopicUsers)
	setDefault(&c.TopicDLQ, event.TopicDLQ)
	setDefault(&c.TopicLate, event.TopicLate)
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
		// After a broker restart the client refreshes metadata before producing again; the default
		// minimum age of 5 s made every outage last at least that long.
		kgo.MetadataMinAge(500 * time.Millisecond),
		kgo.WithLogger(kgolog.New(cfg.Logger)),
	}, cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	p := &producer{cfg: cfg, adm: kadm.NewClient(cl)}
	p.eventRec.AppendValue = p.appendEvent

	if err := cfg.Security.Ping(ctx, cfg.Brokers, cfg.Timeout); err != nil {
		return nil, err
	}
	if err := p.ensureTopics(ctx); err != nil {
		return nil, err
	}
	p.w, err = kwrite.New(ctx, kwrite.Config{Client: cl, Compression: comp, Linger: linger, Timeout: cfg.Timeout,
		Logger: cfg.Logger})
	if err != nil {
		return nil, unreachable(err)
	}
	defer p.w.Close()
	if err := p.loadTopics(ctx); err != nil {
		return nil, err
	}

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

// linger is how long a batch waits for more records when the input or the pacing pauses: at full
// speed batches fill up, and when the input trickles records still reach the brokers this soon.
const linger = 10 * time.Millisecond

// Tallies the writer counts acknowledged records in.
const (
	tallyProduced   = iota // events and users
	tallyControl           // control records
	tallyDeadLetter        // dead letters, plus their reason
)

type producer struct {
	cfg Config
	adm *kadm.Client
	w   *kwrite.Writer

	partitions map[string]int32 // partition count per topic
	created    map[string]bool  // topics this run created: empty, so nothing to resume from
	topics     map[string]*kwrite.Topic

	// The record being appended, reused: its value and header values point into these buffers, its
	// key into the row's user_id.
	rec                        kwrite.Record
	headers                    [3]kwrite.Header
	value, source, line, label []byte
	enc                        record.Encoder
	event                      *event.Interaction // the event being appended
	plain                      bool               // event's strings are record.Plain
	eventRec                   kwrite.Record      // an event's record: its AppendValue encodes event
}

// appendEvent is the AppendValue of events: their JSON is encoded straight into the batch.
func (p *producer) appendEvent(dst []byte) []byte {
	if p.plain {
		return p.enc.AppendPlainInteraction(dst, p.event)
	}
	return p.enc.AppendInteraction(dst, p.event)
}

// unreachable marks a writer that acknowledged nothing for the timeout as ErrUnreachable.
func unreachable(err error) error {
	if errors.Is(err, kwrite.ErrTimeout) {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}

// loadTopics gives the writer every topic it appends to.
func (p *producer) loadTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	p.topics = map[string]*kwrite.Topic{}
	for _, name := range []string{p.cfg.TopicInteractions, p.cfg.TopicUsers, p.cfg.TopicDLQ} {
		t, err := p.w.Topic(ctx, name)
		if err != nil {
			return err
		}
		if t.Partitions() != p.partitions[name] {
			return fmt.Errorf("topic %s: metadata lists %d partitions, the topic listing %d", name, t.Partitions(), p.partitions[name])
		}
		p.topics[name] = t
	}
	return nil
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
		// Records carry their event time, which in a replay of history is older than any time-based
		// retention: with Kafka's default (7 days) the broker would delete them as soon as written.
		configs := map[string]*string{"retention.ms": kadm.StringPtr("-1")}
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

// acked is the number of acknowledged records counted in tally.
func (p *producer) acked(tally int) int64 { return p.w.Acked(uint8(tally)) }

// deadLettered is the number of acknowledged dead letters.
func (p *producer) deadLettered() int64 {
	var n int64
	for r := event.Malformed; r <= event.BadDate; r++ {
		n += p.acked(tallyDeadLetter + int(r))
	}
	return n
}

// append appends p.rec with the first nHeaders of p.headers to part of t.
func (p *producer) append(t *kwrite.Topic, part int32, tally int, nHeaders int) error {
	p.rec.Headers = p.headers[:nHeaders]
	return t.Append(part, uint8(tally), &p.rec)
}

// setOrigin sets the source and line headers at i and i+1.
func (p *producer) setOrigin(i int, source string, line int64) {
	p.source = append(p.source[:0], source...)
	p.line = strconv.AppendInt(p.line[:0], line, 10)
	p.headers[i] = kwrite.Header{Key: HeaderSource, Value: p.source}
	p.headers[i+1] = kwrite.Header{Key: HeaderLine, Value: p.line}
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
	in       *input
	users    bool
	topic    string
	out, dlq *kwrite.Topic // the event topic and the dead-letter topic
	nParts   int32
	parts    keyPartitioner // of the nParts partitions
	nDLQ     int32
	done     resumePoint // per partition, the rows already on the topics
	marked   []bool      // per interactions partition: a control record of this replay precedes its events
	pace     pacer

	rows    int64        // rows read
	read    atomic.Int64 // rows, published for the progress reporter
	skipped int64

	byTime         bool         // rows in event-time order: control records carry HeaderSeq
	phase          atomic.Int32 // phaseNone, phaseSort or phaseReplay
	sorted, merged atomic.Int64 // rows sorted and rows merged, for the progress reporter

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
		pace: pacer{speed: p.cfg.Speed, now: time.Now, idle: p.linger}, lastProgress: time.Now()}
	if users {
		rp.topic = p.cfg.TopicUsers
		rp.pace.speed = 0
	}
	rp.out, rp.dlq = p.topics[rp.topic], p.topics[p.cfg.TopicDLQ]
	rp.nParts = p.partitions[rp.topic]
	rp.parts = newKeyPartitioner(rp.nParts)
	rp.marked = make([]bool, rp.nParts)
	rp.byTime = p.byTime(path, users)
	if p.cfg.Resume {
		if rp.done, err = p.resumePoint(ctx, in.name, rp.topic, rp.byTime); err != nil {
			return FileSummary{File: in.name}, err
		}
		p.cfg.Logger.Info("resuming", "file", in.name, "topic", rp.topic,
			"last_lines", rp.done.events, "last_dlq_lines", rp.done.dlq)
	}

	startProduced := p.acked(tallyProduced)
	var startByReason [event.BadDate + 1]int64
	for r := range startByReason {
		startByReason[r] = p.acked(tallyDeadLetter + r)
	}
	startDLQ := p.deadLettered()
	start := time.Now()
	status := func() Status {
		return Status{File: in.name, Read: rp.read.Load(), Produced: p.acked(tallyProduced) - startProduced,
			DeadLetter: p.deadLettered() - startDLQ, Bytes: in.r.n.Load(), TotalBytes: in.size,
			Elapsed: time.Since(start), Phase: phaseName(rp.phase.Load()), Sorted: rp.sorted.Load(), Merged: rp.merged.Load()}
	}
	stopReport := p.report(status)

	if rp.byTime {
		err = p.readRowsByTime(ctx, rp, path)
	} else {
		err = p.readRows(ctx, rp)
	}
	if err == nil && !users {
		err = p.sendControl(rp, record.ControlEnd)
	}
	if err == nil {
		err = p.flush(ctx)
	}
	stopReport()

	sum := FileSummary{File: in.name, Read: rp.read.Load(), Produced: p.acked(tallyProduced) - startProduced,
		DeadLettered: p.deadLettered() - startDLQ, Skipped: rp.skipped, ByReason: map[string]int64{}}
	for r := range startByReason {
		if n := p.acked(tallyDeadLetter+r) - startByReason[r]; n > 0 {
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

// flush waits until every appended record is acknowledged or the replay fails.
func (p *producer) flush(ctx context.Context) error {
	return unreachable(p.w.Flush(ctx))
}

// linger lets the writer send batches that have waited long enough; the replay is about to wait.
func (p *producer) linger() (time.Duration, error) {
	next, err := p.w.Linger()
	return next, unreachable(err)
}

// readRows reads the file and produces every row. It checks for cancellation and publishes the row
// count every few hundred rows: per row, both cost more than a row's partitioning.
func (p *producer) readRows(ctx context.Context, rp *replay) error {
	defer func() { rp.read.Store(rp.rows) }()
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
			if rp.rows%parseBatchRows == 0 {
				rp.read.Store(rp.rows)
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
			}
		}
	}
	stop := make(chan struct{})
	full, free, parsed := parseInteractions(rp.in.r, stop)
	defer func() {
		close(stop)
		// Join the parser before replayFile closes the file it reads. Stdin is not ours to close, and
		// an idle one could hold a Read, and so the join, forever: that parser ends with the process.
		if rp.in.closer != nil {
			<-parsed
		}
	}()
	return p.produceBatches(ctx, rp, full, free)
}

// produceBatches produces the rows of the batches received on full, returning each on free, until
// the batch that carries an error (io.EOF at the end).
func (p *producer) produceBatches(ctx context.Context, rp *replay, full <-chan *parsedBatch, free chan<- *parsedBatch) error {
	for {
		b, err := p.nextBatch(ctx, full)
		if err != nil {
			return err
		}
		if b == nil {
			return p.readEnd(ctx, rp, io.ErrUnexpectedEOF) // unreachable: the last batch carries the error
		}
		p.plain = b.plain
		for i := range b.rows {
			row := &b.rows[i]
			if err := p.row(ctx, rp, row.reason, row.line, row.raw, nil, &row.in); err != nil {
				return err
			}
		}
		// In a time-ordered replay the file was read in the sort phase: rows read stays at its count.
		if rp.byTime {
			rp.merged.Add(int64(len(b.rows)))
		}
		rp.read.Store(rp.rows + rp.sorted.Load() - rp.merged.Load())
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if b.err != nil {
			return p.readEnd(ctx, rp, b.err)
		}
		free <- b
	}
}

// nextBatch receives the next parsed batch (nil once full is closed). When the input has nothing for
// the linger time (a pipe, a slow source), the batches it filled so far are sent meanwhile.
func (p *producer) nextBatch(ctx context.Context, full <-chan *parsedBatch) (*parsedBatch, error) {
	select {
	case b := <-full:
		return b, nil
	default:
	}
	wait := linger
	for {
		t := time.NewTimer(wait)
		select {
		case b := <-full:
			t.Stop()
			return b, nil
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		case <-t.C:
		}
		next, err := p.linger()
		if err != nil {
			return nil, err
		}
		if next == 0 {
			select {
			case b := <-full:
				return b, nil
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}
		wait = next
	}
}

func (p *producer) readEnd(ctx context.Context, rp *replay, err error) error {
	if err == io.EOF {
		return p.writerErr()
	}
	if e := p.writerErr(); e != nil {
		return e
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return fmt.Errorf("read %s: %w", rp.in.name, err)
}

func (p *producer) writerErr() error { return unreachable(p.w.Err()) }

// row produces one row: an interaction (in), a user (u), or a dead letter when reason is not OK.
func (p *producer) row(ctx context.Context, rp *replay, reason event.Reason, line int64, raw []byte,
	u *event.User, in *event.Interaction) error {
	rp.rows++
	rp.lastLine = line
	if reason != event.OK {
		part := int32(line % int64(rp.nDLQ))
		if line <= rp.done.dlqLine(part) {
			rp.skipped++
			return nil
		}
		p.value = append(p.value[:0], raw...)
		p.rec = kwrite.Record{Value: p.value, Timestamp: time.Now().UnixMilli()} // when it was rejected
		p.setOrigin(0, rp.in.name, line)
		p.label = append(p.label[:0], reason.String()...)
		p.headers[2] = kwrite.Header{Key: HeaderReason, Value: p.label}
		return unreachable(p.append(rp.dlq, part, tallyDeadLetter+int(reason), 3))
	}

	var key string
	if in != nil {
		key = in.UserID
		rp.maxEvent = max(rp.maxEvent, in.Time)
	} else {
		key = u.UserID
	}
	// The key is never empty (csvin rejects an empty user_id), so this is the partition franz-go's
	// and Java's default partitioners choose, stable across runs.
	part := rp.parts.partition(key)
	if rp.done.skipEvent(part, line) {
		rp.skipped++
		return nil
	}
	if rp.users {
		p.value = record.AppendUser(p.value[:0], u)
		p.rec = kwrite.Record{Key: bytesOf(key), Value: p.value, Timestamp: time.Now().UnixMilli()}
		p.setOrigin(0, rp.in.name, line)
		return unreachable(p.append(rp.out, part, tallyProduced, 2))
	}
	if !rp.marked[part] {
		if err := p.control(rp, part, record.ControlProgress, line-1); err != nil {
			return err
		}
	}
	p.event = in
	p.eventRec.Key, p.eventRec.Timestamp = bytesOf(key), in.Time
	if err := rp.out.Append(part, tallyProduced, &p.eventRec); err != nil {
		return unreachable(err)
	}
	if err := rp.pace.wait(ctx, rp.maxEvent); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return unreachable(err)
	}
	rp.rowsSince++
	if rp.rowsSince >= p.cfg.ProgressRows || (rp.rowsSince&255 == 0 && time.Since(rp.lastProgress) >= p.cfg.ProgressInterval) ||
		(rp.pace.speed > 0 && time.Since(rp.lastProgress) >= p.cfg.ProgressInterval) {
		return p.sendControl(rp, record.ControlProgress)
	}
	return nil
}

// sendControl sends a control record of kind to every interactions partition. Each is appended after
// the rows read so far, so a consumer sees it after every earlier event of its partition. Progress
// skips a partition still holding rows to skip on --resume (they would precede it).
func (p *producer) sendControl(rp *replay, kind string) error {
	rp.rowsSince, rp.lastProgress = 0, time.Now()
	for part := range rp.nParts {
		if kind == record.ControlProgress && rp.done.pending(part) {
			continue
		}
		if err := p.control(rp, part, kind, rp.lastLine); err != nil {
			return err
		}
	}
	return nil
}

// control appends one control record of kind to part; every row meant for part up to line precedes it.
func (p *producer) control(rp *replay, part int32, kind string, line int64) error {
	rp.marked[part] = true
	p.value = record.AppendControl(p.value[:0], record.Control{Kind: kind, EventTime: rp.maxEvent})
	p.rec = kwrite.Record{Value: p.value, Timestamp: rp.maxEvent}
	p.label = append(p.label[:0], kind...)
	p.headers[0] = kwrite.Header{Key: record.ControlHeader, Value: p.label}
	p.setOrigin(1, rp.in.name, line)
	if rp.byTime {
		p.headers[2].Key = HeaderSeq
	}
	return unreachable(p.append(rp.out, part, tallyControl, 3))
}
