package csvin

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/bits"
)

// MaxRowBytes is the longest row accepted, line end excluded. A longer row is malformed and ends at the
// first newline after its first MaxRowBytes bytes, even inside quotes, so one runaway quote costs at
// most one row of that size.
const MaxRowBytes = 64 << 10

// bufSize is the read buffer. It holds any acceptable row whole, so a row is always one contiguous
// slice of it, and is large enough that refills (which copy the partial row to the front) are rare.
const bufSize = 128 << 10

var bom = []byte("\xef\xbb\xbf")

// scanner splits RFC 4180 CSV into rows of fields. Fields are slices of its buffer (or, for rows with
// quotes, of an unquoting buffer), valid until the next call to next.
type scanner struct {
	r        io.Reader
	buf      []byte
	pos, end int   // unread bytes are buf[pos:end]
	rerr     error // read error (io.EOF at the end), reported once buf[pos:end] is consumed

	line    int64 // 1-based line on which the next unread byte lies
	rowLine int64 // line on which the last row began
	raw     []byte
	fields  [][]byte

	unq     []byte // unquoted field bytes of a row with quotes
	ends    []int  // end offsets of that row's fields in unq
	tooLong []byte // first MaxRowBytes of an overlong row, kept since the buffer moves past it
}

type rowStatus uint8

const (
	rowOK      rowStatus = iota
	rowBad               // a syntax error
	rowBlank             // an empty line: not a row
	rowPartial           // the row does not end within the buffered bytes
)

// next reads the next row into s.fields, s.raw and s.rowLine. It reports whether the row is
// syntactically malformed; err is io.EOF after the last row, or a read error.
func (s *scanner) next() (malformed bool, err error) {
	if s.buf == nil {
		s.buf = make([]byte, bufSize)
		s.line = 1
		for s.end < len(bom) && s.rerr == nil {
			s.fill()
		}
		if bytes.HasPrefix(s.buf[:s.end], bom) {
			s.pos = len(bom)
		}
	}
	for {
		b := s.buf[s.pos:s.end]
		if len(b) == 0 && s.rerr != nil {
			return false, s.rerr
		}
		atEOF := s.rerr == io.EOF
		start := s.line
		n, st := s.split(b, atEOF)
		switch st {
		case rowPartial:
			if len(b) > MaxRowBytes+1 { // even a "\r" line end would leave the row too long
				s.skipOverlong()
				return true, nil
			}
			if s.rerr != nil { // a read error cuts the last row short: report the error, not a row
				s.pos = s.end
				return false, s.rerr
			}
			s.fillLine()
			continue
		case rowBlank:
			s.pos += n
			s.line++
			continue
		}
		if len(s.raw) > MaxRowBytes { // cut where a partial read of it would have been cut
			s.line = start
			s.skipOverlong()
			return true, nil
		}
		s.rowLine = start
		s.pos += n
		s.line++
		if st == rowBad {
			s.fields = s.fields[:0]
		}
		return st == rowBad, nil
	}
}

// split finds the row at the start of b, sets s.raw (and s.fields unless the row is bad) and returns
// the bytes it spans, line end included. Newlines inside quotes are added to s.line.
//
// Rows without quotes, nearly all of them, are split in one pass that looks at eight bytes at a time
// for the bytes below '-': the three that matter (comma, quote, newline) and a few others (space, tab,
// carriage return, control bytes), told apart one by one. A quote hands the row to splitQuoted.
// Until the row's end is known, s.fields may hold a partial split.
func (s *scanner) split(b []byte, atEOF bool) (int, rowStatus) {
	s.fields = s.fields[:0]
	start, i, nl := 0, 0, -1
	for ; i+8 <= len(b) && nl < 0; i += 8 {
		for m := lanesBelowDash(binary.LittleEndian.Uint64(b[i:])); m != 0; m &= m - 1 {
			c := i + bits.TrailingZeros64(m)>>3
			switch b[c] {
			case ',':
				s.fields = append(s.fields, b[start:c])
				start = c + 1
				continue
			case '"':
				return s.splitQuoted(b, atEOF)
			case '\n':
				nl = c
			default:
				continue
			}
			break // the newline: what follows in this word belongs to the next row
		}
	}
	for ; i < len(b) && nl < 0; i++ {
		switch b[i] {
		case ',':
			s.fields = append(s.fields, b[start:i])
			start = i + 1
		case '"':
			return s.splitQuoted(b, atEOF)
		case '\n':
			nl = i
		}
	}
	line, n := b, len(b)
	switch {
	case nl >= 0:
		line, n = b[:nl], nl+1
	case !atEOF:
		return 0, rowPartial
	}
	line = dropCR(line)
	if len(line) == 0 {
		return n, rowBlank
	}
	s.raw = line
	s.fields = append(s.fields, line[start:])
	return n, rowOK
}

// lanesBelowDash has the top bit set in each byte of w below '-' (0x2d), and in some '-' bytes that
// follow one: a borrow out of a byte below '-' flags a '-' after it. split looks at each flagged byte
// anyway, so the extra ones cost a little time and no correctness, and this takes fewer operations than
// an exact mask.
func lanesBelowDash(w uint64) uint64 {
	return (w - '-'*0x0101010101010101) &^ w & 0x8080808080808080
}

// splitQuoted is split for a row that contains a quote, unquoting its fields into s.unq.
// Spaces around a quoted field are allowed (they are trimmed anyway). A quote inside an unquoted field,
// or anything but a separator after a closing quote, makes the row bad; it then ends at the next newline.
func (s *scanner) splitQuoted(b []byte, atEOF bool) (int, rowStatus) {
	s.unq = s.unq[:0]
	s.ends = s.ends[:0]
	i := 0
	for {
		j := i
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		if j < len(b) && b[j] == '"' {
			i = j + 1
			for {
				q := bytes.IndexByte(b[i:], '"')
				if q < 0 {
					if atEOF { // unterminated quote: the rest of the input is one bad row
						end := len(b)
						if end > 0 && b[end-1] == '\n' {
							end--
						}
						return s.endRow(b, end, len(b), rowBad)
					}
					return 0, rowPartial
				}
				s.unq = append(s.unq, b[i:i+q]...)
				i += q + 1
				if i == len(b) && !atEOF {
					return 0, rowPartial // a doubled quote may follow
				}
				if i < len(b) && b[i] == '"' {
					s.unq = append(s.unq, '"')
					i++
					continue
				}
				break
			}
			for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
				i++
			}
			s.ends = append(s.ends, len(s.unq))
			switch {
			case i == len(b):
				if !atEOF {
					return 0, rowPartial
				}
				return s.endRow(b, i, i, rowOK)
			case b[i] == ',':
				i++
				continue
			case b[i] == '\n':
				return s.endRow(b, i, i+1, rowOK)
			case b[i] == '\r' && i+1 == len(b):
				if !atEOF {
					return 0, rowPartial
				}
				return s.endRow(b, i, i+1, rowOK)
			case b[i] == '\r' && b[i+1] == '\n':
				return s.endRow(b, i, i+2, rowOK)
			}
			return s.skipBad(b, i, atEOF)
		}
		k := i
		for k < len(b) && b[k] != ',' && b[k] != '\n' && b[k] != '"' {
			k++
		}
		switch {
		case k == len(b):
			if !atEOF {
				return 0, rowPartial
			}
			s.unq = append(s.unq, dropCR(b[i:k])...)
			s.ends = append(s.ends, len(s.unq))
			return s.endRow(b, k, k, rowOK)
		case b[k] == '"':
			return s.skipBad(b, k, atEOF)
		case b[k] == ',':
			s.unq = append(s.unq, b[i:k]...)
			s.ends = append(s.ends, len(s.unq))
			i = k + 1
			continue
		}
		s.unq = append(s.unq, dropCR(b[i:k])...)
		s.ends = append(s.ends, len(s.unq))
		return s.endRow(b, k, k+1, rowOK)
	}
}

// skipBad ends a bad row at the first newline at or after i.
func (s *scanner) skipBad(b []byte, i int, atEOF bool) (int, rowStatus) {
	nl := bytes.IndexByte(b[i:], '\n')
	if nl < 0 {
		if !atEOF {
			return 0, rowPartial
		}
		return s.endRow(b, len(b), len(b), rowBad)
	}
	return s.endRow(b, i+nl, i+nl+1, rowBad)
}

// endRow sets s.raw to b[:rawEnd] (without a final "\r") and the fields from s.unq, counts the
// newlines inside the row and returns n bytes consumed.
func (s *scanner) endRow(b []byte, rawEnd, n int, st rowStatus) (int, rowStatus) {
	s.raw = dropCR(b[:rawEnd])
	s.line += int64(bytes.Count(s.raw, []byte{'\n'}))
	s.fields = s.fields[:0]
	start := 0
	for _, end := range s.ends {
		s.fields = append(s.fields, s.unq[start:end])
		start = end
	}
	return n, st
}

// skipOverlong reports the row at s.pos, already longer than MaxRowBytes, as bad: it keeps its first
// MaxRowBytes as Raw and discards input up to the first newline after them.
func (s *scanner) skipOverlong() {
	b := s.buf[s.pos:s.end]
	s.tooLong = append(s.tooLong[:0], b[:MaxRowBytes]...)
	s.raw = s.tooLong
	s.fields = s.fields[:0]
	s.rowLine = s.line
	s.line += int64(bytes.Count(b[:MaxRowBytes], []byte{'\n'}))
	from := MaxRowBytes
	for {
		b = s.buf[s.pos:s.end]
		if nl := bytes.IndexByte(b[from:], '\n'); nl >= 0 {
			s.line++
			s.pos += from + nl + 1
			return
		}
		s.pos = s.end
		if s.rerr != nil {
			return
		}
		s.fill()
		from = 0
	}
}

// fill moves the unread bytes to the front of the buffer and reads more after them.
func (s *scanner) fill() {
	s.shift()
	s.read()
}

// fillLine is fill that goes on reading until the new bytes hold a newline, the buffer is full or
// reading fails. No row ends without one, so splitting again sooner would be wasted work (quadratic
// in the row's length with a reader that returns a byte at a time).
func (s *scanner) fillLine() {
	s.shift()
	for {
		from := s.end
		s.read()
		if s.rerr != nil || s.end == len(s.buf) || bytes.IndexByte(s.buf[from:s.end], '\n') >= 0 {
			return
		}
	}
}

func (s *scanner) shift() {
	if s.pos > 0 {
		s.end = copy(s.buf, s.buf[s.pos:s.end])
		s.pos = 0
	}
}

// read reads once into the free end of the buffer, as bufio.Reader does.
func (s *scanner) read() {
	for range 100 {
		n, err := s.r.Read(s.buf[s.end:])
		if n < 0 || n > len(s.buf)-s.end {
			s.rerr = errBadRead
			return
		}
		s.end += n
		if err != nil {
			s.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	s.rerr = io.ErrNoProgress
}

func dropCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// trim removes the spaces and tabs around a field.
func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
