package main_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/notestream/notestream/internal/reference"
	"github.com/notestream/notestream/internal/testenv"
)

// compact runs `compactor run` into lakeDir. The deadline only keeps a hang from blocking the test
// run; a kill by it fails the test.
func compact(t *testing.T, env []string, lakeDir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t, "./cmd/compactor"), append([]string{"run", "--lake", "file://" + lakeDir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("compactor still running after %v:\n%s", 2*time.Minute, out)
	}
	return string(out), err
}

// wantFailure checks a run that must exit non-zero, and not from a signal.
func wantFailure(t *testing.T, out string, err error) {
	t.Helper()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() <= 0 {
		t.Fatalf("want a non-zero exit, got %v:\n%s", err, out)
	}
}

// parquetFiles lists the Parquet objects under dir (none if dir does not exist).
func parquetFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil && strings.HasSuffix(path, ".parquet") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// dailyMetrics is the part of a gold/daily_metrics row this test checks.
type dailyMetrics struct {
	DAU      int64 `parquet:"dau"`
	Sessions int64 `parquet:"sessions"`
}

// TestSASL runs the compactor against a broker that requires SCRAM-SHA-256: with the right password
// it compacts what the producer wrote; with a wrong one it stops at once with the cause.
func TestSASL(t *testing.T) {
	k := testenv.StartKafka(t, testenv.SASL("alice", "s3cret"))
	data := t.TempDir()
	if out, err := exec.Command(testenv.Binary(t, "./cmd/datagen"), "--users", "300", "--days", "2",
		"--start", "2023-07-01", "--seed", "3", "--clean", "--quiet", "--out", data).CombinedOutput(); err != nil {
		t.Fatalf("datagen: %v\n%s", err, out)
	}
	interactions, users := filepath.Join(data, "user_interactions.csv"), filepath.Join(data, "user_metadata.csv")
	if out, err := exec.Command(testenv.Binary(t, "./cmd/producer"), "--brokers", k.Addr, "--users", users,
		"--interactions", interactions, "--sasl-mechanism", "scram-sha-256", "--sasl-user", k.User,
		"--sasl-password", k.Password).CombinedOutput(); err != nil {
		t.Fatalf("producer: %v\n%s", err, out)
	}

	t.Run("wrong password", func(t *testing.T) {
		lakeDir := t.TempDir()
		// A timeout the test never reaches: only the login check can end the run this soon.
		out, err := compact(t, testenv.SASLEnv(k.User, "wrong-pass"), lakeDir, "--brokers", k.Addr, "--timeout", "10m")
		wantFailure(t, out, err)
		if !strings.Contains(out, "SASL login") || !strings.Contains(out, "--sasl-user") || strings.Contains(out, "unreachable") {
			t.Errorf("want the SASL login named as the cause, got:\n%s", out)
		}
		if strings.Contains(out, "wrong-pass") {
			t.Errorf("the password is in the output:\n%s", out)
		}
		if files := parquetFiles(t, lakeDir); len(files) > 0 {
			t.Errorf("a failed login wrote %v", files)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		addr := testenv.FreeAddr(t) // nothing listens there
		out, err := compact(t, testenv.SASLEnv(k.User, k.Password), t.TempDir(), "--brokers", addr, "--timeout", "1s")
		wantFailure(t, out, err)
		if !strings.Contains(out, "brokers unreachable: "+addr+" for 1s") {
			t.Errorf("want the brokers named unreachable, got:\n%s", out)
		}
	})

	t.Run("right password", func(t *testing.T) {
		want, err := reference.ComputeFiles(interactions, users, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		lakeDir := t.TempDir()
		out, err := compact(t, testenv.SASLEnv(k.User, k.Password), lakeDir, "--brokers", k.Addr)
		if err != nil {
			t.Fatalf("compactor: %v\n%s", err, out)
		}
		if strings.Contains(out, k.Password) {
			t.Errorf("the password is in the output:\n%s", out)
		}
		for _, date := range []string{"2023-07-01", "2023-07-02"} {
			files := parquetFiles(t, filepath.Join(lakeDir, "gold", "daily_metrics", "date="+date))
			if len(files) != 1 {
				t.Fatalf("%s: gold/daily_metrics has %v, want one object", date, files)
			}
			rows, err := parquet.ReadFile[dailyMetrics](files[0])
			if err != nil {
				t.Fatalf("read %s: %v", files[0], err)
			}
			exact := want.Days[date]
			if len(rows) != 1 || exact.DAU == 0 || rows[0].DAU != int64(exact.DAU) || rows[0].Sessions != exact.Sessions.Count {
				t.Errorf("%s: gold/daily_metrics %+v, want dau %d and %d sessions", date, rows, exact.DAU, exact.Sessions.Count)
			}
		}
	})
}
