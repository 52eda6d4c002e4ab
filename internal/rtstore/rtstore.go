// Package rtstore keeps the consumer's real-time state in Redis: per-partition checkpoints, the daily
// metric keys they update atomically, and the reads behind the HTTP API.
//
// Key layout (P = Config.Prefix, T = topic, p = partition, D = YYYY-MM-DD, S = "all" or
// "<dimension>=<value>"):
//
//	P{T/p}:ck        hash: offset (next offset to consume), owner (token of the last writer), snap
//	                 (sessionwindow snapshot)
//	P{T/p}:u:D:S     HyperLogLog of the users active on day D in segment S, from partition p
//	P{T/p}:c:D       hash of day D's counters from partition p: "S|n", "S|d", "S|a" (sessions, total
//	                 duration ms, total actions of closed sessions), "S|valid", "S|late",
//	                 "S|unknown_action", "S|duration_out_of_range", "S|duplicate"
//	P{T/p}:pe:M, :pn:M  per-user engaged_ms and events of month M (engaged.go)
//	P{T/p}:tmp       scratch key of the checkpoint script, deleted before it returns
//	PT:partitions    set of the partitions that ever checkpointed (readers merge over them)
//
// Every key a checkpoint touches carries the partition's hash tag {T/p}, so one checkpoint is one
// slot in Redis Cluster and its Lua script is legal there; partitions spread over the cluster's
// nodes, and a checkpoint never needs a cross-slot transaction. The price is on the read side: the
// metrics of a day are split over one key per partition, so readers merge across partitions. They
// GET the day sketches in one pipeline (a cluster client splits it by node) and merge them with
// internal/hll instead of a multi-key PFCOUNT, which would need every key in one slot, and they sum
// the counters. A layout with global per-day keys (P:u:D:S) would make reads one PFCOUNT, but on a
// cluster the checkpoint would then span slots and lose its atomicity.
//
// Daily keys expire Config.Retention after their last update (not after their day, so a replay of
// old data stays).
package rtstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/rtstate"
)

// Config configures a Store. Zero values take the defaults.
type Config struct {
	Prefix    string        // key prefix; default "ns:"
	Topic     string        // interactions topic, part of every partition's hash tag; default "interactions"
	Retention time.Duration // TTL of daily keys, renewed by every update; default 400 days
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Prefix == "" {
		c.Prefix = "ns:"
	}
	if c.Topic == "" {
		c.Topic = event.TopicInteractions
	}
	if c.Retention == 0 {
		c.Retention = 400 * 24 * time.Hour
	}
	if c.Retention < time.Second {
		return fmt.Errorf("rtstore: retention %v: must be at least 1s", c.Retention)
	}
	if strings.ContainsAny(c.Topic, "{}") {
		return fmt.Errorf("rtstore: topic %q: braces would break the hash tags", c.Topic)
	}
	return nil
}

// Store reads and writes the real-time state.
type Store struct {
	rdb redis.UniversalClient
	cfg Config

	mu        sync.Mutex
	announced map[int32]bool // days this process added to the days set (announce)
}

// Dial returns a client of the Redis server at a redis:// or rediss:// URL, or of the Redis Cluster
// at a redis+cluster:// or rediss+cluster:// URL, whose host is one seed node and whose addr
// parameters name more (redis+cluster://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379); the
// other parameters are go-redis's (ParseURL, ParseClusterURL). The URL may hold a password, so an
// invalid one is not repeated in the error.
func Dial(url string) (redis.UniversalClient, error) {
	if rest, ok := strings.CutPrefix(url, "redis+cluster://"); ok {
		return dialCluster("redis://" + rest)
	}
	if rest, ok := strings.CutPrefix(url, "rediss+cluster://"); ok {
		return dialCluster("rediss://" + rest)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, errors.New("--redis: not a valid redis://, rediss:// or redis+cluster:// URL")
	}
	return redis.NewClient(opt), nil
}

func dialCluster(url string) (redis.UniversalClient, error) {
	opt, err := redis.ParseClusterURL(url)
	if err != nil {
		return nil, errors.New("--redis: not a valid redis+cluster:// or rediss+cluster:// URL")
	}
	// go-redis reloads the slot map when a node answers MOVED, but a master that died answers
	// nothing, and the client would go on sending to it for the default minute after its replica took
	// over. A reload is one CLUSTER SLOTS, at most once a second, and only while commands are sent.
	if opt.ClusterStateReloadInterval == 0 {
		opt.ClusterStateReloadInterval = time.Second
	}
	return redis.NewClusterClient(opt), nil
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{rdb: rdb, cfg: cfg, announced: map[int32]bool{}}, nil
}

func (s *Store) tag(p int32) string {
	return s.cfg.Prefix + "{" + s.cfg.Topic + "/" + strconv.Itoa(int(p)) + "}"
}

func (s *Store) partitionsKey() string { return s.cfg.Prefix + s.cfg.Topic + ":partitions" }

func (s *Store) usersKey(p int32, day int32, seg rtstate.Segment) string {
	return s.tag(p) + ":u:" + event.Date(day) + ":" + seg.String()
}

func (s *Store) countsKey(p int32, day int32) string { return s.tag(p) + ":c:" + event.Date(day) }

// Load registers partition p for readers and returns its checkpoint.
func (s *Store) Load(ctx context.Context, p int32) (rtstate.Checkpoint, error) {
	if err := s.rdb.SAdd(ctx, s.partitionsKey(), p).Err(); err != nil {
		return rtstate.Checkpoint{}, fmt.Errorf("register partition %d: %w", p, err)
	}
	vals, err := s.rdb.HMGet(ctx, s.tag(p)+":ck", "offset", "owner", "snap").Result()
	if err != nil {
		return rtstate.Checkpoint{}, fmt.Errorf("load checkpoint of partition %d: %w", p, err)
	}
	cp := rtstate.Checkpoint{Offset: -1}
	if vals[0] == nil {
		return cp, nil
	}
	off, err := strconv.ParseInt(fmt.Sprint(vals[0]), 10, 64)
	if err != nil || off < 0 {
		return rtstate.Checkpoint{}, fmt.Errorf("load checkpoint of partition %d: bad offset %q", p, vals[0])
	}
	cp.Offset = off
	if o, ok := vals[1].(string); ok {
		cp.Owner = o
	}
	if snap, ok := vals[2].(string); ok && snap != "" {
		cp.Snapshot = []byte(snap)
	}
	return cp, nil
}

// commitScript applies a checkpoint if the stored offset is the expected one (and returns 1), and
// reports success without applying it again if this owner already wrote it (a retry after a lost
// reply). Otherwise it applies nothing and returns 2 if Redis holds an older checkpoint of this
// owner than the expected one, or none where one was expected (rtstate.ErrCheckpointBehind), else 0
// (rtstate.ErrFenced).
//
// A cell of a day the partition has closed (rollup.go) first went to the day's rolled-up sketch; the
// script leaves its sketch out of the partition's keys once the partition's keys of the day are
// frozen for a roll-up, as they are then no longer read.
//
// KEYS: checkpoint hash, scratch key, the partition's set of frozen days, then per cell its users
// key and counts key, then per version cell its versions hash, then per month of power-user changes
// its engaged_ms and events hashes.
// ARGV: expected offset ("" for none), new offset, owner, snapshot, closed day, cell count, then per
// cell: TTL (s), users HLL ("" for none), its day if the partition has closed it (else ""), field
// count, then field and increment pairs; then the version
// cells (appendVersions); then the month count, and per month: TTL (s) and a MessagePack array of
// user, engaged_ms, events triples (appendEngaged).
var commitScript = redis.NewScript(addVersionsLua + `
local cur = redis.call('HGET', KEYS[1], 'offset')
if not cur then cur = '' end
if cur ~= ARGV[1] then
  local owner = redis.call('HGET', KEYS[1], 'owner')
  if cur == ARGV[2] and owner == ARGV[3] then return 1 end
  if ARGV[1] ~= '' and (cur == '' or (owner == ARGV[3] and tonumber(cur) < tonumber(ARGV[1]))) then return 2 end
  return 0
end
local i, k = 7, 4
for c = 1, tonumber(ARGV[6]) do
  local exp, users, rolled, n = ARGV[i], ARGV[i+1], ARGV[i+2], tonumber(ARGV[i+3])
  i = i + 4
  if users ~= '' and (rolled == '' or redis.call('SISMEMBER', KEYS[3], rolled) == 0) then
    redis.call('SET', KEYS[2], users)
    redis.call('PFMERGE', KEYS[k], KEYS[2])
    redis.call('EXPIRE', KEYS[k], exp)
  end
  for f = 1, n do
    redis.call('HINCRBY', KEYS[k+1], ARGV[i], ARGV[i+1])
    i = i + 2
  end
  if n > 0 then redis.call('EXPIRE', KEYS[k+1], exp) end
  k = k + 2
end
for c = 1, tonumber(ARGV[i]) do
  local exp, field, delta = ARGV[i+1], ARGV[i+2], ARGV[i+3]
  i = i + 3
  local cur = redis.call('HGET', KEYS[k], field)
  if cur then delta = addversion(cur, delta) end
  redis.call('HSET', KEYS[k], field, delta)
  redis.call('EXPIRE', KEYS[k], exp)
  k = k + 1
end
-- i stands on the last version field read (or on the version count): the months start after it.
i = i + 1
local months = tonumber(ARGV[i])
i = i + 1
for m = 1, months do
  local exp, t = ARGV[i], cmsgpack.unpack(ARGV[i+1])
  i = i + 2
  for u = 1, #t, 3 do
    redis.call('HINCRBY', KEYS[k], t[u], t[u+1])
    redis.call('HINCRBY', KEYS[k+1], t[u], t[u+2])
  end
  redis.call('EXPIRE', KEYS[k], exp)
  redis.call('EXPIRE', KEYS[k+1], exp)
  k = k + 2
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'offset', ARGV[2], 'owner', ARGV[3], 'snap', ARGV[4], 'closed', ARGV[5])
return 1
`)

// Commit writes c in one atomic step: the metric deltas, the snapshot and the offset. When the stored
// offset is neither c.Expect nor c.Offset written by c.Owner it writes nothing and returns
// rtstate.ErrCheckpointBehind if Redis holds an older checkpoint of c.Owner than c.Expect, or none
// although c.Expect is one, and rtstate.ErrFenced otherwise.
func (s *Store) Commit(ctx context.Context, c *rtstate.Commit) error {
	if err := s.announce(ctx, c.Cells); err != nil {
		return fmt.Errorf("checkpoint partition %d at offset %d: %w", c.Partition, c.Offset, err)
	}
	if err := s.addClosedUsers(ctx, c); err != nil {
		return fmt.Errorf("checkpoint partition %d at offset %d: %w", c.Partition, c.Offset, err)
	}
	tag := s.tag(c.Partition)
	keys := make([]string, 0, 3+2*len(c.Cells))
	keys = append(keys, tag+":ck", tag+":tmp", s.frozenKey(c.Partition))
	expect := ""
	if c.Expect >= 0 {
		expect = strconv.FormatInt(c.Expect, 10)
	}
	ttl := int64(s.cfg.Retention / time.Second)
	args := make([]any, 0, 6+len(c.Cells)*13)
	args = append(args, expect, c.Offset, c.Owner, c.Snapshot, c.Closed, len(c.Cells))
	for i := range c.Cells {
		cell := &c.Cells[i]
		keys = append(keys, s.usersKey(c.Partition, cell.Day, cell.Segment), s.countsKey(c.Partition, cell.Day))
		seg := cell.Segment.String()
		fields := counterFields(seg, &cell.Counts)
		rolled := ""
		if cell.Day < c.Closed {
			rolled = strconv.Itoa(int(cell.Day))
		}
		args = append(args, ttl, cell.Users, rolled, len(fields)/2)
		args = append(args, fields...)
	}
	keys, args = s.appendVersions(keys, args, c, ttl)
	keys, args = s.appendEngaged(keys, args, c.Partition, c.Engaged, ttl)
	res, err := commitScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return fmt.Errorf("checkpoint partition %d at offset %d: %w", c.Partition, c.Offset, err)
	}
	switch res {
	case 1:
		return nil
	case 2:
		return fmt.Errorf("checkpoint partition %d at offset %d after %d: %w", c.Partition, c.Offset, c.Expect, rtstate.ErrCheckpointBehind)
	default:
		return fmt.Errorf("checkpoint partition %d at offset %d: %w", c.Partition, c.Offset, rtstate.ErrFenced)
	}
}

// Counter field suffixes in a counts hash.
const (
	fieldSessions   = "n"
	fieldDurationMs = "d"
	fieldActions    = "a"
	fieldValid      = "valid"
	fieldLate       = "late"
	fieldUnknown    = "unknown_action"
	fieldRange      = "duration_out_of_range"
	fieldDuplicate  = "duplicate"
)

// counterFields returns the non-zero counters of c as field, increment pairs.
func counterFields(seg string, c *rtstate.Counts) []any {
	var out []any
	add := func(name string, v int64) {
		if v != 0 {
			out = append(out, seg+"|"+name, v)
		}
	}
	add(fieldSessions, c.Sessions.Count)
	add(fieldDurationMs, c.Sessions.DurationMs)
	add(fieldActions, c.Sessions.Actions)
	add(fieldValid, c.Valid)
	add(fieldLate, c.Late)
	add(fieldUnknown, c.UnknownAction)
	add(fieldRange, c.DurationOutOfRange)
	add(fieldDuplicate, c.Duplicate)
	return out
}
