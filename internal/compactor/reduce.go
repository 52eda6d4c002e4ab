package compactor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/tables"
)

// bronzeDir is a bronze table's partition directory, such as bronze/interactions/date=2023-07-01:
// the unit of the reduce step.
type bronzeDir struct {
	table string // tables.BronzeInteractions or tables.BronzeUsers
	dir   string
}

// reduceUnit is everything one reduce needs, so that it can run anywhere the lake is: the directory,
// its staged objects, its open part and the pre-run committed offsets of the topic its rows come from.
// Given the same plan and committed state it writes the same objects with the same bytes.
type reduceUnit struct {
	bronzeDir
	staged    []stagedSegment // the run's staged rows of the directory, in key order
	open      int             // the committed open part
	committed map[int32]int64 // topic partition → committed offset before the run
}

// partSize is how a reduce cuts parts.
type partSize struct {
	object   int64 // a part is sealed once it holds this many bytes
	rowGroup int   // rows per row group: a part is cut only between row groups
}

// reduceStage does its share of the run's reduce units, Parallel at a time (each holds a staged
// object and a part's row group), and returns every directory's open part index after the run.
func (c *Compactor) reduceStage(ctx context.Context, run int64, state lake.Version, units []reduceUnit) (map[string]int, error) {
	c.progress.Start("bronze parts", int64(len(units)))
	byName := make(map[string]reduceUnit, len(units))
	names := make([]string, 0, len(units))
	for _, u := range units {
		name := "reduce/" + u.dir
		byName[name] = u
		names = append(names, name)
	}
	markers, err := c.runStage(ctx, stage{run: run, units: names, state: state, do: func(ctx context.Context, name string) ([]byte, error) {
		u := byName[name]
		res, err := c.reduce(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("reduce %s: %w", u.dir, err)
		}
		c.tally(func(s *Summary) { s.BronzeObjects += int64(res.written) })
		c.progress.Add(1)
		return json.Marshal(reduceDone{Open: res.open})
	}})
	if err != nil {
		return nil, err
	}
	open := make(map[string]int, len(units))
	for name, m := range markers {
		var d reduceDone
		if err := json.Unmarshal(m, &d); err != nil {
			return nil, fmt.Errorf("done marker of %s: %w", name, err)
		}
		open[byName[name].dir] = d.Open
	}
	return open, nil
}

// reduceDone is a reduce unit's done marker.
type reduceDone struct {
	Open int `json:"open"` // the directory's open part after the run
}

// reduce writes one unit's bronze parts.
func (c *Compactor) reduce(ctx context.Context, u reduceUnit) (reduced, error) {
	size := partSize{object: c.cfg.ObjectSize, rowGroup: c.cfg.RowGroup}
	if u.table == tables.BronzeUsers {
		return reduceDirectory(ctx, c.store, size, u, stagedUsers,
			func(r *tables.BronzeUser) (int32, int64) { return r.KafkaPartition, r.KafkaOffset })
	}
	return reduceDirectory(ctx, c.store, size, u, stagedInteractions,
		func(r *tables.BronzeInteraction) (int32, int64) { return r.KafkaPartition, r.KafkaOffset })
}

// reduced is what a reduce did: the directory's open part afterwards and the parts it wrote.
type reduced struct {
	open, written int
}

// reduceDirectory rewrites a directory's open part as its rows from before the run (offsets below
// their partition's committed offset, in file order) followed by the staged rows merged in staged's
// order (a group of mergeFanIn staged objects at a time, in key order), cutting a new part whenever
// one reaches size.object; the last part stays open if it is below it. Every part it writes holds a
// superset of the rows the object it replaces held before the run, so a reader that globs the
// directory never sees a row twice or misses a committed one.
func reduceDirectory[T any](ctx context.Context, store lake.Store, size partSize, u reduceUnit, staged stagedRows[T],
	kafka func(*T) (int32, int64)) (reduced, error) {
	rows := &partRows[T]{
		ctx:    ctx,
		store:  store,
		open:   partKey(u.dir, u.open),
		groups: slices.Collect(slices.Chunk(u.staged, mergeFanIn)),
		keep: func(r *T) bool {
			p, off := kafka(r)
			return off < u.committed[p]
		},
		staged: staged,
	}
	defer rows.close()
	// The versions the parts from the open one on have now: a write is conditional on them, so a
	// holder paused past its lease cannot overwrite what a successor (or a later run) wrote since.
	versions, err := partVersions(ctx, store, u)
	if err != nil {
		return reduced{}, err
	}
	batch := make([]T, 256)
	res := reduced{open: u.open}
	for part, start := u.open, (rowPos{}); ; part++ {
		if err := rows.seek(start); err != nil {
			return res, err
		}
		more, err := rows.more()
		if err != nil {
			return res, err
		}
		if !more {
			// Empty only when the last part written reached the target: the next part is the open one.
			res.open = part
			return res, nil
		}
		start = rows.pos // past the rows more skipped
		var end rowPos
		var sealed bool
		err = putAt(ctx, store, partKey(u.dir, part), versions[part], func(w io.Writer) error {
			var err error
			end, sealed, err = writePart(w, rows, start, size, batch)
			return err
		})
		if err != nil {
			return res, err
		}
		res.written++
		if !sealed {
			res.open = part
			return res, nil
		}
		start = end
	}
}

// partVersions returns the versions of the directory's parts from the open one on, up to the first
// missing one (Absent).
func partVersions(ctx context.Context, store lake.Store, u reduceUnit) (map[int]lake.Version, error) {
	versions := map[int]lake.Version{}
	for part := u.open; ; part++ {
		v, err := store.Version(ctx, partKey(u.dir, part))
		if errors.Is(err, lake.ErrNotExist) {
			return versions, nil
		}
		if err != nil {
			return nil, err
		}
		versions[part] = v
	}
}

// writePart writes rows from start to w, in batches of len(batch), until a row group ends with the
// file at size.object bytes or more (sealed) or the rows run out. The cut depends on the rows alone,
// so a retried or rerun write produces the same bytes. It returns where the next part starts.
func writePart[T any](w io.Writer, rows *partRows[T], start rowPos, size partSize, batch []T) (rowPos, bool, error) {
	if err := rows.seek(start); err != nil {
		return rowPos{}, false, err
	}
	// The writer's own buffer would hide bytes from the count: the count goes before a buffer of ours.
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := &countingWriter{w: bw}
	pw := parquet.NewGenericWriter[T](cw,
		parquet.WriteBufferSize(-1),
		parquet.Compression(zstdCodec),
		parquet.MaxRowsPerRowGroup(int64(size.rowGroup)),
		parquet.DictionaryMaxBytes(8<<20),
	)
	sealed, inGroup := false, 0
	for !sealed {
		n, err := rows.next(batch[:min(len(batch), size.rowGroup-inGroup)])
		if err != nil {
			return rowPos{}, false, err
		}
		if n == 0 {
			break
		}
		if _, err := pw.Write(batch[:n]); err != nil {
			return rowPos{}, false, fmt.Errorf("write parquet: %w", err)
		}
		if inGroup += n; inGroup == size.rowGroup {
			if err := pw.Flush(); err != nil {
				return rowPos{}, false, fmt.Errorf("write parquet: %w", err)
			}
			inGroup, sealed = 0, cw.n >= size.object
		}
	}
	if err := pw.Close(); err != nil {
		return rowPos{}, false, fmt.Errorf("close parquet: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return rowPos{}, false, err
	}
	return rows.pos, sealed, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// rowPos is a position in a reduce's rows: row (counting every row of the source) of source src,
// where source 0 is the open part and source g+1 the merge of groups[g].
type rowPos struct {
	src int
	row int64
}

// partRows reads a reduce's rows a batch at a time: the open part's rows that keep accepts, then
// each group of staged objects merged. It can go back to a position, for a write that is retried.
type partRows[T any] struct {
	ctx    context.Context
	store  lake.Store
	open   string            // the open part's key; it may not exist
	groups [][]stagedSegment // the staged rows, in key order
	keep   func(*T) bool     // which rows of the open part to keep
	staged stagedRows[T]

	loaded bool              // source pos.src is open
	s      *tables.Stream[T] // the open part, when it is source pos.src
	obj    lake.ObjectReader // what s reads
	m      *stagedMerge[T]   // the group, when it is source pos.src
	pos    rowPos            // of buf[bi]
	buf    []T
	bi     int
}

// streamBatch is the rows read at a time.
const streamBatch = 256

// seek moves to p; the rows from p on are read again.
func (r *partRows[T]) seek(p rowPos) error {
	if p == r.pos {
		return nil
	}
	r.close()
	r.pos = p
	return nil
}

// more reports whether a row is left, skipping the open part's rows that are not kept.
func (r *partRows[T]) more() (bool, error) {
	for {
		if r.bi < len(r.buf) {
			if r.pos.src == 0 && !r.keep(&r.buf[r.bi]) {
				r.bi++
				r.pos.row++
				continue
			}
			return true, nil
		}
		ok, err := r.refill()
		if !ok || err != nil {
			return false, err
		}
	}
}

// next copies the next rows into dst and returns how many: fewer than len(dst) only at the end.
func (r *partRows[T]) next(dst []T) (int, error) {
	for n := range dst {
		ok, err := r.more()
		if !ok || err != nil {
			return n, err
		}
		dst[n] = r.buf[r.bi]
		r.bi++
		r.pos.row++
	}
	return len(dst), nil
}

// refill makes rows available in buf, moving on to the next source at the end of one; false once
// every source is read.
func (r *partRows[T]) refill() (bool, error) {
	for r.pos.src <= len(r.groups) {
		if !r.loaded {
			if err := r.load(); err != nil {
				return false, err
			}
			if r.bi < len(r.buf) {
				return true, nil
			}
		}
		n, err := r.read()
		if err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
		if r.s != nil && r.pos.row != r.s.NumRows() {
			return false, fmt.Errorf("%s: %d rows, the footer counts %d", r.open, r.pos.row, r.s.NumRows())
		}
		r.close()
		r.pos = rowPos{r.pos.src + 1, 0}
	}
	return false, nil
}

// read reads the open source's next batch into buf.
func (r *partRows[T]) read() (int, error) {
	var n int
	var err error
	switch {
	case r.s != nil:
		n, err = r.s.Read(r.buf[:streamBatch])
		if err == io.EOF {
			err = nil
		}
	case r.m != nil:
		n, err = r.m.Read(r.buf[:streamBatch])
	}
	r.buf, r.bi = r.buf[:n], 0
	return n, err
}

// load opens source pos.src at pos.row: the open part as a stream read in place (none if it does
// not exist), a group as a merge of its staged objects, read up to pos.row.
func (r *partRows[T]) load() error {
	r.buf = slices.Grow(r.buf[:0], streamBatch)
	if r.pos.src > 0 {
		m, err := openMerge(r.ctx, r.store, r.staged, r.groups[r.pos.src-1])
		if err != nil {
			return err
		}
		r.loaded, r.m = true, m
		for skip := r.pos.row; skip > 0; skip -= int64(len(r.buf)) {
			n, err := r.m.Read(r.buf[:min(streamBatch, skip)])
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%s: fewer than %d rows", r.groups[r.pos.src-1][0].Key, r.pos.row)
			}
			r.buf = r.buf[:n]
		}
		r.buf, r.bi = r.buf[:0], 0
		return nil
	}
	obj, err := r.store.Open(r.ctx, r.open)
	if errors.Is(err, lake.ErrNotExist) {
		r.loaded = true
		return nil
	}
	if err != nil {
		return err
	}
	s, err := tables.OpenStream[T](r.open, obj, obj.Size())
	if err != nil {
		return errors.Join(err, obj.Close())
	}
	if err := s.SeekToRow(r.pos.row); err != nil {
		return errors.Join(err, s.Close(), obj.Close())
	}
	r.loaded, r.s, r.obj = true, s, obj
	return nil
}

func (r *partRows[T]) close() {
	if r.s != nil {
		r.s.Close()
		r.obj.Close()
		r.s, r.obj = nil, nil
	}
	if r.m != nil {
		r.m.Close()
		r.m = nil
	}
	r.loaded, r.buf, r.bi = false, r.buf[:0], 0
}

// reduceUnits lists the reduce units of a run's staged objects: one per directory, in order.
func reduceUnits(st *State, staged map[bronzeDir][]stagedSegment, topicOf func(table string) string) []reduceUnit {
	var units []reduceUnit
	for _, d := range slices.SortedFunc(maps.Keys(staged), func(a, b bronzeDir) int { return strings.Compare(a.dir, b.dir) }) {
		units = append(units, reduceUnit{
			bronzeDir: d,
			staged:    slices.SortedFunc(slices.Values(staged[d]), func(a, b stagedSegment) int { return strings.Compare(a.Key, b.Key) }),
			open:      st.OpenParts[d.dir],
			committed: st.Offsets[topicOf(d.table)],
		})
	}
	return units
}

// cleanStaging deletes the staged objects of committed runs (up to run), which a crash after a commit
// leaves behind.
func (c *Compactor) cleanStaging(ctx context.Context, run int64) error {
	keys, err := c.store.List(ctx, StagingPrefix)
	if err != nil {
		return fmt.Errorf("list staging: %w", err)
	}
	var old []string
	for _, key := range keys {
		var r int64
		if _, err := fmt.Sscanf(strings.TrimPrefix(key, StagingPrefix), "run-%d/", &r); err != nil || r <= run {
			old = append(old, key) // a name no run writes is nobody's either
		}
	}
	return c.deleteAll(ctx, old)
}

// deleteAll deletes keys, Uploads at a time.
func (c *Compactor) deleteAll(ctx context.Context, keys []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Uploads)
	for _, key := range keys {
		g.Go(func() error { return c.store.Delete(gctx, key) })
	}
	return g.Wait()
}
