package compactor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/lease"
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

// TestKillNineThenRerun kills the compactor process at random points of a run, then reruns it: the
// rerun waits for the lease of the unit the killed run was doing to expire, takes it over and
// finishes the crashed plan, and the lake must equal a clean run's, object for object.
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
		held := heldUnits(t, dir)
		killed := time.Now()
		out, err := compact(dir).CombinedOutput()
		if err != nil {
			t.Fatalf("rerun after kill at %d files: %v\n%s", after, err, out)
		}
		if len(held) > 0 && (!strings.Contains(string(out), "took over an expired lease") || time.Since(killed) < 2*time.Second) {
			t.Fatalf("rerun after kill at %d files did not wait for the leases of %v (%v):\n%s", after, held, time.Since(killed), out)
		}
		t.Run(fmt.Sprintf("kill-%d-after-%d-files", i, after), func(t *testing.T) {
			diffSnapshots(t, snapshot(t, dir), want)
		})
	}
}

// heldUnits lists the units whose leases a killed run left held: not released, with no done marker.
func heldUnits(t *testing.T, dir string) []string {
	t.Helper()
	var held []string
	root := filepath.Join(dir, filepath.FromSlash(UnitLeasePrefix))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		var run int64
		var unit string
		if _, err := fmt.Sscanf(filepath.ToSlash(rel), "run-%d/", &run); err != nil {
			return nil
		}
		unit = strings.TrimSuffix(strings.SplitN(filepath.ToSlash(rel), "/", 2)[1], ".json")
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // replaced meanwhile
		}
		var rec lease.Record
		if json.Unmarshal(b, &rec) != nil || rec.Released {
			return nil
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(doneKey(run, unit)))); err != nil {
			held = append(held, unit)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return held
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

// holdsUnitLease reports whether the process pid holds the lease of a unit not done yet in the lake
// at dir. A unit's lease outlives the unit (it is dropped, not released), so its done marker tells.
func holdsUnitLease(dir string, pid int) bool {
	holder := []byte(fmt.Sprintf(" pid %d\"", pid))
	leases := filepath.Join(dir, filepath.FromSlash(UnitLeasePrefix))
	found := false
	filepath.WalkDir(leases, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found || !strings.HasSuffix(path, ".json") {
			return nil // a lease deleted while it is read is not held
		}
		b, _ := os.ReadFile(path)
		if !bytes.Contains(b, holder) || bytes.Contains(b, []byte(`"released":true`)) {
			return nil
		}
		rel, _ := filepath.Rel(leases, path)
		run, unit, _ := strings.Cut(filepath.ToSlash(rel), "/") // run-<R>, <unit>.json
		_, err = os.Stat(filepath.Join(dir, "_state", run, "done", filepath.FromSlash(unit)))
		found = errors.Is(err, fs.ErrNotExist)
		return nil
	})
	return found
}

// brokerLake is a broker holding a dataset's records, the built compactor, and the lake of one clean
// `compactor run` over them.
type brokerLake struct {
	t       *testing.T
	bin     string
	addr    string
	args    []string // flags of every run, after --brokers and --lake
	want    map[string][32]byte
	objects int   // files of the clean lake
	records int64 // records the clean run read
}

func newBrokerLake(t *testing.T, ds dataset, args ...string) *brokerLake {
	t.Helper()
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	b := &brokerLake{t: t, bin: buildCompactor(t), addr: startKafka(t, src, testenv.Kfake()), args: args}
	dir := t.TempDir()
	out, err := b.compact(dir).CombinedOutput()
	if err != nil {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	b.want, b.objects = snapshot(t, dir), countFiles(t, dir)
	if b.records = summaryOf(t, string(out)).records; b.records == 0 {
		t.Fatalf("the clean run read nothing:\n%s", out)
	}
	return b
}

func (b *brokerLake) compact(dir string, args ...string) *exec.Cmd {
	return exec.Command(b.bin, append(append([]string{"run", "--brokers", b.addr, "--lake", "file://" + dir}, b.args...), args...)...)
}

// start starts n compactor processes on dir at once.
func (b *brokerLake) start(dir string, n int, args ...string) ([]*exec.Cmd, []*strings.Builder) {
	b.t.Helper()
	cmds := make([]*exec.Cmd, n)
	outs := make([]*strings.Builder, n)
	for i := range cmds {
		cmds[i], outs[i] = b.compact(dir, args...), &strings.Builder{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			b.t.Fatal(err)
		}
	}
	return cmds, outs
}

// runSummary is what a `compactor run` says it did.
type runSummary struct{ run, units, records int64 }

var summaryLine = regexp.MustCompile(`compactor run: run (\d+) in \S+: (\d+) units of work done here, (\d+) records read`)

func summaryOf(t *testing.T, out string) runSummary {
	t.Helper()
	m := summaryLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line in:\n%s", out)
	}
	var s runSummary
	for i, p := range []*int64{&s.run, &s.units, &s.records} {
		*p, _ = strconv.ParseInt(m[i+1], 10, 64)
	}
	return s
}

// checkShared checks the summaries of the processes that ran to the end: each reports run 1, every
// record was read once among them, and at least minSharing did units.
func (b *brokerLake) checkShared(outs []string, minSharing int) {
	b.t.Helper()
	var records int64
	sharing := 0
	for i, out := range outs {
		s := summaryOf(b.t, out)
		if s.run != 1 {
			b.t.Errorf("process %d reports run %d, want 1:\n%s", i, s.run, out)
		}
		records += s.records
		if s.units > 0 {
			sharing++
		}
	}
	if records != b.records || sharing < minSharing {
		b.t.Fatalf("%d of %d processes did units, reading %d records (the topics hold %d); outputs:\n%s",
			sharing, len(outs), records, b.records, strings.Join(outs, "\n"))
	}
}

// TestProcessesShareOneRun starts `compactor run` processes together against one broker and one lake:
// they join one run and share its units, each record is read once, and the lake equals one process's
// object for object. One of three killed -9 mid-run has its units taken over once their leases
// expire, and the lake is still equal.
func TestProcessesShareOneRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	b := newBrokerLake(t, genData(10, 400, 60, 6000), "--chunk", "3000", "--parallel", "1", "--lease-ttl", "3s")
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d-processes", n), func(t *testing.T) {
			dir := t.TempDir()
			cmds, outs := b.start(dir, n)
			var got []string
			for i, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("process %d: %v\n%s", i, err, outs[i])
				}
				got = append(got, outs[i].String())
			}
			b.checkShared(got, 2)
			diffSnapshots(t, snapshot(t, dir), b.want)
		})
	}
	t.Run("one-of-3-killed", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(10, 10))
		tookOver := 0
		for attempt := range 3 {
			dir := t.TempDir()
			cmds, outs := b.start(dir, 3)
			after := b.objects/10 + rng.IntN(b.objects*4/10)
			for deadline := time.Now().Add(2 * time.Minute); countFiles(t, dir) < after; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("attempt %d: fewer than %d files after 2 minutes", attempt, after)
				}
			}
			// Killed while it holds a unit's lease, so that a survivor has one to take over: units
			// are short, and a kill between two of them leaves nothing to take over.
			for deadline := time.Now().Add(2 * time.Minute); !holdsUnitLease(dir, cmds[0].Process.Pid) && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			}
			cmds[0].Process.Signal(syscall.SIGKILL)
			if err := cmds[0].Wait(); err == nil {
				t.Logf("attempt %d: the kill after %d files came after the process finished", attempt, after)
			}
			for i, cmd := range cmds[1:] {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("attempt %d: survivor %d: %v\n%s", attempt, i+1, err, outs[i+1])
				}
				out := outs[i+1].String()
				if strings.Contains(out, "took over an expired lease") {
					tookOver++
				}
				if s := summaryOf(t, out); s.run != 1 {
					t.Errorf("attempt %d: survivor %d reports run %d, want 1:\n%s", attempt, i+1, s.run, out)
				}
			}
			t.Run(fmt.Sprintf("kill-after-%d-files", after), func(t *testing.T) { diffSnapshots(t, snapshot(t, dir), b.want) })
		}
		if tookOver == 0 {
			t.Fatal("no survivor took over a killed process's unit")
		}
	})
}
