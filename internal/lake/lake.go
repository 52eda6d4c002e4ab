// Package lake stores the lakehouse's objects in a local directory or an S3 bucket, one whole object per write.
package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// ErrNotExist is returned by Get and Open for a key that has no object.
var ErrNotExist = errors.New("lake: object does not exist")

// ErrConflict is returned by PutIf when the object is not at the version the caller named.
var ErrConflict = errors.New("lake: object changed (precondition failed)")

// Version names one content of an object, for PutIf: an S3 ETag, or a hash of a file's bytes. Both
// follow the bytes, so equal contents may have equal versions: a writer that must tell its own write
// from another's puts something unique in the object (the lease's token).
type Version string

// Absent is the version of an object that does not exist: PutIf with it only creates.
const Absent Version = ""

// Store holds objects under slash-separated keys relative to the lake root.
//
// Put makes an object visible atomically: a reader sees the previous object or the complete new one,
// never part of it. write may be called more than once (a retry starts over), so it must produce the
// same bytes each time. An object is durable once a later Sync returns: a power failure may undo
// (or, on a file system, empty) the objects Put since the last Sync.
type Store interface {
	Put(ctx context.Context, key string, write func(w io.Writer) error) error
	// Sync makes every object Put so far durable. Stores whose Put is durable do nothing.
	Sync(ctx context.Context) error
	Get(ctx context.Context, key string) ([]byte, error)
	// Open opens an object for reading in place, without holding it in memory: for objects too
	// large for Get, such as a big day's bronze and silver. The caller closes it.
	Open(ctx context.Context, key string) (ObjectReader, error)
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes an object; deleting a missing one is not an error.
	Delete(ctx context.Context, key string) error

	// GetVersion returns an object and its version; ErrNotExist if there is none.
	GetVersion(ctx context.Context, key string) ([]byte, Version, error)
	// Version returns an object's version without bringing its bytes; ErrNotExist if there is none.
	Version(ctx context.Context, key string) (Version, error)
	// PutIf replaces the object only if it is still at version v (Absent: only if there is none),
	// atomically with the check, and returns the new version; ErrConflict otherwise. The object is
	// durable when PutIf returns. It streams like Put, so it serves small objects such as state and
	// leases as well as bronze parts that must not overwrite a successor's. Put on the same key is
	// not excluded by it.
	PutIf(ctx context.Context, key string, v Version, write func(w io.Writer) error) (Version, error)
}

// Holds reports whether the object at key holds exactly the bytes write produces, comparing them as
// write produces them, with the object read in place: for a conditional write that met a conflict,
// to tell a successor's identical object from a different one. A missing object holds nothing.
func Holds(ctx context.Context, s Store, key string, write func(io.Writer) error) (bool, error) {
	obj, err := s.Open(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer obj.Close()
	cw := &comparingWriter{r: obj, size: obj.Size()}
	err = write(cw)
	switch {
	case cw.differs:
		return false, nil // whatever write made of the refusal
	case err != nil:
		return false, fmt.Errorf("lake: compare %s: %w", key, err)
	}
	return cw.off == cw.size, nil
}

// errDiffers stops a write that compareWriter found different.
var errDiffers = errors.New("lake: bytes differ")

// comparingWriter compares what is written to it with an object, a MiB at a time.
type comparingWriter struct {
	r       io.ReaderAt
	size    int64
	off     int64
	buf     []byte
	differs bool
}

func (c *comparingWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), 1<<20)
		if c.off+int64(n) > c.size {
			c.differs = true
			return written, errDiffers
		}
		if len(c.buf) < n {
			c.buf = make([]byte, max(n, 64<<10))
		}
		m, err := c.r.ReadAt(c.buf[:n], c.off)
		if m < n {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return written, err
		}
		if !bytes.Equal(c.buf[:n], p[:n]) {
			c.differs = true
			return written, errDiffers
		}
		c.off += int64(n)
		written += n
		p = p[n:]
	}
	return written, nil
}

// ObjectReader reads any part of one object. ReadAt may be called from several goroutines at once
// (the io.ReaderAt contract); Close releases the object.
type ObjectReader interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// S3Config holds the connection settings of an s3:// lake, normally from the AWS_* environment variables.
type S3Config struct {
	Endpoint  string // AWS_ENDPOINT_URL, such as http://127.0.0.1:9000
	AccessKey string
	SecretKey string
	Region    string
}

// S3ConfigFromEnv reads AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION with
// env (os.LookupEnv in a binary).
func S3ConfigFromEnv(env func(string) (string, bool)) S3Config {
	get := func(k string) string { v, _ := env(k); return v }
	return S3Config{
		Endpoint:  get("AWS_ENDPOINT_URL"),
		AccessKey: get("AWS_ACCESS_KEY_ID"),
		SecretKey: get("AWS_SECRET_ACCESS_KEY"),
		Region:    get("AWS_REGION"),
	}
}

// Open returns the store for a lake URL: file:///path or s3://bucket/prefix.
func Open(ctx context.Context, rawURL string, s3 S3Config) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("lake: parse url: %w", err)
	}
	switch u.Scheme {
	case "file":
		// file:///abs/path, or file://rel/path relative to the working directory.
		dir := u.Host + u.Path
		if dir == "" {
			return nil, fmt.Errorf("lake: %q has no path", rawURL)
		}
		return NewDir(dir)
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("lake: %q has no bucket", rawURL)
		}
		return NewS3(ctx, s3, u.Host, strings.Trim(u.Path, "/"))
	default:
		return nil, fmt.Errorf("lake: unsupported scheme %q (want file:// or s3://)", u.Scheme)
	}
}
