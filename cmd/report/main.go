// Command report renders the lake's gold tables as a self-contained HTML page.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/notestream/notestream/internal/cli"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit(os.Stderr, "report", err))
}

// run is the command with its arguments (after the program name), environment and output.
func run(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lakeURL := fs.String("lake", "file://./lake", "lake root: file:///path, file://relative/path or s3://bucket/prefix (with the AWS_* environment variables)")
	out := fs.String("out", "report.html", "HTML file to write")
	through := fs.String("through", "", "last day to report, YYYY-MM-DD (default: the lake's last)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: report [flags]\n\nRenders the gold tables as one HTML page and prints their headline numbers. Every flag can also be set as NOTESTREAM_<FLAG>.\n\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, env); err != nil {
		return err
	}
	if *through != "" {
		if _, err := time.Parse(time.DateOnly, *through); err != nil {
			return cli.Usagef("--through %q: want YYYY-MM-DD", *through)
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := write(ctx, log, stdout, lake.S3ConfigFromEnv(env), *lakeURL, *out, *through); err != nil {
		log.Error("report failed", "err", err)
		return cli.Reported(err)
	}
	return nil
}

func write(ctx context.Context, log *slog.Logger, stdout io.Writer, s3 lake.S3Config, lakeURL, out, through string) error {
	store, err := lake.Open(ctx, lakeURL, s3)
	if err != nil {
		return err
	}
	g, err := report.Load(ctx, store)
	if err != nil {
		return err
	}
	if through != "" {
		g.Through(through)
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, g, lakeURL); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	log.Info("report written", "out", out, "days", len(g.Days))
	return report.WriteHeadline(stdout, g)
}
