package testenv

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server process on a free loopback port in a temp dir.
type Redis struct {
	Addr string // host:port
	URL  string // redis://host:port
	Dir  string // the server's working directory (dump.rdb, appendonly files)

	p      *proc
	frozen bool // by Freeze, until Thaw
}

// StartRedis starts redis-server with no persistence, plus any extra config lines (such as
// "appendonly yes" or "appendfsync always"); t.Cleanup stops it by PID.
func StartRedis(t testing.TB, config ...string) *Redis {
	t.Helper()
	bin := tool(t, "redis-server")
	dir := t.TempDir()
	r := &Redis{Dir: dir}
	confPath := filepath.Join(dir, "redis.conf")
	r.p = newProc(t, "redis-server", bin, []string{confPath}, nil, dir, r.ping)
	r.p.startFresh(func() {
		port := freePort(t)
		r.Addr, r.URL = loopback(port), "redis://"+loopback(port)
		conf := []string{
			"bind 127.0.0.1",
			fmt.Sprintf("port %d", port),
			fmt.Sprintf("dir %q", dir),
			"daemonize no",
			`logfile ""`,
			`save ""`,
			"appendonly no",
			"protected-mode no",
		}
		conf = append(conf, config...) // later lines win
		if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
			t.Fatalf("testenv: redis config: %v", err)
		}
	})
	return r
}

// ping succeeds once the server answers PING; while loading a dump or AOF it answers LOADING instead.
func (r *Redis) ping(ctx context.Context) error {
	c, err := dial(ctx, r.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return fmt.Errorf("ping %s: %w", r.Addr, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("ping %s: %w", r.Addr, err)
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("ping %s: %q", r.Addr, strings.TrimSpace(line))
	}
	return nil
}

// Stop kills the server (SIGKILL) by PID and waits for it.
func (r *Redis) Stop() {
	r.p.stop()
	r.frozen = false
}

// Freeze stops the server with SIGSTOP by PID, like a machine that hangs: it keeps its memory and
// connections but answers nothing, and the kernel still buffers what peers send it, until Thaw.
func (r *Redis) Freeze() {
	r.p.t.Helper()
	r.p.signal(syscall.SIGSTOP)
	r.frozen = true
}

// Thaw resumes a frozen server with SIGCONT by PID.
func (r *Redis) Thaw() {
	r.p.t.Helper()
	r.p.signal(syscall.SIGCONT)
	r.frozen = false
}

// DropReplicaLinks closes the connections of r, a master, to its replicas. A frozen replica cannot
// reconnect, so the writes r acknowledges from then on reach no replica, and a failover loses them.
func (r *Redis) DropReplicaLinks(t testing.TB) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	if err := rdb.ClientKillByFilter(context.Background(), "TYPE", "replica").Err(); err != nil {
		t.Fatalf("testenv: CLIENT KILL TYPE replica on %s: %v", r.Addr, err)
	}
}

// running reports whether the server runs and is not frozen.
func (r *Redis) running() bool { return r.p.cmd != nil && !r.frozen }

// Start restarts a stopped server on the same port and directory.
func (r *Redis) Start() {
	r.p.t.Helper()
	r.p.restart()
}

// Client returns a client of r, closed by t.Cleanup.
func (r *Redis) Client(t testing.TB) redis.UniversalClient {
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
