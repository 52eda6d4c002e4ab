package compactor

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/metric"
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
// daily_segments, daily_sketches) from the day's bronze objects.
func (c *Compactor) buildDay(ctx context.Context, d int32, users map[string]userInfo) (*activity, error) {
	keys, err := c.store.List(ctx, dayPrefix(tables.BronzeInteractions, d))
	if err != nil {
		return nil, err
	}
	var bronze []tables.BronzeInteraction
	runs := []int{0} // bronze[runs[i]:runs[i+1]] is one object's rows
	strs := map[string]string{}
	for _, key := range keys {
		if !strings.HasSuffix(key, ".parquet") {
			continue
		}
		b, err := c.store.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if bronze, err = tables.ReadBronze(bronze, key, b, strs); err != nil {
			return nil, err
		}
		runs = append(runs, len(bronze))
	}
	// Each user's events in time order, ties in input order (partition, offset). The window sees
	// every user's events in the order they would have in input order sorted stably by time, so
	// duplicates keep the first event and sessions come out as from input order; and the valid
	// events come out already sorted for silver.
	bronze = mergeRuns(bronze, runs)

	win, err := sessionwindow.New(sessionwindow.Config{Lateness: sessionwindow.Unbounded, Location: c.cfg.Location})
	if err != nil {
		return nil, fmt.Errorf("session window: %w", err)
	}
	dq := tables.DataQuality{BronzeRows: int64(len(bronze))}
	valid := make([]tables.SilverInteraction, 0, len(bronze))
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
			dq.ValidEvents++
			if row.Late {
				dq.Late++
			}
			valid = append(valid, tables.SilverInteraction{
				UserID: in.UserID, Timestamp: in.Time, ActionType: in.Action, PageID: in.PageID,
				DurationMs: in.DurationMs, AppVersion: in.AppVersion,
			})
		case event.UnknownAction:
			dq.UnknownAction++
		case event.DurationOutOfRange:
			dq.DurationOutOfRange++
		case event.Duplicate:
			dq.Duplicate++
		default: // a time the window cannot place (outside years 0 to 9999): no metric can count it
			c.log.Warn("skipping event", "date", event.Date(d), "partition", row.KafkaPartition, "offset", row.KafkaOffset, "reason", reason)
		}
	}
	win.Flush()
	closed := win.Drain(nil)

	act := &activity{}
	for i, ev := range valid {
		if i == 0 || ev.UserID != valid[i-1].UserID {
			act.users = append(act.users, ev.UserID)
			act.perUser = append(act.perUser, userDay{})
		}
		u := &act.perUser[len(act.perUser)-1]
		u.engagedMs += ev.DurationMs
		u.events++
	}

	sessions := make([]tables.SilverSession, 0, len(closed))
	segs := map[[2]string]*tables.DailySegment{}
	segSessions := map[[2]string]*metric.Sessions{}
	segment := func(dim, value string) ([2]string, *tables.DailySegment) {
		k := [2]string{dim, value}
		if segs[k] == nil {
			segs[k] = &tables.DailySegment{Dimension: dim, Value: value}
			segSessions[k] = &metric.Sessions{}
		}
		return k, segs[k]
	}
	for _, s := range closed {
		if event.DayOf(s.Start, c.cfg.Location) != d {
			return nil, fmt.Errorf("day %s: session %s starts on %s", event.Date(d), s.ID(), event.Date(event.DayOf(s.Start, c.cfg.Location)))
		}
		u, ok := users[s.UserID]
		if !ok {
			u = unknownUser
		}
		sessions = append(sessions, tables.SilverSession{
			SessionID: s.ID(), UserID: s.UserID, Start: s.Start, End: s.End,
			DurationS: metric.DurationS(s.Start, s.End), Actions: s.Actions, EngagedMs: s.EngagedMs,
			Country: u.segments[0], DeviceType: u.segments[1], SubscriptionType: u.segments[2],
		})
		act.sessions.Add(s.End-s.Start, s.Actions)
		act.durations.Add(s.End - s.Start)
		for i, dim := range event.Dimensions {
			k, _ := segment(dim, u.segments[i])
			segSessions[k].Add(s.End-s.Start, s.Actions)
		}
	}
	slices.SortFunc(sessions, func(a, b tables.SilverSession) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Start, b.Start))
	})
	if err := act.countSessions(len(sessions), func(i int) string { return sessions[i].UserID }); err != nil {
		return nil, fmt.Errorf("day %s: %w", event.Date(d), err)
	}

	sketches := map[[2]string]*hll.Sketch{{event.All, event.All}: hll.New()}
	for _, id := range act.users {
		u, ok := users[id]
		if !ok {
			u = unknownUser
		}
		sketches[[2]string{event.All, event.All}].AddString(id)
		for i, dim := range event.Dimensions {
			k, seg := segment(dim, u.segments[i])
			seg.DAU++
			if sketches[k] == nil {
				sketches[k] = hll.New()
			}
			sketches[k].AddString(id)
		}
	}
	segRows := make([]tables.DailySegment, 0, len(segs))
	for _, k := range slices.SortedFunc(maps.Keys(segs), compareKeys) {
		s := segs[k]
		m := segSessions[k]
		s.Sessions, s.AvgSessionDurationS, s.AvgActionsPerSession = m.Count, m.AvgDurationS(), m.AvgActions()
		segRows = append(segRows, *s)
	}
	sketchRows := make([]tables.DailySketch, 0, len(sketches))
	for _, k := range slices.SortedFunc(maps.Keys(sketches), compareKeys) {
		sketchRows = append(sketchRows, tables.DailySketch{Dimension: k[0], Value: k[1], HLL: sketches[k].AppendRedis(nil)})
	}

	err = c.putAll(ctx, []object{
		{dayKey(tables.SilverInteractions, d), func(w io.Writer) error { return writeParquet(w, valid) }},
		{dayKey(tables.SilverSessions, d), func(w io.Writer) error { return writeParquet(w, sessions) }},
		{dayKey(tables.GoldDataQuality, d), func(w io.Writer) error { return writeParquet(w, []tables.DataQuality{dq}) }},
		{dayKey(tables.GoldDailySegments, d), func(w io.Writer) error { return writeParquet(w, segRows) }},
		{dayKey(tables.GoldDailySketches, d), func(w io.Writer) error { return writeParquet(w, sketchRows) }},
	})
	if err != nil {
		return nil, fmt.Errorf("write day %s: %w", event.Date(d), err)
	}
	return act, nil
}

// compareBronze orders bronze rows by user, time, then input order (partition, offset).
func compareBronze(a, b *tables.BronzeInteraction) int {
	return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Timestamp, b.Timestamp),
		cmp.Compare(a.KafkaPartition, b.KafkaPartition), cmp.Compare(a.KafkaOffset, b.KafkaOffset))
}

// mergeRuns sorts rows by compareBronze, given the boundaries of runs of rows (one per bronze
// object). A bronze object is written sorted, so merging the runs pairwise costs O(n log runs)
// moves instead of a full sort's O(n log n); a run that is not sorted is sorted first. The result
// may be rows or a new slice.
func mergeRuns(rows []tables.BronzeInteraction, runs []int) []tables.BronzeInteraction {
	cmpRows := func(a, b tables.BronzeInteraction) int { return compareBronze(&a, &b) }
	for i := 1; i < len(runs); i++ {
		if run := rows[runs[i-1]:runs[i]]; !slices.IsSortedFunc(run, cmpRows) {
			slices.SortFunc(run, cmpRows)
		}
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
