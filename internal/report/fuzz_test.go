package report

import (
	"bytes"
	"context"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// oneFileLake is a Lake holding one gold/daily_metrics object.
type oneFileLake []byte

func (oneFileLake) List(context.Context, string) ([]string, error) {
	return []string{"gold/daily_metrics/date=2023-01-01/part-0.parquet"}, nil
}

func (l oneFileLake) Get(context.Context, string) ([]byte, error) { return l, nil }

// FuzzLoad feeds arbitrary bytes to Load as a gold object: it must return rows or an error, never panic.
func FuzzLoad(f *testing.F) {
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []goldDay{{DAU: 1, WAU: 2, MAU: 3, Sessions: 4}}, parquet.Compression(&zstd.Codec{})); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("PAR1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		Load(t.Context(), oneFileLake(b))
	})
}
