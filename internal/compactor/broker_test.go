package compactor

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/testenv"
)

// startKafka starts a broker (Apache Kafka unless opts say otherwise) holding src's records at the
// same partitions and offsets, control records with their header.
func startKafka(t *testing.T, src *memSource, opts ...testenv.KafkaOption) string {
	t.Helper()
	k := testenv.StartKafka(t, opts...)
	cl := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	resp, err := kadm.NewClient(cl).CreateTopics(context.Background(), testPartitions, 1, nil, "interactions", "users")
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	for topic, parts := range src.topics {
		for p, recs := range parts {
			batch := make([]*kgo.Record, 0, len(recs))
			for _, r := range recs {
				kr := &kgo.Record{Topic: topic, Partition: p, Value: r.Value}
				if r.Control != "" {
					kr.Headers = []kgo.RecordHeader{{Key: record.ControlHeader, Value: []byte(r.Control)}}
				}
				batch = append(batch, kr)
			}
			if err := cl.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return k.Addr
}

// TestApacheKafkaMatchesKfake runs `compactor run` on the same records in Apache Kafka and in kfake
// (the demo's broker): the two lakes are equal, object for object.
func TestApacheKafkaMatchesKfake(t *testing.T) {
	ds := genData(9, 200, 20, 2000)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	bin := buildCompactor(t)
	lakes := map[string]string{}
	for name, opts := range map[string][]testenv.KafkaOption{"apache": nil, "kfake": {testenv.Kfake()}} {
		addr := startKafka(t, src, opts...)
		lakes[name] = t.TempDir()
		out, err := exec.Command(bin, "run", "--brokers", addr, "--lake", "file://"+lakes[name]).CombinedOutput()
		if err != nil {
			t.Fatalf("compactor run on %s: %v\n%s", name, err, out)
		}
	}
	apache, kfake := snapshot(t, lakes["apache"]), snapshot(t, lakes["kfake"])
	if len(apache) == 0 {
		t.Fatal("an empty lake")
	}
	diffSnapshots(t, apache, kfake)
}

// buildCompactor builds cmd/compactor into a temp dir.
func buildCompactor(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(t.TempDir(), "compactor")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/compactor")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build compactor: %v\n%s", err, out)
	}
	return bin
}

// TestKillNineThenRerun kills the compactor process at random points of a run, then reruns it with
// --wait: the rerun waits for the killed run's lease to expire, takes it over and finishes the
// crashed plan, and the lake must equal a clean run's, object for object.
func TestKillNineThenRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ds := genData(8, 400, 60, 6000)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	addr := startKafka(t, src)
	bin := buildCompactor(t)
	compact := func(dir string, args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"run", "--brokers", addr, "--lake", "file://" + dir, "--chunk", "5000", "--lease-ttl", "3s"}, args...)...)
		cmd.Env = append(os.Environ(), "NOTESTREAM_PARALLEL=2")
		return cmd
	}

	cleanDir := t.TempDir()
	if out, err := compact(cleanDir).CombinedOutput(); err != nil {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	want := snapshot(t, cleanDir)
	objects := countFiles(t, cleanDir)

	rng := rand.New(rand.NewPCG(8, 8))
	// Kill at random points of a run's progress, measured in files written (wall time varies too much
	// with the machine's load to aim by the clock), until five kills have interrupted a run.
	for i, interrupted := 0, 0; interrupted < 5; i++ {
		if i == 15 {
			t.Fatalf("only %d of %d kills interrupted a run", interrupted, i)
		}
		dir := t.TempDir()
		after := rng.IntN(objects * 9 / 10)
		cmd := compact(dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(2 * time.Minute); countFiles(t, dir) < after; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				t.Fatalf("run %d: fewer than %d files after 2 minutes", i, after)
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err == nil {
			t.Logf("kill %d after %d files: the run had finished", i, after)
			continue
		}
		interrupted++
		_, leaseErr := os.Stat(filepath.Join(dir, filepath.FromSlash(LeaseKey)))
		killed := time.Now()
		out, err := compact(dir, "--wait", "1m").CombinedOutput()
		if err != nil {
			t.Fatalf("rerun after kill at %d files: %v\n%s", after, err, out)
		}
		if leaseErr == nil && (!strings.Contains(string(out), "took over an expired lease") || time.Since(killed) < 2*time.Second) {
			t.Fatalf("rerun after kill at %d files did not wait for the lease (%v):\n%s", after, time.Since(killed), out)
		}
		t.Run(fmt.Sprintf("kill-%d-after-%d-files", i, after), func(t *testing.T) {
			diffSnapshots(t, snapshot(t, dir), want)
		})
	}
}

// countFiles counts the files under dir, temporary ones included: a run's progress.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file renamed or removed while walking
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTwoProcessesStartedTogether starts two `compactor run` processes at once against one broker and
// one lake: without --wait one exits naming the other as holder; with it, the second runs after the
// first and reads nothing. Either way exactly one reads the records and the lake equals one run's.
func TestTwoProcessesStartedTogether(t *testing.T) {
	ds := genData(10, 200, 20, 2000)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	addr := startKafka(t, src, testenv.Kfake())
	bin := buildCompactor(t)
	compact := func(dir string, args ...string) *exec.Cmd {
		return exec.Command(bin, append([]string{"run", "--brokers", addr, "--lake", "file://" + dir}, args...)...)
	}
	cleanDir := t.TempDir()
	out, err := compact(cleanDir).CombinedOutput()
	if err != nil {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	want := snapshot(t, cleanDir)
	readAll := regexp.MustCompile(`[1-9][0-9]* records read`).FindString(string(out))
	if readAll == "" {
		t.Fatalf("clean run read nothing:\n%s", out)
	}
	for _, wait := range []string{"0s", "1m"} {
		t.Run("wait="+wait, func(t *testing.T) {
			dir := t.TempDir()
			cmds := []*exec.Cmd{compact(dir, "--wait", wait), compact(dir, "--wait", wait)}
			outs := make([]*strings.Builder, 2)
			for i, cmd := range cmds {
				outs[i] = &strings.Builder{}
				cmd.Stdout, cmd.Stderr = outs[i], outs[i]
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
			}
			refused, read := 0, 0
			for i, cmd := range cmds {
				err := cmd.Wait()
				out := outs[i].String()
				switch {
				case err != nil && wait == "0s" && strings.Contains(out, "another compactor holds the lake; exiting without writing") && strings.Contains(out, "expires="):
					refused++
				case err != nil:
					t.Fatalf("process %d: %v\n%s", i, err, out)
				case strings.Contains(out, "compactor run: run 1 ") && strings.Contains(out, readAll):
					read++
				case !strings.Contains(out, "compactor run: run 1 ") || !strings.Contains(out, " 0 records read"):
					t.Fatalf("process %d:\n%s", i, out)
				}
			}
			if read != 1 || (wait == "0s") != (refused == 1) {
				t.Fatalf("%d processes read the records, %d were refused; outputs:\n%s\n%s", read, refused, outs[0], outs[1])
			}
			diffSnapshots(t, snapshot(t, dir), want)
		})
	}
}
