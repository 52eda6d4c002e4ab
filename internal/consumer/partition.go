package consumer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/rtstore"
	"github.com/notestream/notestream/internal/sessionwindow"
)

// batch is one fetch's records of a partition; the worker calls done.Done once it has handled them.
type batch struct {
	recs []*kgo.Record
	done *sync.WaitGroup
}

// partition owns one assigned partition: its session window, its deltas since the last checkpoint and
// its checkpoints. Only its goroutine touches the window and the deltas.
type partition struct {
	id    int32
	c     *Consumer
	log   *slog.Logger
	owner string // this assignment's token in the checkpoint

	win      *sessionwindow.Window
	deltas   *deltas
	late     *latePublisher
	stored   int64 // offset of the last checkpoint this owner read or wrote; -1 for none
	pending  int   // records handled since the last checkpoint
	lastSave time.Time
	closed   []sessionwindow.Session
	cells    []rtstore.Cell
	snap     []byte
	ev       event.Interaction
	days     dayCache
	stats    [numKinds]int64 // per batch, flushed to the metrics
	dead     bool            // fenced or failed: drops records until stopped

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
func newPartition(c *Consumer, id int32, cp rtstore.Checkpoint) (*partition, error) {
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
		id:       id,
		c:        c,
		owner:    hex.EncodeToString(token[:]),
		win:      win,
		deltas:   newDeltas(),
		late:     newLatePublisher(c.cl, c.cfg.TopicLate),
		stored:   cp.Offset,
		lastSave: time.Now(),
		days:     dayCache{loc: c.cfg.Location},
		in:       make(chan batch, 1),
		stopping: make(chan bool, 1),
		done:     make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.log = c.log.With("partition", id, "owner", p.owner)
	start := max(cp.Offset, 0)
	p.next.Store(start)
	p.committed.Store(start)
	p.end.Store(-1)
	return p, nil
}

// raiseEnd records a newly seen end offset of the partition; the end never moves back.
func (p *partition) raiseEnd(end int64) {
	for {
		cur := p.end.Load()
		if end <= cur || p.end.CompareAndSwap(cur, end) {
			return
		}
	}
}

// run handles batches and checkpoints until stopped.
func (p *partition) run() {
	defer close(p.done)
	tick := time.NewTicker(p.c.cfg.CheckpointInterval / 4)
	defer tick.Stop()
	for {
		select {
		case b := <-p.in:
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
	day := p.days.day(p.ev.Time)
	segs := p.c.users.Segments(p.ev.UserID)
	p.deltas.count(day, segs, reason)
	switch reason {
	case event.OK:
		p.stats[kindValid]++
		p.deltas.addUser(day, segs, p.ev.UserID)
	case event.Late:
		p.stats[kindLate]++
		p.deltas.addUser(day, segs, p.ev.UserID)
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

// checkpoint writes the closed sessions, the deltas, the window snapshot and the next offset in one
// atomic step, retrying with backoff while Redis fails and ctx lasts. A fenced checkpoint means another
// owner has the partition: this one stops and the process exits, so its state is dropped.
func (p *partition) checkpoint() {
	ctx := p.ctx
	p.closed = p.win.Drain(p.closed[:0])
	for i := range p.closed {
		s := &p.closed[i]
		p.deltas.addSession(p.days.day(s.Start), p.c.users.Segments(s.UserID), s.End-s.Start, s.Actions)
	}
	clear(p.closed) // drop the strings
	next := p.next.Load()
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := p.tryCheckpoint(ctx, next)
		if err == nil {
			break
		}
		p.c.metrics.redisErrors.Inc()
		if errors.Is(err, rtstore.ErrFenced) {
			p.dead = true
			p.c.fail(fmt.Errorf("partition %d: %w", p.id, err))
			return
		}
		p.log.Warn("checkpoint failed, retrying", "offset", next, "attempt", attempt, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			// Never write these deltas later, after a state they are not the successor of.
			p.dead = true
			p.log.Warn("checkpoint abandoned", "offset", next, "err", ctx.Err())
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	p.deltas.reset()
	p.stored = next
	p.committed.Store(next)
	p.pending = 0
	p.lastSave = time.Now()
}

func (p *partition) tryCheckpoint(ctx context.Context, next int64) error {
	// At least once: every late event up to next is on its topic before the offset moves past it.
	if err := p.late.flush(ctx); err != nil {
		return err
	}
	start := time.Now()
	p.snap = p.win.AppendSnapshot(p.snap[:0])
	p.cells = p.deltas.appendCells(p.cells[:0], p.c.users.Segment)
	err := p.c.store.Commit(ctx, &rtstore.Commit{
		Partition: p.id, Expect: p.stored, Offset: next, Owner: p.owner, Snapshot: p.snap, Cells: p.cells,
	})
	clear(p.cells)
	if err == nil {
		p.c.metrics.checkpointSeconds.Observe(time.Since(start).Seconds())
	}
	return err
}

// dayCache maps event times to days (days since 1970-01-01 of the calendar date in the reporting zone,
// as sessionwindow.Day), recomputing only across midnights.
type dayCache struct {
	loc      *time.Location
	from, to int64 // [from, to) in Unix ms is the cached day
	cached   int32
	valid    bool
}

func (d *dayCache) day(t int64) int32 {
	if d.valid && d.from <= t && t < d.to {
		return d.cached
	}
	y, m, dd := time.UnixMilli(t).In(d.loc).Date()
	d.from = time.Date(y, m, dd, 0, 0, 0, 0, d.loc).UnixMilli()
	d.to = time.Date(y, m, dd+1, 0, 0, 0, 0, d.loc).UnixMilli()
	d.cached = int32(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	d.valid = true
	return d.cached
}
