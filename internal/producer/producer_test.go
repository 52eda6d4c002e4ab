package producer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
)

func TestPacer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pacer{speed: 3600, now: time.Now}
		start := time.Now()
		f := func(event int64, wantElapsed time.Duration) {
			t.Helper()
			if err := p.wait(context.Background(), event); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(start); got != wantElapsed {
				t.Fatalf("after event time %d: %s elapsed, want %s", event, got, wantElapsed)
			}
		}
		const hour = int64(time.Hour / time.Millisecond)
		f(1_000*hour, 0)
		f(1_000*hour+hour, time.Second)
		// The maximum drives the replay: an older event does not wait again.
		f(1_000*hour+hour, time.Second)
		f(1_000*hour+3*hour, 3*time.Second)
		// Less than minSleep ahead: no timer.
		f(1_000*hour+3*hour+3, 3*time.Second)
	})
}

func TestPacerMaxSpeedNeverWaits(t *testing.T) {
	p := pacer{now: time.Now}
	for _, ev := range []int64{0, 1 << 40, 5} {
		if err := p.wait(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPacerCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pacer{speed: 1, now: time.Now}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = p.wait(ctx, 0)
		if err := p.wait(ctx, 10_000); err != context.DeadlineExceeded {
			t.Fatalf("wait = %v, want deadline exceeded", err)
		}
	})
}

func TestFileSummaryString(t *testing.T) {
	s := FileSummary{File: "i.csv", Read: 10, Produced: 5, DeadLettered: 3, Skipped: 2,
		ByReason: map[string]int64{"bad_duration": 1, "malformed": 2}}
	want := "i.csv: read 10, produced 5, dead-lettered 3 (malformed 2, bad_duration 1), skipped on resume 2"
	if got := s.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestOriginHeadersRoundTrip(t *testing.T) {
	p := &producer{}
	p.setOrigin(0, "a.csv", 1234567)
	r := &kgo.Record{}
	for _, h := range p.headers[:2] {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	if line, ok := originLine(r, "a.csv"); !ok || line != 1234567 {
		t.Fatalf("originLine = %d, %v", line, ok)
	}
	if _, ok := originLine(r, "b.csv"); ok {
		t.Fatal("originLine matched another source")
	}
	// The header values reuse the producer's buffers.
	if n := testing.AllocsPerRun(100, func() { p.setOrigin(1, "a.csv", 42) }); n != 0 {
		t.Fatalf("setOrigin allocates %v times", n)
	}
}

// withOrigin appends source and line headers as the producer writes them.
func withOrigin(r *kgo.Record, source string, line int64) {
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderSource, Value: []byte(source)},
		kgo.RecordHeader{Key: HeaderLine, Value: strconv.AppendInt(nil, line, 10)})
}

// TestTailOfInteractions reads a partition where a.csv was replayed, then b.csv, then a.csv again and
// interrupted: a.csv's tail is its last control record and the events after it, up to b.csv's.
func TestTailOfInteractions(t *testing.T) {
	control := func(source string, line int64) *kgo.Record {
		r := &kgo.Record{Headers: []kgo.RecordHeader{{Key: record.ControlHeader, Value: []byte(record.ControlProgress)}}}
		withOrigin(r, source, line)
		return r
	}
	ev := &kgo.Record{Value: []byte("{}")}
	for _, tc := range []struct {
		name      string
		recs      []*kgo.Record
		wantLine  int64
		wantAfter int64
		wantFound bool
	}{
		{"events of an unknown source", []*kgo.Record{ev, ev}, 0, 0, false},
		{"the source's segment", []*kgo.Record{ev, control("a.csv", 7), ev, ev}, 7, 2, true},
		{"another source follows", []*kgo.Record{control("a.csv", 0), ev, control("b.csv", 0), ev, ev}, 0, 1, true},
		{"the latest of the source", []*kgo.Record{control("a.csv", 9), ev, control("b.csv", 3), ev,
			control("a.csv", 4), ev, ev, ev}, 4, 3, true},
	} {
		var tl tail
		for _, r := range tc.recs {
			tl.add(r, "a.csv", true, false)
		}
		if tl.line != tc.wantLine || tl.after != tc.wantAfter || tl.found != tc.wantFound {
			t.Errorf("%s: tail = %+v, want line %d after %d found %v", tc.name, tl, tc.wantLine, tc.wantAfter, tc.wantFound)
		}
	}
}

// TestTailOfTimeOrderedReplay: a time-ordered replay's control records carry seq, not line; resuming
// in the other order is noticed.
func TestTailOfTimeOrderedReplay(t *testing.T) {
	control := func(key string, n int64) *kgo.Record {
		return &kgo.Record{Headers: []kgo.RecordHeader{{Key: record.ControlHeader, Value: []byte(record.ControlProgress)},
			{Key: HeaderSource, Value: []byte("a.csv")}, {Key: key, Value: strconv.AppendInt(nil, n, 10)}}}
	}
	ev := &kgo.Record{Value: []byte("{}")}
	f := func(recs []*kgo.Record, byTime bool, want tail) {
		t.Helper()
		var tl tail
		for _, r := range recs {
			tl.add(r, "a.csv", true, byTime)
		}
		if tl != want {
			t.Errorf("tail = %+v, want %+v", tl, want)
		}
	}
	f([]*kgo.Record{control(HeaderSeq, 5), ev, ev}, true, tail{line: 5, after: 2, found: true, inSegment: true})
	f([]*kgo.Record{control(HeaderLine, 9), ev, control(HeaderSeq, 5), ev}, true, tail{line: 5, after: 1, found: true, inSegment: true})
	f([]*kgo.Record{control(HeaderSeq, 5), ev}, false, tail{found: true, otherOrder: true})
	f([]*kgo.Record{control(HeaderLine, 5), ev}, true, tail{found: true, otherOrder: true})
}

// TestSkipEvent skips the rows up to the line, then the counted rows after it, then none.
func TestSkipEvent(t *testing.T) {
	rp := resumePoint{events: []int64{10, 0}, after: []int64{2, 0}}
	var got []bool
	for _, line := range []int64{3, 10, 12, 15, 20} {
		got = append(got, rp.skipEvent(0, line))
	}
	if want := []bool{true, true, true, true, false}; !slices.Equal(got, want) {
		t.Fatalf("partition 0 skips %v, want %v", got, want)
	}
	if rp.pending(0) || rp.skipEvent(1, 1) || rp.skipEvent(5, 1) {
		t.Fatal("skipped a row not on the topic")
	}
	rp = resumePoint{after: []int64{1}}
	if !rp.pending(0) || !rp.skipEvent(0, 1) || rp.pending(0) {
		t.Fatal("pending rows not counted down")
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{InteractionsFile: "x.csv"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Brokers[0] != "127.0.0.1:9092" || c.TopicDLQ != "ingest.dlq" || c.Partitions != 8 || c.ProgressRows != 100_000 {
		t.Fatalf("defaults: %+v", c)
	}
	for _, bad := range []Config{{}, {UsersFile: "-"}, {InteractionsFile: "x", Speed: -1}, {InteractionsFile: "x", Compression: "gzip2"}} {
		if err := bad.Validate(); err == nil {
			t.Fatalf("Validate accepted %+v", bad)
		}
	}
}

// TestParseInteractions hands over every row in order with the raw line of unreadable ones, and stops
// parsing when told.
func TestParseInteractions(t *testing.T) {
	var sb strings.Builder
	const rows = 1000
	for i := range rows {
		if i%100 == 0 {
			fmt.Fprintf(&sb, "u%d,bad,edit,p1,1,1\n", i)
			continue
		}
		fmt.Fprintf(&sb, "u%d,2023-07-01 10:00:00,edit,p1,1,1\n", i)
	}
	parser := parseInteractions(strings.NewReader(sb.String()))
	defer parser.close()
	line := int64(0)
	for b := range parser.full {
		for _, r := range b.rows {
			line++
			if r.line != line || (r.reason != event.OK) != (line%100 == 1) {
				t.Fatalf("row %+v, want line %d", r, line)
			}
			if want := fmt.Sprintf("u%d,bad,edit,p1,1,1", line-1); r.reason != event.OK && string(r.raw) != want {
				t.Fatalf("raw %q, want %q", r.raw, want)
			}
		}
		if b.err != nil {
			if b.err != io.EOF || line != rows {
				t.Fatalf("ended with %v after %d rows", b.err, line)
			}
			break
		}
		parser.free <- b
	}

	stopped := parseInteractions(strings.NewReader(strings.Repeat("u1,2023-07-01 10:00:00,edit,p1,1,1\n", 10*parseBatchRows*parseBatches)))
	<-stopped.full
	stopped.abandon()
	for range stopped.full { // closed once the goroutine returns
	}
}

// TestParseInteractionsMatchesReader compares the parsing goroutine's batches, whose strings are cut
// from one string per batch, with csvin's row-by-row reading of the sample's dirty rows.
func TestParseInteractionsMatchesReader(t *testing.T) {
	data, err := os.ReadFile("../../data/user_interactions.csv")
	if err != nil {
		t.Fatal(err)
	}
	parser := parseInteractions(bytes.NewReader(data))
	defer parser.close()
	rd := csvin.NewInteractionReader(bytes.NewReader(data))
	rows := 0
	for b := range parser.full {
		for _, got := range b.rows {
			var want event.Interaction
			reason, err := rd.Next(&want)
			if err != nil {
				t.Fatalf("row %d: reader: %v", rows, err)
			}
			if got.reason != reason || got.line != rd.Line() {
				t.Fatalf("row %d: reason %v line %d, want %v line %d", rows, got.reason, got.line, reason, rd.Line())
			}
			if reason == event.OK && got.in != want {
				t.Fatalf("line %d: %+v, want %+v", got.line, got.in, want)
			}
			if reason != event.OK && string(got.raw) != string(rd.Raw()) {
				t.Fatalf("line %d: raw %q, want %q", got.line, got.raw, rd.Raw())
			}
			rows++
		}
		if b.err != nil {
			if b.err != io.EOF {
				t.Fatal(b.err)
			}
			break
		}
		parser.free <- b
	}
	if _, err := rd.Next(new(event.Interaction)); err != io.EOF || rows < 20_000 {
		t.Fatalf("%d rows, then reader says %v", rows, err)
	}
}
