package testenv

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestMinIOPutGet(t *testing.T) {
	m := StartMinIO(t)
	c := m.MakeBucket(t, "lake")
	ctx := context.Background()
	want := []byte("user_id,timestamp\nu1,2023-07-01 14:30:15\n")
	put := func() {
		t.Helper()
		if _, err := c.PutObject(ctx, "lake", "bronze/a.csv", bytes.NewReader(want), int64(len(want)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	get := func() {
		t.Helper()
		obj, err := c.GetObject(ctx, "lake", "bronze/a.csv", minio.GetObjectOptions{})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		defer obj.Close()
		got, err := io.ReadAll(obj)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	put()
	get()

	// An acknowledged PUT survives a SIGKILL.
	m.Stop()
	m.Start()
	get()
}
