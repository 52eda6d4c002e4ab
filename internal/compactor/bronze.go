package compactor

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/tables"
)

// bronzeWriter is the bronze phase's map step: it turns a plan's records into staged objects, one per
// range with a segment per partition value, and reproduces the stream's late flags on the way. The
// ranges read are written in the background while the next ones are read, so decoding and sorting
// use both cores.
type bronzeWriter struct {
	c       *Compactor
	ctx     context.Context
	run     int64 // the plan's run, whose staging prefix the objects go under
	topic   string
	queue   map[int32][]Range    // the plan's ranges of each partition, in offset order
	bufs    map[int32]*rangeRows // rows of each partition's current range
	maxTime map[int32]int64      // per interactions partition, from events and progress records
	writes  *errgroup.Group      // ranges being written, at most one per partition
	wctx    context.Context      // cancelled when a write fails

	mu      sync.Mutex                    // guards touched, staged and sum's bronze counts, which the writes update
	touched map[int32]bool                // days written
	staged  map[bronzeDir][]stagedSegment // the staged rows of each bronze directory
	sum     *Summary
}

// rangeRows holds the rows read so far of one partition's current range.
type rangeRows struct {
	inter []tables.BronzeInteraction
	users []bronzeUserRow
}

type bronzeUserRow struct {
	tables.BronzeUser
	country string
}

func (b *bronzeWriter) read(topic string, ranges []Range) error {
	b.topic = topic
	b.queue = map[int32][]Range{}
	b.bufs = map[int32]*rangeRows{}
	from, to := map[int32]int64{}, map[int32]int64{}
	for _, r := range ranges {
		if r.Topic != topic {
			continue
		}
		if len(b.queue[r.Partition]) == 0 {
			from[r.Partition] = r.From
		}
		b.queue[r.Partition] = append(b.queue[r.Partition], r)
		to[r.Partition] = r.To
	}
	for p, q := range b.queue {
		b.bufs[p] = b.newRangeRows(q[0])
	}
	b.writes, b.wctx = errgroup.WithContext(b.ctx)
	b.writes.SetLimit(max(1, len(b.queue)))
	err := b.c.src.Read(b.wctx, topic, from, to, b.add)
	if err == nil {
		// Ranges that ended in offsets with no record (or whose last record was a control record).
		for _, p := range slices.Sorted(maps.Keys(b.queue)) {
			for len(b.queue[p]) > 0 {
				b.flush(p)
			}
		}
	}
	// A failed write cancels the read: its error is the one to report.
	if werr := b.writes.Wait(); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	return nil
}

// newRangeRows returns the buffer of a range's rows, sized for the range.
func (b *bronzeWriter) newRangeRows(r Range) *rangeRows {
	n := min(r.To-r.From, 1<<20)
	if r.Topic == b.c.cfg.UsersTopic {
		return &rangeRows{users: make([]bronzeUserRow, 0, n)}
	}
	return &rangeRows{inter: make([]tables.BronzeInteraction, 0, n)}
}

func (b *bronzeWriter) add(rec *Record) error {
	q := b.queue[rec.Partition]
	for len(q) > 0 && rec.Offset >= q[0].To {
		b.flush(rec.Partition)
		q = b.queue[rec.Partition]
	}
	if len(q) == 0 || rec.Offset < q[0].From {
		return nil
	}
	b.sum.Records++
	b.c.progress.Add(1)
	if rec.Control != "" {
		b.control(rec)
		return nil
	}
	if b.topic == b.c.cfg.UsersTopic {
		var u event.User
		if err := record.DecodeUser(rec.Value, &u); err != nil {
			b.undecodable(rec, err)
			return nil
		}
		buf := b.bufs[rec.Partition]
		buf.users = append(buf.users, bronzeUserRow{tables.BronzeUser{
			UserID: u.UserID, JoinDate: u.JoinDate, DeviceType: u.DeviceType, SubscriptionType: u.SubscriptionType,
			KafkaPartition: rec.Partition, KafkaOffset: rec.Offset,
		}, u.Country})
		return nil
	}
	var in event.Interaction
	if err := record.DecodeInteraction(rec.Value, &in); err != nil {
		b.undecodable(rec, err)
		return nil
	}
	row := tables.BronzeInteraction{
		UserID: in.UserID, Timestamp: in.Time, ActionType: in.Action, PageID: in.PageID,
		DurationMs: in.DurationMs, AppVersion: in.AppVersion,
		KafkaPartition: rec.Partition, KafkaOffset: rec.Offset,
	}
	// The stream's rule: a valid event is late when older than the partition's watermark, the
	// maximum event time seen so far minus the allowed lateness.
	if event.Check(&in) == event.OK {
		max, seen := b.maxTime[rec.Partition]
		row.Late = seen && in.Time < max-b.c.cfg.Lateness.Milliseconds()
		if !seen || in.Time > max {
			b.maxTime[rec.Partition] = in.Time
		}
	}
	buf := b.bufs[rec.Partition]
	buf.inter = append(buf.inter, row)
	return nil
}

func (b *bronzeWriter) control(rec *Record) {
	// Both kinds carry event time, which the consumer applies before closing sessions at an end.
	if (rec.Control != record.ControlProgress && rec.Control != record.ControlEnd) || b.topic != b.c.cfg.InteractionsTopic {
		return
	}
	c, err := record.DecodeControl(rec.Value)
	if err != nil {
		b.undecodable(rec, err)
		return
	}
	if max, seen := b.maxTime[rec.Partition]; !seen || c.EventTime > max {
		b.maxTime[rec.Partition] = c.EventTime
	}
}

func (b *bronzeWriter) undecodable(rec *Record, err error) {
	b.sum.Undecodable++
	b.c.log.Warn("skipping undecodable record", "topic", b.topic, "partition", rec.Partition, "offset", rec.Offset, "err", err)
}

// flush starts writing the partition's current range to bronze and moves to its next range. It
// waits while every partition has a range being written, so a topic's rows in memory are at most
// the ranges being read plus those being written: twice Config.Chunk.
func (b *bronzeWriter) flush(p int32) {
	r := b.queue[p][0]
	b.queue[p] = b.queue[p][1:]
	buf := b.bufs[p]
	if len(b.queue[p]) > 0 {
		b.bufs[p] = b.newRangeRows(b.queue[p][0])
	}
	b.writes.Go(func() error { return b.write(r, buf.inter, buf.users) })
}

// write stages one range's rows.
func (b *bronzeWriter) write(r Range, inter []tables.BronzeInteraction, users []bronzeUserRow) error {
	byDay := map[int32][]tables.BronzeInteraction{}
	for _, row := range inter {
		d := event.DayOf(row.Timestamp, b.c.cfg.Location)
		byDay[d] = append(byDay[d], row)
	}
	var dirs []bronzeDir
	var writes []func(io.Writer) error // a segment's rows, of dirs[i]
	for _, d := range slices.Sorted(maps.Keys(byDay)) {
		rows := byDay[d]
		slices.SortFunc(rows, func(a, b tables.BronzeInteraction) int { return compareBronze(&a, &b) })
		dirs = append(dirs, bronzeDir{tables.BronzeInteractions, tables.BronzeInteractions + "/date=" + event.Date(d)})
		writes = append(writes, func(w io.Writer) error { return stagedInteractions.write(w, rows) })
	}
	byCountry := map[string][]tables.BronzeUser{}
	for _, u := range users {
		byCountry[u.country] = append(byCountry[u.country], u.BronzeUser)
	}
	for _, country := range slices.Sorted(maps.Keys(byCountry)) {
		rows := byCountry[country]
		slices.SortFunc(rows, func(a, b tables.BronzeUser) int { return compareBronzeUser(&a, &b) })
		dirs = append(dirs, bronzeDir{tables.BronzeUsers, tables.BronzeUsers + "/" + countryPartition(country)})
		writes = append(writes, func(w io.Writer) error { return stagedUsers.write(w, rows) })
	}
	if len(dirs) == 0 {
		return nil
	}
	key := stagedKey(b.run, r)
	segs := make([]stagedSegment, len(dirs))
	err := b.c.store.Put(b.wctx, key, func(w io.Writer) error {
		cw := &countingWriter{w: w}
		for i, write := range writes {
			off := cw.n
			if err := write(cw); err != nil {
				return err
			}
			segs[i] = stagedSegment{key, off, cw.n - off}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("stage %s: %w", r, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for d := range byDay {
		b.touched[d] = true
	}
	for i, dir := range dirs {
		b.staged[dir] = append(b.staged[dir], segs[i])
	}
	b.sum.BronzeRows += int64(len(inter))
	b.sum.UserRows += int64(len(users))
	return nil
}
