// Command producer replays the user metadata and interactions CSV exports into Kafka.
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
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/kafkaauth"
	"github.com/notestream/notestream/internal/producer"
	"github.com/notestream/notestream/internal/progress"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit(os.Stderr, "producer", err))
}

// run is the command with its arguments (after the program name), environment and output.
func run(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg      producer.Config
		brokers  = fs.String("brokers", "127.0.0.1:9092", "comma-separated seed brokers")
		speed    = fs.String("speed", "max", `"max", or a factor of event time over wall time (3600 plays an hour per second)`)
		parts    = fs.Int("partitions", 8, "partitions of the topics this creates")
		repl     = fs.Int("replication", 1, "replication factor of the topics this creates")
		logLevel = fs.String("log-level", "info", "debug, info, warn or error")
		cpuProf  = fs.String("cpuprofile", "", "write a CPU profile of the replay to this file")
		sortMem  = fs.String("sort-memory", "1G", "memory --order time sorts in, in bytes or with a K, M or G suffix (powers of 1024): runs of half of it, one filled while the other spills to --sort-dir")
	)
	fs.StringVar(&cfg.UsersFile, "users", "", "user_metadata CSV file, replayed first")
	fs.StringVar(&cfg.InteractionsFile, "interactions", "", `user_interactions CSV file, or "-" for stdin`)
	fs.StringVar(&cfg.TopicInteractions, "topic-interactions", event.TopicInteractions, "interactions topic")
	fs.StringVar(&cfg.TopicUsers, "topic-users", event.TopicUsers, "users topic (log-compacted)")
	fs.StringVar(&cfg.TopicDLQ, "topic-dlq", event.TopicDLQ, "dead-letter topic for unreadable rows")
	fs.StringVar(&cfg.TopicLate, "topic-late", event.TopicLate, "late events topic (written by the consumer; created here)")
	fs.BoolVar(&cfg.Resume, "resume", false, "skip rows an earlier, interrupted replay of the same files already produced")
	fs.DurationVar(&cfg.ProgressInterval, "progress-interval", time.Second, "send event-time progress control records at least this often")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "give up when the brokers stay unreachable this long")
	fs.StringVar(&cfg.Order, "order", producer.OrderTime, `replay order of --interactions: "time" (event time, ties in file order; sorts the file first) or "file"; stdin ("-") is always replayed in file order`)
	fs.StringVar(&cfg.SortDir, "sort-dir", "", "directory sorted runs spill to, removed when the replay ends (default: the system temp dir, $TMPDIR or /tmp)")
	fs.StringVar(&cfg.Compression, "compression", "snappy", "batch compression: none, snappy, lz4 or zstd")
	auth := kafkaauth.Flags(fs)
	if err := cli.Parse(fs, args, env); err != nil {
		return err
	}
	cfg.Security = *auth

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return cli.Usagef("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg.Brokers = strings.Split(*brokers, ",")
	cfg.Partitions, cfg.Replication = int32(*parts), int16(*repl)
	if *speed != "max" {
		f, err := strconv.ParseFloat(*speed, 64)
		if err != nil || f <= 0 {
			return cli.Usagef("--speed %q: want max or a positive factor", *speed)
		}
		cfg.Speed = f
	}
	mem, err := cli.ParseSize(*sortMem)
	if err != nil {
		return cli.Usagef("--sort-memory %q: %w", *sortMem, err)
	}
	cfg.SortMemory = mem
	if _, set := env("GOMEMLIMIT"); !set {
		// The sort's two run buffers plus the rest of the producer (the README's 128 MiB): a soft
		// limit, so a collector starved of CPU on a busy machine still keeps the heap near the bound.
		debug.SetMemoryLimit(2*mem + 128<<20)
	}
	cfg.Logger = log
	if progress.IsTerminal(stderr) {
		cfg.Reporter = &producer.BarReporter{W: stderr}
	} else {
		cfg.Reporter = &producer.LogReporter{Log: log}
	}

	stopProfile, err := cli.CPUProfile(*cpuProf)
	if err != nil {
		return cli.Usagef("--cpuprofile: %w", err)
	}
	defer func() { err = errors.Join(err, stopProfile()) }()

	sums, err := producer.Run(ctx, cfg)
	for _, s := range sums {
		fmt.Fprintln(stdout, s)
	}
	if err != nil {
		log.Error("replay failed", "err", err)
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "producer: interrupted; run again with --resume to continue without duplicates")
		}
		return cli.Reported(err)
	}
	return nil
}
