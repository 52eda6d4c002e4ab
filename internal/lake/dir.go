package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Dir is a Store in a local directory. Put writes a hidden temporary file next to the target and
// renames it into place, which is atomic on POSIX file systems.
type Dir struct{ root string }

// NewDir returns a store rooted at dir, creating it if needed.
func NewDir(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lake: create %s: %w", dir, err)
	}
	return &Dir{root: dir}, nil
}

func (d *Dir) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

// Put implements Store.
func (d *Dir) Put(_ context.Context, key string, write func(io.Writer) error) error {
	p := d.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	// A leading dot keeps the temporary file out of readers' globs such as */*.parquet.
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	if err := write(f); err != nil {
		return errors.Join(fmt.Errorf("lake: put %s: %w", key, err), f.Close(), os.Remove(f.Name()))
	}
	if err := f.Sync(); err != nil {
		return errors.Join(fmt.Errorf("lake: put %s: %w", key, err), f.Close(), os.Remove(f.Name()))
	}
	if err := f.Close(); err != nil {
		return errors.Join(fmt.Errorf("lake: put %s: %w", key, err), os.Remove(f.Name()))
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return errors.Join(fmt.Errorf("lake: put %s: %w", key, err), os.Remove(f.Name()))
	}
	return nil
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

// Delete implements Store. Directories left empty go too, like prefixes in an object store.
func (d *Dir) Delete(_ context.Context, key string) error {
	p := d.path(key)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lake: delete %s: %w", key, err)
	}
	for dir := filepath.Dir(p); dir != filepath.Clean(d.root) && strings.HasPrefix(dir, filepath.Clean(d.root)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty, or a concurrent writer's
		}
	}
	return nil
}
