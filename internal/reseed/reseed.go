// Package reseed restores the real-time store's days from the lake, for when Redis is lost and Kafka
// no longer holds the whole history.
//
// Each day's gold/daily_sketches (Redis-format HyperLogLogs) and its session sums from silver/sessions
// go to the real-time store under Partition, a partition no consumer owns, and so do the power-user
// state of the days' months: each user's engaged_ms and valid events, summed from silver/interactions
// (gold/power_users holds only the top users, the API ranks them all). Readers merge the partition
// with the consumers': a union of sketches is the sketch of the union, and the sums are the integers
// the consumer keeps (internal/metric, SPEC section 8), so the API answers a restored day or month
// exactly as a consumer that read the whole stream would, except that the lake also counts the late
// events the stream leaves out of session metrics. A run replaces what the partition held before, so running it twice changes
// nothing; it reads and checks everything it will write before writing anything.
package reseed

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/notestream/notestream/internal/tables"
)

// Partition is the partition number under which a run writes the days it restores. No consumer owns
// it (Kafka topics have far fewer partitions), and readers merge it like any other partition, so the
// API needs nothing to tell restored days from streamed ones.
const Partition int32 = 1_000_000

// Store is the real-time store; *rtstore.Store implements it.
type Store interface {
	// Partitions returns the partitions readers merge over.
	Partitions(ctx context.Context) ([]int32, error)
	// DaysHeld returns the days from from to to for which partition p holds counters.
	DaysHeld(ctx context.Context, p, from, to int32) ([]int32, error)
	// ReplaceDay makes partition p's keys of day hold exactly cells; nil deletes the day.
	ReplaceDay(ctx context.Context, p, day int32, cells []rtstate.Cell) error
	// ReplaceMonth makes partition p's power-user state of month (YYYY-MM) hold exactly users'
	// engaged_ms and events; nil deletes the month.
	ReplaceMonth(ctx context.Context, p int32, month string, users []engagement.User) error
	// Register adds p to the partitions readers merge over.
	Register(ctx context.Context, p int32) error
}

// Config says which days to restore.
type Config struct {
	// Location is the consumers' reporting time zone; the lake's days must be in it. Default UTC.
	Location *time.Location
	// From and Through bound the days written (YYYY-MM-DD, inclusive). Empty From is the lake's first
	// day; empty Through is the day before the first day the consumers hold, or the lake's last day
	// when they hold none.
	From, Through string
	// Force writes days the consumers also hold. The API adds both: sketches merge harmlessly, but
	// those days' sessions and engaged time count twice.
	Force bool
}

// Summary is what a run did.
type Summary struct {
	From, Through int32 // the range written; From > Through when it was empty
	Days          int   // days of the lake written
	Cells         int   // day and segment keys written
	Sessions      int64 // sessions of everyone over the days written
	Removed       int   // days an earlier run wrote, outside the range, deleted
	Months        int   // months of power-user state written: those of the days written
	UserMonths    int   // users active in a month, summed over those months
	ConsumerFirst int32 // first day of the lake's range a consumer holds; valid when ConsumerHolds
	ConsumerHolds bool
}

// ErrConsumerDays means consumers hold some of the days to write; Config.Force overrides it.
var ErrConsumerDays = errors.New("reseed: consumers hold days in the range")

// Run restores days from lk into st.
func Run(ctx context.Context, lk lake.Store, st Store, cfg Config) (Summary, error) {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if err := checkState(ctx, lk, cfg.Location); err != nil {
		return Summary{}, err
	}
	// The tables read, each of the same days: files[i] are dayTables[i]'s objects by day.
	dayTables := [...]string{tables.GoldDailySketches, tables.SilverSessions, tables.SilverInteractions}
	var files [len(dayTables)]map[int32][]string
	var err error
	for i, table := range dayTables {
		if files[i], err = partitions(ctx, lk, table); err != nil {
			return Summary{}, err
		}
	}
	for i := 1; i < len(dayTables); i++ {
		for day := range files[0] {
			if files[i][day] == nil {
				return Summary{}, fmt.Errorf("reseed: the lake has %s for %s but no %s", dayTables[0], event.Date(day), dayTables[i])
			}
		}
		for day := range files[i] {
			if files[0][day] == nil {
				return Summary{}, fmt.Errorf("reseed: the lake has %s for %s but no %s", dayTables[i], event.Date(day), dayTables[0])
			}
		}
	}
	sketchFiles, sessionFiles, interactionFiles := files[0], files[1], files[2]
	days := slices.Sorted(maps.Keys(sketchFiles))
	first, last := days[0], days[len(days)-1]

	sum := Summary{From: first, Through: last}
	if cfg.From != "" {
		if sum.From, err = event.ParseDate(cfg.From); err != nil {
			return Summary{}, fmt.Errorf("reseed: from %q: want YYYY-MM-DD", cfg.From)
		}
	}
	held, err := consumerDays(ctx, st, first, last)
	if err != nil {
		return Summary{}, err
	}
	if len(held) > 0 {
		sum.ConsumerFirst, sum.ConsumerHolds = held[0], true
	}
	switch {
	case cfg.Through != "":
		if sum.Through, err = event.ParseDate(cfg.Through); err != nil {
			return Summary{}, fmt.Errorf("reseed: through %q: want YYYY-MM-DD", cfg.Through)
		}
	case sum.ConsumerHolds:
		sum.Through = min(last, sum.ConsumerFirst-1)
	}
	if cfg.From != "" && cfg.Through != "" && sum.From > sum.Through {
		return Summary{}, fmt.Errorf("reseed: from %s is after through %s", cfg.From, cfg.Through)
	}
	if overlap := inRange(held, sum.From, sum.Through); len(overlap) > 0 && !cfg.Force {
		return Summary{}, fmt.Errorf("%w: %d of them, %s to %s (the API would add the lake's sessions to theirs); write only days before %s (the default without --through), or force it (--force)",
			ErrConsumerDays, len(overlap), event.Date(overlap[0]), event.Date(overlap[len(overlap)-1]), event.Date(overlap[0]))
	}

	// Plan: read and check every day before writing any. Days come in order, so a month's days are
	// next to each other.
	write := map[int32][]rtstate.Cell{}
	months := map[string][]engagement.User{}
	engaged := map[string]*engagement.User{} // the users of month, the one being read
	var month string
	flush := func() {
		if month != "" {
			months[month] = sortedUsers(engaged)
			sum.Months++
			sum.UserMonths += len(engaged)
			clear(engaged)
		}
	}
	for _, day := range inRange(days, sum.From, sum.Through) {
		if m := event.Month(day); m != month {
			flush()
			month = m
		}
		cells, sessions, err := readDay(ctx, lk, day, sketchFiles[day], sessionFiles[day])
		if err != nil {
			return Summary{}, err
		}
		write[day] = cells
		sum.Days++
		sum.Cells += len(cells)
		sum.Sessions += sessions
		if err := readEngaged(ctx, lk, interactionFiles[day], engaged); err != nil {
			return Summary{}, err
		}
	}
	flush()
	// Days and months of the lake an earlier run wrote and this one does not are deleted: the
	// partition holds this run's days and their months only.
	before, err := st.DaysHeld(ctx, Partition, first, last)
	if err != nil {
		return Summary{}, err
	}

	for _, day := range slices.Sorted(maps.Keys(write)) {
		if err := st.ReplaceDay(ctx, Partition, day, write[day]); err != nil {
			return sum, err
		}
	}
	for _, m := range slices.Sorted(maps.Keys(months)) {
		if err := st.ReplaceMonth(ctx, Partition, m, months[m]); err != nil {
			return sum, err
		}
	}
	for _, day := range before {
		if write[day] == nil {
			if err := st.ReplaceDay(ctx, Partition, day, nil); err != nil {
				return sum, err
			}
			sum.Removed++
		}
	}
	for _, m := range monthsOf(before) {
		if _, ok := months[m]; !ok {
			if err := st.ReplaceMonth(ctx, Partition, m, nil); err != nil {
				return sum, err
			}
		}
	}
	if len(write) == 0 {
		return sum, nil
	}
	// Last, so a first run's days appear to readers together.
	return sum, st.Register(ctx, Partition)
}

// checkState refuses a lake that is not the compactor's, whose days are in another zone than the
// consumers', or that a crashed run left with days still to rebuild.
func checkState(ctx context.Context, lk lake.Store, loc *time.Location) error {
	b, err := lk.Get(ctx, tables.StateKey)
	if errors.Is(err, lake.ErrNotExist) {
		return fmt.Errorf("reseed: the lake has no %s: not a lake `compactor run` wrote", tables.StateKey)
	}
	if err != nil {
		return fmt.Errorf("reseed: read %s: %w", tables.StateKey, err)
	}
	var st tables.State
	if err := st.Decode(b); err != nil {
		return fmt.Errorf("reseed: %w", err)
	}
	if st.Location != "" && st.Location != loc.String() {
		return fmt.Errorf("reseed: the lake's days are in time zone %q, not %q (--tz must be the consumers' zone and the lake's)", st.Location, loc)
	}
	if len(st.Pending) > 0 || st.Users {
		return fmt.Errorf("reseed: a compactor run did not finish (%d days still to rebuild): run `compactor run` again first", len(st.Pending))
	}
	return nil
}

// partitions lists a day-partitioned table's data files by day, as readers glob <table>/*/*.parquet.
func partitions(ctx context.Context, lk lake.Store, table string) (map[int32][]string, error) {
	keys, err := lk.List(ctx, table+"/")
	if err != nil {
		return nil, fmt.Errorf("reseed: list %s: %w", table, err)
	}
	files := map[int32][]string{}
	for _, k := range keys {
		part, file, ok := strings.Cut(strings.TrimPrefix(k, table+"/"), "/")
		date, isDay := strings.CutPrefix(part, "date=")
		if !ok || !isDay || strings.Contains(file, "/") || strings.HasPrefix(file, ".") || !strings.HasSuffix(file, ".parquet") {
			continue
		}
		day, err := event.ParseDate(date)
		if err != nil {
			return nil, fmt.Errorf("reseed: %s: partition %q is not a date", k, part)
		}
		files[day] = append(files[day], k)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("reseed: the lake has no %s table (no %s/date=*/*.parquet): run `compactor run` or `compactor backfill` first", table, table)
	}
	return files, nil
}

// consumerDays returns the days from first to last that any consumer partition holds, in order.
func consumerDays(ctx context.Context, st Store, first, last int32) ([]int32, error) {
	parts, err := st.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	var days []int32
	for _, p := range parts {
		if p == Partition {
			continue
		}
		d, err := st.DaysHeld(ctx, p, first, last)
		if err != nil {
			return nil, err
		}
		days = append(days, d...)
	}
	slices.Sort(days)
	return slices.Compact(days), nil
}

// inRange returns the days of sorted days from from to through.
func inRange(days []int32, from, through int32) []int32 {
	lo, _ := slices.BinarySearch(days, from)
	hi, _ := slices.BinarySearch(days, through+1)
	return days[lo:max(lo, hi)]
}

// readDay reads a day's sketches and sessions into cells, one per segment, and returns them with the
// day's session count.
func readDay(ctx context.Context, lk lake.Store, day int32, sketchKeys, sessionKeys []string) ([]rtstate.Cell, int64, error) {
	cells := map[rtstate.Segment]*rtstate.Cell{}
	cell := func(seg rtstate.Segment) *rtstate.Cell {
		if cells[seg] == nil {
			cells[seg] = &rtstate.Cell{Day: day, Segment: seg}
		}
		return cells[seg]
	}
	for _, k := range sketchKeys {
		rows, err := readFile[tables.DailySketch](ctx, lk, k)
		if err != nil {
			return nil, 0, err
		}
		for _, r := range rows {
			seg, err := segment(r.Dimension, r.Value)
			if err != nil {
				return nil, 0, fmt.Errorf("reseed: %s: %w", k, err)
			}
			if _, err := hll.Decode(r.HLL); err != nil {
				return nil, 0, fmt.Errorf("reseed: %s: sketch of %s: %w", k, seg, err)
			}
			c := cell(seg)
			if c.Users != nil {
				return nil, 0, fmt.Errorf("reseed: %s: two sketches of %s", k, seg)
			}
			c.Users = r.HLL
		}
	}
	for _, k := range sessionKeys {
		rows, err := readFile[tables.SilverSession](ctx, lk, k)
		if err != nil {
			return nil, 0, err
		}
		for _, r := range rows {
			if r.End < r.Start || r.Actions < 1 {
				return nil, 0, fmt.Errorf("reseed: %s: session %s has start %d, end %d, %d actions", k, r.SessionID, r.Start, r.End, r.Actions)
			}
			// The consumer's sums: duration end − start in milliseconds, actions, per segment and for everyone.
			for _, seg := range [...]rtstate.Segment{
				{},
				{Dimension: event.Dimensions[0], Value: r.Country},
				{Dimension: event.Dimensions[1], Value: r.DeviceType},
				{Dimension: event.Dimensions[2], Value: r.SubscriptionType},
			} {
				cell(seg).Counts.Sessions.Add(r.End-r.Start, r.Actions)
			}
		}
	}
	out := make([]rtstate.Cell, 0, len(cells))
	for _, seg := range slices.SortedFunc(maps.Keys(cells), func(a, b rtstate.Segment) int {
		return strings.Compare(a.String(), b.String())
	}) {
		out = append(out, *cells[seg])
	}
	var sessions int64
	if all := cells[rtstate.Segment{}]; all != nil {
		sessions = all.Counts.Sessions.Count
	}
	return out, sessions, nil
}

// readEngaged adds the valid events of a day's silver/interactions objects to each user's engaged_ms
// (the sum of their duration_ms) and events, as the consumer counts them (SPEC section 8).
func readEngaged(ctx context.Context, lk lake.Store, keys []string, users map[string]*engagement.User) error {
	for _, k := range keys {
		rows, err := readFile[tables.SilverInteraction](ctx, lk, k)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.DurationMs < 0 {
				return fmt.Errorf("reseed: %s: an event of %s lasts %d ms", k, r.UserID, r.DurationMs)
			}
			u := users[r.UserID]
			if u == nil {
				u = &engagement.User{UserID: r.UserID}
				users[r.UserID] = u
			}
			u.EngagedMs += r.DurationMs
			u.Events++
		}
	}
	return nil
}

// sortedUsers returns the users of m by user_id.
func sortedUsers(m map[string]*engagement.User) []engagement.User {
	out := make([]engagement.User, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, *m[id])
	}
	return out
}

// monthsOf returns the months (YYYY-MM) of sorted days, in order.
func monthsOf(days []int32) []string {
	var out []string
	for _, d := range days {
		if m := event.Month(d); len(out) == 0 || out[len(out)-1] != m {
			out = append(out, m)
		}
	}
	return out
}

// segment names a gold/daily_sketches row's segment; dimension "all" is everyone.
func segment(dimension, value string) (rtstate.Segment, error) {
	if dimension == event.All {
		return rtstate.Segment{}, nil
	}
	if !slices.Contains(event.Dimensions[:], dimension) {
		return rtstate.Segment{}, fmt.Errorf("unknown segment %q=%q", dimension, value)
	}
	return rtstate.Segment{Dimension: dimension, Value: value}, nil
}

// readFile reads every row of one Parquet object of a table whose rows are T.
func readFile[T any](ctx context.Context, lk lake.Store, key string) ([]T, error) {
	b, err := lk.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reseed: read %s: %w", key, err)
	}
	rows, err := tables.Read([]T(nil), key, b)
	if err != nil {
		return nil, fmt.Errorf("reseed: %w", err)
	}
	return rows, nil
}
