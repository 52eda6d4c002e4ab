package cli

import (
	"flag"
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

func TestEnvFlags(t *testing.T) {
	t.Setenv("NOTESTREAM_LISTEN", "127.0.0.1:1")
	t.Setenv("NOTESTREAM_PARTITIONS", "8")
	t.Setenv("NOTESTREAM_ALLOWED_LATENESS", "1m")

	// The command line wins over the environment, whether EnvFlags runs before or after Parse.
	for _, before := range []bool{true, false} {
		fs, listen, parts, lateness := newFlags()
		if before {
			if err := EnvFlags(fs); err != nil {
				t.Fatal(err)
			}
		}
		if err := fs.Parse([]string{"--partitions", "3"}); err != nil {
			t.Fatal(err)
		}
		if !before {
			if err := EnvFlags(fs); err != nil {
				t.Fatal(err)
			}
		}
		if *listen != "127.0.0.1:1" || *parts != 3 || *lateness != time.Minute {
			t.Errorf("before=%v: listen=%q partitions=%d lateness=%v", before, *listen, *parts, *lateness)
		}
	}
}

func TestEnvFlagsBadValue(t *testing.T) {
	t.Setenv("NOTESTREAM_PARTITIONS", "many")
	fs, _, _, _ := newFlags()
	err := EnvFlags(fs)
	if err == nil || !strings.Contains(err.Error(), "NOTESTREAM_PARTITIONS") {
		t.Fatalf("EnvFlags = %v, want an error naming NOTESTREAM_PARTITIONS", err)
	}
}
