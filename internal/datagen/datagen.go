// Package datagen generates realistic synthetic user_interactions and user_metadata CSV files.
//
// Users get heavy-tailed (Pareto) activity, join and churn through the period, and live in countries
// whose time zones shape the daily rhythm. Each active day a user has a Poisson number of sessions:
// bursts of actions seconds apart, at least 30 minutes apart from each other, some running across
// midnight. Every row may be made bad in one of the contract's ways at a configured rate; the Profile
// counts exactly what was injected, so readers can be checked against it.
package datagen

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/notestream/notestream/internal/event"
)

// InteractionDirt are the ways an interaction row can be bad, in contract order.
var InteractionDirt = []event.Reason{
	event.Malformed, event.FieldTooLong, event.MissingUserID, event.BadTimestamp, event.BadDuration,
	event.UnknownAction, event.DurationOutOfRange, event.Duplicate,
}

// UserDirt are the ways a user_metadata row can be bad, in contract order.
var UserDirt = []event.Reason{event.Malformed, event.FieldTooLong, event.MissingUserID, event.BadDate}

// Config says what to generate.
type Config struct {
	Users   int
	Days    int
	Start   time.Time // midnight UTC of the first day
	Seed    uint64
	Shuffle bool // write interactions in random order instead of by time
	// Incidents plants a slow release, a slow device, an outage and a spike (incidents.go).
	Incidents bool

	// Rates is the share of rows made bad, by reason. Malformed, FieldTooLong and MissingUserID apply to
	// both files, BadDate to user rows, the rest to interaction rows (Duplicate adds a copy of a row).
	Rates map[event.Reason]float64
}

// DefaultRates are small rates of every kind of bad row.
func DefaultRates() map[event.Reason]float64 {
	return map[event.Reason]float64{
		event.Malformed:          0.001,
		event.FieldTooLong:       0.0005,
		event.MissingUserID:      0.001,
		event.BadTimestamp:       0.001,
		event.BadDuration:        0.0005,
		event.BadDate:            0.002,
		event.UnknownAction:      0.001,
		event.DurationOutOfRange: 0.0005,
		event.Duplicate:          0.002,
	}
}

// DefaultConfig is a year of about 5M events from 20,000 users.
func DefaultConfig() Config {
	return Config{
		Users:     20_000,
		Days:      365,
		Start:     time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC),
		Seed:      1,
		Rates:     DefaultRates(),
		Incidents: true,
	}
}

// EventsPerUserDay sizes the output: the default 20,000 users over 365 days give about 5M events.
const EventsPerUserDay = 5e6 / (20_000 * 365)

// Validate reports a configuration that cannot be generated.
func (c Config) Validate() error {
	var errs []error
	if c.Users < 1 {
		errs = append(errs, fmt.Errorf("users %d: want at least 1", c.Users))
	}
	if c.Days < 1 || c.Days > 100*366 {
		errs = append(errs, fmt.Errorf("days %d: want 1 to 36600", c.Days))
	}
	if c.Start.Location() != time.UTC || !c.Start.Equal(c.Start.Truncate(24*time.Hour)) {
		errs = append(errs, fmt.Errorf("start %v: want midnight UTC", c.Start))
	}
	if y := c.Start.Year(); y < 1971 || y > 9000 {
		errs = append(errs, fmt.Errorf("start %v: want a year from 1971 to 9000", c.Start))
	}
	var sum float64
	for r, rate := range c.Rates {
		if !slices.Contains(InteractionDirt, r) && !slices.Contains(UserDirt, r) {
			errs = append(errs, fmt.Errorf("rate of %v: not a kind of bad row", r))
		}
		if !(rate >= 0 && rate <= 0.2) {
			errs = append(errs, fmt.Errorf("rate of %v %v: want 0 to 0.2", r, rate))
		}
		sum += rate
	}
	if sum > 0.5 {
		errs = append(errs, fmt.Errorf("rates add up to %v: want at most 0.5", sum))
	}
	return errors.Join(errs...)
}

// user is one synthetic user: fixed traits, then the state of their stream.
type user struct {
	id                    string
	rate                  float64 // expected events on an average active day
	actionsPerSession     float64
	join, churn           int     // days from Start; active in [join, churn)
	dwell                 float64 // the user's factor on every event's duration: slow readers, quick clickers
	country, device, plan uint8
	meta                  uint8 // metaNone, metaOnce or metaUpdated

	busyUntil int64  // end of the last session, Unix ms
	pages     uint32 // pages the user has created or opened
	events    int64
}

const (
	metaOnce = iota
	metaNone
	metaUpdated
)

// row is one interactions row before rendering.
type row struct {
	t       int64 // Unix ms
	user    int32
	page    uint32 // index among the user's pages
	dur     int32
	version uint16
	action  uint8
	form    uint8        // timestamp form
	kind    event.Reason // OK, or how the row is bad
	variant uint8        // which bad (or, for OK rows, which cosmetic) variant
	seq     uint32       // generation order, which breaks ties of t (wrapping is harmless)
}

type release struct {
	day  int // days from Start
	name string
}

type generator struct {
	cfg       Config
	r         *rng
	startMs   int64
	users     []user
	releases  []release
	dayFactor []float64
	dirt      []float64 // cumulative rates of InteractionDirt
	pending   []row
	seq       uint32
	out       *bufio.Writer
	prof      *Profile

	slowDevice, slowRelease int // incidents.go; -1 for none
}

const (
	dayMs     = 86_400_000
	minuteMs  = 60_000
	sessionGp = 30 * minuteMs
)

// Generate writes interactions and users CSV (with headers) and returns what it wrote.
func Generate(cfg Config, interactions, users io.Writer) (*Profile, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("datagen: %w", err)
	}
	g := &generator{
		cfg:     cfg,
		r:       newRNG(cfg.Seed),
		startMs: cfg.Start.UnixMilli(),
		prof:    newProfile(),
	}
	g.dirt = make([]float64, len(InteractionDirt))
	sum := 0.0
	for i, reason := range InteractionDirt {
		sum += cfg.Rates[reason]
		g.dirt[i] = sum
	}
	g.planDays()
	g.planReleases()
	g.planIncidents()
	g.planUsers()

	g.out = bufio.NewWriterSize(interactions, 1<<20)
	g.out.WriteString(headerInteractions)
	var all []row // every row, when shuffling
	if cfg.Shuffle {
		all = make([]row, 0, int(1.05*EventsPerUserDay*float64(cfg.Users)*float64(cfg.Days)))
	}
	for d := range cfg.Days {
		g.day(d)
		if cfg.Shuffle {
			all = append(all, g.pending...)
			g.pending = g.pending[:0]
			continue
		}
		g.flushBefore(g.startMs + int64(d+1)*dayMs)
	}
	if cfg.Shuffle {
		for i := len(all) - 1; i > 0; i-- {
			j := g.r.intn(i + 1)
			all[i], all[j] = all[j], all[i]
		}
		g.pending = all
	}
	g.flushBefore(math.MaxInt64)
	if err := g.out.Flush(); err != nil {
		return nil, fmt.Errorf("datagen: write interactions: %w", err)
	}
	if err := g.writeUsers(users); err != nil {
		return nil, fmt.Errorf("datagen: write users: %w", err)
	}
	g.prof.finish(g.users)
	return g.prof, nil
}

// planDays sets each day's activity factor: weekly rhythm, a mild seasonal swing and holiday dips.
func (g *generator) planDays() {
	g.dayFactor = make([]float64, g.cfg.Days)
	for d := range g.dayFactor {
		t := g.cfg.Start.AddDate(0, 0, d)
		f := weekdayFactor[t.Weekday()] * (1 + 0.08*math.Cos(2*math.Pi*float64(t.YearDay()-20)/365.25))
		switch m, day := t.Month(), t.Day(); {
		case m == time.December && day >= 24 && day <= 26:
			f *= 0.55
		case m == time.December && day == 31, m == time.January && day == 1:
			f *= 0.65
		}
		g.dayFactor[d] = f
	}
}

// planReleases rolls out a minor version every two to four weeks, often followed by a patch.
func (g *generator) planReleases() {
	major, minor := 5, 0
	for day := -150; day < g.cfg.Days; day += 14 + g.r.intn(15) {
		g.releases = append(g.releases, release{day, fmt.Sprintf("%d.%d.0", major, minor)})
		for patch, pday := 1, day; patch <= 2 && g.r.chance(0.5); patch++ {
			pday += 3 + g.r.intn(4)
			g.releases = append(g.releases, release{pday, fmt.Sprintf("%d.%d.%d", major, minor, patch)})
		}
		if minor++; minor == 10 {
			major, minor = major+1, 0
		}
	}
}

// planUsers draws every user's traits and scales their rates so the expected total is
// EventsPerUserDay × users × days.
func (g *generator) planUsers() {
	cfg := g.cfg
	countryCum := make([]float64, len(countries))
	sum := 0.0
	for i, c := range countries {
		sum += c.share
		countryCum[i] = sum
	}
	deviceCum, planCum := cumulate(deviceShares), cumulate(planShares)
	prefix := make([]float64, cfg.Days+1) // prefix[d] = sum of dayFactor before day d
	for d, f := range g.dayFactor {
		prefix[d+1] = prefix[d] + f
	}

	g.users = make([]user, cfg.Users)
	weights := make([]float64, cfg.Users)
	activeDays := make([]float64, cfg.Users) // sum of the day factors of the user's active days
	for i := range g.users {
		u := &g.users[i]
		u.id = "u" + strconv.Itoa(i+1)
		u.country = uint8(g.r.pick(countryCum))
		u.device = uint8(g.r.pick(deviceCum))
		u.plan = uint8(g.r.pick(planCum))
		if g.r.chance(0.45) {
			u.join = -1 - g.r.intn(730)
		} else {
			u.join = g.r.intn(cfg.Days)
		}
		// Lifetimes: many try the app and leave within days, some stay for months, a core stays. The
		// mixture gives weekly cohorts the usual curve: a steep drop over the first weeks, then a slow
		// decline towards the core (SPEC section 8's retention; README "What datagen makes").
		u.churn = cfg.Days
		switch x := g.r.float(); {
		case x < 0.40:
			u.churn = min(cfg.Days, u.join+1+int(8*g.r.exp()))
		case x < 0.65:
			u.churn = min(cfg.Days, u.join+1+int(120*g.r.exp()))
		}
		u.dwell = g.r.logNormal(1, 0.3)
		switch x := g.r.float(); {
		case x < 0.03:
			u.meta = metaNone
		case x < 0.08:
			u.meta = metaUpdated
		}
		// Pareto with alpha 1.3: the top 1% of users make about a third of the events.
		weights[i] = math.Pow(1-g.r.float(), -1/1.3) * planActivity[u.plan]
		if lo, hi := max(u.join, 0), max(u.churn, 0); hi > lo {
			activeDays[i] = prefix[hi] - prefix[lo]
		}
	}
	// Find the scale whose capped rates give the target; the cap makes it a fixed point.
	target := EventsPerUserDay * float64(cfg.Users) * float64(cfg.Days)
	scale := 1.0
	for range 8 {
		total := 0.0
		for i, w := range weights {
			total += min(w*scale, maxRate) * activeDays[i]
		}
		if total == 0 {
			break
		}
		scale *= target / total
	}
	for i := range g.users {
		u := &g.users[i]
		u.rate = min(weights[i]*scale, maxRate)
		u.actionsPerSession = min(2.5+1.5*math.Log1p(u.rate), 14)
		u.pages = 2 + uint32(g.r.intn(5))
	}
}

// maxRate caps a user's expected events per day: even the busiest person sleeps.
const maxRate = 250

// day generates the sessions starting on day d into g.pending.
func (g *generator) day(d int) {
	dayStart := g.startMs + int64(d)*dayMs
	var starts [16]int64
	for i := range g.users {
		u := &g.users[i]
		if d < u.join || d >= u.churn {
			continue
		}
		n := min(g.r.poisson(u.rate*g.dayFactor[d]/u.actionsPerSession), len(starts))
		if n == 0 {
			continue
		}
		offset := int64(countries[u.country].offset) * minuteMs
		for j := range n {
			local := int64(g.r.pick(hourCum))*3_600_000 + int64(g.r.intn(3600))*1000
			starts[j] = dayStart + ((local-offset)%dayMs+dayMs)%dayMs
		}
		slices.Sort(starts[:n])
		for _, s := range starts[:n] {
			if earliest := u.busyUntil + sessionGp + int64(10*minuteMs*g.r.exp())/1000*1000; s < earliest {
				s = earliest
			}
			g.session(int32(i), s)
		}
	}
}

var hourCum = cumulate(hourWeights)
var firstActionCum, nextActionCum = cumulate(firstActionShares), cumulate(nextActionShares)

// session generates one burst of actions by user ui starting at t.
func (g *generator) session(ui int32, t int64) {
	u := &g.users[ui]
	n := 1 + min(g.r.geometric(u.actionsPerSession-1), 300)
	version := g.version(ui, t)
	page := g.r.intn(int(u.pages))
	start := t
	for j := range n {
		if j > 0 {
			gap := g.r.logNormal(20_000, 1.1)
			if g.r.chance(0.04) {
				gap = float64(3*minuteMs + g.r.intn(22*minuteMs))
			}
			t += int64(max(1000, min(gap, 29*minuteMs))) / 1000 * 1000
		}
		cum := nextActionCum
		if j == 0 {
			cum = firstActionCum
		}
		a := g.r.pick(cum)
		switch {
		case a == 2: // create: a new page
			page = int(u.pages)
			u.pages++
		case j > 0 && g.r.chance(0.6): // keep working on the same page
		default:
			x := g.r.float()
			page = int(float64(u.pages) * x * x) // favourite pages first
		}
		dur := u.dwell * g.r.logNormal(durationMedianMs[a], durationSigma[a])
		if a == 0 {
			dur *= g.slowdown(u.device, version)
		}
		dur = min(dur, event.MaxDurationMs)
		if a >= 3 && g.r.chance(0.1) { // deletes and shares are often instant
			dur = 0
		}
		g.emit(row{t: t, user: ui, page: uint32(page), dur: int32(dur), version: version, action: uint8(a)})
	}
	u.busyUntil = t
	g.prof.Sessions++
	if (start-g.startMs)/dayMs != (t-g.startMs)/dayMs {
		g.prof.MidnightSessions++
	}
}

// version is the app version user ui runs at t: the newest release its device has picked up.
func (g *generator) version(ui int32, t int64) uint16 {
	day := float64(t-g.startMs) / dayMs
	lag := deviceLagDays[g.users[ui].device]
	for i := len(g.releases) - 1; i > 0; i-- {
		rel := float64(g.releases[i].day)
		if rel > day {
			continue
		}
		h := mix(uint64(ui)<<20 ^ uint64(i))
		if rel-lag*math.Log(1-float64(h>>11)/(1<<53)) <= day {
			return uint16(i)
		}
	}
	return 0
}

// Timestamp forms, by share: mostly the contract's example form, some of every other accepted one.
const (
	formSpace = iota
	formT
	formTZ
	formSpaceMillis
	formTMillisZ
	formOffset
)

var formCum = cumulate([]float64{0.93, 0.02, 0.02, 0.015, 0.005, 0.01})

// Cosmetic variants of good rows, each legal and meaning the same after trimming and case folding.
const (
	plain = iota
	quotePage
	upperAction
	padUser
	quoteVersion
)

// badVariants is how many ways each kind of bad interaction row is written.
var badVariants = map[event.Reason]int{
	event.Malformed: 6, event.FieldTooLong: 3, event.MissingUserID: 3, event.BadTimestamp: 8,
	event.BadDuration: 6, event.UnknownAction: 8, event.DurationOutOfRange: 8, event.Duplicate: 1,
}

// emit decides the row's timestamp form and whether and how it is bad, then queues it.
func (g *generator) emit(rw row) {
	rw.form = uint8(g.r.pick(formCum))
	if rw.form == formSpaceMillis || rw.form == formTMillisZ {
		rw.t += int64(g.r.intn(1000))
	}
	g.users[rw.user].events++
	g.prof.Events++
	g.prof.noteTime(rw.t, rw.form != formSpace)
	if x := g.r.float(); x < g.dirt[len(g.dirt)-1] {
		i := 0
		for x >= g.dirt[i] {
			i++
		}
		rw.kind = InteractionDirt[i]
		rw.variant = uint8(g.r.intn(badVariants[rw.kind]))
		g.prof.InteractionDirt[rw.kind]++
	} else if g.r.chance(0.02) {
		rw.variant = uint8(1 + g.r.intn(4))
	}
	switch rw.kind {
	case event.DurationOutOfRange:
		if rw.variant < 6 { // left open: hours
			rw.dur = int32(event.MaxDurationMs + 1 + int64(min(3*3_600_000*g.r.exp(), 20*3_600_000)))
		} else { // clock trouble
			rw.dur = -1 - int32(g.r.intn(60_000))
		}
	case event.Duplicate:
		rw.kind = event.OK
		g.queue(rw)
		rw.kind = event.Duplicate
	}
	g.queue(rw)
}

func (g *generator) queue(rw row) {
	rw.seq = g.seq
	g.seq++
	g.pending = append(g.pending, rw)
}

// flushBefore writes the pending rows earlier than t (all of them when shuffled) in order.
func (g *generator) flushBefore(t int64) {
	if !g.cfg.Shuffle {
		slices.SortFunc(g.pending, func(a, b row) int { return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.seq, b.seq)) })
	}
	n := 0
	for n < len(g.pending) && (g.cfg.Shuffle || g.pending[n].t < t) {
		b := g.appendRow(g.out.AvailableBuffer(), &g.pending[n])
		g.out.Write(b)
		n++
	}
	g.prof.InteractionRows += int64(n)
	g.pending = append(g.pending[:0], g.pending[n:]...)
}
