package compactor

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/rowfile"
	"github.com/notestream/notestream/internal/sessionwindow"
	"github.com/notestream/notestream/internal/tables"
)

// userInfo is a user's latest metadata: the segments of their sessions and their join date.
type userInfo struct {
	segments [len(event.Dimensions)]string
	joinDate int32 // day number, engagement.NoDay when unknown
}

var unknownUser = userInfo{segments: [len(event.Dimensions)]string{event.Unknown, event.Unknown, event.Unknown}, joinDate: engagement.NoDay}

// activity is what gold needs of one day: its active users and its sessions.
type activity struct {
	users     []string         // distinct, sorted
	durations metric.Histogram // sessions' end − start in ms
	sessions  metric.Sessions
	perUser   []userDay // parallel to users; nil for a day read only for its users (cohorts)
}

// buildDay rebuilds a day's silver interactions and sessions and its day-local gold (data_quality,
// daily_segments, daily_sketches) from the day's bronze objects. A day whose rows fit its share of
// the memory budget is built in memory; a larger one in buckets of users (buildBuckets), with the
// same result. Its writes are fenced on the objects' versions before it reads bronze.
func (c *Compactor) buildDay(ctx context.Context, d int32, users map[string]userInfo) (_ *activity, err error) {
	day := []string{dayKey(tables.SilverInteractions, d), dayKey(tables.SilverSessions, d), dayKey(tables.GoldDataQuality, d),
		dayKey(tables.GoldDailySegments, d), dayKey(tables.GoldDailySketches, d)}
	f, err := c.takeFence(ctx, day)
	if err != nil {
		return nil, err
	}
	keys, err := c.store.List(ctx, dayPrefix(tables.BronzeInteractions, d))
	if err != nil {
		return nil, err
	}
	var files []*tables.BronzeFile
	var rows int64
	for _, key := range keys {
		if !strings.HasSuffix(key, ".parquet") {
			continue
		}
		r, err := c.store.Open(ctx, key)
		if err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, r.Close()) }()
		f, err := tables.OpenBronze(key, r, r.Size())
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		rows += f.NumRows()
	}
	acc := newDayAcc()
	var silver, sessions func(io.Writer) error
	if n := c.bucketsOf(rows); n > 1 {
		c.log.Info("building day in buckets", "date", event.Date(d), "bronze_rows", rows, "buckets", n)
		dir, err := os.MkdirTemp(c.cfg.SpillDir, "notestream-"+event.Date(d)+"-*")
		if err != nil {
			return nil, fmt.Errorf("spill: %w", err)
		}
		defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
		if silver, sessions, err = c.buildBuckets(ctx, d, users, files, n, dir, acc); err != nil {
			return nil, err
		}
	} else {
		bronze := make([]tables.BronzeInteraction, 0, rows)
		strs := map[string]string{}
		for _, f := range files {
			err := f.Scan(strs, func(b []tables.BronzeInteraction) error { bronze = append(bronze, b...); return nil })
			if err != nil {
				return nil, err
			}
		}
		part, err := c.sessionize(d, users, mergeRuns(bronze))
		if err != nil {
			return nil, err
		}
		acc.add(part)
		silver = func(w io.Writer) error { return writeParquet(w, part.valid) }
		sessions = func(w io.Writer) error { return writeParquet(w, part.sessions) }
	}
	act, segRows, sketchRows := acc.finish(users)
	dq := acc.dq
	err = c.putFenced(ctx, f, []object{
		{day[0], silver},
		{day[1], sessions},
		{day[2], func(w io.Writer) error { return writeParquet(w, []tables.DataQuality{dq}) }},
		{day[3], func(w io.Writer) error { return writeParquet(w, segRows) }},
		{day[4], func(w io.Writer) error { return writeParquet(w, sketchRows) }},
	})
	if err != nil {
		return nil, fmt.Errorf("write day %s: %w", event.Date(d), err)
	}
	return act, nil
}

// buildBuckets builds day d in n buckets of users by the hash of user_id. One pass over the day's
// bronze writes each row to its bucket's spill file in dir; then each bucket in turn is read back
// and built in memory like a small day, its silver rows spilled again. What it returns writes the
// day's silver interactions and sessions from those files, merged back into one sort by user, so
// the objects are the ones buildDay writes in memory, byte for byte. Spill files are row files
// (rowfile) like staged objects, so a torn or corrupt one is an error.
func (c *Compactor) buildBuckets(ctx context.Context, d int32, users map[string]userInfo, files []*tables.BronzeFile, n int, dir string, acc *dayAcc) (silver, sessions func(io.Writer) error, err error) {
	name := func(kind string, b int) string { return fmt.Sprintf("%s-%05d", kind, b) }
	path := func(kind string, b int) string { return filepath.Join(dir, name(kind, b)) }
	outs := make([]*os.File, n)
	spills := make([]*rowfile.Writer[tables.BronzeInteraction], n)
	defer func() {
		for _, f := range outs {
			if f != nil {
				err = errors.Join(err, f.Close())
			}
		}
	}()
	for b := range n {
		if outs[b], err = os.Create(path("bronze", b)); err != nil {
			return nil, nil, fmt.Errorf("spill: %w", err)
		}
		spills[b] = rowfile.NewWriter(outs[b], stagedInteractions.encode)
	}
	counts := make([]int, n) // bronze rows of each bucket, to size it when it is read back
	for _, f := range files {
		strs := map[string]string{}
		err := f.Scan(strs, func(rows []tables.BronzeInteraction) error {
			for i := range rows {
				b := userBucket(rows[i].UserID, n)
				if err := spills[b].Write(rows[i : i+1]); err != nil {
					return fmt.Errorf("spill: %w", err)
				}
				counts[b]++
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	for b, w := range spills {
		err := errors.Join(w.Close(), outs[b].Close())
		outs[b] = nil
		if err != nil {
			return nil, nil, fmt.Errorf("spill: %w", err)
		}
	}

	sizes := map[string]int64{} // of the silver and sessions spill files, by name
	for b := range n {
		rows, err := readBronzeSpill(path("bronze", b), counts[b])
		if err != nil {
			return nil, nil, err
		}
		if err := os.Remove(path("bronze", b)); err != nil {
			return nil, nil, fmt.Errorf("spill: %w", err)
		}
		part, err := c.sessionize(d, users, mergeRuns(rows))
		if err != nil {
			return nil, nil, err
		}
		if sizes[name("silver", b)], err = writeSpill(path("silver", b), spillInteractions, part.valid); err != nil {
			return nil, nil, err
		}
		if sizes[name("sessions", b)], err = writeSpill(path("sessions", b), spillSessions, part.sessions); err != nil {
			return nil, nil, err
		}
		part.valid, part.sessions = nil, nil
		acc.add(part)
	}
	// The spill directory as a lake, so that the reduce's merge of staged objects (openMerge) reads it.
	spill, err := lake.NewDir(dir)
	if err != nil {
		return nil, nil, err
	}
	spilled := func(kind string) []stagedSegment {
		out := make([]stagedSegment, n)
		for b := range out {
			out[b] = stagedSegment{Key: name(kind, b), Len: sizes[name(kind, b)]}
		}
		return out
	}
	silver = func(w io.Writer) error {
		return writeParquetStream(w, func(emit func([]tables.SilverInteraction) error) error {
			return mergeSpills(ctx, spill, spillInteractions, spilled("silver"), emit)
		})
	}
	sessions = func(w io.Writer) error {
		return writeParquetStream(w, func(emit func([]tables.SilverSession) error) error {
			return mergeSpills(ctx, spill, spillSessions, spilled("sessions"), emit)
		})
	}
	return silver, sessions, nil
}

// userBucket is the bucket of n that a user's rows go to: FNV-1a of user_id, fixed across runs and
// processes.
func userBucket(user string, n int) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(user); i++ {
		h ^= uint64(user[i])
		h *= 1099511628211
	}
	return int(h % uint64(n))
}

// readBronzeSpill reads the rows bronze rows of a bucket's spill file.
func readBronzeSpill(path string, rows int) (_ []tables.BronzeInteraction, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	r := rowfile.NewReader(bufio.NewReader(f), path, internedBronze(map[string]string{}))
	// One row more than written, so that the read goes on to the trailer, which counts the rows.
	out := make([]tables.BronzeInteraction, rows+1)
	n, err := r.Read(out)
	if err == io.EOF { // no rows
		err = nil
	}
	if err == nil && n != rows {
		err = fmt.Errorf("%s: %d rows, %d written", path, n, rows)
	}
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	return out[:n], nil
}

// internedBronze is stagedInteractions.decode with the strings copied out of their block: a bucket's
// user IDs outlive it (its part's users, for gold), and as substrings they would keep every block of
// the day alive (peak RSS 1.0 GB instead of 0.6 GB on a day of 5M events). The repeated strings are
// interned in strs.
func internedBronze(strs map[string]string) func(*rowfile.Decoder, *tables.BronzeInteraction) {
	intern := func(s string) string {
		v, ok := strs[s]
		if !ok {
			v = strings.Clone(s)
			strs[v] = v
		}
		return v
	}
	return func(d *rowfile.Decoder, r *tables.BronzeInteraction) {
		stagedInteractions.decode(d, r)
		r.UserID, r.ActionType, r.AppVersion = intern(r.UserID), intern(r.ActionType), intern(r.AppVersion)
		r.PageID = strings.Clone(r.PageID) // nearly unique: interning would not pay
	}
}

// writeSpill writes rows to a new spill file and returns its size.
func writeSpill[T any](path string, s stagedRows[T], rows []T) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("spill: %w", err)
	}
	cw := &countingWriter{w: f}
	if err := errors.Join(s.write(cw, rows), f.Close()); err != nil {
		return 0, fmt.Errorf("spill: %w", err)
	}
	return cw.n, nil
}

// spillBatch is the rows of a merge of spill files handed to the Parquet writer at a time.
const spillBatch = 4096

// mergeSpills reads spill files of store, each sorted by user with every user in one file only,
// and hands their rows to emit in batches, sorted by user: each user's rows together and in their
// file's order. So a day's buckets give back the day's rows in the order one sort of the whole day
// would have given.
func mergeSpills[T any](ctx context.Context, store lake.Store, s stagedRows[T], files []stagedSegment, emit func([]T) error) (err error) {
	m, err := openMerge(ctx, store, s, files)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.Close()) }()
	batch := make([]T, spillBatch)
	for {
		n, err := m.Read(batch)
		if err != nil {
			return err
		}
		if n > 0 {
			if err := emit(batch[:n]); err != nil {
				return err
			}
		}
		if n < len(batch) {
			return nil
		}
	}
}

// dayPart is what sessionize makes of some users' bronze rows of a day (all of the day's or a
// bucket's).
type dayPart struct {
	valid       []tables.SilverInteraction // sorted by user, time, input order
	sessions    []tables.SilverSession     // sorted by user, start
	dq          tables.DataQuality
	users       []string  // distinct, sorted
	perUser     []userDay // parallel to users
	stats       metric.Sessions
	durations   []int64 // sessions' end − start in ms
	segSessions map[[2]string]*metric.Sessions
}

// sessionize checks bronze rows of day d (sorted by compareBronze, each user's rows all there) and
// turns them into silver interactions and sessions.
func (c *Compactor) sessionize(d int32, users map[string]userInfo, bronze []tables.BronzeInteraction) (*dayPart, error) {
	// Each user's events in time order, ties in input order (partition, offset). The window sees
	// every user's events in the order they would have in input order sorted stably by time, so
	// duplicates keep the first event and sessions come out as from input order; and the valid
	// events come out already sorted for silver.
	win, err := sessionwindow.New(sessionwindow.Config{Lateness: sessionwindow.Unbounded, Location: c.cfg.Location})
	if err != nil {
		return nil, fmt.Errorf("session window: %w", err)
	}
	p := &dayPart{dq: tables.DataQuality{BronzeRows: int64(len(bronze))}, segSessions: map[[2]string]*metric.Sessions{}}
	p.valid = make([]tables.SilverInteraction, 0, len(bronze))
	for i := range bronze {
		row := &bronze[i]
		in := event.Interaction{
			UserID: row.UserID, Time: row.Timestamp, Action: row.ActionType, PageID: row.PageID,
			DurationMs: row.DurationMs, AppVersion: row.AppVersion,
		}
		reason := event.Check(&in)
		if reason == event.OK {
			reason = win.Add(&in)
		}
		switch reason {
		case event.OK, event.Late: // Late cannot happen with unbounded lateness; it would still count.
			p.dq.ValidEvents++
			if row.Late {
				p.dq.Late++
			}
			p.valid = append(p.valid, tables.SilverInteraction{
				UserID: in.UserID, Timestamp: in.Time, ActionType: in.Action, PageID: in.PageID,
				DurationMs: in.DurationMs, AppVersion: in.AppVersion,
			})
		case event.UnknownAction:
			p.dq.UnknownAction++
		case event.DurationOutOfRange:
			p.dq.DurationOutOfRange++
		case event.Duplicate:
			p.dq.Duplicate++
		default: // a time the window cannot place (outside years 0 to 9999): no metric can count it
			c.log.Warn("skipping event", "date", event.Date(d), "partition", row.KafkaPartition, "offset", row.KafkaOffset, "reason", reason)
		}
	}
	win.Flush()
	closed := win.Drain(nil)

	for i, ev := range p.valid {
		if i == 0 || ev.UserID != p.valid[i-1].UserID {
			p.users = append(p.users, ev.UserID)
			p.perUser = append(p.perUser, userDay{})
		}
		u := &p.perUser[len(p.perUser)-1]
		u.engagedMs += ev.DurationMs
		u.events++
	}

	p.sessions = make([]tables.SilverSession, 0, len(closed))
	p.durations = make([]int64, 0, len(closed))
	for _, s := range closed {
		if event.DayOf(s.Start, c.cfg.Location) != d {
			return nil, fmt.Errorf("day %s: session %s starts on %s", event.Date(d), s.ID(), event.Date(event.DayOf(s.Start, c.cfg.Location)))
		}
		u, ok := users[s.UserID]
		if !ok {
			u = unknownUser
		}
		p.sessions = append(p.sessions, tables.SilverSession{
			SessionID: s.ID(), UserID: s.UserID, Start: s.Start, End: s.End,
			DurationS: metric.DurationS(s.Start, s.End), Actions: s.Actions, EngagedMs: s.EngagedMs,
			Country: u.segments[0], DeviceType: u.segments[1], SubscriptionType: u.segments[2],
		})
		p.stats.Add(s.End-s.Start, s.Actions)
		p.durations = append(p.durations, s.End-s.Start)
		for i, dim := range event.Dimensions {
			k := [2]string{dim, u.segments[i]}
			if p.segSessions[k] == nil {
				p.segSessions[k] = &metric.Sessions{}
			}
			p.segSessions[k].Add(s.End-s.Start, s.Actions)
		}
	}
	slices.SortFunc(p.sessions, func(a, b tables.SilverSession) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Start, b.Start))
	})
	// Every user with a valid event starts a session that day, so the sessions name every user.
	sessionUsers := &activity{users: p.users, perUser: p.perUser}
	if err := sessionUsers.countSessions(len(p.sessions), func(i int) string { return p.sessions[i].UserID }); err != nil {
		return nil, fmt.Errorf("day %s: %w", event.Date(d), err)
	}
	return p, nil
}

// dayAcc adds up a day's parts, whose users are disjoint.
type dayAcc struct {
	dq          tables.DataQuality
	parts       []*dayPart // their users and sessions' figures; silver rows gone
	stats       metric.Sessions
	durations   metric.Histogram
	segSessions map[[2]string]*metric.Sessions
}

func newDayAcc() *dayAcc { return &dayAcc{segSessions: map[[2]string]*metric.Sessions{}} }

func (a *dayAcc) add(p *dayPart) {
	a.dq.BronzeRows += p.dq.BronzeRows
	a.dq.ValidEvents += p.dq.ValidEvents
	a.dq.UnknownAction += p.dq.UnknownAction
	a.dq.DurationOutOfRange += p.dq.DurationOutOfRange
	a.dq.Duplicate += p.dq.Duplicate
	a.dq.Late += p.dq.Late
	a.stats.Count += p.stats.Count
	a.stats.DurationMs += p.stats.DurationMs
	a.stats.Actions += p.stats.Actions
	h := metric.HistogramOf(p.durations)
	a.durations.Merge(&h)
	p.durations = nil
	for k, s := range p.segSessions {
		if a.segSessions[k] == nil {
			a.segSessions[k] = &metric.Sessions{}
		}
		a.segSessions[k].Count += s.Count
		a.segSessions[k].DurationMs += s.DurationMs
		a.segSessions[k].Actions += s.Actions
	}
	p.segSessions = nil
	a.parts = append(a.parts, p)
}

// finish is the day's activity for gold (its users sorted), daily_segments and daily_sketches.
func (a *dayAcc) finish(users map[string]userInfo) (*activity, []tables.DailySegment, []tables.DailySketch) {
	act := &activity{sessions: a.stats, durations: a.durations}
	if len(a.parts) == 1 {
		act.users, act.perUser = a.parts[0].users, a.parts[0].perUser
	} else {
		type ref struct{ part, i int32 }
		var refs []ref
		for pi, p := range a.parts {
			for i := range p.users {
				refs = append(refs, ref{int32(pi), int32(i)})
			}
		}
		slices.SortFunc(refs, func(x, y ref) int {
			return strings.Compare(a.parts[x.part].users[x.i], a.parts[y.part].users[y.i])
		})
		act.users, act.perUser = make([]string, len(refs)), make([]userDay, len(refs))
		for j, r := range refs {
			act.users[j], act.perUser[j] = a.parts[r.part].users[r.i], a.parts[r.part].perUser[r.i]
		}
	}
	a.parts = nil

	segs := map[[2]string]*tables.DailySegment{}
	segment := func(k [2]string) *tables.DailySegment {
		if segs[k] == nil {
			segs[k] = &tables.DailySegment{Dimension: k[0], Value: k[1]}
		}
		return segs[k]
	}
	for k := range a.segSessions {
		segment(k)
	}
	sketches := map[[2]string]*hll.Sketch{{event.All, event.All}: hll.New()}
	for _, id := range act.users {
		u, ok := users[id]
		if !ok {
			u = unknownUser
		}
		sketches[[2]string{event.All, event.All}].AddString(id)
		for i, dim := range event.Dimensions {
			k := [2]string{dim, u.segments[i]}
			segment(k).DAU++
			if sketches[k] == nil {
				sketches[k] = hll.New()
			}
			sketches[k].AddString(id)
		}
	}
	segRows := make([]tables.DailySegment, 0, len(segs))
	for _, k := range slices.SortedFunc(maps.Keys(segs), compareKeys) {
		s := segs[k]
		var m metric.Sessions
		if p := a.segSessions[k]; p != nil {
			m = *p
		}
		s.Sessions, s.AvgSessionDurationS, s.AvgActionsPerSession = m.Count, m.AvgDurationS(), m.AvgActions()
		segRows = append(segRows, *s)
	}
	sketchRows := make([]tables.DailySketch, 0, len(sketches))
	for _, k := range slices.SortedFunc(maps.Keys(sketches), compareKeys) {
		sketchRows = append(sketchRows, tables.DailySketch{Dimension: k[0], Value: k[1], HLL: sketches[k].AppendRedis(nil)})
	}
	return act, segRows, sketchRows
}

// compareBronze orders bronze rows by user, time, then input order (partition, offset).
func compareBronze(a, b *tables.BronzeInteraction) int {
	return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Timestamp, b.Timestamp),
		cmp.Compare(a.KafkaPartition, b.KafkaPartition), cmp.Compare(a.KafkaOffset, b.KafkaOffset))
}

// mergeRuns sorts rows by compareBronze. A day's bronze rows come in few sorted runs (a part is
// one, or its rows from before a run followed by the run's; a legacy object is one), so it finds
// where the order breaks and merges the runs between pairwise: O(n log runs) moves instead of a
// sort's O(n log n), and one pass for rows already sorted. The result may be rows or a new slice.
func mergeRuns(rows []tables.BronzeInteraction) []tables.BronzeInteraction {
	runs := []int{0} // rows[runs[i]:runs[i+1]] is sorted
	for i := 1; i < len(rows); i++ {
		if compareBronze(&rows[i-1], &rows[i]) > 0 {
			runs = append(runs, i)
		}
	}
	if runs = append(runs, len(rows)); len(runs) <= 2 {
		return rows
	}
	buf := make([]tables.BronzeInteraction, len(rows))
	for len(runs) > 2 {
		next := []int{0}
		for i := 2; i < len(runs); i += 2 {
			mergeTwo(buf[runs[i-2]:runs[i]], rows[runs[i-2]:runs[i-1]], rows[runs[i-1]:runs[i]])
			next = append(next, runs[i])
		}
		if len(runs)%2 == 0 { // an odd run out is copied as it is
			lo := runs[len(runs)-2]
			copy(buf[lo:], rows[lo:])
			next = append(next, runs[len(runs)-1])
		}
		rows, buf, runs = buf, rows, next
	}
	return rows
}

// mergeTwo merges the sorted a and b into dst, a first on ties.
func mergeTwo(dst, a, b []tables.BronzeInteraction) {
	i, j := 0, 0
	for k := range dst {
		if j == len(b) || (i < len(a) && compareBronze(&a[i], &b[j]) <= 0) {
			dst[k] = a[i]
			i++
		} else {
			dst[k] = b[j]
			j++
		}
	}
}

func compareKeys(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) }

// silverActivity reads a day's activity back from silver, for gold days whose silver did not change.
// A day that only cohort retention reads (full false) gets its active users only.
func (c *Compactor) silverActivity(ctx context.Context, d int32, full bool) (*activity, error) {
	type userCol struct {
		UserID string `parquet:"user_id"`
	}
	type userCols struct {
		UserID     string `parquet:"user_id"`
		DurationMs int64  `parquet:"duration_ms"`
	}
	type sessionCols struct {
		UserID  string `parquet:"user_id"`
		Start   int64  `parquet:"start,timestamp(millisecond)"`
		End     int64  `parquet:"end,timestamp(millisecond)"`
		Actions int64  `parquet:"actions"`
	}
	act := &activity{}
	// Silver holds each user's rows together, so a user is new where the user_id changes.
	if !full {
		// A user active on a day starts a session that day (sessions split at midnight), and a day
		// has several times fewer sessions than events: its sessions name its active users.
		err := scanObject(ctx, c.store, dayKey(tables.SilverSessions, d), func(rows []userCol) error {
			for _, u := range rows {
				if n := len(act.users); n == 0 || act.users[n-1] != u.UserID {
					act.users = append(act.users, u.UserID)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return act, nil
	}
	err := scanObject(ctx, c.store, dayKey(tables.SilverInteractions, d), func(rows []userCols) error {
		for _, ev := range rows {
			if n := len(act.users); n == 0 || act.users[n-1] != ev.UserID {
				act.users = append(act.users, ev.UserID)
				act.perUser = append(act.perUser, userDay{})
			}
			u := &act.perUser[len(act.perUser)-1]
			u.engagedMs += ev.DurationMs
			u.events++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sc := sessionCounter{a: act}
	err = scanObject(ctx, c.store, dayKey(tables.SilverSessions, d), func(rows []sessionCols) error {
		for _, s := range rows {
			act.sessions.Add(s.End-s.Start, s.Actions)
			act.durations.Add(s.End - s.Start)
			if err := sc.add(s.UserID); err != nil {
				return fmt.Errorf("silver %s: %w", event.Date(d), err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return act, nil
}
