// Command report renders the lake's gold tables as a self-contained HTML page.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/notestream/notestream/internal/cli"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/report"
)

func main() {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	lakeURL := fs.String("lake", "file://./lake", "lake root: file:///path, file://relative/path or s3://bucket/prefix (with the AWS_* environment variables)")
	out := fs.String("out", "report.html", "HTML file to write")
	through := fs.String("through", "", "last day to report, YYYY-MM-DD (default: the lake's last)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: report [flags]\n\nRenders the gold tables as one HTML page and prints their headline numbers. Every flag can also be set as NOTESTREAM_<FLAG>.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if err := cli.EnvFlags(fs); err != nil {
		slog.Error("report: flags", "err", err)
		os.Exit(2)
	}
	if err := run(context.Background(), *lakeURL, *out, *through); err != nil {
		slog.Error("report failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, lakeURL, out, through string) error {
	store, err := lake.Open(ctx, lakeURL, lake.S3ConfigFromEnv())
	if err != nil {
		return err
	}
	g, err := report.Load(ctx, store)
	if err != nil {
		return err
	}
	if through != "" {
		if _, err := time.Parse(time.DateOnly, through); err != nil {
			return fmt.Errorf("--through %q: want YYYY-MM-DD", through)
		}
		g.Through(through)
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, g, lakeURL); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	slog.Info("report written", "out", out, "days", len(g.Days))
	return report.WriteHeadline(os.Stdout, g)
}
