// Command broker runs an embedded Kafka-protocol broker (kfake) with its log in a data directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/notestream/notestream/internal/broker"
	"github.com/notestream/notestream/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal kills the process at once if saving hangs
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit(os.Stderr, "broker", err))
}

// run is the command with its arguments (after the program name), environment and output. It serves
// until ctx is done.
func run(ctx context.Context, args []string, env func(string) (string, bool), _, stderr io.Writer) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg broker.Config
	fs.StringVar(&cfg.Listen, "listen", broker.DefaultListen, "host:port to serve and advertise to clients")
	fs.StringVar(&cfg.DataDir, "data-dir", "data/broker", "directory for topics, segments, offsets and groups; a restart resumes them")
	fs.BoolVar(&cfg.SyncWrites, "sync", false, "fsync every produced batch before acknowledging it (survives power loss, not only a crash)")
	fs.IntVar(&cfg.Partitions, "partitions", 1, "partitions of auto-created topics")
	fs.StringVar(&cfg.SASLUser, "sasl-user", "", "require SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) as this user")
	fs.StringVar(&cfg.SASLPassword, "sasl-password", "", "password of --sasl-user")
	fs.TextVar(&cfg.LogLevel, "log-level", slog.LevelInfo, "minimum log level: DEBUG, INFO, WARN, ERROR")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: broker [flags]\n\nRuns a single-node Kafka-protocol broker. Every flag can also be set as NOTESTREAM_<FLAG>.\n\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, env); err != nil {
		return err
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	cfg.Logger = log
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("broker failed", "err", err)
		return cli.Reported(err)
	}
	return nil
}

func serve(ctx context.Context, cfg broker.Config, log *slog.Logger) error {
	b, err := broker.Start(cfg)
	if err != nil {
		return err
	}
	log.Info("broker serving", "addr", b.Addr(), "data_dir", cfg.DataDir, "sync", cfg.SyncWrites,
		"partitions", cfg.Partitions, "sasl", cfg.SASLUser != "")
	<-ctx.Done()
	log.Info("broker stopping: saving state to the data directory")
	b.Close()
	log.Info("broker stopped")
	return nil
}
