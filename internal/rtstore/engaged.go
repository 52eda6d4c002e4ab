package rtstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/engagement"
)

// Power-user state (SPEC section 8): per partition and calendar month, two hashes keyed by user_id,
//
//	P{T/p}:pe:M      engaged_ms (sum of duration_ms of the user's valid events in month M, YYYY-MM)
//	P{T/p}:pn:M      valid events
//
// incremented by the same checkpoint script as the daily keys, so they are exactly-once with the
// offsets. A user's records share a partition (the key is user_id), so readers sum over partitions
// only to be safe against a changed partition count.

// EngagedUser is one user's engaged time and valid events in Month since the previous checkpoint.
// A commit lists a month's users next to each other.
type EngagedUser struct {
	Month     string // YYYY-MM
	UserID    string
	EngagedMs int64
	Events    int64
}

func (s *Store) engagedKeys(p int32, month string) (string, string) {
	tag := s.tag(p)
	return tag + ":pe:" + month, tag + ":pn:" + month
}

// appendEngaged appends the keys and arguments of the commit script's power-user section.
func (s *Store) appendEngaged(keys []string, args []any, p int32, users []EngagedUser, ttl int64) ([]string, []any) {
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
		args = append(args, ttl, j-i)
		for _, u := range users[i:j] {
			args = append(args, u.UserID, u.EngagedMs, u.Events)
		}
		i = j
	}
	return keys, args
}

// MonthUsers returns the users active in month (YYYY-MM) with their engaged_ms and events, summed
// over every partition, in no particular order.
func (s *Store) MonthUsers(ctx context.Context, month string) ([]engagement.User, error) {
	parts, err := s.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	cmds := make([][2]*redis.MapStringStringCmd, len(parts))
	for i, p := range parts {
		ke, kn := s.engagedKeys(p, month)
		cmds[i] = [2]*redis.MapStringStringCmd{pipe.HGetAll(ctx, ke), pipe.HGetAll(ctx, kn)}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read power users of %s: %w", month, err)
	}
	index := map[string]int{}
	var users []engagement.User
	for _, pair := range cmds {
		for f, cmd := range pair {
			for id, v := range cmd.Val() {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("read %s %s: bad integer %q", cmd.Args()[1], id, v)
				}
				i, ok := index[id]
				if !ok {
					i = len(users)
					index[id] = i
					users = append(users, engagement.User{UserID: id})
				}
				if f == 0 {
					users[i].EngagedMs += n
				} else {
					users[i].Events += n
				}
			}
		}
	}
	return users, nil
}
