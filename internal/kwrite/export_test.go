package kwrite

import "testing"

// RandBytes is randBytes for the package's external tests.
var RandBytes = randBytes

// EncodeBatch is records as the one uncompressed batch, from sequence 0, that a Writer with this
// producer ID and epoch would send, for tests that send batches themselves.
func EncodeBatch(t testing.TB, producerID int64, epoch int16, records []Record) []byte {
	t.Helper()
	w, top := offlineWriter(t, 1<<20, 1)
	w.producerID, w.epoch = producerID, epoch
	for i := range records {
		if err := top.Append(0, 0, &records[i]); err != nil {
			t.Fatal(err)
		}
	}
	bs := sealed(t, w)
	if len(bs) != 1 {
		t.Fatalf("%d records sealed in %d batches", len(records), len(bs))
	}
	bs[0].finish(nil)
	return bs[0].wire
}
