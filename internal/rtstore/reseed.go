package rtstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/redis/go-redis/v9"
)

// Register adds partition p to the set readers merge over.
func (s *Store) Register(ctx context.Context, p int32) error {
	if err := s.rdb.SAdd(ctx, s.partitionsKey(), p).Err(); err != nil {
		return fmt.Errorf("register partition %d: %w", p, err)
	}
	return nil
}

// DaysHeld returns the days from from to to (inclusive) for which partition p holds counters, in
// order: a day rolled up over p counts as held. A consumer writes a day's counters with its first
// event of the day, valid or not.
func (s *Store) DaysHeld(ctx context.Context, p, from, to int32) ([]int32, error) {
	if from > to {
		return nil, nil
	}
	_, covered, err := s.view(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("list days of partition %d: %w", p, err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, 0, to-from+1)
	for day := from; day <= to; day++ {
		cmds = append(cmds, pipe.Exists(ctx, s.countsKey(p, day), s.frozenCountsKey(p, day)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("list days of partition %d: %w", p, err)
	}
	var days []int32
	for i, cmd := range cmds {
		if cmd.Val() > 0 || p < covered[i] {
			days = append(days, from+int32(i))
		}
	}
	return days, nil
}

// ReplaceDay makes partition p's keys of day hold exactly cells: each cell's sketch and its session
// sums (the other counters are left out). Unlike Commit it sets instead of adding, so writing the same
// cells again changes nothing, and nil cells delete the day. One transaction: every key carries p's
// hash tag. Segments an earlier ReplaceDay wrote and cells lack are found through the counts hash,
// which lists every segment written here, and deleted.
func (s *Store) ReplaceDay(ctx context.Context, p, day int32, cells []rtstate.Cell) error {
	counts := s.countsKey(p, day)
	fields, err := s.rdb.HKeys(ctx, counts).Result()
	if err != nil {
		return fmt.Errorf("replace %s of partition %d: %w", event.Date(day), p, err)
	}
	stale := map[rtstate.Segment]bool{}
	for _, f := range fields {
		if name, _, ok := cutLast(f, "|"); ok {
			stale[parseSegment(name)] = true
		}
	}
	for _, c := range cells {
		if c.Day != day {
			return fmt.Errorf("replace %s of partition %d: a cell of %s", event.Date(day), p, event.Date(c.Day))
		}
		delete(stale, c.Segment)
	}
	_, err = s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, counts)
		for seg := range stale {
			pipe.Del(ctx, s.usersKey(p, day, seg))
		}
		for _, c := range cells {
			if c.Users != nil {
				pipe.Set(ctx, s.usersKey(p, day, c.Segment), c.Users, s.cfg.Retention)
			} else {
				pipe.Del(ctx, s.usersKey(p, day, c.Segment))
			}
			name := c.Segment.String() + "|"
			// Zeros too: the hash is the list of segments the next ReplaceDay may have to delete.
			pipe.HSet(ctx, counts, name+fieldSessions, c.Counts.Sessions.Count,
				name+fieldDurationMs, c.Counts.Sessions.DurationMs, name+fieldActions, c.Counts.Sessions.Actions)
		}
		if len(cells) > 0 {
			pipe.Expire(ctx, counts, s.cfg.Retention)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace %s of partition %d: %w", event.Date(day), p, err)
	}
	return nil
}

// parseSegment is the inverse of Segment.String.
func parseSegment(name string) rtstate.Segment {
	if name == event.All {
		return rtstate.Segment{}
	}
	dim, value, _ := strings.Cut(name, "=")
	return rtstate.Segment{Dimension: dim, Value: value}
}

// cutLast is strings.Cut at the last sep: field suffixes hold no "|", segment values may.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
