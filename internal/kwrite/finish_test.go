package kwrite

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFinishCompressionError: when the compressor fails (franz-go's Compress returns CodecError, -1, and
// no bytes), the batch must go out uncompressed, not as an empty body with compression bits 7. The
// failing compressFunc is built by reflection to fit compressFunc's parameters, whatever they are.
func TestFinishCompressionError(t *testing.T) {
	w, tp := offlineWriter(t, 1000, 1)
	for i := range 5 {
		if err := tp.Append(0, 0, &Record{Value: bytes.Repeat([]byte{'x'}, 100), Timestamp: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	b := sealed(t, w)[0]
	ft := reflect.TypeOf(compressFunc(nil))
	failing := reflect.MakeFunc(ft, func([]reflect.Value) []reflect.Value {
		return []reflect.Value{reflect.Zero(ft.Out(0)), reflect.ValueOf(kgo.CodecError).Convert(ft.Out(1))}
	}).Interface().(compressFunc)
	b.finish(failing)
	d, err := decodeBatch(b.wire)
	if err != nil {
		t.Fatalf("a batch whose compression failed does not decode: %v (attributes %#x, %d bytes)", err, d.attributes, len(b.wire))
	}
	if len(d.records) != 5 {
		t.Fatalf("%d records, want 5", len(d.records))
	}
}
