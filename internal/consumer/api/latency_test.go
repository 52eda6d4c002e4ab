package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/consumer/api"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/notestream/notestream/internal/rtstore"
	"github.com/notestream/notestream/internal/testenv"
)

// BenchmarkReadLatency is the load test of issue 19: a year of days on 8 partitions in a
// redis-server, each partition's day sketch dense (10,000 users), and 32 clients, each asking its
// own random days one request after another, for GET /v1/dau and then GET /v1/mau through the API's
// handler on a loopback HTTP server. It reports each endpoint's p50 and p99, with every day on its
// partitions' keys and with the closed days (all but the last) rolled up.
//
//	go test ./internal/consumer/api -run '^$' -bench ReadLatency -benchtime 1x
func BenchmarkReadLatency(b *testing.B) {
	b.Run("per-partition", func(b *testing.B) { benchmarkReadLatency(b, false) })
	b.Run("rolled-up", func(b *testing.B) { benchmarkReadLatency(b, true) })
}

func benchmarkReadLatency(b *testing.B, rollUp bool) {
	const (
		partitions = 8
		days       = 365
		perDay     = 10_000 // users in each partition's day: dense sketches, as at a million daily users
		clients    = 32
		requests   = 50 // per client and endpoint
	)
	rdb := testenv.StartRedis(b).Client(b)
	st, err := rtstore.New(rdb, rtstore.Config{Prefix: "b:"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	first, _ := event.ParseDate("2023-01-01")
	closed := func(int32) int32 { return 0 } // no day closed: 0 is 1970-01-01
	if rollUp {
		closed = func(open int32) int32 { return open }
	}
	for p := range int32(partitions) {
		if _, err := st.Load(ctx, p); err != nil {
			b.Fatal(err)
		}
		offset := int64(-1)
		for d := range int32(days) {
			var sk hll.Sketch
			for u := range perDay {
				sk.AddString(fmt.Sprintf("p%d-d%d-u%d", p, d, u))
			}
			c := &rtstate.Commit{Partition: p, Expect: offset, Offset: int64(d + 1), Owner: "bench",
				Closed: closed(first + d), Cells: []rtstate.Cell{{Day: first + d, Users: sk.AppendRedis(nil)}}}
			if err := st.Commit(ctx, c); err != nil {
				b.Fatal(err)
			}
			offset = c.Offset
		}
	}
	if rollUp {
		rolled, err := st.RollUp(ctx, partitions)
		if err != nil || len(rolled) != days-1 {
			b.Fatalf("rolled up %d days, %v; want %d", len(rolled), err, days-1)
		}
	}
	srv := httptest.NewServer(api.New(st, func() error { return nil }, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}

	for b.Loop() {
		for _, endpoint := range []string{"dau", "mau"} {
			lat := make([]time.Duration, 0, clients*requests)
			var mu sync.Mutex
			var wg sync.WaitGroup
			for c := range clients {
				wg.Go(func() {
					for r := range requests {
						day := first + 30 + int32((c*requests+r)*7919%(days-30))
						start := time.Now()
						resp, err := client.Get(srv.URL + "/v1/" + endpoint + "?date=" + event.Date(day))
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Errorf("GET /v1/%s: %s", endpoint, resp.Status)
							return
						}
						mu.Lock()
						lat = append(lat, time.Since(start))
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, endpoint+"-p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, endpoint+"-p99-ms")
		}
	}
}
