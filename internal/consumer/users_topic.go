package consumer

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
)

// readUsers reads the users topic into the table: in full up to the end offsets listed at start (then
// the consumer may start on interactions), and on, until ctx ends.
func (c *Consumer) readUsers(ctx context.Context) error {
	ends, err := c.adm.ListEndOffsets(ctx, c.cfg.TopicUsers)
	if err != nil {
		return fmt.Errorf("consumer: list end offsets of %s: %w", c.cfg.TopicUsers, err)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	c.markUsersLoaded(remaining)
	var u event.User
	for {
		fetches := c.usersCl.PollFetches(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			c.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			switch {
			case controlRecord(r):
			case r.Value == nil:
				c.users.Delete(string(r.Key))
			default:
				if err := record.DecodeUser(r.Value, &u); err != nil {
					c.log.Warn("skip undecodable user", "partition", r.Partition, "offset", r.Offset, "err", err)
					break
				}
				c.users.Put(&u)
			}
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
				c.markUsersLoaded(remaining)
			}
		})
	}
}

func (c *Consumer) markUsersLoaded(remaining map[int32]int64) {
	if len(remaining) == 0 && !c.usersLoaded.Load() {
		c.usersLoaded.Store(true)
		c.log.Info("users loaded", "users", c.users.Len())
	}
}

func controlRecord(r *kgo.Record) bool {
	_, ok := controlKind(r)
	return ok
}
