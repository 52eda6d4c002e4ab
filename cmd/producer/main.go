// Command producer replays the user metadata and interactions CSV exports into Kafka.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/notestream/notestream/internal/cli"
	"github.com/notestream/notestream/internal/kafkaauth"
	"github.com/notestream/notestream/internal/producer"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("producer", flag.ExitOnError)
	var (
		cfg      producer.Config
		brokers  = fs.String("brokers", "127.0.0.1:9092", "comma-separated seed brokers")
		speed    = fs.String("speed", "max", `"max", or a factor of event time over wall time (3600 plays an hour per second)`)
		parts    = fs.Int("partitions", 8, "partitions of the topics this creates")
		repl     = fs.Int("replication", 1, "replication factor of the topics this creates")
		logLevel = fs.String("log-level", "info", "debug, info, warn or error")
		cpuProf  = fs.String("cpuprofile", "", "write a CPU profile of the replay to this file")
	)
	fs.StringVar(&cfg.UsersFile, "users", "", "user_metadata CSV file, replayed first")
	fs.StringVar(&cfg.InteractionsFile, "interactions", "", `user_interactions CSV file, or "-" for stdin`)
	fs.StringVar(&cfg.TopicInteractions, "topic-interactions", "interactions", "interactions topic")
	fs.StringVar(&cfg.TopicUsers, "topic-users", "users", "users topic (log-compacted)")
	fs.StringVar(&cfg.TopicDLQ, "topic-dlq", "ingest.dlq", "dead-letter topic for unreadable rows")
	fs.StringVar(&cfg.TopicLate, "topic-late", "interactions.late", "late events topic (written by the consumer; created here)")
	fs.BoolVar(&cfg.Resume, "resume", false, "skip rows an earlier, interrupted replay of the same files already produced")
	fs.DurationVar(&cfg.ProgressInterval, "progress-interval", time.Second, "send event-time progress control records at least this often")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "give up when the brokers stay unreachable this long")
	fs.StringVar(&cfg.Compression, "compression", "snappy", "batch compression: none, snappy, lz4 or zstd")
	auth := kafkaauth.Flags(fs)
	if err := cli.EnvFlags(fs); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		return 2
	}
	_ = fs.Parse(os.Args[1:])
	cfg.Security = *auth

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "producer: --log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg.Brokers = strings.Split(*brokers, ",")
	cfg.Partitions, cfg.Replication = int32(*parts), int16(*repl)
	if *speed != "max" {
		f, err := strconv.ParseFloat(*speed, 64)
		if err != nil || f <= 0 {
			fmt.Fprintf(os.Stderr, "producer: --speed %q: want max or a positive factor\n", *speed)
			return 2
		}
		cfg.Speed = f
	}
	cfg.Logger = log
	if term.IsTerminal(int(os.Stderr.Fd())) {
		cfg.Reporter = &producer.BarReporter{W: os.Stderr}
	} else {
		cfg.Reporter = &producer.LogReporter{Log: log}
	}

	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "producer: --cpuprofile:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "producer: --cpuprofile:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sums, err := producer.Run(ctx, cfg)
	for _, s := range sums {
		fmt.Println(s)
	}
	if err != nil {
		log.Error("replay failed", "err", err)
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "producer: interrupted; run again with --resume to continue without duplicates")
		}
		return 1
	}
	return 0
}
