package datagen

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
)

func generate(t testing.TB, cfg Config) (interactions, users []byte, prof *Profile) {
	t.Helper()
	var ib, ub bytes.Buffer
	prof, err := Generate(cfg, &ib, &ub)
	if err != nil {
		t.Fatal(err)
	}
	return ib.Bytes(), ub.Bytes(), prof
}

func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.Users, cfg.Days = 400, 60
	return cfg
}

func TestDeterministic(t *testing.T) {
	cfg := smallConfig()
	i1, u1, _ := generate(t, cfg)
	i2, u2, _ := generate(t, cfg)
	if !bytes.Equal(i1, i2) || !bytes.Equal(u1, u2) {
		t.Fatal("the same seed gave different files")
	}
	cfg.Seed = 2
	i3, _, _ := generate(t, cfg)
	if bytes.Equal(i1, i3) {
		t.Fatal("different seeds gave the same file")
	}
}

// counts reads both files the way the pipeline does and counts rows by reason: csvin's unreadable
// reasons, then the event rules and the duplicate key.
func counts(t *testing.T, interactions, users []byte) (map[event.Reason]int64, map[event.Reason]int64, []int64, int64, int64) {
	t.Helper()
	ic, uc := map[event.Reason]int64{}, map[event.Reason]int64{}
	type key struct {
		user   string
		time   int64
		action string
		page   string
	}
	seen := map[key]bool{}
	var times []int64
	var irows, urows int64
	ir := csvin.NewInteractionReader(bytes.NewReader(interactions))
	for {
		var in event.Interaction
		reason, err := ir.Next(&in)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		irows++
		if reason == event.OK {
			times = append(times, in.Time)
			reason = event.Check(&in)
		}
		if reason == event.OK {
			k := key{in.UserID, in.Time, in.Action, in.PageID}
			if seen[k] {
				reason = event.Duplicate
			}
			seen[k] = true
		}
		if reason != event.OK {
			ic[reason]++
		}
	}
	ur := csvin.NewUserReader(bytes.NewReader(users))
	for {
		var u event.User
		reason, err := ur.Next(&u)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		urows++
		if reason != event.OK {
			uc[reason]++
		}
	}
	return ic, uc, times, irows, urows
}

func TestReaderFindsExactlyWhatWasInjected(t *testing.T) {
	f := func(name string, cfg Config) {
		t.Run(name, func(t *testing.T) {
			interactions, users, prof := generate(t, cfg)
			ic, uc, times, irows, urows := counts(t, interactions, users)
			if irows != prof.InteractionRows || urows != prof.UserRows {
				t.Fatalf("read %d interaction and %d user rows, wrote %d and %d", irows, urows, prof.InteractionRows, prof.UserRows)
			}
			for _, r := range InteractionDirt {
				if ic[r] != prof.InteractionDirt[r] {
					t.Errorf("interactions %v: read %d, injected %d", r, ic[r], prof.InteractionDirt[r])
				}
				if cfg.Rates[r] > 0 && ic[r] == 0 {
					t.Errorf("interactions %v: none injected at rate %v", r, cfg.Rates[r])
				}
				delete(ic, r)
			}
			for _, r := range UserDirt {
				if uc[r] != prof.UserDirt[r] {
					t.Errorf("users %v: read %d, injected %d", r, uc[r], prof.UserDirt[r])
				}
				delete(uc, r)
			}
			if len(ic) != 0 || len(uc) != 0 {
				t.Errorf("reasons never injected: %v %v", ic, uc)
			}
			if sorted := slices.IsSorted(times); sorted == cfg.Shuffle {
				t.Errorf("shuffle %v, but readable rows sorted by time: %v", cfg.Shuffle, sorted)
			}
		})
	}
	cfg := smallConfig()
	f("default rates", cfg)
	for r := range cfg.Rates {
		cfg.Rates[r] = 0.01 // enough of every variant of every kind
	}
	cfg.Users = 2000
	f("high rates", cfg)
	cfg.Shuffle = true
	f("shuffled", cfg)
	cfg.Rates = nil
	f("clean", cfg)
}

func TestShape(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Users, cfg.Days = 2000, 120
	_, _, p := generate(t, cfg)
	want := EventsPerUserDay * float64(cfg.Users*cfg.Days)
	if e := float64(p.Events); e < 0.85*want || e > 1.15*want {
		t.Errorf("%d events, want about %.0f", p.Events, want)
	}
	if p.TopShare < 0.15 || p.TopShare > 0.6 {
		t.Errorf("top 1%% of users made %.2f of events", p.TopShare)
	}
	if p.MidnightSessions == 0 || p.UsersWithoutMetadata == 0 || p.UsersUpdated == 0 || p.OtherTimeForms == 0 {
		t.Errorf("missing realism: %+v", p)
	}
	if first := time.UnixMilli(p.First).UTC(); first.Before(cfg.Start) || first.After(cfg.Start.Add(24*time.Hour)) {
		t.Errorf("first event at %v", first)
	}
}

func TestValidate(t *testing.T) {
	f := func(change func(*Config)) {
		t.Helper()
		cfg := DefaultConfig()
		change(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Fatalf("%+v: no error", cfg)
		}
	}
	f(func(c *Config) { c.Users = 0 })
	f(func(c *Config) { c.Days = 0 })
	f(func(c *Config) { c.Start = c.Start.Add(time.Hour) })
	f(func(c *Config) { c.Rates[event.Late] = 0.1 })
	f(func(c *Config) { c.Rates[event.Malformed] = -0.1 })
	f(func(c *Config) { c.Rates[event.Malformed] = 0.3 })
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestSample checks that data/ holds what `datagen --users 500 --days 59 --out data` writes now.
func TestSample(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Users, cfg.Days = 500, 59
	interactions, users, _ := generate(t, cfg)
	for name, want := range map[string][]byte{"user_interactions.csv": interactions, "user_metadata.csv": users} {
		got, err := os.ReadFile(filepath.Join("..", "..", "data", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("data/%s is stale: run go run ./cmd/datagen --users 500 --days 59 --out data", name)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Users = 2000 // a tenth of the default: about 500k rows
	var rows int64
	b.ReportAllocs()
	for b.Loop() {
		p, err := Generate(cfg, io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		rows += p.InteractionRows + p.UserRows
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
