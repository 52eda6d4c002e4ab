package rtstore

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/quantile"
	"github.com/notestream/notestream/internal/rtstate"
)

// Versions of a day are kept per partition in one hash, P{T/p}:v:D, a field per app version whose
// value is "events,page_views," followed by the quantile sketch's text form of its page-view
// durations. A checkpoint adds its deltas to the fields inside the same script that moves the
// offset, so they count exactly once; readers add the fields up across partitions.

func (s *Store) versionsKey(p int32, day int32) string { return s.tag(p) + ":v:" + event.Date(day) }

// addVersionsLua adds the text "e,p,zeros,first,c…" b to a: the two counts and the zeros by
// position, the buckets by index. Numbers stay integral below 2^53, far above any count here, and
// print as integers up to 10^14 (Lua's %.14g).
const addVersionsLua = `
local function parse(s)
  local t = {}
  for v in string.gmatch(s, '[^,]+') do t[#t+1] = tonumber(v) end
  return t
end
local function addversion(a, b)
  a, b = parse(a), parse(b)
  local out = {a[1] + b[1], a[2] + b[2], a[3] + b[3]}
  local na, nb = #a - 4, #b - 4
  local lo, hi
  if na > 0 then lo, hi = a[4], a[4] + na - 1 end
  if nb > 0 then
    if lo == nil or b[4] < lo then lo = b[4] end
    if hi == nil or b[4] + nb - 1 > hi then hi = b[4] + nb - 1 end
  end
  if lo == nil then out[4] = 0 return table.concat(out, ',') end
  out[4] = lo
  for j = lo, hi do
    local c = 0
    if j >= a[4] and j < a[4] + na then c = c + a[5 + j - a[4]] end
    if j >= b[4] and j < b[4] + nb then c = c + b[5 + j - b[4]] end
    out[#out + 1] = c
  end
  return table.concat(out, ',')
end
`

// appendVersions adds c's version cells to a checkpoint script's keys and arguments: their count,
// then per cell its key, and TTL, field and delta.
func (s *Store) appendVersions(keys []string, args []any, c *rtstate.Commit, ttl int64) ([]string, []any) {
	args = append(args, len(c.Versions))
	for i := range c.Versions {
		v := &c.Versions[i]
		keys = append(keys, s.versionsKey(c.Partition, v.Day))
		delta := strconv.AppendInt(nil, v.Events, 10)
		delta = append(delta, ',')
		delta = strconv.AppendInt(delta, v.PageViews, 10)
		delta = append(delta, ',')
		args = append(args, ttl, v.Version, append(delta, v.Sketch...))
	}
	return keys, args
}

// AppVersions returns every app version of day with its counts and page-view sketch, summed over
// every partition, as Day sums the counters.
func (s *Store) AppVersions(ctx context.Context, day int32) (map[string]*rtstate.Version, error) {
	parts, covered, err := s.view(ctx, day, day)
	if err != nil {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	var cmds []*redis.MapStringStringCmd
	if covered[0] > 0 {
		cmds = append(cmds, pipe.HGetAll(ctx, s.rolledVersionsKey(day)))
	}
	for _, p := range parts {
		cmds = append(cmds, pipe.HGetAll(ctx, s.versionsKey(p, day)))
		if covered[0] == 0 {
			cmds = append(cmds, pipe.HGetAll(ctx, s.frozenVersionsKey(p, day)))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read app versions of %s: %w", event.Date(day), err)
	}
	out := map[string]*rtstate.Version{}
	for _, cmd := range cmds {
		for name, val := range cmd.Val() {
			v := out[name]
			if v == nil {
				sk, _ := quantile.New(rtstate.VersionAlpha)
				v = &rtstate.Version{Sketch: sk}
				out[name] = v
			}
			if err := addVersion(v, []byte(val)); err != nil {
				return nil, fmt.Errorf("read %s field %q: %w", cmd.Args()[1], name, err)
			}
		}
	}
	return out, nil
}

// addVersion adds a stored field's value to v.
func addVersion(v *rtstate.Version, val []byte) error {
	ev, rest, ok1 := bytes.Cut(val, []byte(","))
	pv, text, ok2 := bytes.Cut(rest, []byte(","))
	e, err1 := strconv.ParseInt(string(ev), 10, 64)
	p, err2 := strconv.ParseInt(string(pv), 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || e < 0 || p < 0 {
		return fmt.Errorf("rtstore: bad app version counts %q", val)
	}
	if err := v.Sketch.AddText(text); err != nil {
		return err
	}
	v.Events += e
	v.PageViews += p
	return nil
}
