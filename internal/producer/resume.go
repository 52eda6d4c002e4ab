package producer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/record"
)

// resumePoint is, for one source, what its topics already hold: per partition of its event topic and
// of the dead-letter topic, every row up to a line, and on the interactions topic also the next
// `after` rows of the partition (events carry no line header; see the package comment).
type resumePoint struct {
	events []int64
	after  []int64 // rows after events[part] already on the partition; counted down by skipEvent
	dlq    []int64
}

// skipEvent reports whether the row at line, meant for part, is already on the topic.
func (r *resumePoint) skipEvent(part int32, line int64) bool {
	if line <= lineAt(r.events, part) {
		return true
	}
	if int(part) < len(r.after) && r.after[part] > 0 {
		r.after[part]--
		return true
	}
	return false
}

// pending reports whether rows already on part are still to be skipped: until then a control record
// on part could not say which rows precede it.
func (r *resumePoint) pending(part int32) bool { return int(part) < len(r.after) && r.after[part] > 0 }

func (r *resumePoint) dlqLine(part int32) int64 { return lineAt(r.dlq, part) }

func lineAt(lines []int64, part int32) int64 {
	if int(part) < len(lines) {
		return lines[part]
	}
	return 0
}

// tail is what the end of a partition holds of one source: the line header of its last record
// (on the interactions topic, of its last control record) and the events after that control record
// up to the next control record of another source.
type tail struct {
	line, after int64
	found       bool
	inSegment   bool // the last control record read was the source's
	otherOrder  bool // the source's last control record is of a replay in the other order
}

// add reads the next record of the partition, in offset order. On the interactions topic, a
// time-ordered replay's control records carry HeaderSeq where a file-ordered one's carry HeaderLine.
func (t *tail) add(r *kgo.Record, source string, byControl, byTime bool) {
	if !byControl {
		if line, ok := originLine(r, source); ok {
			*t = tail{line: line, found: true}
		}
		return
	}
	if len(r.Headers) == 0 || r.Headers[0].Key != record.ControlHeader {
		if t.inSegment {
			t.after++
		}
		return
	}
	key, other := HeaderLine, HeaderSeq
	if byTime {
		key, other = other, key
	}
	line, ok := originAt(r, source, key)
	t.inSegment = ok
	if ok {
		*t = tail{line: line, found: true, inSegment: true}
	} else if _, ok := originAt(r, source, other); ok {
		*t = tail{found: true, otherOrder: true}
	}
}

// firstWindow is how many records at the end of a partition are read first. Topics shared by several
// sources (the dead-letter topic) may need more: the window grows fourfold until it holds a record of
// the source (a control record on the interactions topic) or covers the partition.
const firstWindow = 1024

// resumePoint reads back, per partition of topic and of the dead-letter topic, where the latest replay
// of source stopped. The last record rather than the highest line: if the file was replayed in full
// before, the older replay's higher lines must not hide where the latest one stopped.
func (p *producer) resumePoint(ctx context.Context, source, topic string, byTime bool) (resumePoint, error) {
	var rp resumePoint
	tails, err := p.tails(ctx, source, topic, topic == p.cfg.TopicInteractions, byTime)
	if err != nil {
		return rp, err
	}
	for _, t := range tails {
		if t.otherOrder {
			order, other := OrderFile, OrderTime
			if byTime {
				order, other = other, order
			}
			return rp, fmt.Errorf("resume: the latest replay of %s on %s used --order %s, not %s: resume with --order %s",
				source, topic, other, order, other)
		}
		rp.events = append(rp.events, t.line)
		rp.after = append(rp.after, t.after)
	}
	if tails, err = p.tails(ctx, source, p.cfg.TopicDLQ, false, false); err != nil {
		return rp, err
	}
	for _, t := range tails {
		rp.dlq = append(rp.dlq, t.line)
	}
	return rp, nil
}

// tails reads the tail of source on every partition of topic; byControl when only control records
// carry the source and line headers.
func (p *producer) tails(ctx context.Context, source, topic string, byControl, byTime bool) ([]tail, error) {
	tails := make([]tail, p.partitions[topic])
	if p.created[topic] {
		// Listing its offsets could fail: kgo's metadata cache may not know the topic yet.
		return tails, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	starts, err := p.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("resume: list start offsets of %s: %w", topic, err)
	}
	ends, err := p.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("resume: list end offsets of %s: %w", topic, err)
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(p.cfg.Brokers...), kgo.FetchMaxWait(200 * time.Millisecond)},
		p.cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("resume: kafka client: %w", err)
	}
	defer cl.Close()

	for part := range tails {
		s, ok1 := starts.Lookup(topic, int32(part))
		e, ok2 := ends.Lookup(topic, int32(part))
		if !ok1 || !ok2 || s.Err != nil || e.Err != nil {
			return nil, fmt.Errorf("resume: offsets of %s[%d] unknown", topic, part)
		}
		// Every window reaches the end: the events after a control record count too.
		for window := int64(firstWindow); e.Offset > s.Offset; window *= 4 {
			lo := max(s.Offset, e.Offset-window)
			t, err := readTail(ctx, cl, source, topic, int32(part), lo, e.Offset, byControl, byTime)
			if err != nil {
				return nil, err
			}
			if t.found || lo == s.Offset {
				tails[part] = t
				break
			}
		}
	}
	return tails, nil
}

// readTail reads the tail of source at offsets [lo, hi).
func readTail(ctx context.Context, cl *kgo.Client, source, topic string, part int32, lo, hi int64, byControl, byTime bool) (tail, error) {
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().At(lo)}})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: {part}})
	var t tail
	for next := lo; next < hi; {
		// A compacted topic may lack the last offsets of the range: stop when the broker has nothing more.
		pollCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return tail{}, fmt.Errorf("resume: read %s[%d]: %w", topic, part, ctx.Err())
		}
		if pollCtx.Err() != nil && fs.NumRecords() == 0 {
			break
		}
		for _, fe := range fs.Errors() {
			if fe.Err != context.DeadlineExceeded {
				return tail{}, fmt.Errorf("resume: read %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic != topic || r.Partition != part || r.Offset < next || r.Offset >= hi {
				return
			}
			next = r.Offset + 1
			t.add(r, source, byControl, byTime)
		})
	}
	return t, nil
}

// originLine returns the line header of r if its source header is source.
func originLine(r *kgo.Record, source string) (int64, bool) { return originAt(r, source, HeaderLine) }

// originAt returns the header key (HeaderLine or HeaderSeq) of r if its source header is source.
func originAt(r *kgo.Record, source, key string) (int64, bool) {
	var src, line []byte
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderSource:
			src = h.Value
		case key:
			line = h.Value
		}
	}
	if string(src) != source || line == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(line), 10, 64)
	return n, err == nil
}
