// Package compactor builds the lake's bronze, silver and gold tables from the topics, atomically and idempotently.
//
// A run is a sequence of stages, each a set of units of work that any compactor on the lake may do:
// compactors started together (on one machine or many, sharing only the lake) join one run and share
// its units. A unit is done under its own lease, _lease/run-<R>/<unit>.json (internal/lease): a
// compactor takes the first unit that is neither done nor leased, never waits on a held one while
// others are free, polls when only held ones remain, and takes over one whose holder stopped renewing
// (killed, or cut off). A unit's result is its done marker, _state/run-<R>/done/<unit>.json, created
// only if absent once the unit's objects are durable; the same bytes whoever did it. Every unit
// writes objects whose names and bytes depend on the plan and the committed state alone, so the lake
// is the same whether one compactor or many did the run, and whichever did which unit. A unit first
// checks that state.json is still at the version its stage began from: if another compactor
// committed the stage meanwhile, this one reads the state again and goes on from there.
//
// The commit protocol, in the order a run takes its steps:
//
//  1. Plan: read _state/state.json (committed offsets), list the topics' end offsets and create the
//     offset ranges to read as _state/run-<R>/plan.json, created only if absent, before any data: of
//     compactors started together one plan wins and the others join it, and a plan left by a crashed
//     run is resumed as it stands, so the rerun reads exactly the same ranges.
//  2. Map, one unit per (topic, Kafka partition): each range's rows of each table partition value
//     (day or country) are staged as a row file (internal/rowfile) named after (run, table, partition
//     value, topic, partition, from, to) under _staging/run-<R>/. The done marker lists them, the days they touch
//     and the partition's event time (late flags are per partition).
//  3. Reduce, one unit per partition value touched (from the map markers): the value's bronze is a
//     sequence of objects part-00000.parquet, part-00001.parquet, ... Those below the open part
//     (State.OpenParts) are sealed and never rewritten. The open part is rewritten as its rows from
//     before the run (offsets below their partition's committed offset, in file order) followed by
//     the staged rows merged in silver's order (staged.go), and a new part is cut whenever one
//     reaches Config.ObjectSize. Every PUT replaces an object with a superset of its committed rows, so a
//     reader that globs bronze never sees a row twice or misses a committed one, and a rerun writes
//     the same names and bytes. Each part's write is conditional on the version it had when the unit
//     began: a holder paused past its lease that meets a successor's identical part is done, one that
//     meets other bytes (a later run's) fails with ErrFenced and overwrites nothing.
//  4. Commit: one conditional PUT of state.json, on the version step 1 read, with the new offsets, the
//     partitions' event time, the days whose silver is pending and every partition value's open part.
//     Every compactor of the run tries it and exactly one wins; the others read the state again. The
//     winner deletes the run's staging (leftover staging of committed runs is deleted by the next run).
//  5. Silver and gold: a unit for silver/users when new users arrived, then one per pending day for
//     its silver and day-local gold, then one for daily_metrics of the windows that include those
//     days, monthly_metrics of their months, cohorts and anomalies. Each partition is one object with
//     a fixed name, replaced by a single PUT, so a reader sees the old or the new version. The cohort
//     retention weeks that change are written and synced before the cohort index that records what
//     they were computed from (CohortIndexKey). Each unit is fenced like a reduce (fence.go): it
//     takes state.json's version and those of every object it may write before it reads anything,
//     and each write checks the state and is conditional on its object's version.
//  6. One conditional PUT of state.json with nothing pending (again one winner), then the run's plan,
//     markers and unit leases are deleted (or, after a crash, by the next run).
//
// A compactor that finds days pending finishes that rebuild (joining it) before it plans a new run,
// and goes through at most one bronze stage. A crash before step 4 leaves staged objects and parts that
// only the resumed plan can name and will rewrite; a crash after it leaves pending days that the next
// run (even with nothing new) rebuilds. A backfill holds the lake's lease (LeaseKey) instead: a run
// checks it after taking each unit's lease, and a backfill checks the unit leases after taking it, so
// of the two begun together one sees the other and gives way. Bronze objects named after a plan range
// (<topic>-p<partition>-<from>-<to>.parquet in the partition directory), which runs before parts
// wrote, stay as they are and are read with the parts.
package compactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/lease"
	"github.com/notestream/notestream/internal/tables"
)

// Config configures a Compactor. Zero values take the defaults.
type Config struct {
	InteractionsTopic string         // default "interactions"
	UsersTopic        string         // default "users"
	Location          *time.Location // reporting time zone of days; default UTC
	Lateness          time.Duration  // the stream's allowed lateness, for late counts; default 5m
	Chunk             int64          // records of a topic read before they go to bronze; twice this is held at most (one chunk read while the previous is written); default 250,000
	Parallel          int            // days built at a time; default 2
	Uploads           int            // objects written at a time; default 8
	ObjectSize        int64          // bytes at which a bronze part is sealed and the next one begun; default DefaultObjectSize
	RowGroup          int            // rows per row group of a bronze part (parts are cut between row groups); default MaxRowsPerRowGroup
	PowerUsersPct     engagement.Pct // the top percentage of gold/power_users; default 1
	Memory            int64          // bytes the process may use, shared by the days built at a time (see buckets); default DefaultMemory
	SpillDir          string         // local directory for the temporary files of days built in buckets; default os.TempDir()
	Logger            *slog.Logger   // default slog.Default()
	Progress          Progress       // default none
	Lease             lease.Config   // the lake's lease (LeaseKey); its Logger defaults to Logger
}

// Validate fills in defaults and rejects impossible settings.
func (c *Config) Validate() error {
	if c.InteractionsTopic == "" {
		c.InteractionsTopic = event.TopicInteractions
	}
	if c.UsersTopic == "" {
		c.UsersTopic = event.TopicUsers
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Lateness == 0 {
		c.Lateness = event.DefaultLateness
	}
	if c.Chunk == 0 {
		c.Chunk = 250_000
	}
	if c.Parallel == 0 {
		c.Parallel = 2
	}
	if c.Uploads == 0 {
		c.Uploads = 8
	}
	if c.Memory == 0 {
		c.Memory = DefaultMemory
	}
	if c.SpillDir == "" {
		c.SpillDir = os.TempDir()
	}
	if c.ObjectSize == 0 {
		c.ObjectSize = DefaultObjectSize
	}
	if c.RowGroup == 0 {
		c.RowGroup = MaxRowsPerRowGroup
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Progress == nil {
		c.Progress = noProgress{}
	}
	if c.Lease.Logger == nil {
		c.Lease.Logger = c.Logger
	}
	if err := c.Lease.Validate(); err != nil {
		return err
	}
	switch {
	case c.InteractionsTopic == c.UsersTopic:
		return errors.New("compactor: interactions and users topics must differ")
	case c.Lateness < 0:
		return errors.New("compactor: lateness must not be negative")
	case c.Chunk < 0:
		return errors.New("compactor: chunk must be positive")
	case c.Parallel < 0:
		return errors.New("compactor: parallel must be positive")
	case c.Uploads < 0:
		return errors.New("compactor: uploads must be positive")
	case c.Memory < MinMemory:
		return fmt.Errorf("compactor: memory must be at least %d MiB", MinMemory>>20)
	case c.ObjectSize < 0:
		return errors.New("compactor: object size must be positive")
	case c.RowGroup < 0:
		return errors.New("compactor: row group must be positive")
	}
	return nil
}

// DefaultObjectSize is the size at which a bronze part is sealed. It is the low end of the 128 MiB-1 GiB
// that object stores and Parquet readers favour because every run that touches a day rewrites the
// day's open part (up to this much per day, read back in place and written anew). A day of 50M events
// (about 0.9 GB of bronze) still fits in a handful of parts.
const DefaultObjectSize = 128 << 20

// Progress hears how far a run has come.
type Progress interface {
	Start(stage string, total int64)
	Add(n int64)
}

type noProgress struct{}

func (noProgress) Start(string, int64) {}
func (noProgress) Add(int64)           {}

// lockedProgress serialises a Progress for the parallel day builds, and logs each stage's wall time
// when the next starts or the run ends: what an operator sizes a nightly run or a backfill by.
type lockedProgress struct {
	mu    sync.Mutex
	p     Progress
	log   *slog.Logger
	stage string
	total int64
	began time.Time
}

func (l *lockedProgress) Start(stage string, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.end()
	l.stage, l.total, l.began = stage, total, time.Now()
	l.p.Start(stage, total)
}

func (l *lockedProgress) Add(n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p.Add(n)
}

// finish ends the last stage.
func (l *lockedProgress) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.end()
}

func (l *lockedProgress) end() {
	if l.stage != "" {
		l.log.Info("stage done", "stage", l.stage, "items", l.total, "elapsed", time.Since(l.began).Round(time.Millisecond))
		l.stage = ""
	}
}

// Summary says what a run or backfill did.
type Summary struct {
	Run           int64 // the committed run number
	Resumed       bool  // the run's plan was in the lake already: a crashed run's, or one other compactors are doing
	Units         int   // units of work (see the package comment) this compactor did
	Records       int64 // records read, control records included
	Undecodable   int64 // records skipped because their value is not a valid JSON record
	BronzeRows    int64 // interaction rows written to bronze
	UserRows      int64 // user rows written to bronze
	BronzeObjects int64 // bronze parts written
	SilverDays    int   // days whose silver and day-local gold were rebuilt
	GoldDays      int   // days whose daily_metrics were rewritten
	Months        int   // months whose monthly_metrics were rewritten
	CohortWeeks   int   // cohort weeks of gold/cohort_retention rewritten or deleted
	Users         int   // users in silver/users
	NewAnomalies  int   // rows of gold/anomalies the lake did not have before
}

// Compactor moves records from a Source into a lake Store.
type Compactor struct {
	cfg       Config
	dayMemory int64 // memory of one day built, set by rebuild (see buckets)
	buckets   int   // buckets of every day when > 0, for tests; see bucketsOf
	store     lake.Store
	src       Source
	log       *slog.Logger
	progress  *lockedProgress

	sumMu sync.Mutex // the stage workers add to sum
	sum   Summary    // of the Run in progress
}

// New returns a compactor. src may be nil for Backfill.
func New(cfg Config, store lake.Store, src Source) (*Compactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Compactor{cfg: cfg, store: store, src: src, log: cfg.Logger, progress: &lockedProgress{p: cfg.Progress, log: cfg.Logger}}, nil
}

// Run reads everything new on the topics into bronze and rebuilds the silver and gold that depend on
// it, sharing the work with any other compactor running on the lake (see the package comment). It
// first finishes a rebuild that another run left pending, then the plan of the next run (a crashed
// run's or one in progress, or a new one), then that plan's rebuild. A backfill holding the lake's
// lease makes it wait up to Lease.Wait, then fail with a *lease.HeldError.
func (c *Compactor) Run(ctx context.Context) (Summary, error) {
	defer c.progress.finish()
	c.sum = Summary{}
	if err := lease.AwaitFree(ctx, c.store, LeaseKey, c.cfg.Lease); err != nil {
		return c.sum, err
	}
	bronze := false // whether this compactor has been through a bronze stage
	for {
		st, ver, err := c.loadState(ctx)
		if err != nil {
			return c.sum, err
		}
		c.sum.Run = st.Run
		if err := c.cleanRuns(ctx, st); err != nil {
			return c.sum, err
		}
		if len(st.Pending) > 0 || st.Users {
			err = c.rebuildStage(ctx, st, ver)
		} else if !bronze {
			bronze = true
			err = c.bronzeStage(ctx, st, ver)
		} else {
			return c.sum, nil
		}
		switch {
		case errors.Is(err, errNothingNew):
			return c.sum, nil
		case err != nil && !errors.Is(err, errStageOver):
			return c.sum, err
		}
	}
}

// errNothingNew is a bronze stage's answer when the topics hold nothing new.
var errNothingNew = errors.New("compactor: nothing new")

// bronzeStage does its share of the next run's map and reduce units, then commits the run's offsets
// unless another compactor did: errStageOver.
func (c *Compactor) bronzeStage(ctx context.Context, st *State, ver lake.Version) error {
	plan, joined, err := c.joinPlan(ctx, st)
	if err != nil {
		return err
	}
	if len(plan.Ranges) == 0 {
		return errNothingNew
	}
	c.sum.Resumed = c.sum.Resumed || joined
	c.log.Info("plan", "run", plan.Run, "ranges", len(plan.Ranges), "records", plan.Records(), "joined", joined)
	c.progress.Start("bronze", plan.Records())
	byUnit := map[string][]Range{}
	var units []string
	for _, r := range plan.Ranges {
		u := fmt.Sprintf("map/%s-p%05d", r.Topic, r.Partition)
		if byUnit[u] == nil {
			units = append(units, u)
		}
		byUnit[u] = append(byUnit[u], r)
	}
	slices.Sort(units)
	markers, err := c.runStage(ctx, stage{run: plan.Run, units: units, state: ver, do: func(ctx context.Context, u string) ([]byte, error) {
		return c.mapUnit(ctx, st, plan.Run, byUnit[u])
	}})
	if err != nil {
		return fmt.Errorf("bronze: %w", err)
	}
	maxTime := maps.Clone(st.MaxTime)
	if maxTime == nil {
		maxTime = map[int32]int64{}
	}
	touched := map[int32]bool{}
	staged := map[bronzeDir][]stagedSegment{}
	for _, u := range units {
		m, err := decodeMapDone(markers[u])
		if err != nil {
			return fmt.Errorf("bronze: done marker of %s: %w", u, err)
		}
		for _, d := range m.Days {
			touched[d] = true
		}
		if m.MaxTime != nil {
			maxTime[byUnit[u][0].Partition] = *m.MaxTime
		}
		for _, s := range m.Staged {
			d := bronzeDir{s.Table, s.Dir}
			staged[d] = append(staged[d], s.Segments...)
		}
	}
	open, err := c.reduceStage(ctx, plan.Run, ver, reduceUnits(st, staged, c.topicOf))
	if err != nil {
		return fmt.Errorf("bronze: %w", err)
	}
	users := slices.ContainsFunc(plan.Ranges, func(r Range) bool { return r.Topic == c.cfg.UsersTopic })
	next := Commit(st, plan, maxTime, slices.Sorted(maps.Keys(touched)), users, open)
	if _, err := c.putState(ctx, ver, &next); errors.Is(err, ErrStateChanged) {
		return errStageOver
	} else if err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	c.sum.Run = next.Run
	keys := map[string]bool{}
	for _, segs := range staged {
		for _, s := range segs {
			keys[s.Key] = true
		}
	}
	if err := c.deleteAll(ctx, slices.Collect(maps.Keys(keys))); err != nil {
		return fmt.Errorf("remove staging: %w", err)
	}
	return nil
}

// mapDone is a map unit's done marker: what the reduce and the commit need of it.
type mapDone struct {
	Staged  []stagedDir `json:"staged"`             // by directory, in directory order
	Days    []int32     `json:"days,omitempty"`     // days of the rows staged
	MaxTime *int64      `json:"max_time,omitempty"` // the interactions partition's event time after the unit
}

type stagedDir struct {
	Table    string          `json:"table"`
	Dir      string          `json:"dir"`
	Segments []stagedSegment `json:"segments"` // in key order
}

// decodeMapDone decodes a map unit's done marker, refusing one from a compactor that staged an object
// per directory (a "keys" list): its rows would be missed.
func decodeMapDone(b []byte) (mapDone, error) {
	var m struct {
		mapDone
		Staged []struct {
			stagedDir
			Keys json.RawMessage `json:"keys"`
		} `json:"staged"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return mapDone{}, err
	}
	for _, s := range m.Staged {
		if s.Keys != nil {
			return mapDone{}, errOldStaging
		}
		m.mapDone.Staged = append(m.mapDone.Staged, s.stagedDir)
	}
	return m.mapDone, nil
}

// errOldStaging is the error of a run that a compactor older than this one's staging began.
var errOldStaging = errors.New("written by an older compactor, which staged an object per directory: finish the run with it (or remove the run's _state/run-<R>/ and _staging/run-<R>/ to redo it)")

// mapUnit stages one topic partition's ranges of the plan of run and returns its done marker.
func (c *Compactor) mapUnit(ctx context.Context, st *State, run int64, ranges []Range) ([]byte, error) {
	var sum Summary
	p := ranges[0].Partition
	bw := &bronzeWriter{c: c, ctx: ctx, run: run, maxTime: map[int32]int64{}, touched: map[int32]bool{}, staged: map[bronzeDir][]stagedSegment{}, sum: &sum}
	if t, ok := st.MaxTime[p]; ok && ranges[0].Topic == c.cfg.InteractionsTopic {
		bw.maxTime[p] = t
	}
	if err := bw.read(ranges[0].Topic, ranges); err != nil {
		return nil, err
	}
	c.tally(func(s *Summary) {
		s.Records += sum.Records
		s.Undecodable += sum.Undecodable
		s.BronzeRows += sum.BronzeRows
		s.UserRows += sum.UserRows
	})
	m := mapDone{Days: slices.Sorted(maps.Keys(bw.touched))}
	if t, ok := bw.maxTime[p]; ok {
		m.MaxTime = &t
	}
	for _, d := range slices.SortedFunc(maps.Keys(bw.staged), func(a, b bronzeDir) int { return strings.Compare(a.dir, b.dir) }) {
		segs := slices.SortedFunc(slices.Values(bw.staged[d]), func(a, b stagedSegment) int { return strings.Compare(a.Key, b.Key) })
		m.Staged = append(m.Staged, stagedDir{d.table, d.dir, segs})
	}
	return json.Marshal(m)
}

// rebuildStage does its share of the rebuild that st.Run's commit left pending (users, then a unit per
// silver day, then one for the windows, months, cohorts and anomalies), then commits the state with
// nothing pending unless another compactor did: errStageOver.
func (c *Compactor) rebuildStage(ctx context.Context, st *State, ver lake.Version) error {
	var users map[string]userInfo
	if st.Users {
		_, err := c.runStage(ctx, stage{run: st.Run, units: []string{"users"}, state: ver, do: func(ctx context.Context, _ string) ([]byte, error) {
			var err error
			if users, err = c.rebuildUsers(ctx); err != nil {
				return nil, fmt.Errorf("silver users: %w", err)
			}
			return []byte("{}"), nil
		}})
		if err != nil {
			return err
		}
	}
	if users == nil { // another compactor rebuilt them, or they did not change
		var err error
		if users, err = c.users(ctx, false); err != nil {
			return err
		}
	}
	c.sum.Users = len(users)
	rb := PlanRebuild(st.Pending, st.First, st.Last)
	if st.Users && st.HasDays { // new join dates move users between join_date cohorts
		rb.Cohorts = CohortsChanged
	}
	c.progress.Start("silver", int64(len(rb.Silver)))
	c.dayMemory = c.shareOfMemory()
	days := map[string]int32{}
	var units []string
	for _, d := range rb.Silver {
		u := "silver/" + event.Date(d)
		days[u] = d
		units = append(units, u)
	}
	// The days this compactor built; gold reads the others' back from silver.
	built := map[int32]*activity{}
	var mu sync.Mutex
	_, err := c.runStage(ctx, stage{run: st.Run, units: units, state: ver, do: func(ctx context.Context, u string) ([]byte, error) {
		a, err := c.buildDay(ctx, days[u], users)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		built[days[u]] = a
		mu.Unlock()
		c.tally(func(s *Summary) { s.SilverDays++ })
		c.progress.Add(1)
		return []byte("{}"), nil
	}})
	if err != nil {
		return err
	}
	_, err = c.runStage(ctx, stage{run: st.Run, units: []string{"gold"}, state: ver, do: func(ctx context.Context, _ string) ([]byte, error) {
		return []byte("{}"), c.gold(ctx, rb, built, users)
	}})
	if err != nil {
		return err
	}
	done := *st
	done.Pending, done.Users = nil, false
	if _, err := c.putState(ctx, ver, &done); errors.Is(err, ErrStateChanged) {
		return errStageOver
	} else if err != nil {
		return fmt.Errorf("commit rebuild: %w", err)
	}
	// The run is finished: its plan, markers and unit leases go (or the next run's cleanRuns does it).
	return c.cleanRuns(ctx, &done)
}

// Backfill rebuilds silver and gold of the days from..to (day numbers) from bronze, holding the
// lake's lease.
func (c *Compactor) Backfill(ctx context.Context, from, to int32) (Summary, error) {
	defer c.progress.finish()
	return c.leased(ctx, func(ctx context.Context) (Summary, error) { return c.backfill(ctx, from, to) })
}

func (c *Compactor) backfill(ctx context.Context, from, to int32) (Summary, error) {
	c.sum = Summary{}
	st, _, err := c.loadState(ctx)
	if err != nil {
		return c.sum, err
	}
	c.sum.Run = st.Run
	if !st.HasDays {
		return c.sum, nil
	}
	// Runs take units one by one, each after checking the lake's lease; one between two units when
	// this backfill took the lease is told by its next unit. One doing a unit now is seen here.
	if err := c.checkNoUnitHeld(ctx); err != nil {
		return c.sum, err
	}
	var days []int32
	for d := max(from, st.First); d <= min(to, st.Last); d++ {
		days = append(days, d)
	}
	users, err := c.users(ctx, st.Users)
	if err != nil {
		return c.sum, err
	}
	c.sum.Users = len(users)
	rb := PlanRebuild(days, st.First, st.Last)
	if len(rb.Silver) > 0 {
		rb.Cohorts = CohortsAll
	}
	if err := c.rebuild(ctx, rb, users); err != nil {
		return c.sum, err
	}
	if err := c.store.Sync(ctx); err != nil {
		return c.sum, fmt.Errorf("backfill: %w", err)
	}
	return c.sum, nil
}

func (c *Compactor) users(ctx context.Context, rebuild bool) (map[string]userInfo, error) {
	if rebuild {
		users, err := c.rebuildUsers(ctx)
		if err != nil {
			return nil, fmt.Errorf("silver users: %w", err)
		}
		return users, nil
	}
	users, err := c.loadUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	return users, nil
}

// rebuild writes the silver of rb's days, Parallel at a time, then their gold.
func (c *Compactor) rebuild(ctx context.Context, rb Rebuild, users map[string]userInfo) error {
	c.progress.Start("silver", int64(len(rb.Silver)))
	c.dayMemory = c.shareOfMemory()
	built := make(map[int32]*activity, len(rb.Silver))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Parallel)
	for _, d := range rb.Silver {
		g.Go(func() error {
			a, err := c.buildDay(gctx, d, users)
			if err != nil {
				return fmt.Errorf("silver %s: %w", event.Date(d), err)
			}
			mu.Lock()
			built[d] = a
			mu.Unlock()
			c.progress.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.sum.SilverDays = len(rb.Silver)
	return c.gold(ctx, rb, built, users)
}

// gold writes the gold of rb: daily_metrics, the months, cohorts and anomalies. Its writes are fenced
// on the objects' versions before it reads anything.
func (c *Compactor) gold(ctx context.Context, rb Rebuild, built map[int32]*activity, users map[string]userInfo) error {
	c.progress.Start("gold", int64(len(rb.Gold)))
	f, err := c.goldFence(ctx, rb)
	if err != nil {
		return fmt.Errorf("gold: %w", err)
	}
	cohortWeeks, err := c.writeGold(ctx, rb, built, users, f)
	if err != nil {
		return fmt.Errorf("gold: %w", err)
	}
	n, err := c.writePerformance(ctx, rb, users, f)
	if err != nil {
		return fmt.Errorf("gold performance: %w", err)
	}
	c.tally(func(s *Summary) {
		s.NewAnomalies, s.GoldDays, s.Months, s.CohortWeeks = n, len(rb.Gold), len(rb.Months), cohortWeeks
	})
	return nil
}

// goldFence takes the versions of every object gold may write for rb: the partitions rb names, the
// cohort index and, as the cohort weeks that change are known only once computed, every cohort week
// in the lake.
func (c *Compactor) goldFence(ctx context.Context, rb Rebuild) (*fence, error) {
	var keys []string
	for _, d := range rb.Gold {
		keys = append(keys, dayKey(tables.GoldDailyMetrics, d))
	}
	for _, m := range rb.Months {
		for _, table := range []string{tables.GoldMonthlyMetrics, tables.GoldPowerUsers, tables.GoldSessionFrequency, tables.GoldDevicePerformance} {
			keys = append(keys, monthKey(table, m))
		}
	}
	for _, d := range rb.Silver {
		keys = append(keys, dayKey(tables.GoldAppVersionDaily, d))
	}
	for _, d := range AnomalyDays(rb.Silver, rb.LakeDays[0], rb.LakeDays[1]) {
		keys = append(keys, dayKey(tables.GoldAnomalies, d))
	}
	if rb.Cohorts == CohortsNone {
		return c.takeFence(ctx, keys)
	}
	return c.takeFence(ctx, append(keys, CohortIndexKey), tables.GoldCohortRetention+"/")
}

// joinPlan returns the plan of the next run: the one in the lake if there is one (a crashed run's, or
// one other compactors are doing: joined), or a new one, created only if absent so that of compactors
// started together one plan wins. A new plan with no ranges is not written.
func (c *Compactor) joinPlan(ctx context.Context, st *State) (Plan, bool, error) {
	key := planKey(st.Run + 1)
	if p, err := c.readPlan(ctx, key); p != nil || err != nil {
		return deref(p), true, err
	}
	if c.src == nil {
		return Plan{}, false, errors.New("compactor: no source to read")
	}
	starts := map[string]map[int32]int64{}
	ends := map[string]map[int32]int64{}
	for _, topic := range []string{c.cfg.UsersTopic, c.cfg.InteractionsTopic} {
		var err error
		if starts[topic], ends[topic], err = c.src.Offsets(ctx, topic); err != nil {
			return Plan{}, false, err
		}
	}
	p := NewPlan(st, starts, ends, c.cfg.Chunk)
	// A compactor from before plans per run crashed with this run's plan: it is resumed as it stands.
	if old, err := c.readPlan(ctx, PlanKey); err != nil {
		return Plan{}, false, err
	} else if old != nil && old.Run == p.Run {
		p = *old
	}
	if len(p.Ranges) == 0 {
		return p, false, nil
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return Plan{}, false, err
	}
	// Durable (PutIf is) before any staged object it names: a plan lost to a power failure would be
	// planned again with other ranges.
	_, err = c.store.PutIf(ctx, key, lake.Absent, func(w io.Writer) error { _, err := w.Write(b); return err })
	if errors.Is(err, lake.ErrConflict) {
		q, err := c.readPlan(ctx, key)
		if err == nil && q == nil {
			err = fmt.Errorf("compactor: %s vanished after another compactor wrote it", key)
		}
		return deref(q), true, err
	}
	if err != nil {
		return Plan{}, false, fmt.Errorf("write plan: %w", err)
	}
	return p, false, nil
}

// readPlan reads a plan, nil if there is none.
func (c *Compactor) readPlan(ctx context.Context, key string) (*Plan, error) {
	b, err := c.store.Get(ctx, key)
	if errors.Is(err, lake.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return &p, nil
}

func deref(p *Plan) Plan {
	if p == nil {
		return Plan{}
	}
	return *p
}

// loadState reads state.json and its version, which the run's commits are conditional on.
func (c *Compactor) loadState(ctx context.Context) (*State, lake.Version, error) {
	st := &State{Version: 1, Location: c.cfg.Location.String()}
	b, v, err := c.store.GetVersion(ctx, tables.StateKey)
	if errors.Is(err, lake.ErrNotExist) {
		return st, lake.Absent, nil
	}
	if err != nil {
		return nil, v, fmt.Errorf("read state: %w", err)
	}
	if err := st.Decode(b); err != nil {
		return nil, v, err
	}
	if st.Location != c.cfg.Location.String() {
		return nil, v, fmt.Errorf("compactor: the lake's days are in time zone %q, not %q", st.Location, c.cfg.Location)
	}
	return st, v, nil
}

// putState commits st if state.json is still at version v: every object written before it is made
// durable first, and st itself (PutIf is durable) before anything that follows it.
func (c *Compactor) putState(ctx context.Context, v lake.Version, st *State) (lake.Version, error) {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return lake.Absent, err
	}
	if err := c.store.Sync(ctx); err != nil {
		return lake.Absent, err
	}
	return c.commitState(ctx, v, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// topicOf is the topic a bronze table's rows come from.
func (c *Compactor) topicOf(table string) string {
	if table == tables.BronzeUsers {
		return c.cfg.UsersTopic
	}
	return c.cfg.InteractionsTopic
}

// object is a lake object to write.
type object struct {
	key   string
	write func(io.Writer) error
}

// putAll writes objects, Uploads at a time: object stores and fsync wait on latency, not CPU.
func (c *Compactor) putAll(ctx context.Context, objs []object) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Uploads)
	for _, o := range objs {
		g.Go(func() error { return c.store.Put(gctx, o.key, o.write) })
	}
	return g.Wait()
}
