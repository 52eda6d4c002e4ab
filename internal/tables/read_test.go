package tables

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

func encode[T any](t *testing.T, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.MaxRowsPerRowGroup(1000))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withRowCount is b with its footer's row count set to n.
func withRowCount(t *testing.T, b []byte, n int64) []byte {
	t.Helper()
	size := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	footer := b[len(b)-8-size : len(b)-8]
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), footer, &md); err != nil {
		t.Fatal(err)
	}
	md.NumRows = n
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		t.Fatal(err)
	}
	out := append(slices.Clone(b[:len(b)-8-size]), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

func powerUsers(n int) []PowerUser {
	rows := make([]PowerUser, n)
	for i := range rows {
		rows[i] = PowerUser{Rank: int64(i + 1), UserID: fmt.Sprint("u", i), EngagedMs: int64(n - i)}
		if i%3 != 0 {
			share := float64(i) / float64(n)
			rows[i].ShareOfEngagedMs = &share
		}
	}
	return rows
}

func TestReadAppendsEveryRow(t *testing.T) {
	rows := powerUsers(2500) // several batches and row groups
	prefix := []PowerUser{{UserID: "already there"}}
	got, err := Read(slices.Clone(prefix), "k", encode(t, rows))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1+len(rows) || got[0] != prefix[0] {
		t.Fatalf("read %d rows, want the prefix and %d", len(got), len(rows))
	}
	for i, r := range rows {
		g := got[1+i]
		if g.Rank != r.Rank || g.UserID != r.UserID || g.EngagedMs != r.EngagedMs ||
			(g.ShareOfEngagedMs == nil) != (r.ShareOfEngagedMs == nil) || (g.ShareOfEngagedMs != nil && *g.ShareOfEngagedMs != *r.ShareOfEngagedMs) {
			t.Fatalf("row %d = %+v, want %+v", i, g, r)
		}
	}

	// A subset of the columns, in another order, reads too.
	type ranks struct {
		UserID string `parquet:"user_id"`
		Rank   int64  `parquet:"rank"`
	}
	sub, err := Read([]ranks(nil), "k", encode(t, rows))
	if err != nil || len(sub) != len(rows) || sub[7] != (ranks{"u7", 8}) {
		t.Errorf("subset: %d rows, row 7 %+v, %v", len(sub), sub[min(7, len(sub)-1)], err)
	}
}

func bronzeRows(n int) []BronzeInteraction {
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make([]BronzeInteraction, n)
	for i := range rows {
		rows[i] = BronzeInteraction{
			UserID: fmt.Sprint("u", rng.IntN(50)), Timestamp: rng.Int64(), ActionType: []string{"view", "edit"}[rng.IntN(2)],
			PageID: fmt.Sprint("p", rng.IntN(1e6)), DurationMs: rng.Int64N(1e6), AppVersion: fmt.Sprint("5.", rng.IntN(3)),
			KafkaPartition: rng.Int32N(8), KafkaOffset: int64(i), Late: rng.IntN(10) == 0,
		}
	}
	return rows
}

// readBronze is Read through OpenBronze and BronzeFile.Scan.
func readBronze(dst []BronzeInteraction, key string, b []byte, strs map[string]string) ([]BronzeInteraction, error) {
	f, err := OpenBronze(key, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return dst, err
	}
	start := len(dst)
	err = f.Scan(strs, func(rows []BronzeInteraction) error {
		dst = append(dst, rows...)
		return nil
	})
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

func TestScanBronzeEqualsRead(t *testing.T) {
	rows := bronzeRows(3000) // more than one batch of Scan's rows
	b := encode(t, rows)
	want, err := Read([]BronzeInteraction(nil), "k", b)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []BronzeInteraction{{UserID: "already there"}}
	got, err := readBronze(slices.Clone(prefix), "k", b, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, append(prefix, want...)) || !slices.Equal(want, rows) {
		t.Errorf("readBronze differs from Read")
	}
}

// TestReadRefusesBrokenFiles: both readers name the object and what is wrong, and leave dst as it was.
func TestReadRefusesBrokenFiles(t *testing.T) {
	f := func(name string, b []byte, want string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			prefix := []DailySketch{{Dimension: "kept"}}
			got, err := Read(slices.Clone(prefix), "gold/x/part-0.parquet", b)
			if err == nil || !strings.Contains(err.Error(), "gold/x/part-0.parquet: "+want) {
				t.Errorf("Read: %v, want an error naming the object and %q", err, want)
			}
			if !slices.EqualFunc(got, prefix, func(a, b DailySketch) bool { return a.Dimension == b.Dimension }) {
				t.Errorf("Read returned %d rows, want dst as it was", len(got))
			}
		})
	}
	good := encode(t, []DailySketch{{"all", "all", []byte{1}}, {"country", "US", []byte{2}}, {"country", "DE", nil}})
	type noHLL struct {
		Dimension string `parquet:"dimension"`
		Value     string `parquet:"value"`
	}
	type intValue struct {
		Dimension string `parquet:"dimension"`
		Value     int64  `parquet:"value"`
		HLL       []byte `parquet:"hll"`
	}
	type optionalDimension struct {
		Dimension *string `parquet:"dimension"`
		Value     string  `parquet:"value"`
		HLL       []byte  `parquet:"hll"`
	}
	f("not parquet", []byte("PAR1 not really"), "not a parquet file")
	f("empty", nil, "not a parquet file")
	f("truncated by a byte", good[:len(good)-1], "not a parquet file")
	f("truncated by half", good[:len(good)/2], "not a parquet file")
	f("a missing column", encode(t, []noHLL{{"all", "all"}}), "no column hll")
	f("a column of another type", encode(t, []intValue{{"all", 1, nil}}), "column value is INT64, want BYTE_ARRAY")
	f("an optional column", encode(t, []optionalDimension{{nil, "all", nil}}), "column dimension is optional BYTE_ARRAY, want BYTE_ARRAY")
	f("more rows than the footer counts", withRowCount(t, good, 2), "3 rows, the footer counts 2")
	f("fewer rows than the footer counts", withRowCount(t, good, 4), "3 rows, the footer counts 4")
	f("a footer counting 2^60 rows", withRowCount(t, good, 1<<60), "3 rows, the footer counts 1152921504606846976")

	if _, err := Read([]DailySketch(nil), "k", good); err != nil {
		t.Errorf("the good file: %v", err)
	}
}

func TestScanBronzeRefusesBrokenFiles(t *testing.T) {
	f := func(name string, b []byte, want string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			prefix := []BronzeInteraction{{UserID: "kept"}}
			got, err := readBronze(slices.Clone(prefix), "bronze/x.parquet", b, map[string]string{})
			if err == nil || !strings.Contains(err.Error(), "bronze/x.parquet: "+want) {
				t.Errorf("readBronze: %v, want an error naming the object and %q", err, want)
			}
			if !slices.Equal(got, prefix) {
				t.Errorf("readBronze returned %d rows, want dst as it was", len(got))
			}
		})
	}
	good := encode(t, bronzeRows(300))
	type notBronze struct {
		UserID string `parquet:"user_id"`
	}
	type optionalLate struct {
		BronzeInteraction
		Late *bool `parquet:"late"`
	}
	f("truncated", good[:len(good)-10], "not a parquet file")
	f("missing columns", encode(t, []notBronze{{"u1"}}), "no column timestamp, action_type, page_id, duration_ms, app_version, kafka_partition, kafka_offset, late")
	f("an optional column", encode(t, []optionalLate{{}}), "column late is optional BOOLEAN, want BOOLEAN")
	f("more rows than the footer counts", withRowCount(t, good, 299), "300 rows, the footer counts 299")
	f("fewer rows than the footer counts", withRowCount(t, good, 1<<40), "300 rows, the footer counts 1099511627776")
}

// TestScanStreamsWhatReadReads: Scan and BronzeFile.Scan, reading from an io.ReaderAt in batches,
// hand over the rows Read reads, keep its checks, and stop at fn's error.
func TestScanStreamsWhatReadReads(t *testing.T) {
	rows := powerUsers(10_000) // several batches and row groups
	b := encode(t, rows)
	var got []PowerUser
	batches := 0
	err := Scan(bytes.NewReader(b), int64(len(b)), "k", func(batch []PowerUser) error {
		batches++
		got = append(got, batch...)
		return nil
	})
	if want, _ := Read([]PowerUser(nil), "k", b); err != nil || batches < 2 || len(got) != len(want) || got[9999].UserID != want[9999].UserID {
		t.Fatalf("Scan: %d rows in %d batches, %v; want %d rows in batches", len(got), batches, err, len(want))
	}
	stop := fmt.Errorf("stop")
	if err := Scan(bytes.NewReader(b), int64(len(b)), "k", func([]PowerUser) error { return stop }); err != stop {
		t.Fatalf("Scan returned %v, want fn's error", err)
	}
	short := withRowCount(t, b, 9999)
	if err := Scan(bytes.NewReader(short), int64(len(short)), "k", func([]PowerUser) error { return nil }); err == nil ||
		!strings.Contains(err.Error(), "k: 10000 rows, the footer counts 9999") {
		t.Fatalf("Scan of a miscounted file: %v", err)
	}

	bronze := bronzeRows(3000)
	bb := encode(t, bronze)
	f, err := OpenBronze("k", bytes.NewReader(bb), int64(len(bb)))
	if err != nil || f.NumRows() != 3000 {
		t.Fatalf("OpenBronze: %v", err)
	}
	var gotBronze []BronzeInteraction
	if err := f.Scan(map[string]string{}, func(batch []BronzeInteraction) error { gotBronze = append(gotBronze, batch...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotBronze, bronze) {
		t.Fatal("BronzeFile.Scan differs from the rows written")
	}
}
