// Command compactor writes the lake: `run` moves new records from the topics into bronze, silver and
// gold; `backfill` rebuilds silver and gold of a range of days from bronze; `reseed` restores Redis's
// days from the lake.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/notestream/notestream/internal/cli"
	"github.com/notestream/notestream/internal/compactor"
	"github.com/notestream/notestream/internal/compactor/kafkasource"
	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/kafkaauth"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/lease"
	"github.com/notestream/notestream/internal/progress"
)

const usage = `Usage: compactor run|backfill|reseed [flags]

  run        read everything new on the topics into bronze, then rebuild silver and gold for every
             day touched and the rolling windows and months that depend on it
  backfill   rebuild silver and gold of --from..--to from bronze, --parallel days at a time
  reseed     restore the real-time API's days from the lake into Redis (compactor reseed -h)

Every flag can also be set as NOTESTREAM_<FLAG> (upper case, - as _). An s3:// lake takes its
settings from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.

`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit(os.Stderr, "compactor", err))
}

// run is the command with its arguments (after the program name), environment and output.
func run(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) (err error) {
	if len(args) >= 1 && args[0] == "reseed" {
		return runReseed(ctx, args[1:], env, stdout, stderr)
	}
	if len(args) < 1 || (args[0] != "run" && args[0] != "backfill") {
		fmt.Fprint(stderr, usage)
		return cli.Reported(cli.Usagef("want run, backfill or reseed, got %q", args))
	}
	cmd := args[0]
	fs := flag.NewFlagSet("compactor "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated (run)")
	lakeURL := fs.String("lake", "file://./lake", "lake root: file:///path or s3://bucket/prefix")
	tz := fs.String("tz", "UTC", "reporting time zone (IANA name) of days and months")
	lateness := fs.Duration("lateness", event.DefaultLateness, "the stream's allowed lateness, to count late events")
	interactions := fs.String("interactions-topic", event.TopicInteractions, "interactions topic")
	users := fs.String("users-topic", event.TopicUsers, "users topic")
	chunk := fs.Int64("chunk", 250_000, "records of a topic read before they are written to bronze; at most twice this many are held in memory, one chunk read while the previous one is written")
	parallel := fs.Int("parallel", 2, "days built at a time, and bronze partitions merged at a time")
	objectSize := fs.String("object-size", "128M", "size at which a bronze object (part-NNNNN.parquet of a day or country) is sealed and the next begun, in bytes or with a K, M or G suffix; every run rewrites the open part of each day it touches")
	memory := fs.String("memory", strconv.FormatInt(compactor.DefaultMemory>>20, 10)+"M", "memory the process may use, in bytes or with a K, M or G suffix (powers of 1024): the days built at a time share it, a day too large for its share is built in buckets of users through --spill-dir; also the Go soft memory limit unless GOMEMLIMIT is set")
	spillDir := fs.String("spill-dir", "", "local directory for the temporary files of days built in buckets, removed afterwards (default: $TMPDIR or /tmp)")
	from := fs.String("from", "", "first day to rebuild, YYYY-MM-DD (backfill; default: the lake's first)")
	to := fs.String("to", "", "last day to rebuild, YYYY-MM-DD (backfill; default: the lake's last)")
	attempts := fs.Int("storage-attempts", 6, "tries per storage operation before giving up")
	cpuProf := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	metricsFile := fs.String("metrics-file", "", "after a successful run or backfill, write its metrics (new anomalies among them) to this file in Prometheus text format, for node_exporter's textfile collector")
	powerPct := fs.String("power-users-pct", "1", "top percentage of users by engaged time in gold/power_users, a decimal in (0, 100]")
	timeout := fs.Duration("timeout", 30*time.Second, "give up when the brokers stay unreachable this long (run)")
	wait := fs.Duration("wait", 0, "when a backfill holds the lake's lease (for backfill: another backfill), wait this long for it before giving up (0: exit at once); runs started together never wait for each other, they share the run")
	leaseTTL := fs.Duration("lease-ttl", 30*time.Second, "how long a lease (of a run's unit of work, or of the lake for a backfill) outlives its last renewal (every third of this); a killed compactor's units are taken over this long (plus a sixth for clock skew) after the kill")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	auth := kafkaauth.Flags(fs)
	if err := cli.Parse(fs, args[1:], env); err != nil {
		return err
	}
	mem, err := cli.ParseSize(*memory)
	if err != nil {
		return cli.Usagef("--memory %q: %w", *memory, err)
	}
	if _, set := env("GOMEMLIMIT"); !set {
		// A soft limit: the collector works harder near the budget instead of letting GOGC's
		// headroom carry the heap past it.
		debug.SetMemoryLimit(mem)
	}
	if gogc, _ := env("GOGC"); gogc == "" {
		// Most of the heap is rows on their way to Parquet. Collecting at three times the live heap
		// rather than twice cuts a year's run from 17.6 to 15.5 s of user CPU, at 0.75 GB peak RSS
		// instead of 0.5 GB. GOGC in the environment still wins.
		debug.SetGCPercent(200)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return cli.Usagef("--tz: %w", err)
	}
	pct, err := engagement.ParsePct(*powerPct)
	if err != nil {
		return cli.Usagef("--power-users-pct: %w", err)
	}

	objSize, err := cli.ParseSize(*objectSize)
	if err != nil {
		return cli.Usagef("--object-size %q: %w", *objectSize, err)
	}

	store, err := lake.Open(ctx, *lakeURL, lake.S3ConfigFromEnv(env))
	if err != nil {
		return cli.Usagef("open lake: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := compactor.Config{
		InteractionsTopic: *interactions,
		UsersTopic:        *users,
		Location:          loc,
		Lateness:          *lateness,
		Chunk:             *chunk,
		Parallel:          *parallel,
		ObjectSize:        objSize,
		PowerUsersPct:     pct,
		Memory:            mem,
		SpillDir:          *spillDir,
		Logger:            log,
		Lease:             lease.Config{TTL: *leaseTTL, Wait: *wait},
	}
	retrying := lake.NewRetrying(store, lake.RetryConfig{Attempts: *attempts})
	var stages *progress.Stages
	if progress.IsTerminal(stderr) {
		stages = progress.NewStages(stderr)
		cfg.Progress = stages
	}

	stopProfile, err := cli.CPUProfile(*cpuProf)
	if err != nil {
		return cli.Usagef("--cpuprofile: %w", err)
	}
	defer func() { err = errors.Join(err, stopProfile()) }()

	start := time.Now()
	var sum compactor.Summary
	switch cmd {
	case "run":
		sum, err = runTopics(ctx, cfg, retrying, strings.Split(*brokers, ","), auth, *timeout)
	case "backfill":
		sum, err = backfill(ctx, cfg, retrying, *from, *to)
	}
	if stages != nil {
		stages.Finish() // before the lines below, which would otherwise follow the bar on its line
	}
	var held *lease.HeldError
	if errors.As(err, &held) {
		log.Error("compactor "+cmd+": another compactor holds the lake; exiting without writing (--wait waits for it)",
			"holder", held.Holder, "since", held.Acquired, "expires", held.Expires, "err", err)
		return cli.Reported(err)
	}
	if err != nil {
		log.Error("compactor "+cmd+" failed; nothing half-committed, rerun to finish", "err", err)
		return cli.Reported(err)
	}
	if *metricsFile != "" {
		if err := compactor.WriteMetrics(*metricsFile, sum, time.Now()); err != nil {
			return fmt.Errorf("--metrics-file: %w", err)
		}
	}
	fmt.Fprintf(stdout, "compactor %s: run %d in %s: %d units of work done here, %d records read (%d undecodable), %d interaction and %d user rows, %d bronze objects written; silver rebuilt for %d days, daily metrics for %d days, monthly metrics for %d months, cohort retention for %d weeks; %d users; %d new anomalies\n",
		cmd, sum.Run, time.Since(start).Round(time.Millisecond), sum.Units, sum.Records, sum.Undecodable, sum.BronzeRows, sum.UserRows,
		sum.BronzeObjects, sum.SilverDays, sum.GoldDays, sum.Months, sum.CohortWeeks, sum.Users, sum.NewAnomalies)
	return nil
}

// runTopics is `compactor run`: the new records of the topics into the lake.
func runTopics(ctx context.Context, cfg compactor.Config, store lake.Store, brokers []string, auth *kafkaauth.Config, timeout time.Duration) (compactor.Summary, error) {
	opts, err := auth.Opts()
	if err != nil {
		return compactor.Summary{}, err
	}
	// Listing offsets would report a rejected login as a bare EOF.
	if err := auth.Ping(ctx, brokers, timeout); err != nil {
		return compactor.Summary{}, err
	}
	src, err := kafkasource.New(brokers, opts...)
	if err != nil {
		return compactor.Summary{}, err
	}
	defer src.Close()
	c, err := compactor.New(cfg, store, src)
	if err != nil {
		return compactor.Summary{}, err
	}
	return c.Run(ctx)
}

// backfill is `compactor backfill`: silver and gold of from..to rebuilt from bronze.
func backfill(ctx context.Context, cfg compactor.Config, store lake.Store, from, to string) (compactor.Summary, error) {
	first, last := int32(-1<<31), int32(1<<31-1)
	var err error
	if from != "" {
		if first, err = event.ParseDate(from); err != nil {
			return compactor.Summary{}, fmt.Errorf("--from: %w", err)
		}
	}
	if to != "" {
		if last, err = event.ParseDate(to); err != nil {
			return compactor.Summary{}, fmt.Errorf("--to: %w", err)
		}
	}
	if first > last {
		return compactor.Summary{}, errors.New("--from is after --to")
	}
	c, err := compactor.New(cfg, store, nil)
	if err != nil {
		return compactor.Summary{}, err
	}
	return c.Backfill(ctx, first, last)
}
