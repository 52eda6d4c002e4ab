package kwrite

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The tests in this file drive Topic.Append and the batch code without a network: an offline Writer
// whose sealed batches pile up in toCompress, where the test takes them, finishes them the way
// compressLoop does, and decodes them with a decoder written from the Kafka protocol documentation
// (and, as a second opinion, with kmsg).

var codecs = []struct {
	name  string
	codec kgo.CompressionCodec
	typ   int8
}{
	{"none", kgo.NoCompression(), 0},
	{"gzip", kgo.GzipCompression(), 1},
	{"snappy", kgo.SnappyCompression(), 2},
	{"lz4", kgo.Lz4Compression(), 3},
	{"zstd", kgo.ZstdCompression(), 4},
}

// decompressor is shared: each kgo.DefaultDecompressor builds its own zstd decoders.
var decompressor = kgo.DefaultDecompressor()

const (
	testProducerID = 0x0123456789ab
	testEpoch      = 7
)

// offlineWriter is a Writer with a producer ID and no goroutines: sealed batches stay in toCompress.
func offlineWriter(t testing.TB, batchBytes int, parts int) (*Writer, *Topic) {
	t.Helper()
	cfg := Config{Client: new(kgo.Client), BatchBytes: batchBytes, MaxBuffered: math.MaxInt, Linger: time.Nanosecond}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	w := &Writer{cfg: cfg, producerID: testProducerID, epoch: testEpoch,
		toCompress: make(chan *batch, 2048), work: make(chan struct{}, 1), changed: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	t.Cleanup(w.cancel)
	tp := &Topic{w: w, name: "t", parts: make([]partition, parts)}
	for i := range tp.parts {
		tp.parts[i] = partition{topic: tp, id: int32(i), leader: 0}
	}
	w.topics = append(w.topics, tp)
	return w, tp
}

// sealed seals every open batch and returns all sealed batches in sealing order.
func sealed(t testing.TB, w *Writer) []*batch {
	t.Helper()
	for { // Linger seals every batch that has waited Config.Linger, 1 ns here
		left, err := w.Linger()
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
	}
	var out []*batch
	for {
		select {
		case b := <-w.toCompress:
			out = append(out, b)
		default:
			return out
		}
	}
}

// compressors are the Writer's own, built once per codec (a zstd compressor is expensive to set up).
var compressors = sync.OnceValue(func() []func() compressFunc {
	out := make([]func() compressFunc, len(codecs))
	for i, c := range codecs {
		var err error
		if out[i], err = newCompressor(c.codec); err != nil {
			panic(err)
		}
	}
	return out
})

// compressor is what a compressing goroutine hands to batch.finish for codecs[codec].
func compressor(codec int) compressFunc { return compressors()[codec]() }

// SetAppendValue is setAppendValue for the tests in package kwrite_test.
var SetAppendValue = setAppendValue

// setAppendValue makes r's value come from r.AppendValue, which appends value to the batch.
// *calledAfter is set when the Writer calls it after Append returned (when *returned is set).
func setAppendValue(t testing.TB, r *Record, value []byte, returned, calledAfter *bool) {
	t.Helper()
	r.AppendValue = func(dst []byte) []byte {
		if *returned {
			*calledAfter = true
		}
		return append(dst, value...)
	}
}

// decodedBatch is a record batch as the protocol describes it.
type decodedBatch struct {
	baseOffset      int64
	length          int32
	leaderEpoch     int32
	magic           int8
	crc             uint32
	attributes      int16
	lastOffsetDelta int32
	firstTimestamp  int64
	maxTimestamp    int64
	producerID      int64
	producerEpoch   int16
	baseSequence    int32
	count           int32
	records         []Record
	recordsRaw      []byte // the uncompressed records section
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail("need %d bytes, have %d", n, len(r.b))
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// nullableBytes reads a varint length (-1: null) and that many bytes.
func (r *reader) nullableBytes() []byte {
	n := r.varint()
	if n == -1 {
		return nil
	}
	if n < -1 {
		r.fail("negative length %d", n)
		return nil
	}
	b := r.take(int(n))
	if b == nil && r.err == nil {
		b = []byte{}
	}
	return bytes.Clone(b)
}

// decodeBatch decodes one record batch (message format v2) from wire, checking everything the format
// fixes: the length and CRC fields, magic, attributes, offset deltas, and that each record's length
// prefix is exactly its size.
func decodeBatch(wire []byte) (*decodedBatch, error) {
	if len(wire) < 61 {
		return nil, fmt.Errorf("batch of %d bytes is shorter than its header", len(wire))
	}
	be := binary.BigEndian
	d := &decodedBatch{
		baseOffset:      int64(be.Uint64(wire[0:])),
		length:          int32(be.Uint32(wire[8:])),
		leaderEpoch:     int32(be.Uint32(wire[12:])),
		magic:           int8(wire[16]),
		crc:             be.Uint32(wire[17:]),
		attributes:      int16(be.Uint16(wire[21:])),
		lastOffsetDelta: int32(be.Uint32(wire[23:])),
		firstTimestamp:  int64(be.Uint64(wire[27:])),
		maxTimestamp:    int64(be.Uint64(wire[35:])),
		producerID:      int64(be.Uint64(wire[43:])),
		producerEpoch:   int16(be.Uint16(wire[51:])),
		baseSequence:    int32(be.Uint32(wire[53:])),
		count:           int32(be.Uint32(wire[57:])),
	}
	switch {
	case int(d.length) != len(wire)-12:
		return d, fmt.Errorf("length field %d, batch has %d bytes after it", d.length, len(wire)-12)
	case d.magic != 2:
		return d, fmt.Errorf("magic %d", d.magic)
	case d.crc != crc32.Checksum(wire[21:], crc32.MakeTable(crc32.Castagnoli)):
		return d, fmt.Errorf("crc %08x, computed %08x", d.crc, crc32.Checksum(wire[21:], crc32.MakeTable(crc32.Castagnoli)))
	case d.attributes&^7 != 0:
		return d, fmt.Errorf("attributes %#x: only compression bits expected", d.attributes)
	case d.attributes&7 > 4:
		return d, fmt.Errorf("compression %d", d.attributes&7)
	case d.count < 1:
		return d, fmt.Errorf("record count %d", d.count)
	case d.lastOffsetDelta != d.count-1:
		return d, fmt.Errorf("last offset delta %d for %d records", d.lastOffsetDelta, d.count)
	}
	recs := wire[61:]
	if codec := d.attributes & 7; codec != 0 {
		var err error
		if recs, err = decompressor.Decompress(recs, kgo.CompressionCodecType(codec)); err != nil {
			return d, fmt.Errorf("decompress codec %d: %w", codec, err)
		}
	}
	d.recordsRaw = recs
	r := &reader{b: recs}
	for i := range d.count {
		size := r.varint()
		body := r.take(int(size))
		if r.err != nil {
			return d, fmt.Errorf("record %d: %w", i, r.err)
		}
		rr := &reader{b: body}
		if attrs := rr.take(1); attrs != nil && attrs[0] != 0 {
			return d, fmt.Errorf("record %d: attributes %d", i, attrs[0])
		}
		delta := rr.varint()
		if off := rr.varint(); rr.err == nil && off != int64(i) {
			return d, fmt.Errorf("record %d: offset delta %d", i, off)
		}
		rec := Record{Timestamp: d.firstTimestamp + delta}
		rec.Key = rr.nullableBytes()
		rec.Value = rr.nullableBytes()
		nh := rr.varint()
		if nh < 0 {
			rr.fail("header count %d", nh)
		}
		for j := int64(0); j < nh && rr.err == nil; j++ {
			kl := rr.varint()
			if kl < 0 {
				rr.fail("header key length %d", kl)
			}
			k := rr.take(int(kl))
			rec.Headers = append(rec.Headers, Header{Key: string(k), Value: rr.nullableBytes()})
		}
		if rr.err != nil {
			return d, fmt.Errorf("record %d: %w", i, rr.err)
		}
		if len(rr.b) != 0 {
			return d, fmt.Errorf("record %d: length prefix %d, %d bytes unused", i, size, len(rr.b))
		}
		d.records = append(d.records, rec)
	}
	if len(r.b) != 0 {
		return d, fmt.Errorf("%d bytes after the last record", len(r.b))
	}
	return d, nil
}

// crossCheck decodes wire with kmsg and compares with the hand decoder's d.
func crossCheck(wire []byte, d *decodedBatch) error {
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(wire); err != nil {
		return fmt.Errorf("kmsg.RecordBatch.ReadFrom: %w", err)
	}
	if kb.FirstOffset != d.baseOffset || kb.Length != d.length || kb.PartitionLeaderEpoch != d.leaderEpoch ||
		kb.Magic != d.magic || uint32(kb.CRC) != d.crc || kb.Attributes != d.attributes ||
		kb.LastOffsetDelta != d.lastOffsetDelta || kb.FirstTimestamp != d.firstTimestamp ||
		kb.MaxTimestamp != d.maxTimestamp || kb.ProducerID != d.producerID || kb.ProducerEpoch != d.producerEpoch ||
		kb.FirstSequence != d.baseSequence || kb.NumRecords != d.count {
		return fmt.Errorf("kmsg header %+v differs from %+v", kb, d)
	}
	src := d.recordsRaw
	for i := range int(kb.NumRecords) {
		length, n := binary.Varint(src)
		if n <= 0 || int(length) > len(src)-n {
			return fmt.Errorf("kmsg record %d: bad length", i)
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(src[:n+int(length)]); err != nil {
			return fmt.Errorf("kmsg record %d: %w", i, err)
		}
		src = src[n+int(length):]
		want := d.records[i]
		got := Record{Key: kr.Key, Value: kr.Value, Timestamp: kb.FirstTimestamp + kr.TimestampDelta64}
		for _, h := range kr.Headers {
			got.Headers = append(got.Headers, Header{Key: h.Key, Value: h.Value})
		}
		if kr.OffsetDelta != int32(i) || !sameRecord(got, want) {
			return fmt.Errorf("kmsg record %d: %s, hand decoder %s", i, show(got), show(want))
		}
	}
	return nil
}

// sameBytes is bytes.Equal that also tells nil from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func sameRecord(a, b Record) bool {
	if !sameBytes(a.Key, b.Key) || !sameBytes(a.Value, b.Value) || a.Timestamp != b.Timestamp ||
		len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !sameBytes(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}

func showBytes(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) > 16 {
		return fmt.Sprintf("%q...(%d)", b[:16], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func show(r Record) string {
	s := fmt.Sprintf("{key %s value %s ts %d headers [", showBytes(r.Key), showBytes(r.Value), r.Timestamp)
	for _, h := range r.Headers {
		s += fmt.Sprintf("%q=%s ", h.Key, showBytes(h.Value))
	}
	return s + "]}"
}

// encodedRecord is the reference encoding of r at offsetDelta off, with its length prefix.
func encodedRecord(r Record, firstTime int64, off int) []byte {
	var body []byte
	body = append(body, 0)
	body = binary.AppendVarint(body, r.Timestamp-firstTime)
	body = binary.AppendVarint(body, int64(off))
	for _, b := range [][]byte{r.Key, r.Value} {
		if b == nil {
			body = binary.AppendVarint(body, -1)
		} else {
			body = binary.AppendVarint(body, int64(len(b)))
			body = append(body, b...)
		}
	}
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, h := range r.Headers {
		body = binary.AppendVarint(body, int64(len(h.Key)))
		body = append(body, h.Key...)
		if h.Value == nil {
			body = binary.AppendVarint(body, -1)
		} else {
			body = binary.AppendVarint(body, int64(len(h.Value)))
			body = append(body, h.Value...)
		}
	}
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

// reuse copies src into dst's memory, keeping src's nil or empty.
func reuse(dst, src []byte) []byte {
	if src == nil {
		return nil
	}
	if dst == nil {
		dst = make([]byte, 0, 64)
	}
	return append(dst[:0], src...)
}

// appended is one Append call.
type appended struct {
	part  int32
	tally uint8
	rec   Record
}

// checkBatches appends ins through an offline Writer, seals what is open, finishes every batch with
// codec and checks that the batches decode into exactly the appended records, partition by partition,
// with valid headers, consecutive sequences from firstSeq, tallies that add up, and batches that are
// full: each batch but a partition's last was sealed only because its successor's first record did not
// fit in BatchBytes. It returns the decoded batches.
func checkBatches(t *testing.T, codec int, batchBytes, parts int, firstSeq int32, ins []appended) []*decodedBatch {
	t.Helper()
	w, tp := offlineWriter(t, batchBytes, parts)
	for i := range tp.parts {
		tp.parts[i].seq = firstSeq
	}
	scratch := Record{}
	for i, in := range ins {
		// The Writer keeps no reference to the record: reuse and scribble over one, as the producer does.
		scratch.Key = reuse(scratch.Key, in.rec.Key)
		scratch.Value = reuse(scratch.Value, in.rec.Value)
		scratch.Timestamp = in.rec.Timestamp
		scratch.Headers = append(scratch.Headers[:0], in.rec.Headers...)
		scratch.AppendValue = nil
		var returned, calledAfter bool
		if in.rec.Value != nil && i%2 == 1 {
			setAppendValue(t, &scratch, scratch.Value, &returned, &calledAfter)
			scratch.Value = nil // AppendValue takes precedence; a nil Value must not make it null
		}
		if err := tp.Append(in.part, in.tally, &scratch); err != nil {
			t.Fatal(err)
		}
		returned = true
		if calledAfter {
			t.Fatal("AppendValue was called after Append returned")
		}
		for i := range scratch.Key {
			scratch.Key[i] ^= 0xff
		}
		for i := range scratch.Value {
			scratch.Value[i] ^= 0xff
		}
		for i := range scratch.Headers {
			scratch.Headers[i] = Header{Key: "scribbled"}
		}
	}
	batches := sealed(t, w)
	comp := compressor(codec)

	want := make([][]Record, parts)
	var wantTally [Tallies]int64
	for _, in := range ins {
		want[in.part] = append(want[in.part], in.rec)
		wantTally[in.tally]++
	}
	got := make([][]Record, parts)
	var gotTally [Tallies]int64
	type sealedBatch struct {
		rawLen int
		first  int64 // firstTime
		n      int
	}
	last := make([]*sealedBatch, parts)
	var decoded []*decodedBatch
	for bi, b := range batches {
		p := b.part.id
		b.finish(comp)
		d, err := decodeBatch(b.wire)
		if err != nil {
			t.Fatalf("batch %d (partition %d, %d records, codec %s): %v", bi, p, b.n, codecs[codec].name, err)
		}
		if err := crossCheck(b.wire, d); err != nil {
			t.Fatalf("batch %d: %v", bi, err)
		}
		if c := d.attributes & 7; c != 0 && int8(c) != codecs[codec].typ {
			t.Fatalf("batch %d: codec %d, configured %s", bi, c, codecs[codec].name)
		}
		if codecs[codec].typ == 0 && !bytes.Equal(b.wire, b.raw) {
			t.Fatalf("batch %d: without compression the wire bytes are not the raw batch", bi)
		}
		if d.baseOffset != 0 || d.leaderEpoch != -1 || d.producerID != testProducerID || d.producerEpoch != testEpoch {
			t.Fatalf("batch %d: base offset %d leader epoch %d producer %d/%d", bi, d.baseOffset, d.leaderEpoch, d.producerID, d.producerEpoch)
		}
		wantSeq := int32((int64(firstSeq) + int64(len(got[p]))) % (1 << 31))
		if d.baseSequence != wantSeq {
			t.Fatalf("batch %d of partition %d: base sequence %d, want %d (first %d + %d records before)", bi, p, d.baseSequence, wantSeq, firstSeq, len(got[p]))
		}
		if len(d.records) == 0 || d.firstTimestamp != d.records[0].Timestamp {
			t.Fatalf("batch %d: first timestamp %d is not its first record's", bi, d.firstTimestamp)
		}
		maxTS := d.records[0].Timestamp
		for _, r := range d.records {
			maxTS = max(maxTS, r.Timestamp)
		}
		if d.maxTimestamp != maxTS {
			t.Fatalf("batch %d: max timestamp %d, records' max %d", bi, d.maxTimestamp, maxTS)
		}
		if len(b.raw) > batchBytes+headerLen && d.count > 1 {
			t.Fatalf("batch %d: %d raw bytes, %d records, over BatchBytes %d", bi, len(b.raw), d.count, batchBytes)
		}
		if prev := last[p]; prev != nil {
			// The previous batch was sealed because this batch's first record did not fit in it.
			next := encodedRecord(d.records[0], prev.first, prev.n)
			if prev.rawLen+len(next) <= batchBytes+headerLen {
				t.Fatalf("batch %d of partition %d: sealed at %d bytes though the next record (%d bytes) fit in BatchBytes %d", bi-1, p, prev.rawLen, len(next), batchBytes)
			}
		}
		last[p] = &sealedBatch{rawLen: len(b.raw), first: d.firstTimestamp, n: int(d.count)}
		got[p] = append(got[p], d.records...)
		decoded = append(decoded, d)
		for i, n := range b.tally {
			gotTally[i] += int64(n)
		}
	}
	for p := range parts {
		if len(got[p]) != len(want[p]) {
			t.Fatalf("partition %d: %d records decoded, %d appended", p, len(got[p]), len(want[p]))
		}
		for i := range want[p] {
			if !sameRecord(got[p][i], want[p][i]) {
				t.Fatalf("partition %d record %d: decoded %s, appended %s", p, i, show(got[p][i]), show(want[p][i]))
			}
		}
	}
	if gotTally != wantTally {
		t.Fatalf("tallies in batches %v, appended %v", gotTally, wantTally)
	}
	return decoded
}

// randBytes is nil, empty, or random bytes that compress well or not at all.
func randBytes(rng *rand.Rand, maxLen int) []byte {
	switch rng.IntN(6) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		return bytes.Repeat([]byte("ab"), rng.IntN(maxLen/2+1))
	}
	b := make([]byte, rng.IntN(maxLen+1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func randRecord(rng *rand.Rand, base int64) Record {
	r := Record{Key: randBytes(rng, 40), Value: randBytes(rng, 300)}
	switch rng.IntN(5) {
	case 0:
		r.Timestamp = base
	case 1:
		r.Timestamp = base - rng.Int64N(1<<40) // older than the batch's first record: negative delta
	case 2:
		r.Timestamp = base + rng.Int64N(1<<40)
	default:
		r.Timestamp = base + rng.Int64N(2000) - 1000
	}
	for range rng.IntN(4) {
		key := string(randBytes(rng, 10))
		r.Headers = append(r.Headers, Header{Key: key, Value: randBytes(rng, 20)})
	}
	return r
}

// TestBatchEncoding: random records in random partitions with random batch sizes, every codec, decode
// into exactly what was appended, and the batch fields check out.
func TestBatchEncoding(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 99))
		codec := int(seed % uint64(len(codecs)))
		batchBytes := []int{1, 50, 300, 1000, 5000, 1 << 20}[rng.IntN(6)]
		parts := 1 + rng.IntN(3)
		n := rng.IntN(300)
		if codecs[codec].name == "lz4" && batchBytes < 1000 {
			n /= 5 // each lz4 batch costs a 4 MiB buffer under -race, whose sync.Pool drops them
		}
		base := rng.Int64N(1<<42) + 1<<40
		ins := make([]appended, n)
		for i := range ins {
			ins[i] = appended{part: int32(rng.IntN(parts)), tally: uint8(rng.IntN(Tallies)), rec: randRecord(rng, base)}
		}
		t.Run(fmt.Sprintf("seed%d_%s_%dB", seed, codecs[codec].name, batchBytes), func(t *testing.T) {
			checkBatches(t, codec, batchBytes, parts, 0, ins)
		})
	}
}

// TestBatchSequenceWraps: base sequences continue past MaxInt32 at 0, as Kafka expects.
func TestBatchSequenceWraps(t *testing.T) {
	var ins []appended
	for i := range 40 {
		ins = append(ins, appended{rec: Record{Value: []byte(fmt.Sprintf("value %d", i)), Timestamp: int64(i)}})
	}
	// About 4 records a batch: the batch starting at MaxInt32-5 holds the wrap.
	checkBatches(t, 0, 80, 1, math.MaxInt32-5, ins)
}

// TestBatchEdgeRecords: the records most likely to be mis-sized.
func TestBatchEdgeRecords(t *testing.T) {
	big := bytes.Repeat([]byte{0x80}, 70_000) // lengths with 3-byte varints
	ins := []appended{
		{rec: Record{}}, // null key and value, no headers
		{rec: Record{Key: []byte{}, Value: []byte{}}}, // empty, not null
		{rec: Record{Timestamp: math.MaxInt64 / 4}},
		{rec: Record{Timestamp: -math.MaxInt64 / 4}},
		{rec: Record{Key: big[:63], Value: big[:64], Headers: []Header{{}, {Key: "", Value: []byte{}}, {Key: string(big[:8191]), Value: big[:8192]}}}},
		{rec: Record{Value: big}}, // bigger than BatchBytes alone
		{rec: Record{Key: []byte("k"), Headers: make([]Header, 200)}},
		{rec: Record{Value: big[:1]}},
	}
	for c := range codecs {
		for _, bb := range []int{1, 1000, 100_000} {
			t.Run(fmt.Sprintf("%s_%d", codecs[c].name, bb), func(t *testing.T) {
				checkBatches(t, c, bb, 1, 0, ins)
			})
		}
	}
}

// TestBatchLengthBoundaries: values and records whose lengths are around the varint boundaries (64,
// 8192), each once as Value and once through AppendValue, whose length is written after the value.
func TestBatchLengthBoundaries(t *testing.T) {
	records := func(lengths ...int) []appended {
		var ins []appended
		for _, n := range lengths {
			v := bytes.Repeat([]byte{'v'}, n)
			for range 2 { // one as Value, one through AppendValue (checkBatches alternates)
				ins = append(ins, appended{rec: Record{Value: v, Timestamp: int64(n)}})
			}
		}
		return ins
	}
	ins := records(0, 1, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 127, 128,
		8180, 8181, 8182, 8183, 8184, 8185, 8186, 8187, 8188, 8189, 8190, 8191, 8192, 8193, 8194)
	for c := range codecs {
		for _, bb := range []int{1, 10_000, 4 << 20} {
			t.Run(fmt.Sprintf("%s_%d", codecs[c].name, bb), func(t *testing.T) {
				for i, d := range checkBatches(t, c, bb, 1, 0, ins) {
					// Runs of one byte compress tenfold with every codec: big batches must be compressed.
					if codec := int8(d.attributes & 7); c > 0 && len(d.recordsRaw) >= 1000 && codec != codecs[c].typ {
						t.Fatalf("batch %d of %d uncompressed bytes went out with codec %d", i, len(d.recordsRaw), codec)
					}
				}
			})
		}
	}
	// Lengths of 4-byte varints, once: compressing megabytes costs seconds under -race.
	t.Run("MiB", func(t *testing.T) {
		checkBatches(t, 0, 1, 1, 0, records(1<<20-10, 1<<20-9, 1<<20-1, 1<<20, 1<<20+1))
	})
}

// TestVarintLen: recordLen's varint sizes match encoding/binary's.
func TestVarintLen(t *testing.T) {
	vals := []int64{0, 1, -1, 63, -64, 64, -65, 8191, 8192, -8193, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		vals = append(vals, rng.Int64()>>rng.IntN(64))
	}
	for _, v := range vals {
		if got, want := varintLen(v), len(binary.AppendVarint(nil, v)); got != want {
			t.Errorf("varintLen(%d) = %d, want %d", v, got, want)
		}
	}
}

// TestFinishCompressionError: when the compressor fails (franz-go's Compress returns CodecError, -1, and
// no bytes), the batch must go out uncompressed, not as an empty body with compression bits 7.
func TestFinishCompressionError(t *testing.T) {
	w, tp := offlineWriter(t, 1000, 1)
	for i := range 5 {
		if err := tp.Append(0, 0, &Record{Value: bytes.Repeat([]byte{'x'}, 100), Timestamp: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	b := sealed(t, w)[0]
	b.finish(func(dst, _ []byte) ([]byte, int8) { return dst, int8(kgo.CodecError) })
	d, err := decodeBatch(b.wire)
	if err != nil {
		t.Fatalf("a batch whose compression failed does not decode: %v (attributes %#x, %d bytes)", err, d.attributes, len(b.wire))
	}
	if len(d.records) != 5 {
		t.Fatalf("%d records, want 5", len(d.records))
	}
}

// FuzzBatch: records built from the fuzzer's bytes decode from the batches the Writer builds.
func FuzzBatch(f *testing.F) {
	f.Add([]byte{0, 10, 1, 2, 3})
	f.Add([]byte("\x03\x01\xff\x00key\x05value"))
	f.Add(bytes.Repeat([]byte{0x81, 0x07, 0x33, 0xfe, 0x10}, 50))
	f.Add([]byte{4, 255, 0x2f, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		codec := int(data[0]) % len(codecs)
		batchBytes := 1 + int(data[1])*8
		parts := 1 + int(data[0]>>4)%3
		src := data[2:]
		next := func() byte {
			if len(src) == 0 {
				return 0
			}
			c := src[0]
			src = src[1:]
			return c
		}
		field := func(flags byte) []byte {
			switch flags % 4 {
			case 0:
				return nil
			case 1:
				return []byte{}
			}
			n := int(next()) % 64
			n = min(n, len(src))
			b := bytes.Clone(src[:n])
			src = src[n:]
			return b
		}
		var ins []appended
		for len(src) > 0 && len(ins) < 500 {
			flags := next()
			r := Record{Key: field(flags), Value: field(flags >> 2)}
			r.Timestamp = int64(int16(uint16(next())<<8|uint16(next()))) << (flags >> 4 % 8 * 4)
			for range flags >> 6 {
				hf := next()
				r.Headers = append(r.Headers, Header{Key: string(field(hf | 2)), Value: field(hf >> 2)})
			}
			ins = append(ins, appended{part: int32(flags) % int32(parts), tally: flags % Tallies, rec: r})
		}
		checkBatches(t, codec, batchBytes, parts, int32(binary.LittleEndian.Uint32(append(slices.Clone(data), 0, 0, 0, 0))>>1), ins)
	})
}

// TestLingerTimes: in a synctest bubble (no network: the offline Writer), Linger seals a batch exactly
// when it has waited Config.Linger since its first record, and reports exactly the time left until
// the next open batch has.
func TestLingerTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const linger = 100 * time.Millisecond
		w, tp := offlineWriter(t, 1000, 2)
		w.cfg.Linger = linger
		queued := func() int { return len(w.toCompress) }
		linger1 := func(wantLeft time.Duration, wantQueued int) {
			t.Helper()
			left, err := w.Linger()
			if err != nil || left != wantLeft || queued() != wantQueued {
				t.Fatalf("Linger = %v, %v with %d batches sealed; want %v with %d", left, err, queued(), wantLeft, wantQueued)
			}
		}
		appendTo := func(part int32) {
			t.Helper()
			if err := tp.Append(part, 0, &Record{Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
		}
		linger1(0, 0) // nothing open
		appendTo(0)
		linger1(linger, 0)
		time.Sleep(40 * time.Millisecond)
		appendTo(1)
		appendTo(0) // a later record does not restart partition 0's wait
		linger1(60*time.Millisecond, 0)
		time.Sleep(60*time.Millisecond - 1)
		linger1(1, 0)
		time.Sleep(1) // partition 0's batch has waited 100 ms: sealed; partition 1's has 40 ms left
		linger1(40*time.Millisecond, 1)
		time.Sleep(40 * time.Millisecond)
		linger1(0, 2)
		b := <-w.toCompress
		if b.part.id != 0 || b.n != 2 {
			t.Fatalf("first sealed batch: partition %d with %d records; want partition 0 with 2", b.part.id, b.n)
		}
	})
}
