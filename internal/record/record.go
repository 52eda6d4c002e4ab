// Package record encodes interactions, users and control records as the JSON values of the Kafka topics.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/notestream/notestream/internal/event"
)

// ControlHeader is the record header that marks a control record; event readers skip such records.
//
// A control record has a null key, this header with the kind as its value, and the JSON value of
// AppendControl, for example {"kind":"progress","event_time":"2023-07-01T14:30:15.000Z"}; its record
// timestamp is the event time. The producer also gives it the source and line headers (event records
// have no headers): every row of that source up to that line meant for the partition precedes it.
const ControlHeader = "notestream.control"

// Control kinds, the value of ControlHeader.
const (
	ControlProgress = "progress" // event time has reached EventTime for this partition's producer
	ControlEnd      = "end"      // the replay ended: close every open session
)

// Control is a control record's decoded value.
type Control struct {
	Kind      string
	EventTime int64 // Unix ms
}

// Errors returned by the decoders, wrapped with the offending field.
var (
	ErrMissingField = errors.New("record: missing field")
	ErrInvalidField = errors.New("record: invalid field")
)

// AppendInteraction appends the JSON value of in to dst:
//
//	{"user_id":"u1","timestamp":"2023-07-01T14:30:15.000Z","action_type":"page_view","page_id":"p1","duration_ms":12000,"app_version":"5.7.3"}
//
// Times must lie in years 0000 to 9999 (all that the CSV formats can express).
func AppendInteraction(dst []byte, in *event.Interaction) []byte {
	var e Encoder
	return e.AppendInteraction(dst, in)
}

// Encoder appends values like the package's functions, remembering the date of the last time it
// wrote: consecutive events mostly share a day, and the calendar arithmetic is most of a timestamp's
// cost. The zero value is ready to use.
type Encoder struct {
	day  int64    // days since 1970-01-01 written in date
	date [11]byte // such as "2023-07-01T"
	set  bool
}

// AppendInteraction is the package's AppendInteraction.
func (e *Encoder) AppendInteraction(dst []byte, in *event.Interaction) []byte {
	dst = append(dst, `{"user_id":`...)
	dst = appendString(dst, in.UserID)
	dst = append(dst, `,"timestamp":"`...)
	dst = e.AppendTime(dst, in.Time)
	dst = append(dst, `","action_type":`...)
	dst = appendString(dst, in.Action)
	dst = append(dst, `,"page_id":`...)
	dst = appendString(dst, in.PageID)
	dst = append(dst, `,"duration_ms":`...)
	dst = appendInt(dst, in.DurationMs)
	dst = append(dst, `,"app_version":`...)
	dst = appendString(dst, in.AppVersion)
	return append(dst, '}')
}

// AppendPlainInteraction is AppendInteraction for an event whose four strings are Plain: it copies
// them without looking for characters to escape.
func (e *Encoder) AppendPlainInteraction(dst []byte, in *event.Interaction) []byte {
	dst = append(dst, `{"user_id":"`...)
	dst = append(dst, in.UserID...)
	dst = append(dst, `","timestamp":"`...)
	dst = e.AppendTime(dst, in.Time)
	dst = append(dst, `","action_type":"`...)
	dst = append(dst, in.Action...)
	dst = append(dst, `","page_id":"`...)
	dst = append(dst, in.PageID...)
	dst = append(dst, `","duration_ms":`...)
	dst = appendInt(dst, in.DurationMs)
	dst = append(dst, `,"app_version":"`...)
	dst = append(dst, in.AppVersion...)
	return append(dst, `"}`...)
}

// Plain reports whether text is written unchanged inside a JSON string: printable ASCII without
// quotes or backslashes. It checks eight bytes at a time with the zero-byte tests of "Bit Twiddling
// Hacks", which are exact about whether any byte matches, so a batch of rows' strings can be checked
// at once.
func Plain(text []byte) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(text); i += 8 {
		v := binary.LittleEndian.Uint64(text[i:])
		quote, backslash := v^('"'*ones), v^('\\'*ones)
		if (v|(v-0x20*ones)&^v|(quote-ones)&^quote|(backslash-ones)&^backslash)&high != 0 {
			return false
		}
	}
	for _, c := range text[i:] {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// AppendUser appends the JSON value of u to dst:
//
//	{"user_id":"u1","join_date":"2022-01-15","country":"US","device_type":"iPad","subscription_type":"premium"}
func AppendUser(dst []byte, u *event.User) []byte {
	dst = append(dst, `{"user_id":`...)
	dst = appendString(dst, u.UserID)
	dst = append(dst, `,"join_date":`...)
	dst = appendString(dst, u.JoinDate)
	dst = append(dst, `,"country":`...)
	dst = appendString(dst, u.Country)
	dst = append(dst, `,"device_type":`...)
	dst = appendString(dst, u.DeviceType)
	dst = append(dst, `,"subscription_type":`...)
	dst = appendString(dst, u.SubscriptionType)
	return append(dst, '}')
}

// AppendControl appends a control record's JSON value. The kind is also in ControlHeader, so readers
// can skip control records without parsing them; it is repeated here to make the value self-describing.
func AppendControl(dst []byte, c Control) []byte {
	dst = append(dst, `{"kind":`...)
	dst = appendString(dst, c.Kind)
	dst = append(dst, `,"event_time":"`...)
	dst = AppendTime(dst, c.EventTime)
	return append(dst, `"}`...)
}

// AppendTime appends ms (Unix milliseconds) as RFC 3339 UTC with exactly three fractional digits,
// such as 2023-07-01T14:30:15.000Z. Years outside 0000 to 9999 are written with more digits or a sign.
func AppendTime(dst []byte, ms int64) []byte {
	var e Encoder
	return e.AppendTime(dst, ms)
}

// AppendTime is the package's AppendTime.
func (e *Encoder) AppendTime(dst []byte, ms int64) []byte {
	const (
		msPerDay = 86_400_000
		minMs    = -62_167_219_200_000 // 0000-01-01T00:00:00Z
		endMs    = 253_402_300_800_000 // 10000-01-01T00:00:00Z
	)
	if ms < minMs || ms >= endMs {
		return time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	}
	// Integer arithmetic rather than time.Time's Date and Clock, which cost more than the rest of an
	// event's JSON; and one fixed-size write instead of many small appends: this runs for every event.
	days := ms / msPerDay
	if ms%msPerDay < 0 {
		days--
	}
	if !e.set || days != e.day {
		year, month, day := event.Civil(days)
		e.day, e.set = days, true
		e.date = [11]byte{
			byte('0' + year/1000), byte('0' + year/100%10), byte('0' + year/10%10), byte('0' + year%10), '-',
			byte('0' + month/10), byte('0' + month%10), '-',
			byte('0' + day/10), byte('0' + day%10), 'T',
		}
	}
	// 32-bit arithmetic: a day's milliseconds fit, and its divisions by constants are cheaper.
	t := uint32(ms - days*msPerDay)
	sec := t / 1000
	frac := t - sec*1000
	hour := sec / 3600
	sec -= hour * 3600
	minute := sec / 60
	sec -= minute * 60
	var b [24]byte
	copy(b[:], e.date[:])
	b[11], b[12], b[13] = twoDigits[2*hour], twoDigits[2*hour+1], ':'
	b[14], b[15], b[16] = twoDigits[2*minute], twoDigits[2*minute+1], ':'
	b[17], b[18], b[19] = twoDigits[2*sec], twoDigits[2*sec+1], '.'
	b[20], b[21], b[22], b[23] = byte('0'+frac/100), twoDigits[2*(frac%100)], twoDigits[2*(frac%100)+1], 'Z'
	return append(dst, b[:]...)
}

// twoDigits holds 00 to 99, two bytes each.
const twoDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

func appendInt(dst []byte, v int64) []byte {
	var buf [20]byte
	i := len(buf)
	u := uint64(v)
	if v < 0 {
		u = -u
	}
	for u >= 10 {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	i--
	buf[i] = byte('0' + u)
	if v < 0 {
		dst = append(dst, '-')
	}
	return append(dst, buf[i:]...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping like encoding/json without its HTML escaping:
// quotes, backslashes and control characters are escaped, invalid UTF-8 becomes U+FFFD, and U+2028
// and U+2029 are escaped so the value is also valid JavaScript.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func missing(field string) error { return fmt.Errorf("%w %q", ErrMissingField, field) }

func invalid(field string) error { return fmt.Errorf("%w %q", ErrInvalidField, field) }
