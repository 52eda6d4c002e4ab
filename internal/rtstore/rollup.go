package rtstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/quantile"
	"github.com/notestream/notestream/internal/rtstate"
)

// Roll-ups. Once every partition of the topic has closed a day (rtstate.Commit.Closed: no session of
// the day is still open, and every further event of it is late), the day's per-partition keys are
// merged into per-day keys and removed, so that a retained day costs the same whatever the partition
// count, and a read of many days reads one key per day:
//
//	P{T/p}:frozen      set of the days whose keys partition p froze for their roll-up
//	P{T/p}:cf:D, :vf:D partition p's counts and versions hashes of day D, frozen (renamed) for the roll-up
//	P{T:u:S}:D         day D's rolled-up HyperLogLog of segment S; a segment's days share a slot, so
//	                   a read of 30 days is one PFMERGE in Redis
//	P{T:u:S}:tmp       scratch key of the scripts that merge into or out of those
//	P{T:D}:c, :v       day D's rolled-up counts and versions; the counts hold _rolled = n once complete
//	PT:rolled          hash D -> n of the days rolled up over partitions 0..n-1: the readers' index
//	PT:days            set of the days partitions wrote keys of: the roll-ups' candidates
//
// The per-day keys lie in other slots than the partitions', so no script can do a roll-up at once.
// Its steps are each idempotent, and their order keeps every read right after a crash at any step:
//
//  1. Merge the partitions' sketches of the day into the rolled-up ones (PFMERGE: repeating it
//     changes nothing).
//  2. Per partition, in one script in its slot that first checks that its checkpoint still closes
//     the day: rename its counts and versions to the frozen keys, delete its sketches (step 1 has
//     them), and add the day to its frozen set. A partition already frozen is left alone.
//  3. Sum the frozen hashes into the rolled-up counts and versions, with _rolled, in one script that
//     does nothing once _rolled is there: the sums are written as values, not added, from inputs that
//     no longer change, so any number of runs write the same.
//  4. Add the day to the index.
//  5. Delete the frozen keys, and the day from the candidates.
//
// Steps 1 to 4 each wait (WAIT, on the connection that wrote, to the master that holds the key)
// until every replica has the write before the next step relies on it, so a failover loses none
// of a step that a later one has built on. Two consumers rolling up the same day write the same.
//
// Events of a closed day are late: they count for active users and as valid and late, never in
// sessions. A checkpoint merges their users into the day's rolled-up sketch before its script runs
// (idempotent, so a replay is harmless), and its script leaves them out of the partition's sketches
// once the day is frozen; their counters and versions go on into the partition's hashes, which
// readers add to the rolled-up ones.
//
// Readers (query.go) take a day in the index from its rolled-up keys, plus the partitions' counts
// and versions written since the freeze, plus the sketches of partitions a roll-up does not cover
// (reseed.Partition); any other day from the partitions' keys, frozen or not, plus its rolled-up
// sketch, whose union with them is the same.

const rolledField = "_rolled"

func (s *Store) frozenKey(p int32) string { return s.tag(p) + ":frozen" }

func (s *Store) frozenCountsKey(p, day int32) string { return s.tag(p) + ":cf:" + event.Date(day) }

func (s *Store) frozenVersionsKey(p, day int32) string { return s.tag(p) + ":vf:" + event.Date(day) }

func (s *Store) segmentTag(seg rtstate.Segment) string {
	return s.cfg.Prefix + "{" + s.cfg.Topic + ":u:" + seg.String() + "}"
}

func (s *Store) rolledUsersKey(day int32, seg rtstate.Segment) string {
	return s.segmentTag(seg) + ":" + event.Date(day)
}

func (s *Store) dayTag(day int32) string {
	return s.cfg.Prefix + "{" + s.cfg.Topic + ":" + event.Date(day) + "}"
}

func (s *Store) rolledCountsKey(day int32) string { return s.dayTag(day) + ":c" }

func (s *Store) rolledVersionsKey(day int32) string { return s.dayTag(day) + ":v" }

func (s *Store) indexKey() string { return s.cfg.Prefix + s.cfg.Topic + ":rolled" }

func (s *Store) daysKey() string { return s.cfg.Prefix + s.cfg.Topic + ":days" }

// announce adds the days of cells to the roll-ups' candidates, each once per process.
func (s *Store) announce(ctx context.Context, cells []rtstate.Cell) error {
	var days []any
	s.mu.Lock()
	for i := range cells {
		if d := cells[i].Day; !s.announced[d] {
			s.announced[d] = true
			days = append(days, d)
		}
	}
	s.mu.Unlock()
	if len(days) == 0 {
		return nil
	}
	if err := s.rdb.SAdd(ctx, s.daysKey(), days...).Err(); err != nil {
		s.mu.Lock()
		for _, d := range days {
			delete(s.announced, d.(int32))
		}
		s.mu.Unlock()
		return fmt.Errorf("announce days: %w", err)
	}
	return nil
}

// mergeScript merges a sketch into a rolled-up one. KEYS: rolled-up sketch, scratch key. ARGV:
// sketch, TTL (s).
var mergeScript = redis.NewScript(`
redis.call('SET', KEYS[2], ARGV[1])
redis.call('PFMERGE', KEYS[1], KEYS[2])
redis.call('DEL', KEYS[2])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`)

// addClosedUsers merges the users of c's cells of days the partition has closed into the days'
// rolled-up sketches, which the checkpoint's script may then leave out of the partition's.
func (s *Store) addClosedUsers(ctx context.Context, c *rtstate.Commit) error {
	ttl := int64(s.cfg.Retention / time.Second)
	for i := range c.Cells {
		cell := &c.Cells[i]
		if cell.Users == nil || cell.Day >= c.Closed {
			continue
		}
		keys := []string{s.rolledUsersKey(cell.Day, cell.Segment), s.segmentTag(cell.Segment) + ":tmp"}
		if err := mergeScript.Run(ctx, s.rdb, keys, cell.Users, ttl).Err(); err != nil {
			return fmt.Errorf("add late users to %s: %w", keys[0], err)
		}
	}
	return nil
}

// RollUp rolls up every candidate day that partitions 0..n-1 (the topic's) have all closed, and
// returns the days it rolled up. It may run in any number of processes at once.
func (s *Store) RollUp(ctx context.Context, n int32) ([]int32, error) {
	if n <= 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	closed := make([]*redis.StringCmd, n)
	for p := range n {
		closed[p] = pipe.HGet(ctx, s.tag(p)+":ck", "closed")
	}
	members := pipe.SMembers(ctx, s.daysKey())
	checkpointed := pipe.SMembers(ctx, s.partitionsKey())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("roll up: read checkpoints: %w", err)
	}
	// A roll-up over too few partitions would still read right (readers add the sketches of the
	// partitions it does not cover) but would leave those sketches for good.
	last := int32(-1)
	for _, m := range checkpointed.Val() {
		if p, err := strconv.ParseInt(m, 10, 32); err == nil {
			last = max(last, int32(p))
		}
	}
	if last >= n {
		return nil, fmt.Errorf("roll up over %d partitions: partition %d has checkpointed, so the topic has more", n, last)
	}
	through := int32(math.MaxInt32) // first day some partition has not closed
	for p, cmd := range closed {
		v, err := cmd.Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil // a partition that never checkpointed closes nothing
		}
		d, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("roll up: partition %d: bad closed day %q", p, v)
		}
		through = min(through, int32(d))
	}
	var due []int32
	for _, m := range members.Val() {
		d, err := strconv.ParseInt(m, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("roll up: bad day %q in %s", m, s.daysKey())
		}
		if int32(d) < through {
			due = append(due, int32(d))
		}
	}
	slices.Sort(due)
	var done []int32
	for _, day := range due {
		ok, err := s.rollUpDay(ctx, day, n)
		if err != nil {
			return done, fmt.Errorf("roll up %s: %w", event.Date(day), err)
		}
		if ok {
			done = append(done, day)
		}
	}
	return done, nil
}

// rollUpDay runs the steps of day's roll-up that are not done yet; false if a partition no longer
// closes the day (its checkpoints were lost) or kept changing the day.
func (s *Store) rollUpDay(ctx context.Context, day, n int32) (bool, error) {
	covered, err := s.rdb.HGet(ctx, s.rolledCountsKey(day), rolledField).Int()
	switch {
	case errors.Is(err, redis.Nil):
		frozen := false
		for attempt := 0; attempt < 3 && !frozen; attempt++ {
			var closes bool
			if frozen, closes, err = s.freezeDay(ctx, day, n); err != nil || !closes {
				return false, err
			}
		}
		if !frozen {
			return false, nil
		}
		if err := s.sumFrozen(ctx, day, n); err != nil {
			return false, err
		}
		covered = int(n)
	case err != nil:
		return false, fmt.Errorf("read %s: %w", s.rolledCountsKey(day), err)
	}
	err = s.durably(ctx, s.indexKey(), func(pipe redis.Pipeliner) {
		pipe.HSet(ctx, s.indexKey(), event.Date(day), covered)
	})
	if err != nil {
		return false, fmt.Errorf("index: %w", err)
	}
	pipe := s.rdb.Pipeline()
	for p := range int32(covered) {
		pipe.Del(ctx, s.frozenCountsKey(p, day), s.frozenVersionsKey(p, day))
	}
	pipe.SRem(ctx, s.daysKey(), day)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("delete frozen keys: %w", err)
	}
	return true, nil
}

// freezeScript freezes a partition's keys of a day (step 2). KEYS: checkpoint, frozen set, counts,
// frozen counts, versions, frozen versions, then the day's sketches. ARGV: day, the counts' field
// count as read in step 1. It returns 1 once frozen, 0 if frozen before, 2 if the counts have new
// fields (step 1 may lack a new segment's sketch), 3 if the checkpoint does not close the day.
var freezeScript = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
local closed = tonumber(redis.call('HGET', KEYS[1], 'closed') or '')
if closed == nil or closed <= tonumber(ARGV[1]) then return 3 end
if redis.call('HLEN', KEYS[3]) ~= tonumber(ARGV[2]) then return 2 end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('RENAME', KEYS[3], KEYS[4]) end
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('RENAME', KEYS[5], KEYS[6]) end
for k = 7, #KEYS do redis.call('DEL', KEYS[k]) end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
`)

// freezeDay runs steps 1 and 2 of day's roll-up. frozen: every partition's keys are frozen; closes:
// every partition's checkpoint still closes the day.
func (s *Store) freezeDay(ctx context.Context, day, n int32) (frozen, closes bool, err error) {
	pipe := s.rdb.Pipeline()
	fieldCmds := make([]*redis.StringSliceCmd, n)
	for p := range n {
		fieldCmds[p] = pipe.HKeys(ctx, s.countsKey(p, day))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, false, fmt.Errorf("list segments: %w", err)
	}
	segs := make([][]rtstate.Segment, n)
	for p, cmd := range fieldCmds {
		seen := map[rtstate.Segment]bool{}
		for _, f := range cmd.Val() {
			if name, _, ok := cutLast(f, "|"); ok {
				seen[parseSegment(name)] = true
			}
		}
		segs[p] = slices.SortedFunc(maps.Keys(seen), func(a, b rtstate.Segment) int {
			return strings.Compare(a.String(), b.String())
		})
	}

	// Step 1.
	pipe = s.rdb.Pipeline()
	type read struct {
		seg rtstate.Segment
		cmd *redis.StringCmd
	}
	var reads []read
	for p := range n {
		for _, seg := range segs[p] {
			reads = append(reads, read{seg, pipe.Get(ctx, s.usersKey(p, day, seg))})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, false, fmt.Errorf("read sketches: %w", err)
	}
	merged := map[rtstate.Segment]*hll.Sketch{}
	for _, r := range reads {
		b, err := r.cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		sk, err := hll.Decode(b)
		if err != nil {
			return false, false, fmt.Errorf("decode %s: %w", r.cmd.Args()[1], err)
		}
		if merged[r.seg] == nil {
			merged[r.seg] = new(hll.Sketch)
		}
		merged[r.seg].Merge(sk)
	}
	ttl := int64(s.cfg.Retention / time.Second)
	for seg, sk := range merged {
		keys := []string{s.rolledUsersKey(day, seg), s.segmentTag(seg) + ":tmp"}
		err := s.durably(ctx, keys[0], func(pipe redis.Pipeliner) {
			mergeScript.Eval(ctx, pipe, keys, sk.AppendRedis(nil), ttl)
		})
		if err != nil {
			return false, false, fmt.Errorf("merge into %s: %w", keys[0], err)
		}
	}

	// Step 2.
	frozen = true
	for p := range n {
		keys := []string{s.tag(p) + ":ck", s.frozenKey(p), s.countsKey(p, day), s.frozenCountsKey(p, day),
			s.versionsKey(p, day), s.frozenVersionsKey(p, day)}
		for _, seg := range segs[p] {
			keys = append(keys, s.usersKey(p, day, seg))
		}
		var res *redis.Cmd
		err := s.durably(ctx, keys[0], func(pipe redis.Pipeliner) {
			res = freezeScript.Eval(ctx, pipe, keys, day, len(fieldCmds[p].Val()))
		})
		if err != nil {
			return false, false, fmt.Errorf("freeze partition %d: %w", p, err)
		}
		switch code, _ := res.Int(); code {
		case 0, 1:
		case 2:
			frozen = false
		case 3:
			return false, false, nil
		default:
			return false, false, fmt.Errorf("freeze partition %d: script returned %d", p, code)
		}
	}
	return frozen, true, nil
}

// sumScript writes a day's rolled-up counts and versions (step 3) unless they are there. KEYS:
// rolled-up counts, rolled-up versions. ARGV: partitions covered, TTL (s), count field count, the
// count fields and values, then the version fields and values.
var sumScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], '` + rolledField + `') == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
local i = 4
for f = 1, tonumber(ARGV[3]) do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
  i = i + 2
end
for f = i, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[f], ARGV[f+1]) end
redis.call('HSET', KEYS[1], '` + rolledField + `', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return 1
`)

// sumFrozen runs step 3 of day's roll-up.
func (s *Store) sumFrozen(ctx context.Context, day, n int32) error {
	pipe := s.rdb.Pipeline()
	counts := make([]*redis.MapStringStringCmd, n)
	versions := make([]*redis.MapStringStringCmd, n)
	for p := range n {
		counts[p] = pipe.HGetAll(ctx, s.frozenCountsKey(p, day))
		versions[p] = pipe.HGetAll(ctx, s.frozenVersionsKey(p, day))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("read frozen keys: %w", err)
	}
	sums := map[string]int64{}
	for p, cmd := range counts {
		for f, v := range cmd.Val() {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("read %s %s: bad integer %q", s.frozenCountsKey(int32(p), day), f, v)
			}
			sums[f] += x
		}
	}
	vs := map[string]*rtstate.Version{}
	for p, cmd := range versions {
		for name, val := range cmd.Val() {
			v := vs[name]
			if v == nil {
				sk, _ := quantile.New(rtstate.VersionAlpha)
				v = &rtstate.Version{Sketch: sk}
				vs[name] = v
			}
			if err := addVersion(v, []byte(val)); err != nil {
				return fmt.Errorf("read %s field %q: %w", s.frozenVersionsKey(int32(p), day), name, err)
			}
		}
	}
	args := []any{n, int64(s.cfg.Retention / time.Second), len(sums)}
	for _, f := range slices.Sorted(maps.Keys(sums)) {
		args = append(args, f, sums[f])
	}
	for _, name := range slices.Sorted(maps.Keys(vs)) {
		v := vs[name]
		val := strconv.AppendInt(nil, v.Events, 10)
		val = append(val, ',')
		val = strconv.AppendInt(val, v.PageViews, 10)
		val = append(val, ',')
		args = append(args, name, v.Sketch.AppendText(val))
	}
	keys := []string{s.rolledCountsKey(day), s.rolledVersionsKey(day)}
	err := s.durably(ctx, keys[0], func(pipe redis.Pipeliner) {
		sumScript.Eval(ctx, pipe, keys, args...)
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", keys[0], err)
	}
	return nil
}

// waitTimeout bounds the wait for replicas after each step of a roll-up.
const waitTimeout = 5 * time.Second

// durably runs write on the master that holds key, then waits until every replica connected to that
// master has it. WAIT counts the writes of its own connection, so it follows them in one pipeline on
// that master's client: sent through a cluster client, or on another pooled connection, it would
// wait for nothing.
func (s *Store) durably(ctx context.Context, key string, write func(redis.Pipeliner)) error {
	var node *redis.Client
	switch c := s.rdb.(type) {
	case *redis.Client:
		node = c
	case *redis.ClusterClient:
		var err error
		if node, err = c.MasterForKey(ctx, key); err != nil {
			return fmt.Errorf("find the master of %s: %w", key, err)
		}
	default:
		return fmt.Errorf("rtstore: unsupported client %T", s.rdb)
	}
	info, err := node.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("list replicas of %s: %w", key, err)
	}
	replicas := 0
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			replicas, _ = strconv.Atoi(v)
		}
	}
	var wait *redis.Cmd
	_, err = node.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		write(pipe)
		wait = pipe.Do(ctx, "WAIT", replicas, waitTimeout.Milliseconds())
		return nil
	})
	if err != nil {
		return err
	}
	if got, err := wait.Int64(); err != nil || got < int64(replicas) {
		return fmt.Errorf("%s reached %d of %d replicas in %v", key, got, replicas, waitTimeout)
	}
	return nil
}
