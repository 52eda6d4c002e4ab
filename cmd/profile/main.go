// Command profile writes data profiles (Markdown and JSON) of the interactions and user metadata CSV files.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/notestream/notestream/internal/cli"
	"github.com/notestream/notestream/internal/profile"
)

func main() {
	fs := flag.NewFlagSet("profile", flag.ExitOnError)
	interactions := fs.String("interactions", "user_interactions.csv", "user_interactions CSV file")
	users := fs.String("users", "user_metadata.csv", "user_metadata CSV file")
	out := fs.String("out", "profiles", "directory for interactions.{md,json} and users.{md,json}")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: profile [flags]\n\nWrites data profiles of both CSV files. Every flag can also be set as NOTESTREAM_<FLAG>.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if err := cli.EnvFlags(fs); err != nil {
		slog.Error("profile: flags", "err", err)
		os.Exit(2)
	}
	if err := run(*interactions, *users, *out); err != nil {
		slog.Error("profile failed", "err", err)
		os.Exit(1)
	}
}

func run(interactionsPath, usersPath, out string) error {
	uf, err := os.Open(usersPath)
	if err != nil {
		return err
	}
	defer uf.Close()
	usersRep, ids, err := profile.Users(uf, usersPath)
	if err != nil {
		return err
	}
	inf, err := os.Open(interactionsPath)
	if err != nil {
		return err
	}
	defer inf.Close()
	rep, err := profile.Interactions(inf, interactionsPath, ids)
	if err != nil {
		return err
	}
	if err := profile.WriteFiles(out, "users", usersRep); err != nil {
		return err
	}
	if err := profile.WriteFiles(out, "interactions", rep); err != nil {
		return err
	}
	slog.Info("profiles written", "dir", out, "interaction_rows", rep.Rows, "valid_events", rep.ValidEvents, "user_rows", usersRep.Rows)
	return nil
}
