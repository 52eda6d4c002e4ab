package rtstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/rtstate"
)

// Partitions returns the partitions that ever checkpointed, in order.
func (s *Store) Partitions(ctx context.Context) ([]int32, error) {
	members, err := s.rdb.SMembers(ctx, s.partitionsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	parts := make([]int32, 0, len(members))
	for _, m := range members {
		p, err := strconv.ParseInt(m, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("list partitions: bad member %q", m)
		}
		parts = append(parts, int32(p))
	}
	slices.Sort(parts)
	return parts, nil
}

// Active estimates the distinct users active on days from to to (inclusive) in seg, by merging the
// day sketches of every partition. It reads with one pipeline of GETs, which Redis Cluster splits by
// slot, where a multi-key PFCOUNT would need every key in one slot.
func (s *Store) Active(ctx context.Context, from, to int32, seg rtstate.Segment) (uint64, error) {
	parts, err := s.Partitions(ctx)
	if err != nil {
		return 0, err
	}
	pipe := s.rdb.Pipeline()
	var cmds []*redis.StringCmd
	for _, p := range parts {
		for day := from; day <= to; day++ {
			cmds = append(cmds, pipe.Get(ctx, s.usersKey(p, day, seg)))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("read active users %s..%s %s: %w", event.Date(from), event.Date(to), seg, err)
	}
	var union hll.Sketch
	for _, cmd := range cmds {
		b, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", cmd.Args()[1], err)
		}
		sk, err := hll.Decode(b)
		if err != nil {
			return 0, fmt.Errorf("decode %s: %w", cmd.Args()[1], err)
		}
		union.Merge(sk)
	}
	return union.Count(), nil
}

// Day returns the counters of day in seg, summed over every partition.
func (s *Store) Day(ctx context.Context, day int32, seg rtstate.Segment) (rtstate.Counts, error) {
	parts, err := s.Partitions(ctx)
	if err != nil {
		return rtstate.Counts{}, err
	}
	name := seg.String() + "|"
	fields := []string{
		name + fieldSessions, name + fieldDurationMs, name + fieldActions, name + fieldValid,
		name + fieldLate, name + fieldUnknown, name + fieldRange, name + fieldDuplicate,
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(parts))
	for i, p := range parts {
		cmds[i] = pipe.HMGet(ctx, s.countsKey(p, day), fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return rtstate.Counts{}, fmt.Errorf("read counters of %s %s: %w", event.Date(day), seg, err)
	}
	var c rtstate.Counts
	dst := []*int64{
		&c.Sessions.Count, &c.Sessions.DurationMs, &c.Sessions.Actions, &c.Valid,
		&c.Late, &c.UnknownAction, &c.DurationOutOfRange, &c.Duplicate,
	}
	for _, cmd := range cmds {
		for i, v := range cmd.Val() {
			str, ok := v.(string)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(str, 10, 64)
			if err != nil {
				return rtstate.Counts{}, fmt.Errorf("read %s %s: bad integer %q", cmd.Args()[1], fields[i], str)
			}
			*dst[i] += n
		}
	}
	return c, nil
}

// Sessions returns the closed-session aggregates of day in seg.
func (s *Store) Sessions(ctx context.Context, day int32, seg rtstate.Segment) (metric.Sessions, error) {
	c, err := s.Day(ctx, day, seg)
	return c.Sessions, err
}
