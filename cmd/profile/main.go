// Command profile writes data profiles (Markdown and JSON) of the interactions and user metadata CSV files.
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

	"github.com/notestream/notestream/internal/cli"
	"github.com/notestream/notestream/internal/profile"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit(os.Stderr, "profile", err))
}

// run is the command with its arguments (after the program name), environment and output.
func run(ctx context.Context, args []string, env func(string) (string, bool), _, stderr io.Writer) error {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	interactions := fs.String("interactions", "user_interactions.csv", "user_interactions CSV file")
	users := fs.String("users", "user_metadata.csv", "user_metadata CSV file")
	out := fs.String("out", "profiles", "directory for interactions.{md,json} and users.{md,json}")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: profile [flags]\n\nWrites data profiles of both CSV files. Every flag can also be set as NOTESTREAM_<FLAG>.\n\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, env); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := write(ctx, log, *interactions, *users, *out); err != nil {
		log.Error("profile failed", "err", err)
		return cli.Reported(err)
	}
	return nil
}

func write(ctx context.Context, log *slog.Logger, interactionsPath, usersPath, out string) error {
	uf, err := os.Open(usersPath)
	if err != nil {
		return err
	}
	defer uf.Close()
	usersRep, ids, err := profile.Users(ctxReader{ctx, uf}, usersPath)
	if err != nil {
		return err
	}
	inf, err := os.Open(interactionsPath)
	if err != nil {
		return err
	}
	defer inf.Close()
	rep, err := profile.Interactions(ctxReader{ctx, inf}, interactionsPath, ids)
	if err != nil {
		return err
	}
	if err := profile.WriteFiles(out, "users", usersRep); err != nil {
		return err
	}
	if err := profile.WriteFiles(out, "interactions", rep); err != nil {
		return err
	}
	log.Info("profiles written", "dir", out, "interaction_rows", rep.Rows, "valid_events", rep.ValidEvents, "user_rows", usersRep.Rows)
	return nil
}

// ctxReader stops reading once ctx is done, so that an interrupt ends a profile of a large file.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
