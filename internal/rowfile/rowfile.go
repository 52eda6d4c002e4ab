// Package rowfile writes and reads rows in a private binary format for objects a program writes and
// reads back itself: blocks of varint-encoded rows, each s2-compressed and checksummed, then a trailer
// that counts the rows, so a torn or corrupt file is an error, never other rows.
//
// The layout: the magic "NSROWS1\n"; blocks of [stored length uint32 LE][CRC-32C uint32 LE of the
// length's 4 bytes and the stored bytes][stored bytes: s2 block of (uvarint row count, rows)]; a
// trailer of [0 uint32][total rows uint64 LE][CRC-32C uint32 LE of the total's 8 bytes]; nothing after.
package rowfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/s2"
)

const magic = "NSROWS1\n"

// blockSize is the encoded bytes at which a writer ends a block: large enough for s2 to find
// repeats, small enough that many readers open at once (a merge) hold little.
const blockSize = 32 << 10

// maxBlock bounds a block's stored and decoded bytes, so a corrupt length cannot exhaust memory; a
// writer refuses rows that would need more.
const maxBlock = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error about a file's bytes (as opposed to reading them).
var ErrCorrupt = errors.New("rowfile: corrupt")

// Encoder appends one row's values to a block.
type Encoder struct{ b []byte }

func (e *Encoder) Int(v int64) { e.b = binary.AppendVarint(e.b, v) }

func (e *Encoder) String(v string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *Encoder) Bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// Decoder reads one row's values from a block. After an error every value is zero and the error
// stays.
type Decoder struct {
	s   string // the block: strings read are substrings of it
	off int
	err error
}

func (d *Decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s at block byte %d", ErrCorrupt, what, d.off)
	}
}

func (d *Decoder) Int() int64 {
	if d.err != nil {
		return 0
	}
	u, n := uvarint(d.s[d.off:])
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.off += n
	return int64(u>>1) ^ -int64(u&1) // zig-zag, as binary.AppendVarint
}

func (d *Decoder) String() string {
	if d.err != nil {
		return ""
	}
	l, n := uvarint(d.s[d.off:])
	if n <= 0 || l > uint64(len(d.s)-d.off-n) {
		d.fail("string")
		return ""
	}
	d.off += n
	v := d.s[d.off : d.off+int(l)]
	d.off += int(l)
	return v
}

func (d *Decoder) Bool() bool {
	if d.err != nil {
		return false
	}
	if d.off >= len(d.s) || d.s[d.off] > 1 {
		d.fail("bool")
		return false
	}
	d.off++
	return d.s[d.off-1] == 1
}

// uvarint is binary.Uvarint for a string, so decoding never copies the block.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -1
			}
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// Writer writes rows of T to an io.Writer, each encoded by the function it was made with.
type Writer[T any] struct {
	w         io.Writer
	encode    func(*Encoder, *T)
	e         Encoder // the block's rows
	blockRows uint64
	rows      uint64
	raw       []byte // a block before compression
	stored    []byte
	err       error
}

// NewWriter returns a writer of rows to w; encode appends a row's values in the order the reader's
// decode takes them.
func NewWriter[T any](w io.Writer, encode func(*Encoder, *T)) *Writer[T] {
	wr := &Writer[T]{w: w, encode: encode}
	_, wr.err = io.WriteString(w, magic)
	return wr
}

// Write encodes rows.
func (w *Writer[T]) Write(rows []T) error {
	for i := range rows {
		if w.err != nil {
			return w.err
		}
		n := len(w.e.b)
		w.encode(&w.e, &rows[i])
		if len(w.e.b)-n > maxBlock/2 {
			w.err = fmt.Errorf("rowfile: a row of %d bytes", len(w.e.b)-n)
			return w.err
		}
		w.blockRows++
		if len(w.e.b) >= blockSize {
			w.flush()
		}
	}
	return w.err
}

// flush writes the block of the rows encoded since the last.
func (w *Writer[T]) flush() {
	if w.err != nil || w.blockRows == 0 {
		return
	}
	w.raw = append(binary.AppendUvarint(w.raw[:0], w.blockRows), w.e.b...)
	w.stored = s2.Encode(w.stored[:cap(w.stored)], w.raw)
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(w.stored)))
	crc := crc32.Update(crc32.Checksum(hdr[:4], castagnoli), castagnoli, w.stored)
	binary.LittleEndian.PutUint32(hdr[4:], crc)
	if _, w.err = w.w.Write(hdr[:]); w.err == nil {
		_, w.err = w.w.Write(w.stored)
	}
	w.rows += w.blockRows
	w.blockRows, w.e.b = 0, w.e.b[:0]
}

// Close writes the last block and the trailer; it does not close the underlying writer.
func (w *Writer[T]) Close() error {
	w.flush()
	if w.err != nil {
		return w.err
	}
	var t [16]byte
	binary.LittleEndian.PutUint64(t[4:12], w.rows)
	binary.LittleEndian.PutUint32(t[12:], crc32.Checksum(t[4:12], castagnoli))
	_, w.err = w.w.Write(t[:])
	return w.err
}

// Reader reads the rows of one file, decoded by the function it was made with. The strings of the
// rows it returns share their block's memory.
type Reader[T any] struct {
	r      io.Reader
	name   string // the file, in errors
	decode func(*Decoder, *T)
	d      Decoder
	left   uint64 // rows of the current block not yet read
	rows   uint64 // rows read
	stored []byte
	raw    []byte
	start  bool // the magic is read
	done   bool // the trailer is read and checked
}

// NewReader returns a reader of the file r reads, named name in errors; decode reads a row's
// values in the order the writer's encode appended them.
func NewReader[T any](r io.Reader, name string, decode func(*Decoder, *T)) *Reader[T] {
	return &Reader[T]{r: r, name: name, decode: decode}
}

// Read decodes up to len(dst) rows into dst and returns how many; io.EOF once the trailer has been
// read and has counted the rows read.
func (r *Reader[T]) Read(dst []T) (int, error) {
	n := 0
	for n < len(dst) {
		if r.left == 0 {
			if r.done {
				break
			}
			if err := r.block(); err != nil {
				return n, fmt.Errorf("%s: %w", r.name, err)
			}
			continue
		}
		var zero T
		dst[n] = zero
		r.decode(&r.d, &dst[n])
		if r.d.err != nil {
			return n, fmt.Errorf("%s: %w", r.name, r.d.err)
		}
		r.left--
		r.rows++
		n++
		if r.left == 0 && r.d.off != len(r.d.s) {
			return n, fmt.Errorf("%s: %w: %d bytes after a block's rows", r.name, ErrCorrupt, len(r.d.s)-r.d.off)
		}
	}
	if n == 0 && r.done {
		return 0, io.EOF
	}
	return n, nil
}

// block reads the next block, or the trailer.
func (r *Reader[T]) block() error {
	if !r.start {
		var m [len(magic)]byte
		if err := r.full(m[:]); err != nil {
			return err
		}
		if string(m[:]) != magic {
			return fmt.Errorf("%w: not a row file", ErrCorrupt)
		}
		r.start = true
	}
	var hdr [8]byte
	if err := r.full(hdr[:4]); err != nil {
		return err
	}
	size := binary.LittleEndian.Uint32(hdr[:4])
	if size == 0 {
		return r.trailer()
	}
	if size > maxBlock {
		return fmt.Errorf("%w: a block of %d bytes", ErrCorrupt, size)
	}
	if err := r.full(hdr[4:]); err != nil {
		return err
	}
	if cap(r.stored) < int(size) {
		r.stored = make([]byte, size)
	}
	r.stored = r.stored[:size]
	if err := r.full(r.stored); err != nil {
		return err
	}
	if crc32.Update(crc32.Checksum(hdr[:4], castagnoli), castagnoli, r.stored) != binary.LittleEndian.Uint32(hdr[4:]) {
		return fmt.Errorf("%w: block checksum", ErrCorrupt)
	}
	n, err := s2.DecodedLen(r.stored)
	if err != nil || n > maxBlock {
		return fmt.Errorf("%w: block length", ErrCorrupt)
	}
	if r.raw, err = s2.Decode(r.raw[:cap(r.raw)], r.stored); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	rows, k := binary.Uvarint(r.raw)
	if k <= 0 || rows == 0 || rows > uint64(len(r.raw)) {
		return fmt.Errorf("%w: block row count", ErrCorrupt)
	}
	r.d = Decoder{s: string(r.raw[k:])}
	r.left = rows
	return nil
}

func (r *Reader[T]) trailer() error {
	var t [12]byte
	if err := r.full(t[:]); err != nil {
		return err
	}
	if crc32.Checksum(t[:8], castagnoli) != binary.LittleEndian.Uint32(t[8:]) {
		return fmt.Errorf("%w: trailer checksum", ErrCorrupt)
	}
	if total := binary.LittleEndian.Uint64(t[:8]); total != r.rows {
		return fmt.Errorf("%w: %d rows, the trailer counts %d", ErrCorrupt, r.rows, total)
	}
	var b [1]byte
	if n, _ := io.ReadFull(r.r, b[:]); n > 0 {
		return fmt.Errorf("%w: bytes after the trailer", ErrCorrupt)
	}
	r.done = true
	return nil
}

// full reads len(b) bytes; a file that ends first is torn.
func (r *Reader[T]) full(b []byte) error {
	if _, err := io.ReadFull(r.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		return err
	}
	return nil
}
