package e2e

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/report"
	"github.com/notestream/notestream/internal/testenv"
)

// TestPipelineShuffledYear replays a year of datagen --shuffle data (SPEC section 10): in the default
// time order no event is late and every day's real-time sessions equal gold's (compareWithGold compares
// every day without late events, so here all of them); in file order the replay still reconciles.
func TestPipelineShuffledYear(t *testing.T) {
	p := newPipeline(t, e2eUsers)
	shuffled := filepath.Join(p.dir, "shuffled")
	run(t, testenv.Binary(t, "./cmd/datagen"), "--users", fmt.Sprint(e2eUsers), "--days", fmt.Sprint(e2eDays),
		"--start", e2eStart, "--seed", "11", "--out", shuffled, "--quiet", "--shuffle")
	p.interactions = filepath.Join(shuffled, "user_interactions.csv")
	p.users = filepath.Join(shuffled, "user_metadata.csv")
	p.replayWithoutLateEvents(t, p.compareWithGold)

	// The same file in file order, on a broker of its own: rows read = produced + dead-lettered.
	k := testenv.StartKafka(t)
	out, err := exec.Command(p.producer, "--brokers", k.Addr, "--interactions", p.interactions, "--order", "file").CombinedOutput()
	if err != nil {
		t.Fatalf("producer --order file: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`user_interactions.csv: read (\d+), produced (\d+), dead-lettered (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("producer --order file printed no summary:\n%s", out)
	}
	read, produced, dead := atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[3])
	if read != produced+dead || read == 0 || dead == 0 {
		t.Fatalf("--order file: read %d, produced %d, dead-lettered %d: does not reconcile", read, produced, dead)
	}
}

// TestPipelineChallengeFile replays a file shaped like the original data challenge's (timestamps uniform
// over 2023, random users, no order): the file that, replayed in file order, made nearly every event late.
// Its days have about 150 active users, where HyperLogLog's estimates stray past compareWithGold's 2%
// now and then, so this compares what the order decides: late events and sessions.
func TestPipelineChallengeFile(t *testing.T) {
	p := newPipeline(t, 300) // for its users file and servers
	p.interactions = filepath.Join(p.dir, "challenge.csv")
	writeChallenge(t, p.interactions, 60_000, 3000)
	p.replayWithoutLateEvents(t, p.compareSessions)
}

// compareSessions compacts the topics into a lake, checks gold against the reference computation, and
// compares every day's real-time sessions with gold's.
func (p *pipeline) compareSessions(t *testing.T, api string) {
	t.Helper()
	run(t, p.compactor, "run", "--brokers", p.kafka.Addr, "--lake", "file://"+filepath.Join(p.dir, "lake"), "--tz", "UTC")
	gold := p.loadGold(t)
	checkGoldAgainstReference(t, gold, p.interactions, p.users)
	if len(gold.Days) < e2eDays {
		t.Fatalf("gold has %d days, want %d", len(gold.Days), e2eDays)
	}
	for _, d := range gold.Days {
		var s sessionsAnswer
		get(t, api+"/v1/sessions?date="+d.Date, &s)
		if s.Sessions != d.Sessions || s.AvgSessionDurationS != d.AvgSessionDurationS || s.AvgActionsPerSession != d.AvgActionsPerSession {
			t.Errorf("%s: real-time sessions %+v, gold %d sessions, %v s, %v actions", d.Date, s, d.Sessions, d.AvgSessionDurationS, d.AvgActionsPerSession)
		}
	}
}

func (p *pipeline) loadGold(t *testing.T) *report.Gold {
	t.Helper()
	store, err := lake.NewDir(filepath.Join(p.dir, "lake"))
	if err != nil {
		t.Fatal(err)
	}
	gold, err := report.Load(t.Context(), store)
	if err != nil {
		t.Fatal(err)
	}
	return gold
}

// replayWithoutLateEvents replays the pipeline's files in the default order and checks that neither
// the consumer nor gold counts a late event, and compares the API with gold.
func (p *pipeline) replayWithoutLateEvents(t *testing.T, compare func(t *testing.T, api string)) {
	t.Helper()
	c := p.startConsumer(t)
	t0 := time.Now()
	run(t, p.producer, p.producerArgs("max")...)
	t.Logf("producer: %v", time.Since(t0))
	p.waitReplayed(t, c.api, 180*time.Second)
	if late := gauge(c.api, `notestream_consumer_records_total{kind="late"}`); late != 0 {
		t.Errorf("the consumer counted %v late events, want 0", late)
	}
	if valid := gauge(c.api, `notestream_consumer_records_total{kind="valid"}`); valid <= 0 {
		t.Fatalf("the consumer counted %v valid events", valid)
	}
	compare(t, c.api)
	var late int64
	for _, q := range p.loadGold(t).Quality {
		late += q.Late
	}
	if late != 0 {
		t.Errorf("gold/data_quality counts %d late events, want 0", late)
	}
}

// writeChallenge writes n interactions with timestamps uniform over 2023 and users drawn from users.
func writeChallenge(t *testing.T, path string, n, users int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("user_id,timestamp,action_type,page_id,duration_ms,app_version\n")
	rng := rand.New(rand.NewPCG(2023, 14))
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	actions := []string{"page_view", "edit", "create", "delete", "share"}
	for range n {
		ts := time.Unix(start+rng.Int64N(365*86400), 0).UTC()
		fmt.Fprintf(w, "u%06d,%s,%s,p%d,%d,5.%d.0\n", rng.IntN(users), ts.Format(time.DateTime), actions[rng.IntN(5)],
			rng.IntN(1000), rng.IntN(600_000), rng.IntN(9))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func atoi(t *testing.T, b []byte) int64 {
	t.Helper()
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
