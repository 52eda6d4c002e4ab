package csvin

import "github.com/notestream/notestream/internal/event"

// ParseTimestamp parses every timestamp form of the contract into Unix milliseconds, UTC:
// YYYY-MM-DD, then ' ' or 'T', then HH:MM:SS, optional fractional seconds (truncated to milliseconds),
// optional 'Z' or ±hh:mm. Without an offset the time is UTC. Every part is range-checked.
func ParseTimestamp(s []byte) (int64, bool) { return parseTimestamp(s, nil) }

// parseTimestamp is ParseTimestamp with the date looked up in dates (nil for none).
func parseTimestamp(s []byte, dates *dateCache) (int64, bool) {
	if len(s) < 19 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	days, ok := dates.parse(s[:10])
	hh, ok1 := num2(s[11:13])
	mm, ok2 := num2(s[14:16])
	ss, ok3 := num2(s[17:19])
	if !ok || !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return 0, false
	}
	rest := s[19:]
	var ms int64
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for ; i < len(rest) && isDigit(rest[i]); i++ {
			if i <= 3 {
				ms = ms*10 + int64(rest[i]-'0')
			}
		}
		if i == 1 {
			return 0, false
		}
		for n := i; n <= 3; n++ { // scale ".5" to 500 ms
			ms *= 10
		}
		rest = rest[i:]
	}
	var offset int64 // seconds east of UTC
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num2(rest[1:3])
		om, ok2 := num2(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	sec := days*86400 + int64(hh*3600+mm*60+ss) - offset
	return sec*1000 + ms, true
}

// dateCache remembers the last valid date parsed: consecutive rows of a file mostly share a day, and
// checking and converting the date was the larger part of a timestamp's cost.
type dateCache struct {
	date [10]byte
	days int64
	set  bool
}

// parse is parseDate of a 10-byte s, answered from the cache when s is its date; c may be nil.
func (c *dateCache) parse(s []byte) (int64, bool) {
	if c != nil && c.set && string(s) == string(c.date[:]) {
		return c.days, true
	}
	days, ok := parseDate(s)
	if ok && c != nil {
		c.date, c.days, c.set = [10]byte(s), days, true
	}
	return days, ok
}

// validDate reports whether s is a valid YYYY-MM-DD date.
func validDate(s []byte) bool {
	_, ok := parseDate(s)
	return ok
}

// parseDate parses YYYY-MM-DD into days since 1970-01-01.
func parseDate(s []byte) (int64, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y1, ok1 := num2(s[0:2])
	y2, ok2 := num2(s[2:4])
	m, ok3 := num2(s[5:7])
	d, ok4 := num2(s[8:10])
	if !ok1 || !ok2 || !ok3 || !ok4 || m < 1 || m > 12 || d < 1 || d > daysIn(y1*100+y2, m) {
		return 0, false
	}
	return event.DaysFromCivil(y1*100+y2, m, d), true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func num2(b []byte) (int, bool) {
	if !isDigit(b[0]) || !isDigit(b[1]) {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseInt parses a decimal int64 with an optional sign, rejecting overflow.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
	}
	for len(b) > 1 && b[0] == '0' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	const limit = 1 << 63
	if u > limit || (u == limit && !neg) {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}
