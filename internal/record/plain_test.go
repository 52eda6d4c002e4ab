package record

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/notestream/notestream/internal/event"
)

// naivePlain is Plain byte by byte.
func naivePlain(text []byte) bool {
	for _, c := range text {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func TestPlain(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		text := make([]byte, i%40)
		for j := range text {
			text[j] = byte(0x20 + rng.IntN(0x5f)) // printable ASCII
		}
		if len(text) > 0 && i%2 == 0 { // one byte of any value somewhere
			text[rng.IntN(len(text))] = byte(rng.Uint32())
		}
		if got, want := Plain(text), naivePlain(text); got != want {
			t.Fatalf("Plain(%q) = %v", text, got)
		}
	}
}

func FuzzPlain(f *testing.F) {
	f.Add([]byte(`u1234567"page_view`))
	f.Fuzz(func(t *testing.T, text []byte) {
		if got, want := Plain(text), naivePlain(text); got != want {
			t.Fatalf("Plain(%q) = %v", text, got)
		}
	})
}

// TestAppendPlainInteraction checks AppendPlainInteraction against AppendInteraction on events whose
// strings are Plain: every printable ASCII byte but quote and backslash, times of any year, any
// duration.
func TestAppendPlainInteraction(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	str := func() string {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			for b[i] = byte(0x20 + rng.IntN(0x5f)); b[i] == '"' || b[i] == '\\'; b[i] = byte(0x20 + rng.IntN(0x5f)) {
			}
		}
		return string(b)
	}
	var e1, e2 Encoder
	for range 100_000 {
		in := event.Interaction{UserID: str(), Time: rng.Int64N(1<<49) - 1<<48, Action: str(), PageID: str(),
			DurationMs: rng.Int64() >> rng.IntN(64), AppVersion: str()}
		if rng.IntN(2) == 0 {
			in.DurationMs = -in.DurationMs
		}
		want := e1.AppendInteraction(nil, &in)
		if got := e2.AppendPlainInteraction(nil, &in); !bytes.Equal(got, want) {
			t.Fatalf("%+v:\n got %s\nwant %s", in, got, want)
		}
	}
}
