package csvin

import (
	"bytes"
	"encoding/csv"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
)

const benchRows = 1_000_000

// benchFile is a 1M-row interactions file in the shape datagen writes: mostly plain rows, a few with
// quotes, offsets or fractions.
var benchFile = sync.OnceValue(func() []byte {
	var b []byte
	b = append(b, "user_id,timestamp,action_type,page_id,duration_ms,app_version\n"...)
	actions := []string{"page_view", "edit", "create", "delete", "share"}
	t := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range benchRows {
		ts := t.Add(time.Duration(i) * 31 * time.Second)
		b = append(b, 'u')
		b = strconv.AppendInt(b, int64(i*7919%20000), 10)
		b = append(b, ',')
		switch i % 50 {
		case 0:
			b = ts.AppendFormat(b, "2006-01-02T15:04:05.000Z")
		case 1:
			b = ts.AppendFormat(b, "2006-01-02T15:04:05-07:00")
		default:
			b = ts.AppendFormat(b, "2006-01-02 15:04:05")
		}
		b = append(b, ',')
		b = append(b, actions[i%len(actions)]...)
		if i%100 == 0 {
			b = append(b, `,"p`...)
			b = strconv.AppendInt(b, int64(i%100003), 10)
			b = append(b, `"`...)
		} else {
			b = append(b, ",p"...)
			b = strconv.AppendInt(b, int64(i%100003), 10)
		}
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(i*37%600_000), 10)
		b = append(b, ",5."...)
		b = strconv.AppendInt(b, int64(i/100_000), 10)
		b = append(b, ".3\n"...)
	}
	return b
})

func BenchmarkInteractionReader(b *testing.B) {
	data := benchFile()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cr := NewInteractionReader(bytes.NewReader(data))
		var in event.Interaction
		rows := 0
		for {
			reason, err := cr.Next(&in)
			if err == io.EOF {
				break
			}
			if err != nil || reason != event.OK {
				b.Fatalf("line %d: %v %v", cr.Line(), reason, err)
			}
			rows++
		}
		if rows != benchRows {
			b.Fatalf("%d rows", rows)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkInteractionReaderFields is BenchmarkInteractionReader through NextFields, as the producer
// reads.
func BenchmarkInteractionReaderFields(b *testing.B) {
	data := benchFile()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cr := NewInteractionReader(bytes.NewReader(data))
		var f InteractionFields
		rows := 0
		for {
			reason, err := cr.NextFields(&f)
			if err == io.EOF {
				break
			}
			if err != nil || reason != event.OK {
				b.Fatalf("line %d: %v %v", cr.Line(), reason, err)
			}
			rows++
		}
		if rows != benchRows {
			b.Fatalf("%d rows", rows)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkEncodingCSV is the baseline: encoding/csv splitting the same file into fields, with no
// parsing or checks of the values.
func BenchmarkEncodingCSV(b *testing.B) {
	data := benchFile()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cr := csv.NewReader(bytes.NewReader(data))
		cr.ReuseRecord = true
		cr.FieldsPerRecord = -1
		rows := 0
		for {
			_, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
		if rows != benchRows+1 {
			b.Fatalf("%d rows", rows)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
