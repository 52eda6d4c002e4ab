package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/notestream/notestream/internal/kwrite"
)

// loadTopics gives the writer every topic it appends to.
func (p *producer) loadTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	p.topics = map[string]*kwrite.Topic{}
	for _, name := range []string{p.cfg.TopicInteractions, p.cfg.TopicUsers, p.cfg.TopicDLQ} {
		t, err := p.w.Topic(ctx, name)
		if err != nil {
			return err
		}
		if t.Partitions() != p.partitions[name] {
			return fmt.Errorf("topic %s: metadata lists %d partitions, the topic listing %d", name, t.Partitions(), p.partitions[name])
		}
		p.topics[name] = t
	}
	return nil
}

// waitPartitions lists topic until its metadata shows partitions (a topic just created elsewhere may
// not be in the brokers' metadata yet).
func (p *producer) waitPartitions(ctx context.Context, topic string) (int32, error) {
	for {
		details, err := p.adm.ListTopics(ctx, topic)
		if err != nil {
			return 0, fmt.Errorf("list topic: %w", err)
		}
		if d, ok := details[topic]; ok && d.Err == nil && len(d.Partitions) > 0 {
			return int32(len(d.Partitions)), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no partitions listed: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureTopics creates the missing topics (users log-compacted) and learns every partition count.
func (p *producer) ensureTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	c := p.cfg
	topics := []string{c.TopicInteractions, c.TopicUsers, c.TopicDLQ, c.TopicLate}
	p.partitions = make(map[string]int32, len(topics))
	p.created = make(map[string]bool, len(topics))
	// kgo caches metadata answers for MetadataMinAge (5 s), so a second ListTopics right after creating
	// would still miss the new topics: the counts come from this listing and the create responses.
	details, err := p.adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, t := range topics {
		if d, ok := details[t]; ok && d.Err == nil && len(d.Partitions) > 0 {
			p.partitions[t] = int32(len(d.Partitions))
			continue
		}
		// Records carry their event time, which in a replay of history is older than any time-based
		// retention: with Kafka's default (7 days) the broker would delete them as soon as written.
		configs := map[string]*string{"retention.ms": kadm.StringPtr("-1")}
		if t == c.TopicUsers {
			configs = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		}
		resp, err := p.adm.CreateTopic(ctx, c.Partitions, c.Replication, configs, t)
		if err == nil {
			err = resp.Err
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			// Another client created it since the listing (a starting consumer creates the late topic).
			n, err := p.waitPartitions(ctx, t)
			if err != nil {
				return fmt.Errorf("create topic %s: created concurrently, then %w", t, err)
			}
			p.partitions[t] = n
			continue
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
		p.partitions[t] = c.Partitions
		if resp.NumPartitions > 0 {
			p.partitions[t] = resp.NumPartitions
		}
		p.created[t] = true
		c.Logger.Info("created topic", "topic", t, "partitions", p.partitions[t], "replication", c.Replication)
	}
	return nil
}
