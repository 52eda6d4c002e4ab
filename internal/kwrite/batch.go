package kwrite

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// Offsets into a record batch (Kafka message format v2). The CRC covers attributes to the end.
const (
	offLength      = 8
	offLeaderEpoch = 12
	offMagic       = 16
	offCRC         = 17
	offAttributes  = 21
	offLastDelta   = 23
	offFirstTime   = 27
	offMaxTime     = 35
	offProducerID  = 43
	offEpoch       = 51
	offSequence    = 53
	offCount       = 57
	headerLen      = 61
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batch is one partition's record batch: filled by the appending goroutine, then sealed (header
// written, sequence assigned), compressed, and sent until acknowledged.
type batch struct {
	part      *partition
	raw       []byte // header and uncompressed records
	wire      []byte // what is sent: raw, or header and compressed records
	compBuf   []byte // reused backing of wire when compressed
	n         int32  // records
	firstTime int64  // ms; record timestamps are deltas to it
	maxTime   int64
	tally     [Tallies]int32
	openedAt  int64 // unix ns of the first append, for Linger
	ready     bool  // compressed and checksummed; guarded by Writer.mu
	unsure    bool  // sent, and whether the broker appended it is unknown; guarded by Writer.mu
}

func (b *batch) reset() {
	if cap(b.raw) < headerLen {
		b.raw = make([]byte, headerLen)
	}
	b.raw = b.raw[:headerLen]
	b.wire = nil
	b.n, b.firstTime, b.maxTime, b.openedAt = 0, 0, 0, 0
	b.tally = [Tallies]int32{}
	b.ready, b.unsure = false, false
}

// varintLen is the length of v as a zig-zag varint, Kafka's encoding of record fields.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// add appends r. The record's length and its value's length precede them, so each gets two bytes,
// the varint size of lengths from 64 to 8191, and is moved only when its varint turns out shorter or
// longer: the value is then encoded straight into the batch.
func (b *batch) add(r *Record, timeDelta int64) {
	start := len(b.raw)
	buf := append(b.raw, 0, 0, 0) // record length, attributes
	buf = binary.AppendVarint(buf, timeDelta)
	buf = binary.AppendVarint(buf, int64(b.n))
	buf = appendBytes(buf, r.Key)
	switch {
	case r.AppendValue != nil:
		at := len(buf)
		buf = r.AppendValue(append(buf, 0, 0))
		buf = putLength(buf, at, len(buf)-at-2)
	case r.Value == nil:
		buf = binary.AppendVarint(buf, -1)
	default:
		buf = appendBytes(buf, r.Value)
	}
	buf = binary.AppendVarint(buf, int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		buf = binary.AppendVarint(buf, int64(len(h.Key)))
		buf = append(buf, h.Key...)
		buf = appendBytes(buf, h.Value)
	}
	b.raw = putLength(buf, start, len(buf)-start-2)
	b.n++
	b.maxTime = max(b.maxTime, r.Timestamp)
}

// putLength writes n as a varint into the two bytes reserved at buf[at:], moving what follows them
// when the varint is not two bytes long.
func putLength(buf []byte, at, n int) []byte {
	if z := uint64(n) << 1; z >= 1<<7 && z < 1<<14 {
		buf[at], buf[at+1] = byte(z)|0x80, byte(z>>7)
		return buf
	}
	var v [binary.MaxVarintLen64]byte
	l := binary.PutVarint(v[:], int64(n))
	tail := len(buf) - at - 2
	if l > 2 {
		buf = append(buf, v[:l-2]...) // room to move the tail right
	}
	copy(buf[at+l:], buf[at+2:at+2+tail])
	copy(buf[at:], v[:l])
	return buf[:at+l+tail]
}

// seal writes the header fields known before compression.
func (b *batch) seal(producerID int64, epoch int16, sequence int32) {
	h := b.raw[:headerLen]
	binary.BigEndian.PutUint64(h[0:], 0) // base offset: the broker assigns it
	binary.BigEndian.PutUint32(h[offLeaderEpoch:], 0xffffffff)
	h[offMagic] = 2
	binary.BigEndian.PutUint32(h[offLastDelta:], uint32(b.n-1))
	binary.BigEndian.PutUint64(h[offFirstTime:], uint64(b.firstTime))
	binary.BigEndian.PutUint64(h[offMaxTime:], uint64(b.maxTime))
	binary.BigEndian.PutUint64(h[offProducerID:], uint64(producerID))
	binary.BigEndian.PutUint16(h[offEpoch:], uint16(epoch))
	binary.BigEndian.PutUint32(h[offSequence:], uint32(sequence))
	binary.BigEndian.PutUint32(h[offCount:], uint32(b.n))
}

// finish sets wire to the raw batch or, when compression works and saves bytes, to the header
// followed by the compressed records, then writes the length, codec and checksum.
func (b *batch) finish(comp compressFunc) {
	b.wire = b.raw
	var codec int8
	if comp != nil {
		out, c := comp(append(b.compBuf[:0], b.raw[:headerLen]...), b.raw[headerLen:])
		b.compBuf = out
		if c > 0 && len(out) < len(b.raw) {
			b.wire, codec = out, c
		}
	}
	w := b.wire
	binary.BigEndian.PutUint32(w[offLength:], uint32(len(w)-offLeaderEpoch))
	binary.BigEndian.PutUint16(w[offAttributes:], uint16(codec))
	binary.BigEndian.PutUint32(w[offCRC:], crc32.Checksum(w[offAttributes:], castagnoli))
}
