package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// builds holds one build per package path for the life of the test process.
var builds = struct {
	sync.Mutex
	m map[string]*build
}{m: make(map[string]*build)}

type build struct {
	once sync.Once
	path string
	err  error
}

// binDir is this process's build directory. Nothing runs after a package's tests to remove it, so
// each process removes the directories of processes that no longer exist.
var binDir = sync.OnceValues(func() (string, error) {
	removeStaleBinDirs()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("notestream-testbin-%d", os.Getpid()))
	return dir, os.MkdirAll(dir, 0o755)
})

func removeStaleBinDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "notestream-testbin-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "notestream-testbin-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

// Binary builds the main package at the module-relative path pkg (such as "./cmd/producer") once per
// test process and returns the executable's path.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	builds.Lock()
	b, ok := builds.m[pkg]
	if !ok {
		b = &build{}
		builds.m[pkg] = b
	}
	builds.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(pkg) })
	if b.err != nil {
		t.Fatalf("testenv: %v", b.err)
	}
	return b.path
}

func goBuild(pkg string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := binDir()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	// One directory per package keeps two packages with the same last element apart.
	out := filepath.Join(dir, strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "_"), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
	}
	return out, nil
}

// moduleRoot finds the directory of go.mod above the working directory (the package under test).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
