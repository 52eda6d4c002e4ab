package lake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Dir is a Store in a local directory. Put writes a hidden temporary file next to the target and
// renames it into place, which is atomic on POSIX file systems. Sync fsyncs the files and their
// directories since the last Sync together: an fsync per Put cost a year's compactor run a fifth of
// its time.
type Dir struct {
	root string

	mu       sync.Mutex
	unsynced map[string]bool // files and directories written since the last Sync
}

// NewDir returns a store rooted at dir, creating it if needed.
func NewDir(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lake: create %s: %w", dir, err)
	}
	return &Dir{root: dir, unsynced: map[string]bool{}}, nil
}

func (d *Dir) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

// Put implements Store.
func (d *Dir) Put(_ context.Context, key string, write func(io.Writer) error) error {
	p := d.path(key)
	f, _, err := d.createTemp(p)
	if err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	if err := write(f); err != nil {
		return errors.Join(fmt.Errorf("lake: put %s: %w", key, err), f.Close(), os.Remove(f.Name()))
	}
	startWriteback(f)
	if err := f.Close(); err != nil {
		return errors.Join(fmt.Errorf("lake: put %s: %w", key, err), os.Remove(f.Name()))
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return errors.Join(fmt.Errorf("lake: put %s: %w", key, err), os.Remove(f.Name()))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unsynced[p] = true
	// The new name is durable once its directory is, and so on up for directories just created.
	for dir := filepath.Dir(p); !d.unsynced[dir] && strings.HasPrefix(dir, filepath.Clean(d.root)); dir = filepath.Dir(dir) {
		d.unsynced[dir] = true
	}
	return nil
}

// Sync implements Store. Files go before directories, many at a time: fsyncs issued together share
// the file system's journal commits.
func (d *Dir) Sync(ctx context.Context) error {
	d.mu.Lock()
	paths := d.unsynced
	d.unsynced = map[string]bool{}
	d.mu.Unlock()
	var files, dirs []string
	for p := range paths {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			dirs = append(dirs, p)
		} else {
			files = append(files, p)
		}
	}
	for _, batch := range [][]string{files, dirs} {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for _, p := range batch {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				return syncPath(p)
			})
		}
		if err := g.Wait(); err != nil {
			// What was not synced is synced by the next Sync.
			d.mu.Lock()
			for p := range paths {
				d.unsynced[p] = true
			}
			d.mu.Unlock()
			return fmt.Errorf("lake: sync: %w", err)
		}
	}
	return nil
}

// syncPath fsyncs a file or directory. One replaced or deleted since it was written needs nothing.
func syncPath(p string) error {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// Get implements Store.
func (d *Dir) Get(_ context.Context, key string) ([]byte, error) {
	b, err := os.ReadFile(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get %s: %w", key, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("lake: get %s: %w", key, err)
	}
	return b, nil
}

// Open implements Store with the file itself: a reader of it keeps it even if a Put replaces it.
func (d *Dir) Open(_ context.Context, key string) (ObjectReader, error) {
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", key, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("lake: open %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("lake: open %s: %w", key, err), f.Close())
	}
	return fileReader{f, st.Size()}, nil
}

type fileReader struct {
	*os.File
	size int64
}

func (f fileReader) Size() int64 { return f.size }

// List implements Store. Hidden files (interrupted Puts) are left out.
func (d *Dir) List(_ context.Context, prefix string) ([]string, error) {
	var keys []string
	// Walk only the directory that holds the prefix, not the whole lake.
	start := d.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = d.path(prefix[:i])
	}
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("lake: list %s: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// Delete implements Store. The lock file of a key written by PutIf goes too, under its lock, and
// directories left empty, like prefixes in an object store.
func (d *Dir) Delete(_ context.Context, key string) error {
	p := d.path(key)
	if lock := lockPath(p); fileExists(lock) {
		unlock, err := lockFile(lock)
		if err != nil {
			return fmt.Errorf("lake: delete %s: lock: %w", key, err)
		}
		err = remove(p)
		if err == nil {
			err = remove(lock)
		}
		unlock()
		if err != nil {
			return fmt.Errorf("lake: delete %s: %w", key, err)
		}
	} else if err := remove(p); err != nil {
		return fmt.Errorf("lake: delete %s: %w", key, err)
	}
	for dir := filepath.Dir(p); dir != filepath.Clean(d.root) && strings.HasPrefix(dir, filepath.Clean(d.root)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty, or a concurrent writer's
		}
	}
	return nil
}

// GetVersion implements Store. A file's version is the SHA-256 of its bytes. Renames make a read see
// one whole version, so a reader needs no lock.
func (d *Dir) GetVersion(ctx context.Context, key string) ([]byte, Version, error) {
	b, err := d.Get(ctx, key)
	if err != nil {
		return nil, Absent, err
	}
	h := sha256.Sum256(b)
	return b, Version(hex.EncodeToString(h[:])), nil
}

// Version implements Store by hashing the file as it streams by.
func (d *Dir) Version(_ context.Context, key string) (Version, error) {
	v, err := hashFile(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return Absent, fmt.Errorf("version %s: %w", key, ErrNotExist)
	}
	if err != nil {
		return Absent, fmt.Errorf("lake: version %s: %w", key, err)
	}
	return v, nil
}

func hashFile(p string) (Version, error) {
	f, err := os.Open(p)
	if err != nil {
		return Absent, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Absent, err
	}
	return Version(hex.EncodeToString(h.Sum(nil))), nil
}

// PutIf implements Store. The new bytes go to a synced temporary file first; then the check and the
// rename happen under an exclusive flock(2) on a hidden lock file next to the object, which excludes
// other goroutines and processes and, on a shared file system whose flock is shared (NFSv4, CephFS),
// other machines.
func (d *Dir) PutIf(_ context.Context, key string, v Version, write func(io.Writer) error) (Version, error) {
	p := d.path(key)
	// created is the highest directory this write creates, durable once its parent is synced.
	f, created, err := d.createTemp(p)
	if err != nil {
		return Absent, fmt.Errorf("lake: put %s: %w", key, err)
	}
	tmp, nv, err := writeTemp(f, write)
	if err != nil {
		return Absent, fmt.Errorf("lake: put %s: %w", key, err)
	}
	defer os.Remove(tmp) // gone already once renamed
	unlock, err := lockFile(lockPath(p))
	if err != nil {
		return Absent, fmt.Errorf("lake: put %s: lock: %w", key, err)
	}
	defer unlock()
	cur, err := hashFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if v != Absent {
			return Absent, fmt.Errorf("put %s: %w", key, ErrConflict)
		}
	case err != nil:
		return Absent, fmt.Errorf("lake: put %s: %w", key, err)
	case v == Absent || cur != v:
		return Absent, fmt.Errorf("put %s: %w", key, ErrConflict)
	}
	if err := os.Rename(tmp, p); err != nil {
		return Absent, fmt.Errorf("lake: put %s: %w", key, err)
	}
	// The new name's directory, and those up to the parent of the highest one created.
	for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
		if err := syncPath(dir); err != nil {
			return Absent, fmt.Errorf("lake: put %s: %w", key, err)
		}
		if created == "" || dir == filepath.Dir(created) {
			break
		}
	}
	return nv, nil
}

// lockPath is the hidden lock file of PutIfs to p.
func lockPath(p string) string { return filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".lock") }

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// remove removes p, which may be gone already.
func remove(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// createTemp creates a hidden temporary file next to p, and the directories it needs, of which
// created is the highest. A leading dot keeps the file out of readers' globs such as */*.parquet. A
// Delete removes directories it leaves empty, which may be one just made here, even midway through
// MkdirAll: then it tries again.
func (d *Dir) createTemp(p string) (f *os.File, created string, err error) {
	for range 100 {
		created = ""
		for dir, root := filepath.Dir(p), filepath.Clean(d.root); dir != root && strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
			if _, err := os.Stat(dir); err == nil {
				break
			}
			created = dir
		}
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			f, err = os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return f, created, err
		}
	}
	return nil, "", err
}

// writeTemp writes and syncs the temporary file f and returns its name and version.
func writeTemp(f *os.File, write func(io.Writer) error) (string, Version, error) {
	h := sha256.New()
	if err := write(io.MultiWriter(f, h)); err != nil {
		return "", Absent, errors.Join(err, f.Close(), os.Remove(f.Name()))
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return "", Absent, errors.Join(err, os.Remove(f.Name()))
	}
	return f.Name(), Version(hex.EncodeToString(h.Sum(nil))), nil
}
