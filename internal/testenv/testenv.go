// Package testenv starts real servers for tests (Apache Kafka, a kfake broker, redis-server, MinIO)
// and runs kcat and Kafka's Java tools.
//
// Each server runs as a child process in its own process group, on a free loopback port, with its
// files and log in a temp dir of the test. Stop kills it by PID with SIGKILL (a crash, not a shutdown);
// Start runs it again on the same port and directory; t.Cleanup stops it, and prints its log when the
// test failed.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds how long a server may take to answer after it starts; MinIO is the slowest.
const readyTimeout = 60 * time.Second

// proc is one server process that can be killed and started again with the same arguments.
type proc struct {
	t       testing.TB
	name    string // for messages: "redis-server", "minio", "broker"
	path    string
	args    []string
	env     []string // added to the test's environment
	logPath string
	ready   func(ctx context.Context) error

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	err    error         // cmd.Wait's result, valid once exited is closed
}

func newProc(t testing.TB, name, path string, args, env []string, dir string, ready func(context.Context) error) *proc {
	p := &proc{t: t, name: name, path: path, args: args, env: env, logPath: filepath.Join(dir, name+".log"), ready: ready}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.printLog()
		}
	})
	return p
}

// The failure paths below need not print the log: the cleanup does for every failed test.

// errExited marks a server that exited before it was ready.
var errExited = errors.New("exited before it was ready")

// startFresh starts p after pick has chosen its ports and arguments. If p exits before it is ready,
// most likely because another process took a port between freePort releasing it and p binding it,
// it picks again, up to three attempts.
func (p *proc) startFresh(pick func()) {
	p.t.Helper()
	for attempt := 1; ; attempt++ {
		pick()
		err := p.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errExited) || attempt == 3 {
			p.t.Fatalf("testenv: %v", err)
		}
		p.t.Logf("testenv: %v; trying other ports", err)
	}
}

// restart starts a stopped p again on its own ports.
func (p *proc) restart() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.t.Fatalf("testenv: %v", err)
	}
}

// start runs the process and waits until ready answers.
func (p *proc) start() error {
	p.t.Helper()
	if p.cmd != nil {
		return fmt.Errorf("%s is already running (pid %d)", p.name, p.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s log: %w", p.name, err)
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	err = cmd.Start()
	logf.Close() // the child holds its own copy
	if err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		p.err = cmd.Wait()
		close(exited)
	}(p.exited)

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for {
		err := p.ready(ctx)
		if err == nil {
			p.t.Logf("testenv: %s pid %d ready in %v", p.name, cmd.Process.Pid, time.Since(began).Round(time.Millisecond))
			return nil
		}
		select {
		case <-p.exited:
			p.cmd = nil
			return fmt.Errorf("%s %w: %v", p.name, errExited, p.err)
		case <-ctx.Done():
			p.stop()
			return fmt.Errorf("%s not ready after %v: %v", p.name, readyTimeout, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop kills the process group with SIGKILL and waits for the process; it does nothing if stopped.
func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	pid := p.cmd.Process.Pid
	// The negative PID names the child's own process group, so helpers it forked die with it.
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		p.t.Errorf("testenv: kill %s pid %d: %v", p.name, pid, err)
	}
	<-p.exited
	p.cmd = nil
}

// signal sends sig to the process group of the running process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if p.cmd == nil {
		p.t.Fatalf("testenv: %s is not running", p.name)
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		p.t.Fatalf("testenv: signal %v to %s pid %d: %v", sig, p.name, p.cmd.Process.Pid, err)
	}
}

// terminate asks the process to exit with SIGTERM and waits for it, killing it after grace.
func (p *proc) terminate(grace time.Duration) {
	if p.cmd == nil {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("testenv: terminate %s pid %d: %v", p.name, p.cmd.Process.Pid, err)
	}
	select {
	case <-p.exited:
		p.cmd = nil
	case <-time.After(grace):
		p.t.Errorf("testenv: %s did not exit within %s of SIGTERM; killing it", p.name, grace)
		p.stop()
	}
}

// printLog logs the tail of the process's log.
func (p *proc) printLog() {
	const max = 32 << 10
	f, err := os.Open(p.logPath)
	if err != nil {
		p.t.Logf("testenv: %s log: %v", p.name, err)
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	p.t.Logf("testenv: %s log (%s):\n%s", p.name, p.logPath, b)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns a loopback host:port that was free a moment ago, for a process the test starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return loopback(freePort(t))
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// toolDir is where scripts/setup.sh installs tools that apt does not have (MinIO).
func toolDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "notestream", "bin")
}

// tool finds an executable on PATH or in toolDir, failing the test with a pointer to the setup script.
func tool(t testing.TB, name string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	path := filepath.Join(toolDir(), name)
	if fi, err := os.Stat(path); err == nil && fi.Mode()&0o111 != 0 {
		return path
	}
	t.Fatalf("testenv: %s not found on PATH or in %s: run scripts/setup.sh (make setup)", name, toolDir())
	return ""
}

// dial reports whether addr accepts TCP connections.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return c, nil
}
