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
	return parsePartitions(members)
}

func parsePartitions(members []string) ([]int32, error) {
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

// view returns the partitions readers merge over, and for each day from from to to the number of
// partitions its roll-up covers (0 for a day not rolled up), in one round trip.
func (s *Store) view(ctx context.Context, from, to int32) ([]int32, []int32, error) {
	dates := make([]string, 0, max(0, to-from+1))
	for day := from; day <= to; day++ {
		dates = append(dates, event.Date(day))
	}
	pipe := s.rdb.Pipeline()
	members := pipe.SMembers(ctx, s.partitionsKey())
	var index *redis.SliceCmd
	if len(dates) > 0 {
		index = pipe.HMGet(ctx, s.indexKey(), dates...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("list partitions and roll-ups: %w", err)
	}
	parts, err := parsePartitions(members.Val())
	if err != nil {
		return nil, nil, err
	}
	covered := make([]int32, len(dates))
	if index == nil {
		return parts, covered, nil
	}
	for i, v := range index.Val() {
		str, ok := v.(string)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(str, 10, 32)
		if err != nil || n <= 0 {
			return nil, nil, fmt.Errorf("read %s %s: bad partition count %q", s.indexKey(), dates[i], str)
		}
		covered[i] = int32(n)
	}
	return parts, covered, nil
}

// unionScript returns the union of HyperLogLogs, merged in Redis. KEYS: scratch key, then the
// sketches, all in one slot.
var unionScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('PFMERGE', KEYS[1], unpack(KEYS, 2))
local v = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
return v
`)

// Active estimates the distinct users active on days from to to (inclusive) in seg. The rolled-up
// days are merged in Redis by one script (their keys share a slot); the others' sketches, one per
// partition and the rolled-up one (the late users of a closed day), come in the same pipeline, which
// Redis Cluster splits by slot, and are merged with internal/hll.
func (s *Store) Active(ctx context.Context, from, to int32, seg rtstate.Segment) (uint64, error) {
	parts, covered, err := s.view(ctx, from, to)
	if err != nil {
		return 0, err
	}
	pipe := s.rdb.Pipeline()
	var cmds []*redis.StringCmd
	var rolled []string
	for day := from; day <= to; day++ {
		n := covered[day-from]
		if n > 0 {
			rolled = append(rolled, s.rolledUsersKey(day, seg))
		} else {
			cmds = append(cmds, pipe.Get(ctx, s.rolledUsersKey(day, seg)))
		}
		for _, p := range parts {
			if p >= n {
				cmds = append(cmds, pipe.Get(ctx, s.usersKey(p, day, seg)))
			}
		}
	}
	var union *redis.Cmd
	if len(rolled) > 0 {
		union = unionScript.Eval(ctx, pipe, append([]string{s.segmentTag(seg) + ":tmp"}, rolled...))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("read active users %s..%s %s: %w", event.Date(from), event.Date(to), seg, err)
	}
	var sum hll.Sketch
	merge := func(b []byte, name string) error {
		sk, err := hll.Decode(b)
		if err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		sum.Merge(sk)
		return nil
	}
	if union != nil {
		str, err := union.Text()
		if err != nil {
			return 0, fmt.Errorf("merge rolled-up days %s..%s %s: %w", event.Date(from), event.Date(to), seg, err)
		}
		if err := merge([]byte(str), rolled[0]+"…"); err != nil {
			return 0, err
		}
	}
	for _, cmd := range cmds {
		b, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", cmd.Args()[1], err)
		}
		if err := merge(b, fmt.Sprint(cmd.Args()[1])); err != nil {
			return 0, err
		}
	}
	return sum.Count(), nil
}

// Day returns the counters of day in seg, summed over every partition: a rolled-up day's rolled-up
// counts and what partitions counted since (late and rule-invalid events), any other day's
// partitions' counts, frozen or not.
func (s *Store) Day(ctx context.Context, day int32, seg rtstate.Segment) (rtstate.Counts, error) {
	parts, covered, err := s.view(ctx, day, day)
	if err != nil {
		return rtstate.Counts{}, err
	}
	name := seg.String() + "|"
	fields := []string{
		name + fieldSessions, name + fieldDurationMs, name + fieldActions, name + fieldValid,
		name + fieldLate, name + fieldUnknown, name + fieldRange, name + fieldDuplicate,
	}
	pipe := s.rdb.Pipeline()
	var cmds []*redis.SliceCmd
	if covered[0] > 0 {
		cmds = append(cmds, pipe.HMGet(ctx, s.rolledCountsKey(day), fields...))
	}
	for _, p := range parts {
		cmds = append(cmds, pipe.HMGet(ctx, s.countsKey(p, day), fields...))
		if covered[0] == 0 {
			cmds = append(cmds, pipe.HMGet(ctx, s.frozenCountsKey(p, day), fields...))
		}
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
