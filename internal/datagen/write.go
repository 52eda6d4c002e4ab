package datagen

import (
	"bufio"
	"io"
	"strconv"

	"github.com/notestream/notestream/internal/event"
)

const (
	headerInteractions = "user_id,timestamp,action_type,page_id,duration_ms,app_version\n"
	headerUsers        = "user_id,join_date,country,device_type,subscription_type\n"
)

var upperActions = []string{"PAGE_VIEW", "EDIT", "CREATE", "DELETE", "SHARE"}

var unknownActions = []string{"view", "click", "open", "page-view", "", "comment", "pageview", "EDITED"}

// appendRow renders rw as one CSV line. Bad rows are bad in exactly the one way rw.kind names.
func (g *generator) appendRow(b []byte, rw *row) []byte {
	u := &g.users[rw.user]
	start := len(b)
	bad, v := rw.kind, rw.variant
	if bad != event.OK && bad != event.Duplicate {
		v = 0xff // no cosmetic variant
	}

	switch {
	case bad == event.MissingUserID:
		b = append(b, []string{"", "  ", `""`}[rw.variant]...)
	case bad == event.FieldTooLong && rw.variant == 0: // a pasted token as the id
		b = append(b, u.id...)
		b = appendHexRun(b, 300, uint64(rw.t))
	case v == padUser:
		b = append(append(append(b, ' '), u.id...), ' ')
	default:
		b = append(b, u.id...)
	}
	b = append(b, ',')

	if bad == event.BadTimestamp {
		b = appendBadTime(b, rw.t, rw.variant)
	} else {
		b = appendTime(b, rw.t, rw.form, countries[u.country].offset)
	}
	if bad == event.Malformed && rw.variant == 4 { // cut short after the timestamp
		return append(b, '\n')
	}
	b = append(b, ',')

	switch {
	case bad == event.UnknownAction:
		b = append(b, unknownActions[rw.variant]...)
	case v == upperAction:
		b = append(b, upperActions[rw.action]...)
	default:
		b = append(b, actions[rw.action]...)
	}
	b = append(b, ',')

	pageID := mix(uint64(rw.user)<<24|uint64(rw.page))%9_000_000 + 1_000_000
	switch {
	case bad == event.FieldTooLong && rw.variant == 1: // a URL with a long query string
		b = strconv.AppendUint(append(b, 'p'), pageID, 10)
		b = append(b, "?ref=share&token="...)
		b = appendHexRun(b, 280, pageID)
	case bad == event.Malformed && rw.variant == 2: // a stray quote inside a field
		b = strconv.AppendUint(append(b, 'p'), pageID, 10)
		b = append(b, `"x`...)
	case bad == event.Malformed && rw.variant == 3: // text after a closing quote
		b = strconv.AppendUint(append(b, `"p`...), pageID, 10)
		b = append(b, `"x`...)
	case v == quotePage:
		b = strconv.AppendUint(append(b, `"p`...), pageID, 10)
		b = append(b, '"')
	default:
		b = strconv.AppendUint(append(b, 'p'), pageID, 10)
	}
	b = append(b, ',')

	if bad == event.BadDuration {
		switch rw.variant {
		case 0:
			b = strconv.AppendInt(b, int64(rw.dur/1000), 10)
			b = append(b, '.', '5')
		case 1:
			b = append(b, "NaN"...)
		case 2:
		case 3:
			b = append(b, "1e3"...)
		case 4:
			b = strconv.AppendInt(b, int64(rw.dur), 10)
			b = append(b, "ms"...)
		default:
			b = append(b, "null"...)
		}
	} else {
		b = strconv.AppendInt(b, int64(rw.dur), 10)
	}

	version := g.releases[rw.version].name
	switch {
	case bad == event.Malformed && rw.variant == 0: // the last field missing
	case bad == event.Malformed && rw.variant == 1: // a version written with commas
		b = append(b, ',')
		for _, c := range []byte(version) {
			if c == '.' {
				c = ','
			}
			b = append(b, c)
		}
	case bad == event.FieldTooLong && rw.variant == 2:
		b = append(append(append(b, ','), version...), "+build."...)
		b = appendHexRun(b, 64, uint64(rw.t))
	case v == quoteVersion:
		b = append(append(append(b, ',', '"'), version...), '"')
	default:
		b = append(append(b, ','), version...)
	}
	if bad == event.Malformed && rw.variant == 5 { // a semicolon-separated export
		for i := start; i < len(b); i++ {
			if b[i] == ',' {
				b[i] = ';'
			}
		}
	}
	return append(b, '\n')
}

// appendHexRun appends n hex digits derived from seed.
func appendHexRun(b []byte, n int, seed uint64) []byte {
	const hex = "0123456789abcdef"
	x := seed
	for i := range n {
		if i%16 == 0 {
			x = mix(x + uint64(i))
		}
		b = append(b, hex[x&15])
		x >>= 4
	}
	return b
}

// appendTime writes ms in the given timestamp form; formOffset writes the local time at offsetMin.
func appendTime(b []byte, ms int64, form uint8, offsetMin int) []byte {
	sep := byte('T')
	if form == formSpace || form == formSpaceMillis {
		sep = ' '
	}
	if form == formOffset {
		ms += int64(offsetMin) * minuteMs
	}
	b = appendDateTime(b, ms, sep)
	switch form {
	case formSpaceMillis, formTMillisZ:
		b = append(b, '.')
		b = append2(b, int(ms%1000/10))
		b = append(b, byte('0'+ms%10))
	}
	switch form {
	case formTZ, formTMillisZ:
		b = append(b, 'Z')
	case formOffset:
		sign := byte('+')
		if offsetMin < 0 {
			sign, offsetMin = '-', -offsetMin
		}
		b = append2(append(b, sign), offsetMin/60)
		b = append2(append(b, ':'), offsetMin%60)
	}
	return b
}

// appendBadTime writes one of the timestamp forms the contract does not accept.
func appendBadTime(b []byte, ms int64, variant uint8) []byte {
	y, m, d := event.Civil(ms / dayMs)
	switch variant {
	case 0: // slashes
		b = appendDateTime(b, ms, ' ')
		b[len(b)-15], b[len(b)-12] = '/', '/'
	case 1: // epoch seconds
		b = strconv.AppendInt(b, ms/1000, 10)
	case 2: // US style
		b = append2(append(append2(b, m), '/'), d)
		b = appendClock(append(append4(append(b, '/'), y), ' '), ms)
	case 3: // no seconds
		b = appendDateTime(b, ms, ' ')
		b = b[:len(b)-3]
	case 4: // empty
	case 5: // hour 24
		b = appendDateTime(b, ms, ' ')
		b[len(b)-8], b[len(b)-7] = '2', '4'
	case 6: // offset without a colon, after a space
		b = append(appendDateTime(b, ms, ' '), " +0000"...)
	default: // a day February never has
		b = appendDateTime(b, ms, ' ')
		b[len(b)-14], b[len(b)-13], b[len(b)-11], b[len(b)-10] = '0', '2', '3', '0'
	}
	return b
}

// appendDateTime writes YYYY-MM-DD, sep, HH:MM:SS. Times are after 1970.
func appendDateTime(b []byte, ms int64, sep byte) []byte {
	return appendClock(append(appendDate(b, ms/dayMs), sep), ms)
}

// appendClock writes the HH:MM:SS of ms.
func appendClock(b []byte, ms int64) []byte {
	sec := int(ms % dayMs / 1000)
	b = append2(b, sec/3600)
	b = append2(append(b, ':'), sec/60%60)
	return append2(append(b, ':'), sec%60)
}

func appendDate(b []byte, days int64) []byte {
	y, m, d := event.Civil(days)
	b = append4(b, y)
	b = append2(append(b, '-'), m)
	return append2(append(b, '-'), d)
}

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

func append4(b []byte, n int) []byte { return append2(append2(b, n/100), n%100) }

var userBadVariants = map[event.Reason]int{event.Malformed: 3, event.FieldTooLong: 1, event.MissingUserID: 2, event.BadDate: 5}

// writeUsers writes one metadata row per user that has one, then the later updates of some of them.
func (g *generator) writeUsers(w io.Writer) error {
	out := bufio.NewWriterSize(w, 1<<20)
	out.WriteString(headerUsers)
	cum := make([]float64, len(UserDirt))
	sum := 0.0
	for i, reason := range UserDirt {
		sum += g.cfg.Rates[reason]
		cum[i] = sum
	}
	write := func(u *user, plan, device uint8) {
		bad, variant := event.OK, 0
		x := g.r.float()
		for i, c := range cum {
			if x < c {
				bad = UserDirt[i]
				variant = g.r.intn(userBadVariants[bad])
				g.prof.UserDirt[bad]++
				break
			}
		}
		b := out.AvailableBuffer()
		switch bad {
		case event.MissingUserID:
			b = append(b, []string{"", " "}[variant]...)
		default:
			b = append(b, u.id...)
		}
		b = append(b, ',')
		if bad == event.BadDate {
			y, m, d := event.Civil(int64(g.startMs/dayMs) + int64(u.join))
			switch variant {
			case 0:
				b = append(append4(b, y), "-02-30"...)
			case 1:
				b = append4(append(append2(append(append2(b, d), '/'), m), '/'), y)
			case 2:
			case 3:
				b = append4(b, y)
				b = append2(append(b, "-13-"...), d)
			default:
				b = append(b, "n/a"...)
			}
		} else {
			b = appendDate(b, g.startMs/dayMs+int64(u.join))
		}
		b = append(append(b, ','), countries[u.country].code...)
		b = append(b, ',')
		if bad == event.FieldTooLong {
			b = append(b, "Mozilla/5.0 (notes-app) "...)
			b = appendHexRun(b, 260, uint64(u.join))
		} else {
			b = append(b, devices[device]...)
		}
		switch {
		case bad == event.Malformed && variant == 0: // the last field missing
		case bad == event.Malformed && variant == 1:
			b = append(append(append(b, ','), plans[plan]...), ",extra"...)
		default:
			b = append(append(b, ','), plans[plan]...)
		}
		if bad == event.Malformed && variant == 2 {
			for i, c := range b {
				if c == ',' {
					b[i] = ';'
				}
			}
		}
		out.Write(append(b, '\n'))
		g.prof.UserRows++
	}
	for i := range g.users {
		if u := &g.users[i]; u.meta != metaNone {
			write(u, u.plan, u.device)
		}
	}
	for i := range g.users {
		u := &g.users[i]
		if u.meta != metaUpdated {
			continue
		}
		plan, device := u.plan, u.device
		if g.r.chance(0.7) && int(plan) < len(plans)-1 { // an upgrade
			plan++
		} else {
			device = uint8((int(device) + 1 + g.r.intn(len(devices)-1)) % len(devices))
		}
		write(u, plan, device)
	}
	return out.Flush()
}
