package testenv

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIO is a MinIO server process on a free loopback port in a temp dir.
type MinIO struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Dir       string // the server's data directory

	p *proc
}

// StartMinIO starts a single-drive MinIO server; t.Cleanup stops it by PID.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin := tool(t, "minio")
	dir := t.TempDir()
	m := &MinIO{AccessKey: "notestream", SecretKey: "notestream-secret", Dir: filepath.Join(dir, "data")}
	env := []string{
		"MINIO_ROOT_USER=" + m.AccessKey,
		"MINIO_ROOT_PASSWORD=" + m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"HOME=" + dir, // MinIO creates ~/.minio even with --certs-dir
	}
	m.p = newProc(t, "minio", bin, nil, env, dir, m.live)
	m.p.startFresh(func() {
		m.Endpoint = loopback(freePort(t))
		m.p.args = []string{"server", m.Dir,
			"--address", m.Endpoint,
			"--console-address", loopback(freePort(t)),
			"--certs-dir", filepath.Join(dir, "certs"),
			"--quiet",
		}
	})
	return m
}

func (m *MinIO) live(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.Endpoint+"/minio/health/live", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("minio health: %s", resp.Status)
	}
	return nil
}

// Stop kills the server (SIGKILL) by PID and waits for it.
func (m *MinIO) Stop() { m.p.stop() }

// Start restarts a stopped server on the same port and directory.
func (m *MinIO) Start() {
	m.p.t.Helper()
	m.p.restart()
}

// Client returns a minio-go client for the server, as root.
func (m *MinIO) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatalf("testenv: minio client: %v", err)
	}
	return c
}

// MakeBucket creates bucket and returns a client for the server.
func (m *MinIO) MakeBucket(t testing.TB, bucket string) *minio.Client {
	t.Helper()
	c := m.Client(t)
	if err := c.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("testenv: make bucket %s: %v", bucket, err)
	}
	return c
}
