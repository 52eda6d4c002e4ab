// Package consumer turns the interactions topic into real-time sessions and active users in Redis,
// exactly once per partition.
//
// One consumer group on the interactions topic, cooperative-sticky, one goroutine per assigned
// partition (franz-go's goroutine-per-partition pattern with BlockRebalanceOnPoll: a poll hands each
// partition's records to its goroutine and waits for all of them before it allows a rebalance). The
// users topic is read in full, by a separate client without a group, into an in-memory table before
// any interaction is handled (or, when the topic does not exist yet at start, up to its end offsets
// listed after each fetch of interactions until it does), and kept current; a session takes the
// segments of its user when it closes, and users without metadata are "unknown".
//
// Exactly once. The offsets live in Redis with the state: the consumer resumes from them, never from
// Kafka's. Each partition goroutine owns a sessionwindow.Window and the deltas since its last
// checkpoint: per day and segment a HyperLogLog of the users seen and the integers of closed
// sessions, valid, late and rule-invalid events. At least every CheckpointInterval (or
// CheckpointRecords records, or at once after an end control record) it writes, in one Lua script
// (see internal/rtstore), the deltas (PFMERGE of the sketches, HINCRBY of the integers), the window
// snapshot and the next offset. The script applies only if the stored offset is the one this owner
// last read or wrote, so a zombie owner is fenced: the process exits and a restart resumes from what
// Redis holds. On assignment the checkpoint is loaded (offset and snapshot) and fetching starts
// there. A Redis that lost checkpoints it had acknowledged (a failover to a replica they had not
// reached, an older RDB or AOF file) holds an older checkpoint of the same owner, or none: the
// partition then rewinds by itself, the same way as on assignment (see rewind), and replays from
// Kafka what Redis lost. A crash loses only work after the last checkpoint, which is
// replayed from Kafka onto exactly the state it was computed from; a retried script whose reply was
// lost is recognised by its offset and owner token and not applied twice.
//
// Checkpoints are written by a second goroutine per partition, one at a time and in order, while
// the partition goes on handling records; the next checkpoint waits for the one in flight.
//
// Offsets in Kafka. For the lag tools (kafka-consumer-groups, Burrow), the writer goroutine commits
// each checkpoint's offset to the group in Kafka once Redis holds it, and the loaded one on
// assignment; a revoked partition's last commit is done before the revocation returns, so the next
// owner's commits follow it. The group's offsets in Kafka are therefore never ahead of Redis, and
// behind it by at most a failed or unfinished commit; when Redis loses checkpoints, Kafka is ahead
// until the rewind, whose writer commits the older offset first.
//
// Redis outages: a failed checkpoint is retried as built, with backoff (up to 5 s apart); the
// partition's goroutine, and so the poll loop, wait once the next checkpoint is due. Nothing partial
// is ever written. Revoked partitions get a last checkpoint (best effort, FinalCheckpointTimeout); lost ones
// do not.
//
// Control records (record.ControlHeader): progress advances the window's event time, end flushes
// every open session. Late events count as active users and as late, are copied to the late topic
// (at least once: the copies are acknowledged before the checkpoint that passes them, so a crash in
// between publishes them again) and are left out of session metrics.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/kgolog"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/notestream/notestream/internal/sessionwindow"
)

// Config configures a Consumer. Zero values take the defaults in Validate.
type Config struct {
	Brokers []string // default 127.0.0.1:9092
	Group   string   // default notestream-consumer
	// InstanceID, if set, makes this a static group member (KIP-345): a restart with the same ID
	// takes its partitions back at once instead of waiting for the old member's session to expire.
	InstanceID        string
	SessionTimeout    time.Duration // group session timeout; default 10s
	TopicInteractions string        // default interactions
	TopicUsers        string        // default users
	TopicLate         string        // default interactions.late

	Location *time.Location // reporting zone; default UTC
	Lateness time.Duration  // allowed lateness; default 5m

	CheckpointInterval     time.Duration // checkpoint a partition at least this often while it changes; default 1s
	CheckpointRecords      int           // and after this many records; default 200,000
	FinalCheckpointTimeout time.Duration // bound on the checkpoint when a partition is revoked; default 10s
	LagInterval            time.Duration // how often end offsets are listed for lag and readiness; default 1s
	RollUpInterval         time.Duration // how often closed days are rolled up; default 1s

	ClientOpts []kgo.Opt // TLS, SASL and other client options for every Kafka client
	Logger     *slog.Logger
	Registerer prometheus.Registerer // default: a private registry
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"127.0.0.1:9092"}
	}
	setDefault(&c.Group, "notestream-consumer")
	setDefault(&c.TopicInteractions, event.TopicInteractions)
	setDefault(&c.TopicUsers, event.TopicUsers)
	setDefault(&c.TopicLate, event.TopicLate)
	if c.Location == nil {
		c.Location = time.UTC
	}
	setDefault(&c.SessionTimeout, 10*time.Second)
	setDefault(&c.Lateness, event.DefaultLateness)
	setDefault(&c.CheckpointInterval, time.Second)
	setDefault(&c.CheckpointRecords, 200_000)
	setDefault(&c.FinalCheckpointTimeout, 10*time.Second)
	setDefault(&c.LagInterval, time.Second)
	setDefault(&c.RollUpInterval, time.Second)
	if c.Lateness < 0 || c.CheckpointRecords < 0 || c.FinalCheckpointTimeout < 0 || c.LagInterval < 0 || c.RollUpInterval < 0 || c.SessionTimeout < 0 {
		return errors.New("consumer: lateness, checkpoint, lag and session settings must be positive")
	}
	if c.CheckpointInterval < 10*time.Millisecond {
		return fmt.Errorf("consumer: checkpoint interval %v: at least 10ms", c.CheckpointInterval)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Store is where the consumer keeps its partitions' checkpoints; *rtstore.Store implements it.
type Store interface {
	// Load registers partition p for readers and returns its checkpoint.
	Load(ctx context.Context, p int32) (rtstate.Checkpoint, error)
	// Commit writes c in one atomic step, or returns rtstate.ErrFenced when another owner wrote the
	// partition since c.Expect, or rtstate.ErrCheckpointBehind when the store lost checkpoints it had
	// acknowledged and holds an older one of c.Owner, or none.
	Commit(ctx context.Context, c *rtstate.Commit) error
	// Ping waits up to timeout for the store to answer.
	Ping(ctx context.Context, timeout time.Duration) error
	// RollUp merges the keys of the days partitions 0..n-1 have all closed into per-day keys, and
	// returns those days; any number of consumers may run it at once.
	RollUp(ctx context.Context, n int32) ([]int32, error)
}

// Consumer runs the group member and the users table of one process.
type Consumer struct {
	cfg     Config
	store   Store
	users   *Users
	metrics *metrics
	log     *slog.Logger

	cl      *kgo.Client // group member on interactions; also publishes late events
	adm     *kadm.Client
	usersCl *kgo.Client // reads users from the start, without a group

	usersLoaded atomic.Bool
	// usersMissing: the users topic did not exist when the consumer started; see awaitUsers.
	usersMissing atomic.Bool
	usersMu      sync.Mutex
	usersNext    map[int32]int64 // per users partition, the offset after the last record read
	mu           sync.Mutex
	parts        map[int32]*partition

	// Partitions whose checkpoints Redis lost, for the poll loop to rewind; wakePoll cancels the
	// context of the poll in progress, so a rewind happens even while no records come.
	rewindMu sync.Mutex
	rewinds  []*partition
	wakePoll context.CancelFunc

	topicPartitions atomic.Int32 // of the interactions topic, the most listed; 0 unknown

	failOnce sync.Once
	failErr  error
	failed   chan struct{}

	healthMu   sync.Mutex
	redisErr   error // the last Redis probe's failure, for readiness
	brokersErr error // the last end-offset listing's failure, for readiness
}

// probeTimeout bounds each readiness probe of Redis and of the brokers.
const probeTimeout = 2 * time.Second

// New returns a consumer writing to store. Run starts it.
func New(cfg Config, store Store) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg:       cfg,
		store:     store,
		users:     NewUsers(),
		log:       cfg.Logger,
		parts:     make(map[int32]*partition),
		usersNext: make(map[int32]int64),
		failed:    make(chan struct{}),

		redisErr:   errors.New("redis: not probed yet"),
		brokersErr: errors.New("brokers: not probed yet"),
	}
	c.metrics = newMetrics(cfg.Registerer, c.users)
	common := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.WithLogger(kgolog.New(c.log)),
	}, cfg.ClientOpts...)
	var err error
	group := []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.ConsumeTopics(cfg.TopicInteractions),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.DisableAutoCommit(), // offsets live in Redis with the state; the writers commit them to Kafka after
		kgo.AdjustFetchOffsetsFn(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
		kgo.FetchMaxBytes(32 << 20),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	}
	if cfg.InstanceID != "" {
		group = append(group, kgo.InstanceID(cfg.InstanceID))
	}
	c.cl, err = kgo.NewClient(append(common, group...)...)
	if err != nil {
		return nil, fmt.Errorf("consumer: kafka client: %w", err)
	}
	c.usersCl, err = kgo.NewClient(append(common,
		kgo.ConsumeTopics(cfg.TopicUsers),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		c.cl.Close()
		return nil, fmt.Errorf("consumer: kafka users client: %w", err)
	}
	c.adm = kadm.NewClient(c.usersCl)
	return c, nil
}

func (c *Consumer) windowConfig() sessionwindow.Config {
	return sessionwindow.Config{Lateness: c.cfg.Lateness, Location: c.cfg.Location}
}

// fail stops Run with err (a fenced checkpoint: another process owns a partition this one still works on).
func (c *Consumer) fail(err error) {
	c.failOnce.Do(func() {
		c.failErr = err
		close(c.failed)
	})
}

// Run reads all users, then consumes interactions until ctx ends or a partition is fenced. On return
// every partition has been revoked, with a final checkpoint, and the clients are closed.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.usersCl.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		select {
		case <-c.failed:
			return c.failErr
		case <-gctx.Done():
			return nil
		}
	})
	g.Go(func() error { return c.readUsers(gctx) })
	g.Go(func() error {
		// Closing the group client revokes every partition, which writes their final checkpoints.
		defer c.cl.Close()
		for !c.usersLoaded.Load() {
			select {
			case <-gctx.Done():
				return nil
			case <-time.After(10 * time.Millisecond):
			}
		}
		if err := c.ensureLateTopic(gctx); err != nil {
			return err
		}
		return c.poll(gctx)
	})
	g.Go(func() error { c.trackEnds(gctx); return nil })
	g.Go(func() error { c.probeRedis(gctx); return nil })
	g.Go(func() error { c.rollUp(gctx); return nil })
	return g.Wait()
}

// rollUp rolls up, every RollUpInterval, the days that every partition of the topic has closed,
// whichever consumers own them: any member of the group may do it, and two at once write the same
// (internal/rtstore, rollup.go). A roll-up cut short by a crash or a stop is finished by the next.
func (c *Consumer) rollUp(ctx context.Context) {
	t := time.NewTicker(c.cfg.RollUpInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		days, err := c.store.RollUp(ctx, c.topicPartitions.Load())
		if ctx.Err() != nil {
			return
		}
		for _, d := range days {
			c.log.Info("rolled up a closed day", "date", event.Date(d))
		}
		if err != nil {
			c.metrics.redisErrors.Inc()
			c.log.Warn("roll-up failed, retrying at the next interval", "err", err)
		}
	}
}

// probeRedis pings Redis every LagInterval for readiness: a Redis that stops answering makes the
// consumer unready at once, not only when a checkpoint comes due.
func (c *Consumer) probeRedis(ctx context.Context) {
	t := time.NewTicker(c.cfg.LagInterval)
	defer t.Stop()
	for {
		err := c.store.Ping(ctx, probeTimeout)
		if ctx.Err() != nil {
			return
		}
		c.healthMu.Lock()
		c.redisErr = err
		c.healthMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll fetches records and hands each partition's to its goroutine, then waits for them all before
// it allows a rebalance, so revocations never race with records in flight.
func (c *Consumer) poll(ctx context.Context) error {
	type handoff struct {
		part *partition
		recs []*kgo.Record
	}
	var (
		wg   sync.WaitGroup
		work []handoff
	)
	pollCtx, _ := c.nextPoll(ctx)
	for {
		fetches := c.cl.PollFetches(pollCtx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			c.cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if pollCtx.Err() != nil && errors.Is(err, context.Canceled) {
				return // woken up for a rewind
			}
			c.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
		})
		// Look the goroutines up under the lock (assignments run concurrently with polls), but hand
		// over outside it: a goroutine may be waiting for Redis, and readiness must still answer.
		// Revocations wait for AllowRebalance, so the partitions stay ours meanwhile.
		work = work[:0]
		c.mu.Lock()
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			part, ok := c.parts[ftp.Partition]
			if !ok {
				return
			}
			// The fetch's high watermark makes readiness exact at once; trackEnds covers idle partitions.
			part.raiseEnd(ftp.HighWatermark)
			if len(ftp.Records) > 0 {
				work = append(work, handoff{part, ftp.Records})
			}
		})
		c.mu.Unlock()
		if len(work) > 0 && c.usersMissing.Load() {
			if err := c.awaitUsers(ctx); err != nil {
				c.cl.AllowRebalance()
				return nil
			}
		}
		wg.Add(len(work))
		for _, h := range work {
			h.part.in <- batch{recs: h.recs, done: &wg}
		}
		wg.Wait()
		if pollCtx.Err() != nil {
			var rewinds []*partition
			pollCtx, rewinds = c.nextPoll(ctx)
			for _, part := range rewinds {
				if err := c.rewind(ctx, part); err != nil {
					c.cl.AllowRebalance()
					return nil // ctx ended, or c.fail was called
				}
			}
		}
		c.cl.AllowRebalance()
	}
}

// nextPoll returns the context of the next poll and takes the partitions to rewind before it. One
// lock covers both, so a rewind requested after this wakes the next poll up.
func (c *Consumer) nextPoll(ctx context.Context) (context.Context, []*partition) {
	c.rewindMu.Lock()
	defer c.rewindMu.Unlock()
	pollCtx, wake := context.WithCancel(ctx)
	c.wakePoll = wake
	rewinds := c.rewinds
	c.rewinds = nil
	return pollCtx, rewinds
}

// requestRewind asks the poll loop to rewind part, whose checkpoint Redis lost.
func (c *Consumer) requestRewind(part *partition) {
	c.rewindMu.Lock()
	defer c.rewindMu.Unlock()
	c.rewinds = append(c.rewinds, part)
	c.wakePoll()
}

// rewind rebuilds old, a partition whose checkpoint Redis lost (rtstate.ErrCheckpointBehind), from
// the older checkpoint Redis holds, the way an assignment builds a partition: it drops old's state,
// loads the checkpoint, restores the window from its snapshot and fetches again from its offset.
// The poll loop calls it between polls, with no records in flight and rebalances blocked, as
// SetOffsets asks; SetOffsets also drops every record fetched and not yet polled, so none from before
// the seek reaches the new partition. Its writer commits the checkpoint's offset to Kafka before any
// other, moving the group's offset back to what Redis holds (when Redis holds none, at its first
// checkpoint).
func (c *Consumer) rewind(ctx context.Context, old *partition) error {
	current := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.parts[old.id] == old
	}
	if !current() {
		return nil // revoked or lost since
	}
	old.stop(false)
	cp, err := c.loadCheckpoint(ctx, old.id)
	if err != nil {
		return err
	}
	part, err := newPartition(c, old.id, cp)
	if err != nil {
		c.fail(err)
		return err
	}
	c.mu.Lock()
	if c.parts[old.id] != old {
		c.mu.Unlock()
		part.cancel()
		return nil
	}
	c.parts[old.id] = part
	c.mu.Unlock()
	go part.run()
	c.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{
		c.cfg.TopicInteractions: {old.id: {Epoch: -1, Offset: max(cp.Offset, 0)}},
	})
	c.metrics.rewinds.Inc()
	c.log.Warn("redis lost acknowledged checkpoints: partition rewound to the one it holds",
		"partition", old.id, "written", old.committed.Load(), "held", cp.Offset, "owner", part.owner)
	return nil
}

// assigned loads the checkpoints of newly assigned partitions, starts their goroutines and returns the
// offsets to fetch from. Redis errors are retried until the group session ends.
func (c *Consumer) assigned(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for p := range offsets[c.cfg.TopicInteractions] {
		cp, err := c.loadCheckpoint(ctx, p)
		if err != nil {
			return nil, err
		}
		part, err := newPartition(c, p, cp)
		if err != nil {
			// A snapshot this build cannot read would fail the same way on every rejoin.
			c.fail(err)
			return nil, err
		}
		c.mu.Lock()
		if old := c.parts[p]; old != nil {
			c.mu.Unlock()
			old.stop(false)
			c.mu.Lock()
		}
		c.parts[p] = part
		c.metrics.partitions.Set(float64(len(c.parts)))
		c.mu.Unlock()
		go part.run()
		if cp.Offset >= 0 {
			offsets[c.cfg.TopicInteractions][p] = kgo.NewOffset().At(cp.Offset).WithEpoch(-1)
		} else {
			offsets[c.cfg.TopicInteractions][p] = kgo.NewOffset().AtStart()
		}
		c.log.Info("partition assigned", "partition", p, "offset", cp.Offset, "owner", part.owner)
	}
	return offsets, nil
}

func (c *Consumer) loadCheckpoint(ctx context.Context, p int32) (rtstate.Checkpoint, error) {
	backoff := 100 * time.Millisecond
	for {
		cp, err := c.store.Load(ctx, p)
		if err == nil {
			return cp, nil
		}
		c.metrics.redisErrors.Inc()
		c.log.Warn("load checkpoint failed, retrying", "partition", p, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return cp, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (c *Consumer) revoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	c.stopPartitions(revoked[c.cfg.TopicInteractions], true)
}

func (c *Consumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.stopPartitions(lost[c.cfg.TopicInteractions], false)
}

func (c *Consumer) stopPartitions(ids []int32, final bool) {
	c.mu.Lock()
	var stopping []*partition
	for _, p := range ids {
		if part := c.parts[p]; part != nil {
			stopping = append(stopping, part)
			delete(c.parts, p)
		}
	}
	c.metrics.partitions.Set(float64(len(c.parts)))
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, part := range stopping {
		wg.Go(func() { part.stop(final) })
	}
	wg.Wait()
	if len(stopping) > 0 {
		c.log.Info("partitions released", "partitions", ids, "final_checkpoint", final)
	}
}

// trackEnds lists the end offsets of the interactions topic for the lag metric and readiness; a
// listing that fails, or takes longer than probeTimeout, makes the consumer unready.
func (c *Consumer) trackEnds(ctx context.Context) {
	t := time.NewTicker(c.cfg.LagInterval)
	defer t.Stop()
	for {
		probe, cancel := context.WithTimeout(ctx, probeTimeout)
		ends, err := c.adm.ListEndOffsets(probe, c.cfg.TopicInteractions)
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.healthMu.Lock()
		c.brokersErr = nil
		if err != nil {
			c.brokersErr = fmt.Errorf("brokers: list end offsets of %s: %w", c.cfg.TopicInteractions, err)
		}
		c.healthMu.Unlock()
		if err == nil {
			c.raisePartitions(ends[c.cfg.TopicInteractions])
			c.mu.Lock()
			for p, part := range c.parts {
				if o, ok := ends.Lookup(c.cfg.TopicInteractions, p); ok && o.Err == nil {
					part.raiseEnd(o.Offset)
				}
			}
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// raisePartitions raises the interactions topic's partition count to what a listing shows. A topic
// never loses partitions; a missing topic lists only kadm's partition -1, which counts for nothing.
func (c *Consumer) raisePartitions(listed map[int32]kadm.ListedOffset) {
	n := c.topicPartitions.Load()
	for p := range listed {
		n = max(n, p+1)
	}
	c.topicPartitions.Store(n)
}

// Ready returns nil once every user has been read and every assigned partition is checkpointed up to
// its end offset as last listed, while Redis and the brokers answer their last probes.
func (c *Consumer) Ready() error {
	c.healthMu.Lock()
	err := errors.Join(c.redisErr, c.brokersErr)
	c.healthMu.Unlock()
	if err != nil {
		return err
	}
	if !c.usersLoaded.Load() {
		return errors.New("loading users")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, part := range c.parts {
		if part.behind.Load() {
			return fmt.Errorf("partition %d: Redis lost its checkpoints; rewinding", p)
		}
		end := part.end.Load()
		if end < 0 {
			return fmt.Errorf("partition %d: end offset not listed yet", p)
		}
		if done := part.committed.Load(); done < end {
			return fmt.Errorf("partition %d: checkpointed to %d of %d", p, done, end)
		}
	}
	return nil
}

// ensureLateTopic creates the late topic like the interactions topic if it is missing.
func (c *Consumer) ensureLateTopic(ctx context.Context) error {
	topics, err := c.adm.ListTopics(ctx, c.cfg.TopicInteractions, c.cfg.TopicLate)
	if err != nil {
		return fmt.Errorf("consumer: list topics: %w", err)
	}
	if topics.Has(c.cfg.TopicLate) {
		return nil
	}
	partitions := int32(1)
	if t, ok := topics[c.cfg.TopicInteractions]; ok && t.Err == nil {
		partitions = int32(len(t.Partitions))
	}
	// Late events keep their event time, older than any time-based retention (see the producer's topics).
	resp, err := c.adm.CreateTopic(ctx, partitions, -1, map[string]*string{"retention.ms": kadm.StringPtr("-1")}, c.cfg.TopicLate)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("consumer: create %s: %w", c.cfg.TopicLate, err)
	}
	return nil
}
