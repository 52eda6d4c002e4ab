package extsort

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/notestream/notestream/internal/event"
)

// ownedRow is a Row whose strings do not alias a source's buffer.
func owned(r Row) Row {
	r.In.UserID, r.In.Action = strings.Clone(r.In.UserID), strings.Clone(r.In.Action)
	r.In.PageID, r.In.AppVersion = strings.Clone(r.In.PageID), strings.Clone(r.In.AppVersion)
	return r
}

// sliceSource yields rows of a slice.
type sliceSource struct{ rows []Row }

func (s *sliceSource) Next(r *Row) error {
	if len(s.rows) == 0 {
		return io.EOF
	}
	*r = s.rows[0]
	s.rows = s.rows[1:]
	return nil
}

// rereader returns a reread function over input, as a caller reading its input again would.
func rereader(input []Row) func(int64) (Source, error) {
	return func(line int64) (Source, error) {
		i := sort.Search(len(input), func(i int) bool { return input[i].Line > line })
		return &sliceSource{rows: input[:i]}, nil
	}
}

// sortAll sorts input with a Sorter of memory bytes per run and returns the merged rows.
func sortAll(t *testing.T, input []Row, memory int64) ([]Row, Stats) {
	t.Helper()
	s, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.Memory = memory // below the minimum, to spill small inputs often
	defer func() {
		dir := s.Dir()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if dir != "" {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("spill directory %s still there after Close: %v", dir, err)
			}
		}
	}()
	for i := range input {
		if err := s.Add(&input[i]); err != nil {
			t.Fatal(err)
		}
	}
	src, err := s.Merge(rereader(input))
	if err != nil {
		t.Fatal(err)
	}
	var out []Row
	for {
		var r Row
		err := src.Next(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, owned(r))
	}
	return out, s.Stats()
}

// naive is the reference: a stable sort by time of the rows in input order.
func naive(input []Row) []Row {
	want := slices.Clone(input)
	sort.SliceStable(want, func(i, j int) bool { return want[i].In.Time < want[j].In.Time })
	return want
}

func genRows(rng *rand.Rand, n int, timeRange int64, sortedPct int) []Row {
	rows := make([]Row, n)
	line := int64(0)
	var t0 int64 = 1672531200000
	for i := range rows {
		line += 1 + rng.Int64N(3) // dead letters and a header leave gaps
		tm := t0 + rng.Int64N(timeRange+1)
		if rng.IntN(100) < sortedPct && i > 0 {
			tm = rows[i-1].In.Time + rng.Int64N(2)
		}
		rows[i] = Row{Line: line, Plain: rng.IntN(2) == 0, In: event.Interaction{
			UserID: fmt.Sprintf("u%d", rng.IntN(1000)), Time: tm, Action: []string{"page_view", "edit", ""}[rng.IntN(3)],
			PageID: strings.Repeat("p", rng.IntN(300)), DurationMs: rng.Int64N(1<<40) - 1<<39, AppVersion: "5.7.3",
		}}
	}
	return rows
}

func TestSortAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		n := rng.IntN(3000)
		timeRange := []int64{0, 5, 1000, 365 * 86400000, 1 << 62}[rng.IntN(5)]
		sortedPct := []int{0, 50, 99, 100}[rng.IntN(4)]
		memory := []int64{2048, 8192, 1 << 16, 1 << 20}[rng.IntN(4)]
		input := genRows(rng, n, timeRange, sortedPct)
		got, st := sortAll(t, input, memory)
		want := naive(input)
		if !slices.Equal(got, want) {
			t.Fatalf("case %d (n %d, range %d, sorted %d%%, memory %d): merged order differs from the stable sort", i, n, timeRange, sortedPct, memory)
		}
		if st.Rows != int64(n) {
			t.Fatalf("case %d: stats count %d rows, want %d", i, st.Rows, n)
		}
	}
}

// TestInOrderInputSpillsNothing: input already in time order is dropped and reread, never written.
func TestInOrderInputSpillsNothing(t *testing.T) {
	input := genRows(rand.New(rand.NewPCG(3, 4)), 5000, 0, 100)
	got, st := sortAll(t, input, 4096)
	if !slices.Equal(got, input) {
		t.Fatal("in-order input came back in another order")
	}
	if st.Runs != 0 || st.SpilledBytes != 0 || !st.InOrder {
		t.Fatalf("in-order input: %+v, want no runs on disk", st)
	}
	// The same after a prefix in order and then disorder: the prefix is not spilled.
	input = append(input, genRows(rand.New(rand.NewPCG(5, 6)), 2000, 1000, 0)...)
	for i := 5000; i < len(input); i++ {
		input[i].Line += input[4999].Line
	}
	got, st = sortAll(t, input, 4096)
	if !slices.Equal(got, naive(input)) {
		t.Fatal("in-order prefix then disorder: merged order differs from the stable sort")
	}
	if st.InOrder || st.Runs == 0 || st.Runs > 2000*400/(4096/2)+1 {
		t.Fatalf("in-order prefix then disorder: %+v, want runs of the disordered part only", st)
	}
}

// TestNoReread: an input that cannot be read twice keeps its in-order prefix.
func TestNoReread(t *testing.T) {
	input := genRows(rand.New(rand.NewPCG(17, 18)), 3000, 0, 100)
	input = append(input, Row{Line: input[len(input)-1].Line + 1, In: event.Interaction{Time: 1}})
	s, err := New(Config{Dir: t.TempDir(), NoReread: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.cfg.Memory = 8192
	for i := range input {
		if err := s.Add(&input[i]); err != nil {
			t.Fatal(err)
		}
	}
	src, err := s.Merge(func(int64) (Source, error) { t.Fatal("reread called with NoReread"); return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	var got []Row
	for r := (Row{}); src.Next(&r) == nil; {
		got = append(got, owned(r))
	}
	if !slices.Equal(got, naive(input)) {
		t.Fatal("merged order differs from the stable sort")
	}
}

func TestRunBoundedByMemory(t *testing.T) {
	input := genRows(rand.New(rand.NewPCG(7, 8)), 4000, 1<<40, 0)
	const memory = 1 << 16
	s, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.cfg.Memory = memory
	for i := range input {
		if err := s.Add(&input[i]); err != nil {
			t.Fatal(err)
		}
		// Two buffers at most: this one, and one being spilled.
		if used := len(s.cur.data) + len(s.cur.keys)*keyBytes; used > memory/2 {
			t.Fatalf("after row %d the run buffer holds %d bytes, over half of %d", i, used, memory)
		}
	}
	if err := s.waitSpill(); err != nil {
		t.Fatal(err)
	}
	runs, _ := filepath.Glob(filepath.Join(s.Dir(), "run-*"))
	if len(runs) != s.Stats().Runs || len(runs) < 4 {
		t.Fatalf("%d run files for %d runs", len(runs), s.Stats().Runs)
	}
}

// TestCloseAbandonedMerge: Close after a merge read only partly closes the run files it opened.
func TestCloseAbandonedMerge(t *testing.T) {
	input := genRows(rand.New(rand.NewPCG(11, 12)), 4000, 1<<40, 0)
	s, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.Memory = 1 << 16
	for i := range input {
		if err := s.Add(&input[i]); err != nil {
			t.Fatal(err)
		}
	}
	src, err := s.Merge(rereader(input))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Next(new(Row)); err != nil {
		t.Fatal(err)
	}
	opened := s.read
	if len(opened) < 4 {
		t.Fatalf("%d runs read, want several", len(opened))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, fr := range opened {
		if fr.f != nil {
			t.Fatalf("run %s still open after Close", fr.name)
		}
	}
}

// TestSpillFullDisk: a spill that fails (here on /dev/full) is an error naming the cause, and Close
// still removes the spill directory.
func TestSpillFullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	s, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.Memory = 4096
	s.create = func(string) (io.WriteCloser, error) { return os.OpenFile("/dev/full", os.O_WRONLY, 0) }
	input := genRows(rand.New(rand.NewPCG(9, 10)), 1000, 1<<30, 0)
	var addErr error
	for i := range input {
		if addErr = s.Add(&input[i]); addErr != nil {
			break
		}
	}
	if !errors.Is(addErr, syscall.ENOSPC) || !strings.Contains(addErr.Error(), "spill run") {
		t.Fatalf("Add on a full disk: %v, want ENOSPC from the spill", addErr)
	}
	dir := s.Dir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spill directory left after a failed spill: %v", err)
	}
}

func TestAddRejectsLinesOutOfOrder(t *testing.T) {
	s, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add(&Row{Line: 5}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(&Row{Line: 5}); err == nil {
		t.Fatal("a repeated line was accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{}
	if err := c.Validate(); err != nil || c.Memory != DefaultMemory || c.Dir == "" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c = Config{Memory: 1000}
	if err := c.Validate(); err == nil {
		t.Fatal("1000 bytes of sort memory accepted")
	}
}

func TestRadixSortAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 200 {
		n := rng.IntN(5000)
		keys := make([]key, n)
		spread := []int64{1, 3, 1 << 20, 1 << 62}[rng.IntN(4)]
		for i := range keys {
			keys[i] = key{time: rng.Int64N(spread) - spread/2, off: uint32(i)}
		}
		want := slices.Clone(keys)
		sort.SliceStable(want, func(i, j int) bool { return want[i].time < want[j].time })
		radixSort(keys, make([]key, n))
		if !slices.Equal(keys, want) {
			t.Fatalf("radix sort of %d keys (spread %d) differs from the stable sort", n, spread)
		}
	}
}

func TestRowRoundTrip(t *testing.T) {
	for _, r := range genRows(rand.New(rand.NewPCG(13, 14)), 500, 1<<62, 0) {
		b := appendRow(nil, &r)
		if len(b) != encodedLen(&r) {
			t.Fatalf("encoded %d bytes, encodedLen says %d", len(b), encodedLen(&r))
		}
		size, n := binary.Uvarint(b)
		var got Row
		if err := decodeRow(b[n:], &got); int(size) != len(b)-n || err != nil || got != r {
			t.Fatalf("round trip of %+v: %+v, %v (payload %d of %d bytes)", r, got, err, size, len(b)-n)
		}
		if err := decodeRow(b[n:], &got); err != nil || got != r {
			t.Fatalf("round trip of %+v: %+v, %v", r, got, err)
		}
	}
}

// FuzzDecodeRow: spill files are bytes from disk; decoding any bytes returns a row or an error, and a
// decoded row encodes back to the same bytes.
func FuzzDecodeRow(f *testing.F) {
	for _, r := range genRows(rand.New(rand.NewPCG(15, 16)), 5, 1<<40, 0) {
		b := appendRow(nil, &r)
		f.Add(b[uvarintLen(uint64(payloadLen(&r))):])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Row
		if err := decodeRow(b, &r); err != nil {
			return
		}
		if r.Plain != (b[8] == 1) || (b[8] != 0 && b[8] != 1) {
			return // the plain byte is any byte but 1 for false: not canonical
		}
		enc := appendRow(nil, &r)
		enc = enc[uvarintLen(uint64(payloadLen(&r))):]
		if string(enc) != string(b) && canonicalVarints(b) {
			t.Fatalf("decoded %+v from %x, which encodes to %x", r, b, enc)
		}
	})
}

// canonicalVarints is a loose check that b's varints are minimal (Go's decoder accepts padded ones).
func canonicalVarints(b []byte) bool {
	for i := 1; i < len(b); i++ {
		if b[i] == 0 && b[i-1]&0x80 != 0 {
			return false
		}
	}
	return true
}

// TestNewRemovesOrphans: a killed process's spill directory goes, a live one's stays.
func TestNewRemovesOrphans(t *testing.T) {
	parent := t.TempDir()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	dead := filepath.Join(parent, fmt.Sprintf("%s%d-123", dirPrefix, cmd.Process.Pid))
	live := filepath.Join(parent, fmt.Sprintf("%s%d-456", dirPrefix, os.Getppid()))
	other := filepath.Join(parent, "notestream-sort-x")
	for _, d := range []string{dead, live, other} {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := New(Config{Dir: parent}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead process's spill directory is still there: %v", err)
	}
	for _, d := range []string{live, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
}
