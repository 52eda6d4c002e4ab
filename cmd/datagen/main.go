// Command datagen writes realistic synthetic user_interactions.csv and user_metadata.csv files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/notestream/notestream/internal/cli"
	"github.com/notestream/notestream/internal/datagen"
	"github.com/notestream/notestream/internal/event"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal kills at once: --shuffle generates every row before it writes one
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit(os.Stderr, "datagen", err))
}

// run is the command with its arguments (after the program name), environment and output.
func run(ctx context.Context, args []string, env func(string) (string, bool), _, stderr io.Writer) error {
	cfg := datagen.DefaultConfig()
	fs := flag.NewFlagSet("datagen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Users, "users", cfg.Users, "number of users")
	fs.IntVar(&cfg.Days, "days", cfg.Days, "number of days of interactions")
	start := fs.String("start", cfg.Start.Format(time.DateOnly), "first day, YYYY-MM-DD (UTC)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed: the same seed and flags give the same bytes")
	out := fs.String("out", ".", "output directory for user_interactions.csv and user_metadata.csv")
	fs.BoolVar(&cfg.Shuffle, "shuffle", false, "write interactions in random order instead of by timestamp")
	fs.BoolVar(&cfg.Incidents, "incidents", cfg.Incidents, "plant a slow release, a slow device ("+datagen.SlowDevice+"), an outage day and a spike day (README: Planted incidents)")
	clean := fs.Bool("clean", false, "no bad rows of any kind (overrides every --rate-*)")
	quiet := fs.Bool("quiet", false, "do not print the profile")
	rates := map[event.Reason]*float64{}
	for _, r := range dirtyReasons() {
		rates[r] = fs.Float64("rate-"+strings.ReplaceAll(r.String(), "_", "-"), cfg.Rates[r],
			"share of rows made bad with reason "+r.String())
	}
	if err := cli.Parse(fs, args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected arguments %q", fs.Args())
	}
	day, err := time.Parse(time.DateOnly, *start)
	if err != nil {
		return cli.Usagef("--start: %w", err)
	}
	cfg.Start = day
	for r, v := range rates {
		cfg.Rates[r] = *v
		if *clean {
			cfg.Rates[r] = 0
		}
	}
	if err := cfg.Validate(); err != nil {
		return cli.Usage(err)
	}

	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	began := time.Now()
	var prof *datagen.Profile
	err = writeFiles(filepath.Join(*out, "user_interactions.csv"), filepath.Join(*out, "user_metadata.csv"),
		func(interactions, users *os.File) error {
			var err error
			prof, err = datagen.Generate(cfg, ctxWriter{ctx, interactions}, ctxWriter{ctx, users})
			return err
		})
	if err != nil {
		return err
	}
	took := time.Since(began)
	if !*quiet {
		fmt.Fprintf(stderr, "wrote %s in %.2fs (%.0f rows/s)\n", *out, took.Seconds(), float64(prof.InteractionRows+prof.UserRows)/took.Seconds())
		return prof.Write(stderr)
	}
	return nil
}

// ctxWriter fails once ctx is done, so that an interrupt leaves no file behind (writeFiles).
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// dirtyReasons are the reasons with a rate flag, in contract order.
func dirtyReasons() []event.Reason {
	var rs []event.Reason
	for _, r := range append(append([]event.Reason{}, datagen.UserDirt...), datagen.InteractionDirt...) {
		if !containsReason(rs, r) {
			rs = append(rs, r)
		}
	}
	return rs
}

func containsReason(rs []event.Reason, r event.Reason) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// writeFiles writes both files through temporary names and renames them into place only on success,
// so a failed or interrupted run never leaves a truncated file under the final name. It does not fsync:
// the files can be generated again.
func writeFiles(interactionsPath, usersPath string, write func(interactions, users *os.File) error) (err error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			err = errors.Join(err, f.Close())
			if err != nil {
				os.Remove(f.Name())
			}
		}
	}()
	for _, path := range []string{interactionsPath, usersPath} {
		f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
		if err != nil {
			return err
		}
		files = append(files, f)
		if err := f.Chmod(0o644); err != nil {
			return err
		}
	}
	if err := write(files[0], files[1]); err != nil {
		return err
	}
	if err := os.Rename(files[0].Name(), interactionsPath); err != nil {
		return err
	}
	return os.Rename(files[1].Name(), usersPath)
}
