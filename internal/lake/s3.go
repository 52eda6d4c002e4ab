package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// PartSize bounds the memory a streamed Put holds: minio-go buffers one part at a time.
const PartSize = 8 << 20

// S3 is a Store in a bucket of an S3-compatible service. A Put is one PutObject (or one multipart upload
// completed at the end), which S3 makes visible atomically; a write that fails aborts the upload.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string // without slashes at either end; "" for the bucket root
}

// NewS3 connects to the service in cfg and checks, with one request, that the bucket exists and the
// credentials are accepted, so that a wrong key fails before any work rather than at the first write.
func NewS3(ctx context.Context, cfg S3Config, bucket, prefix string) (*S3, error) {
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("lake: s3 lake needs AWS_ENDPOINT_URL")
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("lake: bad AWS_ENDPOINT_URL %q", cfg.Endpoint)
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: u.Scheme == "https",
		Region: cfg.Region,
		// Retries are the caller's (see Retry), so one failure is reported promptly.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("lake: s3 client for %s: %w", u.Host, err)
	}
	ok, err := client.BucketExists(ctx, bucket)
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return nil, fmt.Errorf("lake: s3 bucket %s at %s: credentials rejected (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): %w", bucket, u.Host, err)
		}
		return nil, fmt.Errorf("lake: s3 bucket %s at %s: %w", bucket, u.Host, err)
	}
	if !ok {
		return nil, fmt.Errorf("lake: s3 bucket %s at %s does not exist", bucket, u.Host)
	}
	return &S3{client: client, bucket: bucket, prefix: prefix}, nil
}

func (s *S3) object(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + "/" + key
}

// Put implements Store. The object streams through a pipe in parts of PartSize, written by write on
// a goroutine that Put waits for: when Put returns, write has returned, so a retry never runs two
// writers at once.
func (s *S3) Put(ctx context.Context, key string, write func(io.Writer) error) error {
	_, err := s.put(ctx, key, write, minio.PutObjectOptions{})
	return err
}

func (s *S3) put(ctx context.Context, key string, write func(io.Writer) error, opts minio.PutObjectOptions) (minio.UploadInfo, error) {
	pr, pw := io.Pipe()
	written := make(chan struct{})
	go func() {
		defer close(written)
		pw.CloseWithError(write(pw))
	}()
	opts.PartSize, opts.ContentType = PartSize, contentType(key)
	info, err := s.client.PutObject(ctx, s.bucket, s.object(key), pr, -1, opts)
	// Unblock the writer if the upload stopped reading early, and wait for it.
	pr.CloseWithError(io.ErrClosedPipe)
	<-written
	if err != nil {
		return info, fmt.Errorf("lake: put s3://%s/%s: %w", s.bucket, s.object(key), err)
	}
	return info, nil
}

func contentType(key string) string {
	switch path.Ext(key) {
	case ".json":
		return "application/json"
	default:
		return "application/octet-stream"
	}
}

// Sync implements Store: an S3 PUT is durable when it returns.
func (s *S3) Sync(context.Context) error { return nil }

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, s.getErr(key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, s.getErr(key, err)
	}
	return b, nil
}

// GetVersion implements Store: the version is the ETag of the response that brought the bytes.
func (s *S3) GetVersion(ctx context.Context, key string) ([]byte, Version, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, Absent, s.getErr(key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, Absent, s.getErr(key, err)
	}
	info, err := obj.Stat() // the GET's own headers, not a second request
	if err != nil {
		return nil, Absent, s.getErr(key, err)
	}
	return b, Version(info.ETag), nil
}

// PutIf implements Store with If-None-Match: * (create) or If-Match: <etag> (compare-and-swap), which
// the service checks atomically with the write: an object of up to PartSize is one PUT, a larger one
// a multipart upload whose completion carries the condition (minio-go's PutObject would drop it there).
func (s *S3) PutIf(ctx context.Context, key string, v Version, write func(io.Writer) error) (Version, error) {
	cond := minio.PutObjectOptions{ContentType: contentType(key)}
	if v == Absent {
		cond.SetMatchETagExcept("*")
	} else {
		cond.SetMatchETag(string(v))
	}
	u := &conditionalUpload{s: s, ctx: ctx, key: key, buf: make([]byte, 0, PartSize)}
	err := write(u)
	var info minio.UploadInfo
	switch {
	case err != nil:
	case u.id == "":
		info, err = s.client.PutObject(ctx, s.bucket, s.object(key), bytes.NewReader(u.buf), int64(len(u.buf)), cond)
	default:
		if len(u.buf) > 0 {
			err = u.flush()
		}
		if err == nil {
			info, err = minio.Core{Client: s.client}.CompleteMultipartUpload(ctx, s.bucket, s.object(key), u.id, u.parts, cond)
		}
	}
	if err != nil {
		if u.id != "" {
			minio.Core{Client: s.client}.AbortMultipartUpload(context.WithoutCancel(ctx), s.bucket, s.object(key), u.id)
		}
		switch minio.ToErrorResponse(err).Code {
		// 412, or 409 from S3 when another conditional write to the key is in flight; NoSuchKey
		// when the version named is gone.
		case "PreconditionFailed", "ConditionalRequestConflict", minio.NoSuchKey:
			return Absent, fmt.Errorf("put s3://%s/%s: %w", s.bucket, s.object(key), ErrConflict)
		}
		return Absent, fmt.Errorf("lake: put s3://%s/%s: %w", s.bucket, s.object(key), err)
	}
	return Version(info.ETag), nil
}

// conditionalUpload buffers a PutIf's bytes a part at a time, beginning a multipart upload when the
// first part is full.
type conditionalUpload struct {
	s     *S3
	ctx   context.Context
	key   string
	buf   []byte
	id    string // of the multipart upload, once begun
	parts []minio.CompletePart
}

func (u *conditionalUpload) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(u.buf) == cap(u.buf) {
			if err := u.flush(); err != nil {
				return n - len(p), err
			}
		}
		m := min(len(p), cap(u.buf)-len(u.buf))
		u.buf = append(u.buf, p[:m]...)
		p = p[m:]
	}
	return n, nil
}

// flush uploads the buffered bytes as the next part.
func (u *conditionalUpload) flush() error {
	core := minio.Core{Client: u.s.client}
	if u.id == "" {
		id, err := core.NewMultipartUpload(u.ctx, u.s.bucket, u.s.object(u.key), minio.PutObjectOptions{ContentType: contentType(u.key)})
		if err != nil {
			return err
		}
		u.id = id
	}
	n := len(u.parts) + 1
	part, err := core.PutObjectPart(u.ctx, u.s.bucket, u.s.object(u.key), u.id, n, bytes.NewReader(u.buf), int64(len(u.buf)), minio.PutObjectPartOptions{})
	if err != nil {
		return err
	}
	u.parts = append(u.parts, minio.CompletePart{PartNumber: n, ETag: part.ETag})
	u.buf = u.buf[:0]
	return nil
}

// Version implements Store with a HEAD request.
func (s *S3) Version(ctx context.Context, key string) (Version, error) {
	info, err := s.client.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return Absent, s.getErr(key, err)
	}
	return Version(info.ETag), nil
}

// Open implements Store with a minio.Object: each ReadAt away from where the last one ended is a
// ranged GET, so callers read in large pieces (tables reads Parquet a column chunk's MiB at a time).
func (s *S3) Open(ctx context.Context, key string) (ObjectReader, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, s.getErr(key, err)
	}
	st, err := obj.Stat()
	if err != nil {
		return nil, errors.Join(s.getErr(key, err), obj.Close())
	}
	return s3Reader{obj, st.Size}, nil
}

type s3Reader struct {
	*minio.Object
	size int64
}

func (r s3Reader) Size() int64 { return r.size }

func (s *S3) getErr(key string, err error) error {
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return fmt.Errorf("get s3://%s/%s: %w", s.bucket, s.object(key), ErrNotExist)
	}
	return fmt.Errorf("lake: get s3://%s/%s: %w", s.bucket, s.object(key), err)
}

// List implements Store.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.object(prefix), Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("lake: list s3://%s/%s: %w", s.bucket, s.object(prefix), obj.Err)
		}
		key := obj.Key
		if s.prefix != "" {
			key = strings.TrimPrefix(key, s.prefix+"/")
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil
		}
		return fmt.Errorf("lake: delete s3://%s/%s: %w", s.bucket, s.object(key), err)
	}
	return nil
}
