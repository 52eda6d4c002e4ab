package lake

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestNewS3ChecksBucketAndCredentials: wrong credentials and a missing bucket fail at Open, with a
// message that names the bucket and holds no secret.
func TestNewS3ChecksBucketAndCredentials(t *testing.T) {
	m, good, _ := startS3(t, "")
	f := func(url string, cfg S3Config, want string) {
		t.Helper()
		_, err := Open(context.Background(), url, cfg)
		if want == "" {
			if err != nil {
				t.Fatalf("%s: %v", url, err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s %s: got %v, want an error with %q", url, cfg.AccessKey, err, want)
		}
		if strings.Contains(err.Error(), cfg.SecretKey) {
			t.Fatalf("the error holds the secret key: %v", err)
		}
	}
	f("s3://lake/prefix", good, "")
	wrongSecret, wrongKey := good, good
	wrongSecret.SecretKey = "wrong-secret-key"
	wrongKey.AccessKey = "nobody"
	f("s3://lake/prefix", wrongSecret, "lake: s3 bucket lake at "+m.Endpoint+": credentials rejected")
	f("s3://lake/prefix", wrongKey, "lake: s3 bucket lake at "+m.Endpoint+": credentials rejected")
	f("s3://other", good, "lake: s3 bucket other at "+m.Endpoint+" does not exist")
}

// TestS3PutWaitsForItsWriter: a Put that fails while its writer still runs returns only after the
// writer does, so Retrying never runs two writers of one object at once.
func TestS3PutWaitsForItsWriter(t *testing.T) {
	m, _, _ := startS3(t, "")
	// Every upload fails at once, before it reads a byte: the writer is still in its first Write.
	client, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, "wrong-secret", ""),
		Region: "us-east-1", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := &S3{client: client, bucket: "lake"}
	var running, calls atomic.Int32
	overlap := make(chan int32, 10)
	write := func(w io.Writer) error {
		calls.Add(1)
		if n := running.Add(1); n > 1 {
			overlap <- n
		}
		defer running.Add(-1)
		_, err := w.Write(make([]byte, 1<<20)) // blocks until the upload reads, or gives up
		// Slow to notice: a writer finishing a Parquet footer, say.
		time.Sleep(100 * time.Millisecond)
		return err
	}
	r := NewRetrying(s, RetryConfig{Attempts: 3, Base: time.Millisecond})
	err = r.Put(context.Background(), "x", write)
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("put with a wrong secret: %v", err)
	}
	if n := running.Load(); n != 0 {
		t.Errorf("Put returned while %d writers still ran", n)
	}
	if c := calls.Load(); c != 3 {
		t.Errorf("%d writers for 3 attempts", c)
	}
	close(overlap)
	for n := range overlap {
		t.Errorf("%d writers ran at once", n)
	}
}
