package record

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/notestream/notestream/internal/event"
)

// DecodeInteraction parses a JSON value written by AppendInteraction (or any equivalent JSON: keys in
// any order, whitespace, escapes; unknown keys are ignored). Every field is required; timestamp may be
// any RFC 3339 time and is kept to the millisecond, duration_ms must be an integer.
func DecodeInteraction(b []byte, in *event.Interaction) error {
	if decodeInteractionFast(b, in) {
		return nil
	}
	return decodeInteractionSlow(b, in)
}

// DecodeUser parses a users topic value (AppendUser's layout or any equivalent JSON). Every field is
// required and join_date must be a YYYY-MM-DD date.
func DecodeUser(b []byte, u *event.User) error {
	if decodeUserFast(b, u) {
		return nil
	}
	return decodeUserSlow(b, u)
}

// DecodeControl parses a control record's value. event_time is required; kind is optional because
// the ControlHeader of the record is authoritative.
func DecodeControl(b []byte) (Control, error) {
	var c Control
	if decodeControlFast(b, &c) {
		return c, nil
	}
	return decodeControlSlow(b)
}

// The fast paths accept exactly the layout of the Append functions with strings that need no
// unescaping; anything else goes to the slow path, which is the authority. A fast path that accepts
// must produce what the slow path would (checked by FuzzDecodeFastMatchesSlow).

type scanner struct {
	b  []byte
	i  int
	ok bool
}

func (s *scanner) lit(l string) {
	if !s.ok || len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		s.ok = false
		return
	}
	s.i += len(l)
}

// raw returns the bytes of a JSON string body that needs no unescaping, up to the closing quote,
// which it consumes.
func (s *scanner) raw() []byte {
	if !s.ok {
		return nil
	}
	start, ascii := s.i, true
	for ; s.i < len(s.b); s.i++ {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(v) {
				s.ok = false
			}
			return v
		case c < 0x20 || c == '\\':
			s.ok = false
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	s.ok = false
	return nil
}

// action reads a string like raw, returning the shared constant for a canonical action name: no
// allocation for nearly every event.
func (s *scanner) action() string {
	v := s.raw()
	if !s.ok {
		return ""
	}
	for _, a := range event.Actions {
		if string(v) == a {
			return a
		}
	}
	return string(v)
}

// int reads a JSON integer without exponent or fraction.
func (s *scanner) int() int64 {
	if !s.ok {
		return 0
	}
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	start := s.i
	var u uint64
	for ; s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9'; s.i++ {
		if u > (1<<63-1)/10 {
			s.ok = false
			return 0
		}
		u = u*10 + uint64(s.b[s.i]-'0')
	}
	n := s.i - start
	if n == 0 || (n > 1 && s.b[start] == '0') || u > 1<<63 || (!neg && u == 1<<63) {
		s.ok = false
		return 0
	}
	if neg {
		return -int64(u)
	}
	return int64(u)
}

// time reads the body of AppendTime's layout, YYYY-MM-DDTHH:MM:SS.mmmZ, and its closing quote.
func (s *scanner) time() int64 {
	if !s.ok || len(s.b)-s.i < 25 {
		s.ok = false
		return 0
	}
	b := s.b[s.i : s.i+25]
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != '.' ||
		b[23] != 'Z' || b[24] != '"' {
		s.ok = false
		return 0
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	milli, ok7 := digits(b[20:23])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || hour > 23 || minute > 59 || sec > 59 ||
		!validDate(year, month, day) {
		s.ok = false
		return 0
	}
	s.i += 25
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	return t.Unix()*1000 + int64(milli)
}

func (s *scanner) end() bool { return s.ok && s.i == len(s.b) }

func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func validDate(year, month, day int) bool {
	if month < 1 || month > 12 || day < 1 {
		return false
	}
	return day <= time.Date(year, time.Month(month+1), 0, 0, 0, 0, 0, time.UTC).Day()
}

func decodeInteractionFast(b []byte, in *event.Interaction) bool {
	s := scanner{b: b, ok: true}
	s.lit(`{"user_id":"`)
	userID := s.raw()
	s.lit(`,"timestamp":"`)
	ts := s.time()
	s.lit(`,"action_type":"`)
	action := s.action()
	s.lit(`,"page_id":"`)
	pageID := s.raw()
	s.lit(`,"duration_ms":`)
	duration := s.int()
	s.lit(`,"app_version":"`)
	version := s.raw()
	s.lit(`}`)
	if !s.end() {
		return false
	}
	// One allocation for the three free-form strings instead of three.
	f := concat(userID, pageID, version)
	*in = event.Interaction{UserID: f[0], Time: ts, Action: action, PageID: f[1], DurationMs: duration,
		AppVersion: f[2]}
	return true
}

func decodeUserFast(b []byte, u *event.User) bool {
	s := scanner{b: b, ok: true}
	s.lit(`{"user_id":"`)
	userID := s.raw()
	s.lit(`,"join_date":"`)
	joinDate := s.raw()
	if s.ok && !isDate(joinDate) {
		return false
	}
	s.lit(`,"country":"`)
	country := s.raw()
	s.lit(`,"device_type":"`)
	device := s.raw()
	s.lit(`,"subscription_type":"`)
	sub := s.raw()
	s.lit(`}`)
	if !s.end() {
		return false
	}
	f := concat(userID, joinDate, country, device, sub)
	*u = event.User{UserID: f[0], JoinDate: f[1], Country: f[2], DeviceType: f[3], SubscriptionType: f[4]}
	return true
}

// concat returns the fields as strings sharing one allocation.
func concat[T ~[]byte](fields ...T) [5]string {
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, f := range fields {
		sb.Write(f)
	}
	all := sb.String()
	var out [5]string
	for i, f := range fields {
		out[i], all = all[:len(f)], all[len(f):]
	}
	return out
}

func decodeControlFast(b []byte, c *Control) bool {
	s := scanner{b: b, ok: true}
	s.lit(`{"kind":"`)
	kind := s.raw()
	s.lit(`,"event_time":"`)
	ts := s.time()
	s.lit(`}`)
	if !s.end() {
		return false
	}
	switch string(kind) {
	case ControlProgress:
		c.Kind = ControlProgress
	case ControlEnd:
		c.Kind = ControlEnd
	default:
		c.Kind = string(kind)
	}
	c.EventTime = ts
	return true
}

// isDate reports whether b is a valid YYYY-MM-DD calendar date.
func isDate(b []byte) bool {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	return ok1 && ok2 && ok3 && validDate(year, month, day)
}

// fields splits a JSON object into its members, keyed exactly (encoding/json's struct decoding would
// match keys case-insensitively).
func fields(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if m == nil {
		return nil, invalid("value is null")
	}
	return m, nil
}

func stringField(m map[string]json.RawMessage, name string, dst *string) error {
	raw, ok := m[name]
	if !ok || string(raw) == "null" {
		return missing(name)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return invalid(name)
	}
	return nil
}

func timeField(m map[string]json.RawMessage, name string, dst *int64) error {
	var s string
	if err := stringField(m, name, &s); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return invalid(name)
	}
	*dst = t.UnixMilli()
	return nil
}

func decodeInteractionSlow(b []byte, in *event.Interaction) error {
	m, err := fields(b)
	if err != nil {
		return err
	}
	var out event.Interaction
	if err := stringField(m, "user_id", &out.UserID); err != nil {
		return err
	}
	if err := timeField(m, "timestamp", &out.Time); err != nil {
		return err
	}
	if err := stringField(m, "action_type", &out.Action); err != nil {
		return err
	}
	if err := stringField(m, "page_id", &out.PageID); err != nil {
		return err
	}
	raw, ok := m["duration_ms"]
	if !ok || string(raw) == "null" {
		return missing("duration_ms")
	}
	if err := json.Unmarshal(raw, &out.DurationMs); err != nil {
		return invalid("duration_ms")
	}
	if err := stringField(m, "app_version", &out.AppVersion); err != nil {
		return err
	}
	*in = out
	return nil
}

func decodeUserSlow(b []byte, u *event.User) error {
	m, err := fields(b)
	if err != nil {
		return err
	}
	var out event.User
	if err := stringField(m, "user_id", &out.UserID); err != nil {
		return err
	}
	if err := stringField(m, "join_date", &out.JoinDate); err != nil {
		return err
	}
	if !isDate([]byte(out.JoinDate)) {
		return invalid("join_date")
	}
	if err := stringField(m, "country", &out.Country); err != nil {
		return err
	}
	if err := stringField(m, "device_type", &out.DeviceType); err != nil {
		return err
	}
	if err := stringField(m, "subscription_type", &out.SubscriptionType); err != nil {
		return err
	}
	*u = out
	return nil
}

func decodeControlSlow(b []byte) (Control, error) {
	m, err := fields(b)
	if err != nil {
		return Control{}, err
	}
	var c Control
	if _, ok := m["kind"]; ok {
		if err := stringField(m, "kind", &c.Kind); err != nil {
			return Control{}, err
		}
	}
	if err := timeField(m, "event_time", &c.EventTime); err != nil {
		return Control{}, err
	}
	return c, nil
}
