package producer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// resumePoint is, for one source, the line of its last record on each partition of its event topic
// and of the dead-letter topic; 0 where it has none.
type resumePoint struct {
	events []int64
	dlq    []int64
}

func (r resumePoint) eventLine(part int32) int64 { return lineAt(r.events, part) }
func (r resumePoint) dlqLine(part int32) int64   { return lineAt(r.dlq, part) }

func lineAt(lines []int64, part int32) int64 {
	if int(part) < len(lines) {
		return lines[part]
	}
	return 0
}

// firstWindow is how many records at the end of a partition are read first. Topics shared by several
// sources (the dead-letter topic) may need more: the window grows fourfold until it holds a record of
// the source or covers the partition.
const firstWindow = 1024

// resumePoint reads back, per partition of topic and of the dead-letter topic, the line header of the
// last record of source. The last record rather than the highest line: if the file was replayed in
// full before, the older replay's higher lines must not hide where the latest one stopped.
func (p *producer) resumePoint(ctx context.Context, source, topic string) (resumePoint, error) {
	var rp resumePoint
	var err error
	if rp.events, err = p.lastLines(ctx, source, topic); err != nil {
		return rp, err
	}
	if rp.dlq, err = p.lastLines(ctx, source, p.cfg.TopicDLQ); err != nil {
		return rp, err
	}
	return rp, nil
}

func (p *producer) lastLines(ctx context.Context, source, topic string) ([]int64, error) {
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

	lines := make([]int64, p.partitions[topic])
	for part := range lines {
		s, ok1 := starts.Lookup(topic, int32(part))
		e, ok2 := ends.Lookup(topic, int32(part))
		if !ok1 || !ok2 || s.Err != nil || e.Err != nil {
			return nil, fmt.Errorf("resume: offsets of %s[%d] unknown", topic, part)
		}
		hi := e.Offset
		for window := int64(firstWindow); hi > s.Offset; window *= 4 {
			lo := max(s.Offset, hi-window)
			line, found, err := readLines(ctx, cl, source, topic, int32(part), lo, hi)
			if err != nil {
				return nil, err
			}
			if found {
				lines[part] = line
				break
			}
			hi = lo
		}
	}
	return lines, nil
}

// readLines returns the line header of the last record of source at offsets [lo, hi).
func readLines(ctx context.Context, cl *kgo.Client, source, topic string, part int32, lo, hi int64) (int64, bool, error) {
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().At(lo)}})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: {part}})
	var last int64
	found := false
	for next := lo; next < hi; {
		// A compacted topic may lack the last offsets of the range: stop when the broker has nothing more.
		pollCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return 0, false, fmt.Errorf("resume: read %s[%d]: %w", topic, part, ctx.Err())
		}
		if pollCtx.Err() != nil && fs.NumRecords() == 0 {
			break
		}
		for _, fe := range fs.Errors() {
			if fe.Err != context.DeadlineExceeded {
				return 0, false, fmt.Errorf("resume: read %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic != topic || r.Partition != part || r.Offset < lo || r.Offset >= hi {
				return
			}
			next = r.Offset + 1
			if line, ok := originLine(r, source); ok {
				found = true
				last = line
			}
		})
	}
	return last, found, nil
}

// originLine returns the line header of r if its source header is source.
func originLine(r *kgo.Record, source string) (int64, bool) {
	var src, line []byte
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderSource:
			src = h.Value
		case HeaderLine:
			line = h.Value
		}
	}
	if string(src) != source {
		return 0, false
	}
	n, err := strconv.ParseInt(string(line), 10, 64)
	return n, err == nil
}
