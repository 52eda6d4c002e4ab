// Package compactor builds the lake's bronze, silver and gold tables from the topics, atomically and idempotently.
//
// The commit protocol, in the order a run takes its steps, all under the lake's lease (LeaseKey):
//
//  1. Plan: read _state/state.json (committed offsets), list the topics' end offsets and write the
//     offset ranges to read as _state/plan.json, before any data. A plan left by a crashed run is
//     resumed as it stands, so the rerun reads exactly the same ranges.
//  2. Map: each range's rows of each table partition value (day or country) are staged as an object
//     named after (run, table, partition value, topic, partition, from, to) under _staging/run-<R>/.
//     Rerunning a plan rewrites identical objects under identical names.
//  3. Reduce, one unit per partition value touched: the value's bronze is a sequence of objects
//     part-00000.parquet, part-00001.parquet, ... Those below the open part (State.OpenParts) are
//     sealed and never rewritten. The open part is rewritten as its rows from before the run (offsets
//     below their partition's committed offset, in file order) followed by the staged rows merged in
//     silver's order (staged.go), and a new part is cut whenever one reaches Config.ObjectSize. Every PUT
//     replaces an object with a superset of its committed rows, so a reader that globs bronze never
//     sees a row twice or misses a committed one, and a rerun writes the same names and bytes.
//  4. Commit: one conditional PUT of state.json, on the version step 1 read, with the new offsets, the partitions' event time, the days whose
//     silver is pending and every partition value's open part. Then plan.json and the run's staging
//     are deleted (a leftover plan is recognised as stale, leftover staging of committed runs is
//     deleted by the next run).
//  5. Silver and gold: every pending day's silver and day-local gold, then daily_metrics of the
//     windows that include those days and monthly_metrics of their months. Each partition is one
//     object with a fixed name, replaced by a single PUT, so a reader sees the old or the new version.
//     The cohort retention weeks that change are written and synced before the cohort index that
//     records what they were computed from (CohortIndexKey).
//  6. One PUT of state.json with nothing pending.
//
// A crash before step 4 leaves staged objects and parts that only the resumed plan can name and will
// rewrite; a crash after it leaves pending days that the next run (even with nothing new) rebuilds.
// Bronze objects named after a plan range (<topic>-p<partition>-<from>-<to>.parquet in the partition
// directory), which runs before parts wrote, stay as they are and are read with the parts.
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
	Resumed       bool  // the run finished a crashed run's plan
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
}

// New returns a compactor. src may be nil for Backfill.
func New(cfg Config, store lake.Store, src Source) (*Compactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Compactor{cfg: cfg, store: store, src: src, log: cfg.Logger, progress: &lockedProgress{p: cfg.Progress, log: cfg.Logger}}, nil
}

// Run reads everything new on the topics into bronze and rebuilds the silver and gold that depend on
// it, holding the lake's lease.
func (c *Compactor) Run(ctx context.Context) (Summary, error) {
	defer c.progress.finish()
	return c.leased(ctx, c.run)
}

func (c *Compactor) run(ctx context.Context) (Summary, error) {
	var sum Summary
	st, ver, err := c.loadState(ctx)
	if err != nil {
		return sum, err
	}
	plan, resumed, err := c.plan(ctx, st)
	if err != nil {
		return sum, err
	}
	sum.Resumed = resumed
	sum.Run = st.Run
	// Staging that a crash after a commit left behind.
	if err := c.cleanStaging(ctx, st.Run); err != nil {
		return sum, err
	}
	if len(plan.Ranges) > 0 {
		c.log.Info("plan", "run", plan.Run, "ranges", len(plan.Ranges), "records", plan.Records(), "resumed", resumed)
		c.progress.Start("bronze", plan.Records())
		bw := &bronzeWriter{c: c, ctx: ctx, run: plan.Run, maxTime: maps.Clone(st.MaxTime), touched: map[int32]bool{}, staged: map[bronzeDir][]string{}, sum: &sum}
		if bw.maxTime == nil {
			bw.maxTime = map[int32]int64{}
		}
		for _, topic := range []string{c.cfg.UsersTopic, c.cfg.InteractionsTopic} {
			if err := bw.read(topic, plan.Ranges); err != nil {
				return sum, fmt.Errorf("bronze: %w", err)
			}
		}
		units := reduceUnits(st, bw.staged, c.topicOf)
		open, err := c.reduce(ctx, units, &sum)
		if err != nil {
			return sum, fmt.Errorf("bronze: %w", err)
		}
		users := slices.ContainsFunc(plan.Ranges, func(r Range) bool { return r.Topic == c.cfg.UsersTopic })
		next := Commit(st, plan, bw.maxTime, slices.Sorted(maps.Keys(bw.touched)), users, open)
		if ver, err = c.putState(ctx, ver, &next); err != nil {
			return sum, fmt.Errorf("commit offsets: %w", err)
		}
		if err := c.store.Delete(ctx, PlanKey); err != nil {
			return sum, fmt.Errorf("remove plan: %w", err)
		}
		var staged []string
		for _, u := range units {
			staged = append(staged, u.staged...)
		}
		if err := c.deleteAll(ctx, staged); err != nil {
			return sum, fmt.Errorf("remove staging: %w", err)
		}
		st, sum.Run = &next, next.Run
	}
	if len(st.Pending) == 0 && !st.Users {
		return sum, nil
	}
	users, err := c.users(ctx, st.Users)
	if err != nil {
		return sum, err
	}
	sum.Users = len(users)
	rb := PlanRebuild(st.Pending, st.First, st.Last)
	if st.Users && st.HasDays { // new join dates move users between join_date cohorts
		rb.Cohorts = CohortsChanged
	}
	if err := c.rebuild(ctx, rb, users, &sum); err != nil {
		return sum, err
	}
	st.Pending, st.Users = nil, false
	if _, err := c.putState(ctx, ver, st); err != nil {
		return sum, fmt.Errorf("commit rebuild: %w", err)
	}
	return sum, nil
}

// Backfill rebuilds silver and gold of the days from..to (day numbers) from bronze, holding the
// lake's lease.
func (c *Compactor) Backfill(ctx context.Context, from, to int32) (Summary, error) {
	defer c.progress.finish()
	return c.leased(ctx, func(ctx context.Context) (Summary, error) { return c.backfill(ctx, from, to) })
}

func (c *Compactor) backfill(ctx context.Context, from, to int32) (Summary, error) {
	var sum Summary
	st, _, err := c.loadState(ctx)
	if err != nil {
		return sum, err
	}
	sum.Run = st.Run
	if !st.HasDays {
		return sum, nil
	}
	var days []int32
	for d := max(from, st.First); d <= min(to, st.Last); d++ {
		days = append(days, d)
	}
	users, err := c.users(ctx, st.Users)
	if err != nil {
		return sum, err
	}
	sum.Users = len(users)
	rb := PlanRebuild(days, st.First, st.Last)
	if len(rb.Silver) > 0 {
		rb.Cohorts = CohortsAll
	}
	if err := c.rebuild(ctx, rb, users, &sum); err != nil {
		return sum, err
	}
	if err := c.store.Sync(ctx); err != nil {
		return sum, fmt.Errorf("backfill: %w", err)
	}
	return sum, nil
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

func (c *Compactor) rebuild(ctx context.Context, rb Rebuild, users map[string]userInfo, sum *Summary) error {
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
	c.progress.Start("gold", int64(len(rb.Gold)))
	cohortWeeks, err := c.writeGold(ctx, rb, built, users)
	if err != nil {
		return fmt.Errorf("gold: %w", err)
	}
	n, err := c.writePerformance(ctx, rb, users)
	if err != nil {
		return fmt.Errorf("gold performance: %w", err)
	}
	sum.NewAnomalies = n
	sum.SilverDays, sum.GoldDays, sum.Months, sum.CohortWeeks = len(rb.Silver), len(rb.Gold), len(rb.Months), cohortWeeks
	return nil
}

// plan returns the plan of a crashed run if there is one, or a new plan written to the lake.
func (c *Compactor) plan(ctx context.Context, st *State) (Plan, bool, error) {
	b, err := c.store.Get(ctx, PlanKey)
	switch {
	case err == nil:
		var p Plan
		if err := json.Unmarshal(b, &p); err != nil {
			return Plan{}, false, fmt.Errorf("decode %s: %w", PlanKey, err)
		}
		if p.Run == st.Run+1 {
			return p, true, nil
		}
		// The crashed run committed its offsets but did not get to remove its plan.
		if err := c.store.Delete(ctx, PlanKey); err != nil {
			return Plan{}, false, fmt.Errorf("remove stale plan: %w", err)
		}
	case !errors.Is(err, lake.ErrNotExist):
		return Plan{}, false, fmt.Errorf("read plan: %w", err)
	}
	if c.src == nil {
		return Plan{}, false, errors.New("compactor: no source to read")
	}
	starts := map[string]map[int32]int64{}
	ends := map[string]map[int32]int64{}
	for _, topic := range []string{c.cfg.UsersTopic, c.cfg.InteractionsTopic} {
		if starts[topic], ends[topic], err = c.src.Offsets(ctx, topic); err != nil {
			return Plan{}, false, err
		}
	}
	p := NewPlan(st, starts, ends, c.cfg.Chunk)
	if len(p.Ranges) == 0 {
		return p, false, nil
	}
	b, err = json.MarshalIndent(p, "", "  ")
	if err != nil {
		return Plan{}, false, err
	}
	if err := c.store.Put(ctx, PlanKey, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return Plan{}, false, fmt.Errorf("write plan: %w", err)
	}
	// Durable before any bronze object it names: a plan lost to a power failure would be planned
	// again with other ranges, and the bronze already written would count twice.
	if err := c.store.Sync(ctx); err != nil {
		return Plan{}, false, fmt.Errorf("write plan: %w", err)
	}
	return p, false, nil
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
