package main_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/notestream/notestream/internal/testenv"
)

// TestRunChecksLakeCredentials: `compactor run` with wrong S3 credentials stops before it plans or
// reads a topic, with a message that names the bucket and holds no secret.
func TestRunChecksLakeCredentials(t *testing.T) {
	m := testenv.StartMinIO(t)
	mc := m.MakeBucket(t, "lake")
	brokers := testenv.FreeAddr(t) // nothing listens there: reaching the brokers would wait --timeout
	env := func(access, secret string) []string {
		return []string{"AWS_ENDPOINT_URL=http://" + m.Endpoint, "AWS_REGION=us-east-1",
			"AWS_ACCESS_KEY_ID=" + access, "AWS_SECRET_ACCESS_KEY=" + secret}
	}
	f := func(env []string, timeout time.Duration, want string) {
		t.Helper()
		start := time.Now()
		out, err := compact(t, env, t.TempDir(), "--lake", "s3://lake/warehouse", "--brokers", brokers, "--timeout", timeout.String())
		wantFailure(t, out, err)
		if !strings.Contains(out, want) || strings.Contains(out, "wrong-secret") || strings.Contains(out, m.SecretKey) {
			t.Fatalf("want a message with %q and no secret, got:\n%s", want, out)
		}
		t.Logf("%q after %v", want, time.Since(start).Round(time.Millisecond))
	}
	start := time.Now()
	f(env(m.AccessKey, "wrong-secret"), time.Hour, "lake: s3 bucket lake at "+m.Endpoint+": credentials rejected")
	f(env("nobody", m.SecretKey), time.Hour, "credentials rejected (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	// With --timeout 1h, any wait for the brokers would show here (compact gives up after 2 minutes).
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("two runs with wrong credentials took %v", took)
	}
	// The right credentials pass the check and the run goes on to the brokers.
	f(env(m.AccessKey, m.SecretKey), time.Second, "brokers unreachable")
	for obj := range mc.ListObjects(context.Background(), "lake", minio.ListObjectsOptions{Recursive: true}) {
		t.Errorf("the runs wrote %s", obj.Key)
	}
}
