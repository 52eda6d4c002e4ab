package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnvName(t *testing.T) {
	f := func(flagName, want string) {
		t.Helper()
		if got := EnvName(flagName); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flagName, got, want)
		}
	}
	f("tz", "NOTESTREAM_TZ")
	f("sasl-user", "NOTESTREAM_SASL_USER")
	f("data-dir", "NOTESTREAM_DATA_DIR")
}

func newFlags() (*flag.FlagSet, *string, *int, *time.Duration) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9092", "")
	parts := fs.Int("partitions", 1, "")
	lateness := fs.Duration("allowed-lateness", 5*time.Minute, "")
	return fs, listen, parts, lateness
}

// mapEnv looks variables up in m, as os.LookupEnv in the environment.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEnvFlags(t *testing.T) {
	env := mapEnv(map[string]string{
		"NOTESTREAM_LISTEN":           "127.0.0.1:1",
		"NOTESTREAM_PARTITIONS":       "8",
		"NOTESTREAM_ALLOWED_LATENESS": "1m",
	})

	// The command line wins over the environment, whether EnvFlags runs before or after Parse.
	for _, before := range []bool{true, false} {
		fs, listen, parts, lateness := newFlags()
		if before {
			if err := EnvFlags(fs, env); err != nil {
				t.Fatal(err)
			}
		}
		if err := fs.Parse([]string{"--partitions", "3"}); err != nil {
			t.Fatal(err)
		}
		if !before {
			if err := EnvFlags(fs, env); err != nil {
				t.Fatal(err)
			}
		}
		if *listen != "127.0.0.1:1" || *parts != 3 || *lateness != time.Minute {
			t.Errorf("before=%v: listen=%q partitions=%d lateness=%v", before, *listen, *parts, *lateness)
		}
	}
}

func TestEnvFlagsBadValue(t *testing.T) {
	fs, _, _, _ := newFlags()
	err := EnvFlags(fs, mapEnv(map[string]string{"NOTESTREAM_PARTITIONS": "many"}))
	if err == nil || !strings.Contains(err.Error(), "NOTESTREAM_PARTITIONS") {
		t.Fatalf("EnvFlags = %v, want an error naming NOTESTREAM_PARTITIONS", err)
	}
}

func TestParse(t *testing.T) {
	env := mapEnv(map[string]string{"NOTESTREAM_LISTEN": "127.0.0.1:1", "NOTESTREAM_PARTITIONS": "8"})
	fs, listen, parts, _ := newFlags()
	var out strings.Builder
	fs.SetOutput(&out)
	if err := Parse(fs, []string{"--partitions", "3"}, env); err != nil {
		t.Fatal(err)
	}
	if *listen != "127.0.0.1:1" || *parts != 3 {
		t.Errorf("listen=%q partitions=%d, want the environment's listen and the command line's partitions", *listen, *parts)
	}

	// f checks the exit status of Parse's error and what Exit prints for it.
	f := func(args []string, env map[string]string, wantCode int, wantPrinted string) {
		t.Helper()
		fs, _, _, _ := newFlags()
		var flagOut strings.Builder
		fs.SetOutput(&flagOut)
		err := Parse(fs, args, mapEnv(env))
		var printed strings.Builder
		if code := Exit(&printed, "test", err); code != wantCode || printed.String() != wantPrinted {
			t.Errorf("%q %v: exit %d printing %q, want %d printing %q", args, env, code, printed.String(), wantCode, wantPrinted)
		}
		if wantCode == 2 && wantPrinted == "" && !strings.Contains(flagOut.String(), "-partitions") {
			t.Errorf("%q: the flag package printed %q, want the usage", args, flagOut.String())
		}
	}
	f(nil, nil, 0, "")
	f([]string{"-h"}, nil, 0, "")                              // the flag package printed the usage
	f([]string{"--nope"}, nil, 2, "")                          // the flag package printed the error and usage
	f([]string{"--partitions", "x"}, nil, 2, "")               // likewise
	f(nil, map[string]string{"NOTESTREAM_PARTITIONS": "x"}, 2, // the environment is not the flag package's
		"test: cli: NOTESTREAM_PARTITIONS=\"x\" for flag -partitions: parse error\n")
}

func TestExit(t *testing.T) {
	f := func(err error, wantCode int, wantPrinted string) {
		t.Helper()
		var printed strings.Builder
		if code := Exit(&printed, "test", err); code != wantCode || printed.String() != wantPrinted {
			t.Errorf("Exit(%v) = %d printing %q, want %d printing %q", err, code, printed.String(), wantCode, wantPrinted)
		}
	}
	f(nil, 0, "")
	f(errors.New("broken"), 1, "test: broken\n")
	f(fmt.Errorf("open lake: %w", Usagef("--lake %q: no scheme", "x")), 2, "test: open lake: --lake \"x\": no scheme\n")
	f(Reported(errors.New("logged")), 1, "")
	f(Reported(Usage(errors.New("logged"))), 2, "")
	if Usage(nil) != nil || Reported(nil) != nil {
		t.Error("Usage(nil) or Reported(nil) is not nil")
	}
}

func TestCPUProfile(t *testing.T) {
	stop, err := CPUProfile("")
	if err != nil || stop() != nil {
		t.Fatalf("no profile: %v", err)
	}
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	if stop, err = CPUProfile(path); err != nil {
		t.Fatal(err)
	}
	if _, err := CPUProfile(filepath.Join(t.TempDir(), "second.pprof")); err == nil {
		t.Error("a second profile started while the first runs")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("profile %s: %v, %v", path, fi, err)
	}
	if _, err := CPUProfile(filepath.Join(t.TempDir(), "no", "dir")); err == nil {
		t.Error("a profile in a missing directory started")
	}
}

func TestParseSize(t *testing.T) {
	f := func(in string, want int64) {
		t.Helper()
		got, err := ParseSize(in)
		if want < 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", in, got)
			}
			return
		}
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	f("268435456", 268435456)
	f("128M", 128<<20)
	f("1g", 1<<30)
	f("4K", 4096)
	f("0", -1)
	f("-1M", -1)
	f("M", -1)
	f("9000000000G", -1)
}
