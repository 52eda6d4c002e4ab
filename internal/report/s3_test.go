package report

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/testenv"
)

// TestLoadFromS3 reads the same gold tables from a MinIO bucket (under a prefix) and from a directory.
func TestLoadFromS3(t *testing.T) {
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "lake")
	store, err := lake.Open(t.Context(), "s3://lake/prod/v1", lake.S3Config{
		Endpoint: "http://" + m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeLake(t, dir)
	keys, err := dirLake(dir).List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(t.Context(), key, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
			t.Fatal(err)
		}
	}
	fromS3, err := Load(t.Context(), store)
	if err != nil {
		t.Fatal(err)
	}
	fromDir, err := Load(t.Context(), dirLake(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(fromS3.Days) != testDays || !reflect.DeepEqual(fromS3, fromDir) {
		t.Fatalf("S3 lake read %d days, %d segments; the directory %d, %d", len(fromS3.Days), len(fromS3.Segments), len(fromDir.Days), len(fromDir.Segments))
	}
}
