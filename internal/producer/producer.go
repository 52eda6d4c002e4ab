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
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

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

// flush waits until every appended record is acknowledged or the replay fails.
func (p *producer) flush(ctx context.Context) error {
	return unreachable(p.w.Flush(ctx))
}

// linger lets the writer send batches that have waited long enough; the replay is about to wait.
func (p *producer) linger() (time.Duration, error) {
	next, err := p.w.Linger()
	return next, unreachable(err)
}
