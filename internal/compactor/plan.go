package compactor

import (
	"fmt"
	"maps"
	"slices"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/tables"
)

// StateKey is the lake's committed state. PlanKey is where compactors from before plans per run
// (planKey) wrote theirs: a crashed run's is resumed, a stale one deleted.
const (
	StateKey = tables.StateKey
	PlanKey  = "_state/plan.json"
)

// State is what the lake has committed: the next offset to read on every partition, the interactions
// partitions' event time (for late flags), and the silver days still to rebuild after a crash. Its
// definition is the lake's (internal/tables), which reseed reads too.
type State = tables.State

// Range is a span of offsets [From, To) of one topic partition, written to bronze as one unit.
type Range struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
}

func (r Range) String() string {
	return fmt.Sprintf("%s/%d[%d,%d)", r.Topic, r.Partition, r.From, r.To)
}

// Plan is the work of one run, written to the lake before any data so a crashed run is redone with
// exactly the same ranges (and so the same bronze object names).
type Plan struct {
	Run    int64   `json:"run"` // the run this plan commits: State.Run + 1
	Ranges []Range `json:"ranges"`
}

// Records is the number of offsets the plan covers.
func (p Plan) Records() int64 {
	var n int64
	for _, r := range p.Ranges {
		n += r.To - r.From
	}
	return n
}

// NewPlan plans a run over everything between the committed offsets and the log ends. A topic's
// partitions are read side by side, so each range holds at most chunk/partitions offsets and a topic's
// ranges in flight hold at most chunk. starts holds each partition's log start: offsets lost to
// retention are skipped.
func NewPlan(st *State, starts, ends map[string]map[int32]int64, chunk int64) Plan {
	p := Plan{Run: st.Run + 1}
	for _, topic := range slices.Sorted(maps.Keys(ends)) {
		if len(ends[topic]) == 0 {
			continue // no partitions: nothing to read
		}
		size := max(1, chunk/int64(len(ends[topic])))
		for _, part := range slices.Sorted(maps.Keys(ends[topic])) {
			from := max(st.Offsets[topic][part], starts[topic][part])
			for end := ends[topic][part]; from < end; from += size {
				p.Ranges = append(p.Ranges, Range{topic, part, from, min(from+size, end)})
			}
		}
	}
	return p
}

// Commit returns the state after p's bronze is written: offsets past every range, the partitions'
// event time, the silver days to rebuild (the days written plus any newly inside the lake's range) and
// the open part of every bronze directory, open holding those the run wrote.
func Commit(st *State, p Plan, maxTime map[int32]int64, touched []int32, users bool, open map[string]int) State {
	next := State{
		Version:  1,
		Run:      p.Run,
		Location: st.Location,
		Offsets:  map[string]map[int32]int64{},
		MaxTime:  maps.Clone(st.MaxTime),
		First:    st.First,
		Last:     st.Last,
		HasDays:  st.HasDays,
		Pending:  slices.Clone(st.Pending),
		Users:    st.Users || users,
	}
	if len(st.OpenParts)+len(open) > 0 {
		next.OpenParts = maps.Clone(st.OpenParts)
		if next.OpenParts == nil {
			next.OpenParts = map[string]int{}
		}
		maps.Copy(next.OpenParts, open)
	}
	for topic, parts := range st.Offsets {
		next.Offsets[topic] = maps.Clone(parts)
	}
	for _, r := range p.Ranges {
		if next.Offsets[r.Topic] == nil {
			next.Offsets[r.Topic] = map[int32]int64{}
		}
		next.Offsets[r.Topic][r.Partition] = max(next.Offsets[r.Topic][r.Partition], r.To)
	}
	if next.MaxTime == nil {
		next.MaxTime = map[int32]int64{}
	}
	maps.Copy(next.MaxTime, maxTime)
	for _, d := range touched {
		if !next.HasDays {
			next.First, next.Last, next.HasDays = d, d, true
		}
		// Days between the old and new ends of the range have no bronze yet but need (empty) silver
		// and gold rows, like every day from the first to the last.
		for ; d < next.First; next.First-- {
			next.Pending = append(next.Pending, next.First-1)
		}
		for ; d > next.Last; next.Last++ {
			next.Pending = append(next.Pending, next.Last+1)
		}
		next.Pending = append(next.Pending, d)
	}
	slices.Sort(next.Pending)
	next.Pending = slices.Compact(next.Pending)
	return next
}

// Rebuild is the silver and gold work for a set of silver days.
type Rebuild struct {
	Silver   []int32  // days whose silver and whole gold are rebuilt from bronze
	Gold     []int32  // days whose daily_metrics are recomputed: Silver days and the windows that include them
	Months   []string // calendar months (YYYY-MM) whose monthly_metrics are recomputed
	Weeks    []int32  // Mondays of the Silver days' weeks, whose active users cohort retention takes anew
	Load     [2]int32 // the days whose activity the gold computation reads: [first, last]
	LakeDays [2]int32 // the lake's days: [first, last]
	Cohorts  CohortWork
}

// CohortWork is how much of gold/cohort_retention a rebuild recomputes.
type CohortWork int

const (
	CohortsNone CohortWork = iota
	// CohortsChanged recomputes the cohort weeks that the rebuilt Weeks or new metadata change, from the
	// lake's cohort index (CohortIndexKey) and the Weeks' silver; it reads the days of Load only.
	CohortsChanged
	// CohortsAll recomputes every cohort week and the index from every lake day's active users: a
	// backfill, which trusts no gold, or a lake without an index.
	CohortsAll
)

// PlanRebuild lists the work that follows from rebuilding the silver days, within the lake's days
// [first, last]: WAU of the next 6 days and MAU of the next 29 include a day, and so do its month and
// its week (a cell of every cohort up to that week).
func PlanRebuild(silver []int32, first, last int32) Rebuild {
	rb := Rebuild{LakeDays: [2]int32{first, last}}
	gold := map[int32]bool{}
	months := map[string]bool{}
	weeks := map[int32]bool{}
	for _, d := range silver {
		if d < first || d > last {
			continue
		}
		rb.Silver = append(rb.Silver, d)
		for g := d; g <= min(d+event.MAUDays-1, last); g++ {
			gold[g] = true
		}
		months[event.Month(d)] = true
		weeks[engagement.WeekOf(d)] = true
	}
	slices.Sort(rb.Silver)
	rb.Silver = slices.Compact(rb.Silver)
	rb.Gold = slices.Sorted(maps.Keys(gold))
	rb.Months = slices.Sorted(maps.Keys(months))
	rb.Weeks = slices.Sorted(maps.Keys(weeks))
	if len(rb.Gold) == 0 {
		return rb
	}
	lo, hi := rb.Gold[0]-(event.MAUDays-1), rb.Gold[len(rb.Gold)-1]
	for _, m := range rb.Months {
		mf, ml, _ := event.ParseMonth(m)
		lo, hi = min(lo, mf), max(hi, ml)
	}
	// Load spans 29 days either side of every Silver day, so it holds their weeks too.
	rb.Load = [2]int32{max(lo, first), min(hi, last)}
	rb.Cohorts = CohortsChanged
	return rb
}
