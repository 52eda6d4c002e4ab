package rowfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"testing"
)

type row struct {
	S    string
	I    int64
	B    bool
	Rest string
}

func encodeRow(e *Encoder, r *row) {
	e.String(r.S)
	e.Int(r.I)
	e.Bool(r.B)
	e.String(r.Rest)
}

func decodeRow(d *Decoder, r *row) {
	r.S = d.String()
	r.I = d.Int()
	r.B = d.Bool()
	r.Rest = d.String()
}

func rowsOf(n int) []row {
	out := make([]row, n)
	for i := range out {
		out[i] = row{S: fmt.Sprint("user-", i%97), I: int64(i*7919) - 1<<40, B: i%3 == 0, Rest: fmt.Sprint(i)}
	}
	if n > 1 {
		out[1] = row{S: "", I: math.MinInt64, Rest: string(make([]byte, 3000))}
		out[n-1].I = math.MaxInt64
	}
	return out
}

func write(t testing.TB, rows []row, batch int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, encodeRow)
	for len(rows) > 0 {
		n := min(batch, len(rows))
		if err := w.Write(rows[:n]); err != nil {
			t.Fatal(err)
		}
		rows = rows[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readAll(b []byte, batch int) ([]row, error) {
	r := NewReader(bytes.NewReader(b), "test", decodeRow)
	var out []row
	buf := make([]row, batch)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 2, 1000, 20_000} {
		for _, batch := range []int{1, 7, 4096} {
			rows := rowsOf(n)
			b := write(t, rows, batch)
			got, err := readAll(b, batch)
			if err != nil {
				t.Fatalf("%d rows in batches of %d: %v", n, batch, err)
			}
			if !slices.Equal(got, rows) {
				t.Fatalf("%d rows in batches of %d: read back differs", n, batch)
			}
		}
	}
}

// TestTornOrCorrupt: a file cut at any byte, or with any byte changed, is an error, never rows
// that were not written.
func TestTornOrCorrupt(t *testing.T) {
	rows := rowsOf(3000)
	b := write(t, rows, 100)
	for cut := 0; cut < len(b); cut += max(1, len(b)/997) {
		if _, err := readAll(b[:cut], 64); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d of %d: %v, want ErrCorrupt", cut, len(b), err)
		}
	}
	for i := 0; i < len(b); i += max(1, len(b)/1499) {
		bad := slices.Clone(b)
		bad[i] ^= 0x10
		if _, err := readAll(bad, 64); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d of %d changed: %v, want ErrCorrupt", i, len(b), err)
		}
	}
	if _, err := readAll(append(slices.Clone(b), 0), 64); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a byte after the trailer: %v", err)
	}
}

func TestReaderError(t *testing.T) {
	b := write(t, rowsOf(100), 100)
	broken := errors.New("broken")
	r := NewReader(io.MultiReader(bytes.NewReader(b[:20]), iotestErr{broken}), "test", decodeRow)
	if _, err := r.Read(make([]row, 10)); !errors.Is(err, broken) {
		t.Fatalf("read error: %v", err)
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

func FuzzReader(f *testing.F) {
	f.Add(write(f, rowsOf(0), 1))
	f.Add(write(f, rowsOf(50), 7))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := readAll(b, 16)
		if err != nil {
			return
		}
		// What reads without error writes back to the same bytes' rows.
		again, err := readAll(write(t, rows, 16), 16)
		if err != nil || !slices.Equal(again, rows) {
			t.Fatalf("rows read do not round-trip: %v", err)
		}
	})
}
