package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
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
	// Missing or still empty: a producer creates the topics before it writes the users.
	c.usersMissing.Store(len(remaining) == 0)
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
			c.usersMu.Lock()
			c.usersNext[r.Partition] = r.Offset + 1
			c.usersMu.Unlock()
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
				c.markUsersLoaded(remaining)
			}
		})
	}
}

// awaitUsers waits until the users read cover the users topic's end offsets as listed now. The poll
// loop calls it before it hands over interactions while the users topic has not been seen holding a
// user yet (it was missing or empty at start, as when the consumer starts before a first replay): the
// producer writes the users before any interaction, so users topic ends listed after an interaction
// was fetched include every user written before it, and the table has them before it is handled,
// although the users client only learns of a new topic at its next metadata refresh. A users topic
// that is still missing or empty holds no user yet; while it stays so (interactions without metadata),
// every poll that fetched interactions costs one listing. A listing that fails for a partition is
// retried: a topic created moments ago can answer without a leader, or miss from the cached metadata
// that maps its partitions, for seconds (TestReseed met that under load, with every event unjoined).
func (c *Consumer) awaitUsers(ctx context.Context) error {
	var ends kadm.ListedOffsets
	for {
		var err error
		ends, err = c.adm.ListEndOffsets(ctx, c.cfg.TopicUsers)
		held, again := false, err != nil
		ends.Each(func(o kadm.ListedOffset) {
			switch {
			case o.Partition == -1 && errors.Is(o.Err, kerr.UnknownTopicOrPartition):
				// The topic does not exist: no user has been written.
			case o.Err != nil:
				// A partition without a leader yet, or one this client's cached metadata does not
				// map yet (a topic created moments ago): handing the records over now would join
				// them to no user.
				again = true
			case o.Offset > 0:
				held = true
			}
		})
		if !again && !held {
			return nil
		}
		if !again {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	c.usersCl.ForceMetadataRefresh()
	for {
		behind := false
		c.usersMu.Lock()
		ends.Each(func(o kadm.ListedOffset) {
			behind = behind || (o.Err == nil && c.usersNext[o.Partition] < o.Offset)
		})
		c.usersMu.Unlock()
		if !behind {
			c.usersMissing.Store(false)
			c.log.Info("users topic appeared: read", "users", c.users.Len())
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
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
