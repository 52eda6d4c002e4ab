package producer

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/extsort"
)

// TestPrefixSourceJoinsItsParser: the reread of an in-order prefix stops and waits for its parser
// before it closes the file, at the prefix's end and when the replay abandons it midway.
func TestPrefixSourceJoinsItsParser(t *testing.T) {
	var sb strings.Builder
	for i := range 10 * parseBatchRows * parseBatches { // far more than the parser reads ahead
		fmt.Fprintf(&sb, "u%d,2023-07-01 10:00:%02d,edit,p1,1,1\n", i, i%60)
	}
	path := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	joined := func(s *prefixSource) {
		t.Helper()
		select {
		case <-s.parser.done:
		default:
			t.Fatal("the file was closed while its parser still ran")
		}
		if s.f != nil {
			t.Fatal("the file is still open")
		}
	}
	var p producer
	s, err := p.reread(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	var row extsort.Row
	n := 0
	for err = s.Next(&row); err == nil; err = s.Next(&row) {
		n++
	}
	if err != io.EOF || n != 100 {
		t.Fatalf("%d rows, then %v; want 100, then EOF", n, err)
	}
	joined(s)

	s, err = p.reread(path, 5*parseBatchRows)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Next(&row); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	joined(s)
}
