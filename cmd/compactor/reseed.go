package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/notestream/notestream/internal/cli"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/reseed"
	"github.com/notestream/notestream/internal/rtstore"
)

const reseedUsage = `Usage: compactor reseed [flags]

Restores the real-time API's days from the lake into Redis: each day's gold/daily_sketches and the
session sums of silver/sessions, and the power-user state of the days' months (each user's engaged
time and events, from silver/interactions), under partition 1000000, which no consumer owns. Start the consumers
first and let them catch up: by default it writes the lake's days before the first day they hold.
It refuses to write a day a consumer holds unless --force, and replaces what an earlier run wrote.

Every flag can also be set as NOTESTREAM_<FLAG> (upper case, - as _). An s3:// lake takes its
settings from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.

`

// runReseed is `compactor reseed` with args (after the subcommand).
func runReseed(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compactor reseed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lakeURL := fs.String("lake", "file://./lake", "lake root: file:///path or s3://bucket/prefix")
	redisURL := fs.String("redis", "redis://127.0.0.1:6379", "Redis URL, redis:// or rediss:// (TLS), with user:password@ for AUTH (better: NOTESTREAM_REDIS); a Redis Cluster as redis+cluster://host:port?addr=host2:port2&addr=… (see README)")
	var store rtstore.Config
	fs.StringVar(&store.Prefix, "redis-prefix", "ns:", "prefix of every Redis key, the consumers'")
	fs.StringVar(&store.Topic, "interactions-topic", event.TopicInteractions, "interactions topic: the consumers' --topic-interactions, which names their Redis keys")
	fs.DurationVar(&store.Retention, "retention", 400*24*time.Hour, "TTL of the daily Redis keys written")
	tz := fs.String("tz", "UTC", "reporting time zone (IANA name): the consumers' and the lake's")
	var cfg reseed.Config
	fs.StringVar(&cfg.From, "from", "", "first day to write, YYYY-MM-DD (default: the lake's first)")
	fs.StringVar(&cfg.Through, "through", "", "last day to write, YYYY-MM-DD (default: the day before the first day a consumer holds, or the lake's last)")
	fs.BoolVar(&cfg.Force, "force", false, "write days a consumer also holds (their sessions then count twice)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), reseedUsage)
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, env); err != nil {
		return err
	}
	var err error
	if cfg.Location, err = time.LoadLocation(*tz); err != nil {
		return cli.Usagef("--tz: %w", err)
	}
	if err := reseedLake(ctx, stdout, *lakeURL, lake.S3ConfigFromEnv(env), *redisURL, store, cfg); err != nil {
		slog.New(slog.NewTextHandler(stderr, nil)).Error("compactor reseed failed", "err", err)
		return cli.Reported(err)
	}
	return nil
}

// reseedLake writes the lake's days into Redis and reports what it wrote on stdout.
func reseedLake(ctx context.Context, stdout io.Writer, lakeURL string, s3 lake.S3Config, redisURL string, store rtstore.Config, cfg reseed.Config) error {
	rdb, err := rtstore.Dial(redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	st, err := rtstore.New(rdb, store)
	if err != nil {
		return err
	}
	lk, err := lake.Open(ctx, lakeURL, s3)
	if err != nil {
		return err
	}
	start := time.Now()
	sum, err := reseed.Run(ctx, lake.NewRetrying(lk, lake.RetryConfig{}), st, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "compactor reseed in %s: ", time.Since(start).Round(time.Millisecond))
	if sum.Days > 0 {
		fmt.Fprintf(stdout, "wrote %d days of the lake, %s to %s (%d day and segment sketches, %d sessions), and %d months of power-user state (%d users' months), to Redis partition %d of %s%s",
			sum.Days, event.Date(sum.From), event.Date(sum.Through), sum.Cells, sum.Sessions, sum.Months, sum.UserMonths, reseed.Partition, store.Prefix, store.Topic)
	} else {
		fmt.Fprint(stdout, "no day of the lake to write")
	}
	fmt.Fprintf(stdout, "; removed %d days an earlier reseed wrote", sum.Removed)
	if sum.ConsumerHolds {
		fmt.Fprintf(stdout, "; consumers hold the lake's days from %s", event.Date(sum.ConsumerFirst))
	}
	fmt.Fprintln(stdout)
	return nil
}
