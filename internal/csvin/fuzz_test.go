package csvin

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/notestream/notestream/internal/event"
)

// fuzzSeeds adds the golden inputs and a few tricky fragments to the corpus.
func fuzzSeeds(f *testing.F, name string) {
	in, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(in)
	for _, s := range []string{"", "\n", "\"", "\"\"\"", "a,\"b\nc\"\r\n", "\xef\xbb\xbf", "\r\r\n\r", ",,,,,\n,,,,"} {
		f.Add([]byte(s))
	}
}

// checkRows holds for any input: reading it whole or byte by byte gives the same results, line numbers
// increase and lie within the input, and without quotes every non-empty line is exactly one row (or
// the header).
func checkRows(t *testing.T, data []byte, read func(io.Reader) []string, lines func(io.Reader) ([]int64, error)) {
	whole := read(bytes.NewReader(data))
	if bytewise := read(iotest.OneByteReader(bytes.NewReader(data))); strings.Join(whole, "\n") != strings.Join(bytewise, "\n") {
		t.Fatalf("whole and byte-wise reads differ:\n%q\n%q", whole, bytewise)
	}
	got, err := lines(bytes.NewReader(data))
	if err != io.EOF && !strings.HasPrefix(err.Error(), "csvin: header") {
		t.Fatalf("error %v", err)
	}
	total := int64(bytes.Count(data, []byte{'\n'})) + 1
	prev := int64(0)
	for _, l := range got {
		if l <= prev || l > total {
			t.Fatalf("line %d after %d (input has %d lines)", l, prev, total)
		}
		prev = l
	}
	if err != io.EOF || bytes.IndexByte(data, '"') >= 0 {
		return
	}
	nonEmpty := 0
	for _, line := range bytes.Split(bytes.TrimPrefix(data, bom), []byte{'\n'}) {
		if len(dropCR(line)) > 0 {
			nonEmpty++
		}
	}
	// A header is the first non-empty line and is not a row.
	if len(got) != nonEmpty && len(got) != nonEmpty-1 {
		t.Fatalf("%d rows from %d non-empty lines", len(got), nonEmpty)
	}
}

func FuzzInteractionReader(f *testing.F) {
	fuzzSeeds(f, "interactions.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRows(t, data, readInteractions, func(r io.Reader) ([]int64, error) {
			var lines []int64
			cr := NewInteractionReader(r)
			for {
				var in event.Interaction
				reason, err := cr.Next(&in)
				if err != nil {
					return lines, err
				}
				lines = append(lines, cr.Line())
				if reason == event.OK && (in.UserID == "" || len(in.UserID) > MaxIDBytes || len(in.PageID) > MaxIDBytes || len(in.AppVersion) > MaxVersionBytes) {
					t.Fatalf("line %d: accepted %+v", cr.Line(), in)
				}
				if reason != event.OK && !reason.Unreadable() {
					t.Fatalf("line %d: reason %v", cr.Line(), reason)
				}
			}
		})
	})
}

func FuzzUserReader(f *testing.F) {
	fuzzSeeds(f, "users.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRows(t, data, readUsers, func(r io.Reader) ([]int64, error) {
			var lines []int64
			cr := NewUserReader(r)
			for {
				var u event.User
				reason, err := cr.Next(&u)
				if err != nil {
					return lines, err
				}
				lines = append(lines, cr.Line())
				if reason == event.OK && (u.UserID == "" || !validDate([]byte(u.JoinDate))) {
					t.Fatalf("line %d: accepted %+v", cr.Line(), u)
				}
			}
		})
	})
}

// FuzzParseTimestamp checks that every accepted timestamp formats back to the same instant.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2023-07-01 14:30:15", "2023-07-01T14:30:15.123456Z", "2023-12-31T23:59:59-05:30", "0000-01-01 00:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, ok := ParseTimestamp([]byte(s))
		if !ok {
			return
		}
		// Rebuild the canonical form from the input's own fields and compare through the time package.
		canon := s[:10] + "T" + s[11:19]
		rest := s[19:]
		frac := ""
		if strings.HasPrefix(rest, ".") {
			i := 1
			for i < len(rest) && isDigit(rest[i]) {
				i++
			}
			frac, rest = rest[:min(i, 4)], rest[i:]
		}
		if rest == "" {
			rest = "Z"
		}
		want, err := parseRFC3339(canon + frac + rest)
		if err != nil {
			t.Fatalf("ParseTimestamp accepted %q, time.Parse rejects %q: %v", s, canon+frac+rest, err)
		}
		if want != ms {
			t.Fatalf("ParseTimestamp(%q) = %d, time.Parse gives %d", s, ms, want)
		}
	})
}

// FuzzParseTimestampCached checks that a reader's date cache changes no answer: b parsed after a
// (which fills the cache when valid) reads as b parsed alone.
func FuzzParseTimestampCached(f *testing.F) {
	f.Add("2023-07-01 14:30:15", "2023-07-01 23:59:59.5Z")
	f.Add("2023-07-01 14:30:15", "2023-07-02 00:00:00")
	f.Add("2024-02-29 10:00:00", "2023-02-29 10:00:00")
	f.Add("2023-07-01 14:30:15", "2023-07-01 25:30:15")
	f.Add("bad", "2023-07-01T14:30:15+02:00")
	f.Fuzz(func(t *testing.T, a, b string) {
		var dates dateCache
		parseTimestamp([]byte(a), &dates)
		got, gotOK := parseTimestamp([]byte(b), &dates)
		want, wantOK := ParseTimestamp([]byte(b))
		if got != want || gotOK != wantOK {
			t.Fatalf("after %q: %q = %d, %v; alone %d, %v", a, b, got, gotOK, want, wantOK)
		}
	})
}

func TestTimestampAgainstTimePackage(t *testing.T) {
	// Every day over four centuries, at a time that exercises each field.
	for days := int64(-146097); days < 2*146097; days += 1 {
		ms := days*86_400_000 + 13*3_600_000 + 7*60_000 + 9_000 + 45
		tm := unixMilliUTC(ms)
		s := tm.Format("2006-01-02 15:04:05.000")
		if tm.Year() < 0 || tm.Year() > 9999 {
			continue
		}
		got, ok := ParseTimestamp([]byte(s))
		if !ok || got != ms {
			t.Fatalf("ParseTimestamp(%q) = %d, %v; want %d", s, got, ok, ms)
		}
	}
	if _, ok := ParseTimestamp([]byte("2023-07-01 14:30:15." + strconv.Itoa(1e9))); !ok {
		t.Fatal("long fractions are accepted")
	}
}

// FuzzScannerMatchesEncodingCSV checks the scanner against encoding/csv on every input that both read
// the same way: without carriage returns (encoding/csv turns a quoted "\r\n" into "\n") and without
// anything encoding/csv rejects.
func FuzzScannerMatchesEncodingCSV(f *testing.F) {
	fuzzSeeds(f, "interactions.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.IndexByte(data, '\r') >= 0 || bytes.HasPrefix(data, bom) {
			return
		}
		cr := csv.NewReader(bytes.NewReader(data))
		cr.FieldsPerRecord = -1
		want, err := cr.ReadAll()
		if err != nil {
			return
		}
		lines := make([]int64, len(want))
		cr = csv.NewReader(bytes.NewReader(data))
		cr.FieldsPerRecord = -1
		for i := range want {
			if _, err := cr.Read(); err != nil {
				t.Fatal(err)
			}
			line, _ := cr.FieldPos(0)
			lines[i] = int64(line)
		}
		s := scanner{r: bytes.NewReader(data)}
		for i, rec := range want {
			malformed, err := s.next()
			if err != nil || malformed {
				t.Fatalf("record %d %q: malformed %v, error %v", i, rec, malformed, err)
			}
			if len(data) <= MaxRowBytes && s.rowLine != lines[i] {
				t.Fatalf("record %d %q: line %d, encoding/csv says %d", i, rec, s.rowLine, lines[i])
			}
			got := make([]string, len(s.fields))
			for j, f := range s.fields {
				got[j] = string(f)
			}
			if !slices.Equal(got, rec) {
				t.Fatalf("record %d: fields %q, encoding/csv gives %q", i, got, rec)
			}
		}
		if _, err := s.next(); err != io.EOF {
			t.Fatalf("after %d records: %v, want EOF", len(want), err)
		}
	})
}

// checkSplit reads data row by row with split and, alongside, with splitQuoted, which reads any row the
// long way: they must consume the same bytes and find the same rows, except that a blank line is no row
// for split and one empty field for splitQuoted.
func checkSplit(t *testing.T, data []byte) {
	t.Helper()
	for _, atEOF := range []bool{false, true} {
		var fast, slow scanner
		for b := data; len(b) > 0; {
			n, st := fast.split(b, atEOF)
			sn, sst := slow.splitQuoted(b, atEOF)
			if st == rowBlank {
				st = rowOK
				fast.raw, fast.fields = b[:0], [][]byte{b[:0]}
			}
			if n != sn || st != sst {
				t.Fatalf("atEOF %v, %q: split %d bytes, status %d; splitQuoted %d, %d", atEOF, b, n, st, sn, sst)
			}
			if st == rowPartial {
				break
			}
			if st == rowOK && (string(fast.raw) != string(slow.raw) || !slices.EqualFunc(fast.fields, slow.fields, bytes.Equal)) {
				t.Fatalf("atEOF %v, %q: split %q %q; splitQuoted %q %q", atEOF, b, fast.raw, fast.fields, slow.raw, slow.fields)
			}
			if fast.line != slow.line {
				t.Fatalf("atEOF %v, %q: split counts %d newlines, splitQuoted %d", atEOF, b, fast.line, slow.line)
			}
			b = b[n:]
		}
	}
}

func FuzzSplitMatchesSplitQuoted(f *testing.F) {
	fuzzSeeds(f, "interactions.csv")
	f.Add([]byte("u3951,2023-06-30 23:55:29,edit,p1676,460937,5.1.1\r\n,\n\n,,\r\r\n a\t,b"))
	f.Fuzz(checkSplit)
}

// TestSplitMatchesSplitQuoted is FuzzSplitMatchesSplitQuoted over random rows of the bytes split tells
// apart, at every length up to a few words, so that every byte lands in every position of a word and of
// the tail.
func TestSplitMatchesSplitQuoted(t *testing.T) {
	const alphabet = ",,,\"\n\r \t-ax\x00\xff"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		data := make([]byte, rng.IntN(40))
		for i := range data {
			data[i] = alphabet[rng.IntN(len(alphabet))]
		}
		checkSplit(t, data)
	}
}

// TestLanesBelowDash checks that the mask split relies on misses no byte below '-' and flags nothing
// but those and '-', over words of bytes near the boundary and of any value.
func TestLanesBelowDash(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1_000_000 {
		var b [8]byte
		for i := range b {
			if rng.IntN(2) == 0 {
				b[i] = byte('-' - 2 + rng.IntN(5))
			} else {
				b[i] = byte(rng.Uint32())
			}
		}
		m := lanesBelowDash(binary.LittleEndian.Uint64(b[:]))
		for i, c := range b {
			flagged := m>>(8*i+7)&1 == 1
			if c < '-' && !flagged || c > '-' && flagged || m>>(8*i)&0x7f != 0 {
				t.Fatalf("%q: mask %#016x, byte %d", b, m, i)
			}
		}
	}
}
