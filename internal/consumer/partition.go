package consumer

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/notestream/notestream/internal/sessionwindow"
)

// batch is one fetch's records of a partition; the worker calls done.Done once it has handled them.
type batch struct {
	recs []*kgo.Record
	done *sync.WaitGroup
}

// partition owns one assigned partition: its session window, its deltas since the last checkpoint and
// its checkpoints. Only its goroutine touches the window and the deltas; a second goroutine writes
// the checkpoints it builds, so handling goes on while Redis works. At most one checkpoint is in
// flight and one more being built: the next waits for the writer (backpressure), and each expects
// the offset of the one before, so a checkpoint is written only after its predecessor.
type partition struct {
	id    int32
	c     *Consumer
	log   *slog.Logger
	owner string // this assignment's token in the checkpoint

	win      *sessionwindow.Window
	deltas   *deltas
	versions *versionDeltas // versions.go
	engaged  *engaged
	late     *latePublisher
	lag      prometheus.Gauge // notestream_consumer_lag_records of this partition
	expect   int64            // offset of the last checkpoint this owner read or built; -1 for none
	pending  int              // records handled since the last checkpoint
	lastSave time.Time
	closed   []sessionwindow.Session
	ev       event.Interaction
	days     *sessionwindow.Days
	stats    [numKinds]int64 // per batch, flushed to the metrics
	dead     bool            // fenced or failed: drops records until stopped

	writes      chan *checkpoint // to the writer
	free        chan *checkpoint // the two checkpoint buffers not in use
	writerDone  chan struct{}
	writeFailed atomic.Bool // the writer was fenced or abandoned a checkpoint
	behind      atomic.Bool // Redis lost this partition's checkpoints; the poll loop rewinds it
	final       bool        // set by run before it closes writes: the partition is revoked, not lost
	kafkaOffset int64       // the writer's last offset committed to the group in Kafka; -1 none

	next      atomic.Int64 // next offset to handle
	committed atomic.Int64 // next offset as of the last checkpoint
	end       atomic.Int64 // end offset as last listed; -1 unknown

	ctx      context.Context // bounds checkpoint retries; canceled by stop
	cancel   context.CancelFunc
	in       chan batch
	stopping chan bool // true: write a final checkpoint first
	done     chan struct{}
}

// newPartition restores partition id from its checkpoint.
func newPartition(c *Consumer, id int32, cp rtstate.Checkpoint) (*partition, error) {
	var (
		win *sessionwindow.Window
		err error
	)
	if cp.Snapshot != nil {
		win, err = sessionwindow.Restore(c.windowConfig(), cp.Snapshot)
	} else {
		win, err = sessionwindow.New(c.windowConfig())
	}
	if err != nil {
		return nil, fmt.Errorf("partition %d: restore window: %w", id, err)
	}
	var token [8]byte
	rand.Read(token[:])
	p := &partition{
		id:          id,
		c:           c,
		owner:       hex.EncodeToString(token[:]),
		win:         win,
		deltas:      newDeltas(),
		versions:    newVersionDeltas(),
		engaged:     newEngaged(),
		late:        newLatePublisher(c.cl, c.cfg.TopicLate),
		lag:         c.metrics.lag.WithLabelValues(strconv.Itoa(int(id))),
		expect:      cp.Offset,
		kafkaOffset: -1,
		lastSave:    time.Now(),
		days:        sessionwindow.NewDays(c.cfg.Location),
		in:          make(chan batch, 1),
		writes:      make(chan *checkpoint),
		free:        make(chan *checkpoint, 2),
		writerDone:  make(chan struct{}),
		stopping:    make(chan bool, 1),
		done:        make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.log = c.log.With("partition", id, "owner", p.owner)
	start := max(cp.Offset, 0)
	p.next.Store(start)
	p.committed.Store(start)
	p.end.Store(-1)
	p.free <- new(checkpoint)
	p.free <- new(checkpoint)
	return p, nil
}

// raiseEnd records a newly seen end offset of the partition; the end never moves back.
// Both the fetches' high watermarks and the periodic listing raise it, so the lag gauge is set here.
func (p *partition) raiseEnd(end int64) {
	for {
		cur := p.end.Load()
		if end <= cur || p.end.CompareAndSwap(cur, end) {
			p.lag.Set(float64(max(0, max(end, cur)-p.next.Load())))
			return
		}
	}
}

// run handles batches and checkpoints until stopped.
func (p *partition) run() {
	go p.writer(p.expect)
	defer func() {
		close(p.writes)
		<-p.writerDone
		close(p.done)
	}()
	tick := time.NewTicker(p.c.cfg.CheckpointInterval / 4)
	defer tick.Stop()
	for {
		select {
		case b := <-p.in:
			p.dead = p.dead || p.writeFailed.Load()
			if !p.dead {
				p.handle(b.recs)
				if p.pending >= p.c.cfg.CheckpointRecords || time.Since(p.lastSave) >= p.c.cfg.CheckpointInterval {
					p.checkpoint()
				}
			}
			b.done.Done()
		case <-tick.C:
			if !p.dead && p.pending > 0 && time.Since(p.lastSave) >= p.c.cfg.CheckpointInterval {
				p.checkpoint()
			}
		case final := <-p.stopping:
			if final && !p.dead && p.pending > 0 {
				p.checkpoint()
			}
			p.final = final
			return
		}
	}
}

// stop ends the goroutine and waits for it. If final, it first writes a checkpoint, for at most
// Config.FinalCheckpointTimeout: a best effort, as the next owner resumes from the last checkpoint
// anyway. Otherwise (partitions lost) it abandons any checkpoint in progress.
func (p *partition) stop(final bool) {
	p.stopping <- final
	if final {
		t := time.AfterFunc(p.c.cfg.FinalCheckpointTimeout, p.cancel)
		defer t.Stop()
	} else {
		p.cancel()
	}
	<-p.done
	p.cancel()
	p.c.metrics.forgetPartition(p.id)
}

// handle processes one batch of records in offset order.
func (p *partition) handle(recs []*kgo.Record) {
	for _, r := range recs {
		p.handleRecord(r)
	}
	p.pending += len(recs)
	p.next.Store(recs[len(recs)-1].Offset + 1)
	p.c.metrics.observeBatch(p.id, &p.stats, p.win)
	p.stats = [numKinds]int64{}
}

func (p *partition) handleRecord(r *kgo.Record) {
	if kind, ok := controlKind(r); ok {
		p.stats[kindControl]++
		p.control(kind, r)
		return
	}
	if err := record.DecodeInteraction(r.Value, &p.ev); err != nil {
		// The producer writes only readable rows; anything else is not ours to count.
		p.stats[kindUndecodable]++
		p.log.Warn("skip undecodable interaction", "offset", r.Offset, "err", err)
		return
	}
	reason := p.win.Add(&p.ev)
	day := p.days.Day(p.ev.Time)
	segs := p.c.users.Segments(p.ev.UserID)
	p.deltas.count(day, segs, reason)
	switch reason {
	case event.OK:
		p.stats[kindValid]++
		p.deltas.addUser(day, segs, p.ev.UserID)
		p.versions.add(day, &p.ev)
		p.engaged.add(day, p.ev.UserID, p.ev.DurationMs)
	case event.Late:
		p.stats[kindLate]++
		p.deltas.addUser(day, segs, p.ev.UserID)
		p.versions.add(day, &p.ev)
		p.engaged.add(day, p.ev.UserID, p.ev.DurationMs)
		p.late.publish(r)
	default:
		p.stats[kindInvalid]++
	}
}

func controlKind(r *kgo.Record) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == record.ControlHeader {
			return string(h.Value), true
		}
	}
	return "", false
}

func (p *partition) control(kind string, r *kgo.Record) {
	c, err := record.DecodeControl(r.Value)
	if err != nil {
		p.log.Warn("skip undecodable control record", "offset", r.Offset, "err", err)
		return
	}
	switch kind {
	case record.ControlProgress:
		p.win.AdvanceTo(c.EventTime)
	case record.ControlEnd:
		p.win.AdvanceTo(c.EventTime)
		p.win.Flush()
		// Make the replay's final numbers visible now rather than at the next tick.
		p.pending = max(p.pending, p.c.cfg.CheckpointRecords)
	default:
		p.log.Warn("skip unknown control record", "offset", r.Offset, "kind", kind)
	}
}

// checkpoint is one built checkpoint and the buffers it owns.
type checkpoint struct {
	commit rtstate.Commit
	snap   []byte
	cells  []rtstate.Cell
	users  []byte // the cells' sketches
	vcells []rtstate.VersionCell
	vtext  []byte // the version cells' sketches
	power  []rtstate.EngagedUser
}

// checkpoint builds a checkpoint of the closed sessions, the deltas, the window snapshot and the next
// offset, and hands it to the writer. It first waits until every late event up to the next offset is
// on its topic (at least once), and blocks while the writer is still busy with the one before last.
func (p *partition) checkpoint() {
	next := p.next.Load()
	backoff := 100 * time.Millisecond
	for {
		err := p.late.flush(p.ctx)
		if err == nil {
			break
		}
		p.c.metrics.redisErrors.Inc()
		p.log.Warn("publishing late events failed, retrying", "offset", next, "backoff", backoff, "err", err)
		if !p.sleep(backoff) {
			p.dead = true
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	var cp *checkpoint
	select {
	case cp = <-p.free:
	case <-p.ctx.Done():
		p.dead = true
		return
	}
	p.closed = p.win.Drain(p.closed[:0])
	for i := range p.closed {
		s := &p.closed[i]
		p.deltas.addSession(p.days.Day(s.Start), p.c.users.Segments(s.UserID), s.End-s.Start, s.Actions)
	}
	clear(p.closed) // drop the strings
	closed := int32(math.MinInt32)
	if wm := p.win.Watermark(); wm != math.MinInt64 {
		closed = p.days.Day(wm)
	}
	cp.snap = p.win.AppendSnapshot(cp.snap[:0])
	cp.cells, cp.users = p.deltas.appendCells(cp.cells[:0], cp.users[:0], p.c.users.Segment)
	cp.vcells, cp.vtext = p.versions.appendCells(cp.vcells[:0], cp.vtext[:0])
	cp.power = p.engaged.appendUsers(cp.power[:0])
	cp.commit = rtstate.Commit{Partition: p.id, Expect: p.expect, Offset: next, Owner: p.owner, Snapshot: cp.snap, Closed: closed, Cells: cp.cells, Versions: cp.vcells, Engaged: cp.power}
	p.deltas.reset()
	p.versions.reset()
	p.engaged.reset()
	p.expect = next
	p.pending = 0
	p.lastSave = time.Now()
	p.writes <- cp
}

// sleep waits for d; false if the partition is being stopped meanwhile.
func (p *partition) sleep(d time.Duration) bool {
	select {
	case <-p.ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// writer writes checkpoints in order, each in one atomic step, retrying with backoff while Redis
// fails. A fenced checkpoint means another owner has the partition: the process exits, dropping this
// state. A checkpoint behind means Redis lost this owner's checkpoints: the poll loop rewinds the
// partition. A checkpoint abandoned because the partition stops is never written later, nor is any
// after it, as each builds on the one before.
//
// After each checkpoint it commits the checkpoint's offset to the group in Kafka, and so it does
// first for the loaded checkpoint (loaded, else -1) and last when the partition is revoked, if an
// earlier commit failed: Kafka holds only offsets Redis already covers, never one ahead.
func (p *partition) writer(loaded int64) {
	defer close(p.writerDone)
	p.commitKafka(loaded)
	for cp := range p.writes {
		if !p.writeFailed.Load() {
			if p.write(cp) {
				p.commitKafka(cp.commit.Offset)
			}
		}
		clear(cp.cells)
		clear(cp.vcells)
		clear(cp.power)
		p.free <- cp
	}
	if p.final && !p.writeFailed.Load() {
		p.commitKafka(p.committed.Load())
	}
}

// commitKafka commits offset, covered by a checkpoint in Redis, to the consumer group in Kafka, so
// that lag tools see the group's progress (SPEC section 4). Redis stays the source of truth: the
// consumer never reads these offsets, and a failed commit is only logged, for the next to replace.
func (p *partition) commitKafka(offset int64) {
	if offset <= p.kafkaOffset {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.c.cfg.FinalCheckpointTimeout)
	defer cancel()
	var err error
	p.c.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{
		p.c.cfg.TopicInteractions: {p.id: {Epoch: -1, Offset: offset}},
	}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, e error) {
		err = e
		if resp == nil {
			return
		}
		for _, t := range resp.Topics {
			for _, tp := range t.Partitions {
				err = cmp.Or(err, kerr.ErrorForCode(tp.ErrorCode))
			}
		}
	})
	if err != nil {
		p.c.metrics.offsetCommitErrors.Inc()
		p.log.Warn("committing the offset to Kafka failed", "offset", offset, "err", err)
		return
	}
	p.kafkaOffset = offset
}

// write writes cp, reporting whether it did.
func (p *partition) write(cp *checkpoint) bool {
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := p.c.store.Commit(p.ctx, &cp.commit)
		if err == nil {
			p.c.metrics.checkpointSeconds.Observe(time.Since(start).Seconds())
			p.committed.Store(cp.commit.Offset)
			return true
		}
		p.c.metrics.redisErrors.Inc()
		if errors.Is(err, rtstate.ErrFenced) {
			p.writeFailed.Store(true)
			p.c.fail(fmt.Errorf("partition %d: %w", p.id, err))
			return false
		}
		if errors.Is(err, rtstate.ErrCheckpointBehind) {
			p.writeFailed.Store(true)
			p.behind.Store(true)
			p.c.requestRewind(p)
			return false
		}
		p.log.Warn("checkpoint failed, retrying", "offset", cp.commit.Offset, "attempt", attempt, "backoff", backoff, "err", err)
		if !p.sleep(backoff) {
			p.writeFailed.Store(true)
			p.log.Warn("checkpoint abandoned", "offset", cp.commit.Offset, "err", p.ctx.Err())
			return false
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
