package rtstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/rtstate"
)

// Power-user state (SPEC section 8): per partition and calendar month, two hashes keyed by user_id,
//
//	P{T/p}:pe:M      engaged_ms (sum of duration_ms of the user's valid events in month M, YYYY-MM)
//	P{T/p}:pn:M      valid events
//
// incremented by the same checkpoint script as the daily keys, so they are exactly-once with the
// offsets. A user's records share a partition (the key is user_id), so readers sum over partitions
// only to be safe against a changed partition count.

func (s *Store) engagedKeys(p int32, month string) (string, string) {
	tag := s.tag(p)
	return tag + ":pe:" + month, tag + ":pn:" + month
}

// appendEngaged appends the keys and arguments of the commit script's power-user section: per month
// its two hash keys, then the TTL and one MessagePack array of user, engaged_ms, events (the numbers
// as decimal strings, so Lua never turns them into floats), which the script unpacks with cmsgpack.
// One argument per month instead of three per user keeps the checkpoint's encoding cheap.
func (s *Store) appendEngaged(keys []string, args []any, p int32, users []rtstate.EngagedUser, ttl int64) ([]string, []any) {
	groups := 0
	for i := range users {
		if i == 0 || users[i].Month != users[i-1].Month {
			groups++
		}
	}
	args = append(args, groups)
	for i := 0; i < len(users); {
		j := i
		for j < len(users) && users[j].Month == users[i].Month {
			j++
		}
		ke, kn := s.engagedKeys(p, users[i].Month)
		keys = append(keys, ke, kn)
		size := 5
		for _, u := range users[i:j] {
			size += len(u.UserID) + 5 + 2*(1+20)
		}
		b := appendArrayHeader(make([]byte, 0, size), 3*(j-i))
		var num [20]byte
		for _, u := range users[i:j] {
			b = appendStr(b, u.UserID)
			b = appendStr(b, strconv.AppendInt(num[:0], u.EngagedMs, 10))
			b = appendStr(b, strconv.AppendInt(num[:0], u.Events, 10))
		}
		args = append(args, ttl, b)
		i = j
	}
	return keys, args
}

// appendArrayHeader appends a MessagePack array header of n elements.
func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n < 1<<16:
		return append(b, 0xdc, byte(n>>8), byte(n))
	default:
		return append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// appendStr appends s as a MessagePack str.
func appendStr[T string | []byte](b []byte, s T) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}

// MonthUsers returns the users active in month (YYYY-MM) with their engaged_ms and events, summed
// over every partition, in no particular order. Each partition's two hashes are read with HKEYS and
// HVALS in one MULTI (flat arrays, where HGETALL would build a map per hash); both hashes get the same
// fields in the same order, so events are matched to users by position, by name only if they differ.
func (s *Store) MonthUsers(ctx context.Context, month string) ([]engagement.User, error) {
	parts, err := s.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	type reads struct{ ek, ev, nk, nv *redis.StringSliceCmd }
	all := make([]reads, len(parts))
	for i, p := range parts {
		ke, kn := s.engagedKeys(p, month)
		pipe := s.rdb.TxPipeline()
		all[i] = reads{pipe.HKeys(ctx, ke), pipe.HVals(ctx, ke), pipe.HKeys(ctx, kn), pipe.HVals(ctx, kn)}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("read power users of %s, partition %d: %w", month, p, err)
		}
	}
	total := 0
	for _, r := range all {
		total += len(r.ek.Val())
	}
	users := make([]engagement.User, 0, total)
	index := make(map[string]int, total)
	parse := func(cmd *redis.StringSliceCmd, id, v string) (int64, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read %s %s: bad integer %q", cmd.Args()[1], id, v)
		}
		return n, nil
	}
	for _, r := range all {
		ek, ev, nk, nv := r.ek.Val(), r.ev.Val(), r.nk.Val(), r.nv.Val()
		if len(ek) != len(ev) || len(nk) != len(nv) || len(ek) != len(nk) {
			return nil, fmt.Errorf("read power users of %s: %s and %s differ in fields", month, r.ek.Args()[1], r.nk.Args()[1])
		}
		at := make([]int, len(ek)) // position in users of each field of the engaged hash
		for j, id := range ek {
			ms, err := parse(r.ek, id, ev[j])
			if err != nil {
				return nil, err
			}
			i, ok := index[id]
			if !ok {
				i = len(users)
				index[id] = i
				users = append(users, engagement.User{UserID: id})
			}
			users[i].EngagedMs += ms
			at[j] = i
		}
		for j, id := range nk {
			n, err := parse(r.nk, id, nv[j])
			if err != nil {
				return nil, err
			}
			i := at[j]
			if ek[j] != id {
				var ok bool
				if i, ok = index[id]; !ok {
					return nil, fmt.Errorf("read power users of %s: %s has %s, %s has not", month, r.nk.Args()[1], id, r.ek.Args()[1])
				}
			}
			users[i].Events += n
		}
	}
	return users, nil
}

// ReplaceMonth makes partition p's power-user hashes of month (YYYY-MM) hold exactly users' engaged_ms
// and events; nil deletes them. Unlike Commit it sets instead of adding, so writing the same users
// again changes nothing. One transaction: both keys carry p's hash tag. Both hashes get the fields in
// the same order, which MonthUsers reads fastest.
func (s *Store) ReplaceMonth(ctx context.Context, p int32, month string, users []engagement.User) error {
	ke, kn := s.engagedKeys(p, month)
	_, err := s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, ke, kn)
		// HSETs of a bounded size: a month may have a million users.
		for chunk := range slices.Chunk(users, 4096) {
			ms, events := make([]any, 0, 2*len(chunk)), make([]any, 0, 2*len(chunk))
			for _, u := range chunk {
				ms = append(ms, u.UserID, u.EngagedMs)
				events = append(events, u.UserID, u.Events)
			}
			pipe.HSet(ctx, ke, ms...)
			pipe.HSet(ctx, kn, events...)
		}
		if len(users) > 0 {
			pipe.Expire(ctx, ke, s.cfg.Retention)
			pipe.Expire(ctx, kn, s.cfg.Retention)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace power users of %s, partition %d: %w", month, p, err)
	}
	return nil
}
