package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/testenv"
)

// partitions is the interactions topic's partition count, as the producer creates it.
const partitions = 8

// TestConsumerKilledMidRollUp kills the consumer with SIGKILL in the middle of roll-ups, several times
// during a replay, and restarts it: the roll-ups must be finished by the restarted consumers and every
// answer must still equal gold's. A kill counts as mid-roll-up when Redis, after the process is dead,
// holds a day that some partition has frozen (step 2 of internal/rtstore's roll-up) but the index does
// not list yet (step 4); the test fails if no kill landed there.
func TestConsumerKilledMidRollUp(t *testing.T) {
	p := newPipeline(t, 300, testenv.Kfake())
	rdb := p.redis.Client(t)
	// A static member: its restart takes the partitions back at once, with no session to wait out.
	static := []string{"--instance-id", "killed-mid-roll-up"}
	c := p.startConsumer(t, static...)
	// About 16 s of replay: a year at 2,000,000 times real time, with days closing all along.
	producer := start(t, p.producer, p.producerArgs("2000000")...)

	const wantKills = 3
	landed, missed := 0, 0
	for deadline := time.Now().Add(60 * time.Second); landed < wantKills && time.Now().Before(deadline); {
		before, ok := rollUpInProgress(t, rdb)
		if !ok {
			time.Sleep(time.Millisecond)
			continue
		}
		c.proc.kill()
		if after, ok := rollUpInProgress(t, rdb); ok {
			landed++
			t.Logf("killed the consumer while %s was frozen and not yet indexed (seen %s before the kill)", after, before)
		} else {
			missed++
		}
		c = p.startConsumer(t, static...)
	}
	t.Logf("%d kills landed mid-roll-up, %d just after one", landed, missed)
	if landed == 0 {
		t.Fatal("no kill landed in the middle of a roll-up")
	}
	if err := producer.wait(60 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	p.waitReplayed(t, c.api, 120*time.Second)
	checkRolledUp(t, rdb, e2eDays-3)
	p.compareWithGold(t, c.api)
}

// rollUpInProgress returns a day that some partition has frozen for its roll-up while the index does
// not list it yet.
func rollUpInProgress(t *testing.T, rdb redis.UniversalClient) (string, bool) {
	t.Helper()
	ctx := context.Background()
	pipe := rdb.Pipeline()
	candidates := pipe.SMembers(ctx, "ns:interactions:days")
	index := pipe.HKeys(ctx, "ns:interactions:rolled")
	frozen := make([]*redis.StringSliceCmd, partitions)
	for p := range partitions {
		frozen[p] = pipe.SMembers(ctx, fmt.Sprintf("ns:{interactions/%d}:frozen", p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("read the roll-ups' state: %v", err)
	}
	indexed := map[string]bool{}
	for _, d := range index.Val() {
		indexed[d] = true
	}
	isFrozen := map[string]bool{}
	for _, cmd := range frozen {
		for _, d := range cmd.Val() {
			isFrozen[d] = true
		}
	}
	for _, m := range candidates.Val() {
		d, err := strconv.ParseInt(m, 10, 32)
		if err != nil {
			t.Fatalf("ns:interactions:days: bad day %q", m)
		}
		if date := event.Date(int32(d)); isFrozen[m] && !indexed[date] {
			return date, true
		}
	}
	return "", false
}

// checkRolledUp checks that the consumer rolled up every day all partitions have closed, and at least
// minDays of them: each indexed over every partition, with its rolled-up counts and sketch of everyone,
// and with no partition's sketches or frozen keys of it left.
func checkRolledUp(t *testing.T, rdb redis.UniversalClient, minDays int) {
	t.Helper()
	ctx := context.Background()
	// The roll-ups run every second, behind the checkpoints.
	var through int32
	var due []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		through, due = dueDays(t, rdb)
		if len(due) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d days every partition closed (before %s) are not rolled up after 30 s: %v",
				len(due), event.Date(through), due)
		}
	}
	index, err := rdb.HGetAll(ctx, "ns:interactions:rolled").Result()
	if err != nil {
		t.Fatalf("read ns:interactions:rolled: %v", err)
	}
	if len(index) < minDays {
		t.Fatalf("%d days rolled up (every partition closed the days before %s), want at least %d",
			len(index), event.Date(through), minDays)
	}
	pipe := rdb.Pipeline()
	marks := map[string]*redis.StringCmd{}
	sketches := map[string]*redis.IntCmd{}
	for date, n := range index {
		if n != strconv.Itoa(partitions) {
			t.Errorf("ns:interactions:rolled: %s rolled up over %s partitions, want %d", date, n, partitions)
		}
		marks[date] = pipe.HGet(ctx, "ns:{interactions:"+date+"}:c", "_rolled")
		sketches[date] = pipe.Exists(ctx, "ns:{interactions:u:all}:"+date)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("read rolled-up keys: %v", err)
	}
	for date := range index {
		if v := marks[date].Val(); v != strconv.Itoa(partitions) {
			t.Errorf("ns:{interactions:%s}:c: _rolled = %q, want %d", date, v, partitions)
		}
		if sketches[date].Val() != 1 {
			t.Errorf("%s: no rolled-up sketch ns:{interactions:u:all}:%s", date, date)
		}
	}
	left := 0
	for _, key := range scanKeys(t, rdb, "ns:{interactions/*}:u:*") {
		// ns:{interactions/<p>}:u:<date>:<segment>
		if parts := strings.SplitN(key, ":", 5); len(parts) == 5 && index[parts[3]] != "" {
			if left++; left <= 5 {
				t.Errorf("%s: a partition's sketch of a rolled-up day", key)
			}
		}
	}
	if left > 0 {
		t.Errorf("%d partition sketches of rolled-up days left", left)
	}
	for _, pattern := range []string{"ns:{interactions/*}:cf:*", "ns:{interactions/*}:vf:*"} {
		if keys := scanKeys(t, rdb, pattern); len(keys) > 0 {
			t.Errorf("%d frozen keys left after the roll-ups, such as %s", len(keys), keys[0])
		}
	}
	t.Logf("%d days rolled up (every partition has closed the days before %s)", len(index), event.Date(through))
}

// dueDays returns the first day some partition has not closed and the candidate days before it.
func dueDays(t *testing.T, rdb redis.UniversalClient) (int32, []string) {
	t.Helper()
	ctx := context.Background()
	through := int32(1<<31 - 1)
	for p := range partitions {
		key := fmt.Sprintf("ns:{interactions/%d}:ck", p)
		d, err := rdb.HGet(ctx, key, "closed").Int64()
		if err != nil {
			t.Fatalf("%s closed: %v", key, err)
		}
		through = min(through, int32(d))
	}
	members, err := rdb.SMembers(ctx, "ns:interactions:days").Result()
	if err != nil {
		t.Fatalf("read ns:interactions:days: %v", err)
	}
	var due []string
	for _, m := range members {
		if d, err := strconv.ParseInt(m, 10, 32); err != nil || int32(d) < through {
			due = append(due, m)
		}
	}
	return through, due
}

// scanKeys returns the keys matching pattern, on every master of a cluster.
func scanKeys(t *testing.T, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		err = fmt.Errorf("unsupported client %T", rdb)
	}
	if err != nil {
		t.Fatalf("scan %s: %v", pattern, err)
	}
	return keys
}
