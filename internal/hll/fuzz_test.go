package hll

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"testing"
)

// FuzzDecode feeds Decode arbitrary bytes: it must return an error or a sketch that survives both
// encodings unchanged, never panic or index out of bounds.
func FuzzDecode(f *testing.F) {
	vector, _ := hex.DecodeString("48594c4c01000000000000000000008071a6844e57")
	f.Add(vector)
	f.Add(New().AppendRedis(nil))
	f.Add(New().AppendDense(nil))
	s := New()
	for i := range 2000 {
		s.AddString(strconv.Itoa(i))
	}
	f.Add(s.AppendRedis(nil))
	f.Add(s.AppendDense(nil))
	f.Add([]byte("HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xfe\x83"))
	f.Add([]byte("HYLL\x02"))

	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		s.Count()
		dense := s.AppendDense(nil)
		if b[4] == encodingDense && !bytes.Equal(dense[headerSize:], b[headerSize:]) {
			t.Fatal("dense registers changed in a round trip")
		}
		for _, enc := range [][]byte{dense, s.AppendRedis(nil)} {
			d, err := Decode(enc)
			if err != nil {
				t.Fatalf("Decode of our own encoding %x: %v", enc[:5], err)
			}
			if *d != *s {
				t.Fatal("registers changed in a round trip")
			}
		}
	})
}
