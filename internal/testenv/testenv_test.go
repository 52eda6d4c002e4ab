package testenv

import (
	"context"
	"errors"
	"syscall"
	"testing"
)

// TestStartFreshRetries checks a server that exits at once (as on a port taken by someone else) is
// started again with freshly picked arguments, and that Stop leaves no process behind.
func TestStartFreshRetries(t *testing.T) {
	var running bool
	p := newProc(t, "sh", tool(t, "sh"), nil, nil, t.TempDir(), func(context.Context) error {
		if !running {
			return errors.New("not up")
		}
		return nil
	})
	attempts := 0
	p.startFresh(func() {
		attempts++
		if attempts < 3 {
			p.args = []string{"-c", "exit 3"}
			return
		}
		running = true
		p.args = []string{"-c", "exec sleep 60"}
	})
	if attempts != 3 || p.cmd == nil {
		t.Fatalf("after %d attempts cmd = %v, want a running third attempt", attempts, p.cmd)
	}
	pid := p.cmd.Process.Pid
	p.stop()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("pid %d after stop: kill 0 = %v, want ESRCH", pid, err)
	}
}
