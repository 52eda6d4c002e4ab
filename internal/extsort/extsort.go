// Package extsort sorts interaction rows by event time, ties in input order, in bounded memory.
//
// Rows are added in input order. They are encoded into a run buffer of at most Config.Memory bytes
// (the rows' bytes plus 32 bytes of sort keys per row); a full buffer is sorted by a stable radix sort
// of its fixed-size keys (event time, offset of the row in the buffer) and written as a sorted run to
// a file in a directory of its own under Config.Dir. Merge then merges the runs, the last one still in
// memory, with a heap.
//
// Input already in time order costs no spill: while every row so far is in order, a full buffer is
// dropped instead of written, and Merge asks its caller to read that prefix of the input again
// (Merge's reread), which is the input itself, in order.
package extsort

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/notestream/notestream/internal/event"
)

// Row is one readable interactions row and the input line it came from.
type Row struct {
	Line  int64
	Plain bool // In's strings need no JSON escaping (record.Plain)
	In    event.Interaction
}

// Source yields rows in time order, ties in line order. Next returns io.EOF after the last row; the
// strings of a row are valid until the next call.
type Source interface {
	Next(*Row) error
}

// DefaultMemory is the default Config.Memory: it holds a year of the demo stack's data (20,000 users,
// 4.9M rows) in one run. Memory the input does not need is never touched (see the README).
const DefaultMemory = 1 << 30

// minMemory keeps runs large enough to hold a row of the longest line csvin accepts.
const minMemory = 1 << 20

// keyBytes is the memory a row's key costs: the key and its radix-sort scratch copy.
const keyBytes = 2 * int(unsafe.Sizeof(key{}))

// Config configures a Sorter.
type Config struct {
	Memory int64  // bytes of the two run buffers, each encoded rows plus their keys (default DefaultMemory, at least 1 MiB)
	Dir    string // parent of the spill directory (default os.TempDir())
	// NoReread: the input cannot be read twice (a pipe), so a prefix in order is kept and spilled
	// like any run instead of being dropped, and Merge never calls its reread.
	NoReread bool
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Memory == 0 {
		c.Memory = DefaultMemory
	}
	if c.Memory < minMemory {
		return fmt.Errorf("extsort: sort memory %d bytes: want at least %d", c.Memory, minMemory)
	}
	if c.Dir == "" {
		c.Dir = os.TempDir()
	}
	return nil
}

// key is a row's sort key: its event time and its offset in the run buffer, which grows with input
// order, so equal times keep that order.
type key struct {
	time int64
	off  uint32
}

// Stats describe a sort.
type Stats struct {
	Rows         int64 // rows added
	Runs         int   // runs written to disk (all of them once Merge returned)
	SpilledBytes int64 // bytes written to disk
	InOrder      bool  // every row was already in time order
}

// Sorter collects rows and merges them in time order. It is not safe for concurrent use.
//
// It fills one run buffer of half of Config.Memory while the previous full one is sorted and written
// on a goroutine of its own, so spilling overlaps reading the input.
type Sorter struct {
	cfg   Config
	dir   string       // spill directory, created on the first spill
	cur   *run         // being filled
	spare *run         // a buffer for the next run, once its spill is done
	spill chan spilled // the spill in flight, nil when none
	runs  []string
	read  []*fileRun // the runs Merge opened, closed by Close if the merge is abandoned
	stats Stats

	ordered    bool  // every row so far is in order
	lastTime   int64 // of the last row added
	lastLine   int64
	prefixLine int64 // rows up to this line were dropped in order: the caller rereads them

	create func(name string) (io.WriteCloser, error) // opens a spill file; a seam for tests
}

// run is a run buffer: encoded rows and their keys.
type run struct {
	keys, tmp []key // tmp: radix-sort scratch
	data      []byte
	sorted    bool // keys are in order
	memory    int64
	sink      byte // keeps touch's loads
}

// newRun allocates a run buffer of memory bytes. Pages the run never reaches are never touched.
func newRun(memory int64) *run {
	n := memory / int64(keyBytes+16) // no encoded row is shorter than 16 bytes
	return &run{data: make([]byte, 0, memory), keys: make([]key, 0, n), tmp: make([]key, 0, n), sorted: true, memory: memory}
}

// fits reports whether a row of need bytes fits in the run.
func (r *run) fits(need int) bool {
	return len(r.keys) < cap(r.keys) && int64(len(r.data)+need+(len(r.keys)+1)*keyBytes) <= r.memory
}

func (r *run) reset() { r.keys, r.data, r.sorted = r.keys[:0], r.data[:0], true }

func (r *run) sort() {
	if !r.sorted {
		r.tmp = r.tmp[:len(r.keys)]
		radixSort(r.keys, r.tmp)
		r.sorted = true
	}
}

// spilled is the result of a spill: the buffer, free again, and the bytes written.
type spilled struct {
	buf *run
	n   int64
	err error
}

// dirPrefix starts the name of a spill directory, followed by the owner's process ID and a dash.
const dirPrefix = "notestream-sort-"

// New returns a Sorter. Close removes its spill files. New also removes the spill directories in
// Config.Dir of processes that no longer run (killed by SIGKILL, which leaves no chance to clean up).
func New(cfg Config) (*Sorter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	removeOrphans(cfg.Dir)
	s := &Sorter{cfg: cfg, ordered: true}
	s.create = func(name string) (io.WriteCloser, error) { return os.Create(name) }
	return s, nil
}

// Stats describes the rows added so far.
func (s *Sorter) Stats() Stats {
	st := s.stats
	st.InOrder = s.ordered
	return st
}

// Dir is the spill directory, empty before the first spill.
func (s *Sorter) Dir() string { return s.dir }

// Add adds a row; rows must come in input order (increasing lines).
func (s *Sorter) Add(r *Row) error {
	need := encodedLen(r)
	if s.cur == nil {
		s.cur = newRun(s.cfg.Memory / 2)
	}
	if len(s.cur.keys) > 0 && !s.cur.fits(need) {
		if err := s.endRun(); err != nil {
			return err
		}
	}
	if r.Line <= s.lastLine {
		return fmt.Errorf("extsort: line %d added after line %d", r.Line, s.lastLine)
	}
	cur := s.cur
	if r.In.Time < s.lastTime && s.stats.Rows > 0 {
		s.ordered = false
		cur.sorted = false
	} else if len(cur.keys) > 0 && r.In.Time < cur.keys[len(cur.keys)-1].time {
		cur.sorted = false
	}
	s.lastTime, s.lastLine = r.In.Time, r.Line
	s.stats.Rows++
	if len(cur.data) > 1<<32-1 {
		return errors.New("extsort: run over 4 GiB") // unreachable with Memory below 8 GiB
	}
	cur.keys = append(cur.keys, key{time: r.In.Time, off: uint32(len(cur.data))})
	cur.data = appendRow(cur.data, r)
	return nil
}

// endRun ends the current run: it is dropped when every row so far is in order (the caller rereads
// them), else sorted and written to disk in the background while the other buffer fills.
func (s *Sorter) endRun() error {
	if s.ordered && !s.cfg.NoReread {
		s.prefixLine = s.lastLine
		s.cur.reset()
		return nil
	}
	if err := s.waitSpill(); err != nil {
		return err
	}
	if s.dir == "" {
		dir, err := os.MkdirTemp(s.cfg.Dir, fmt.Sprintf("%s%d-", dirPrefix, os.Getpid()))
		if err != nil {
			return fmt.Errorf("extsort: spill directory: %w", err)
		}
		s.dir = dir
	}
	name := filepath.Join(s.dir, fmt.Sprintf("run-%06d", len(s.runs)))
	s.runs = append(s.runs, name) // removed by Close, also when incomplete
	full := s.cur
	s.cur, s.spare = s.spare, nil
	if s.cur == nil {
		s.cur = newRun(s.cfg.Memory / 2)
	}
	done := make(chan spilled, 1)
	s.spill = done
	go func() {
		n, err := s.write(full, name)
		full.reset()
		done <- spilled{buf: full, n: n, err: err}
	}()
	return nil
}

// waitSpill waits for the spill in flight, if any.
func (s *Sorter) waitSpill() error {
	if s.spill == nil {
		return nil
	}
	res := <-s.spill
	s.spill, s.spare = nil, res.buf
	if res.err != nil {
		return res.err
	}
	s.stats.Runs++
	s.stats.SpilledBytes += res.n
	return nil
}

// write sorts r and writes it to a new file, name.
func (s *Sorter) write(r *run, name string) (n int64, err error) {
	r.sort()
	f, err := s.create(name)
	if err != nil {
		return 0, fmt.Errorf("extsort: spill run: %w", err)
	}
	w := bufio.NewWriterSize(f, spillBuffer)
	var sink byte
	for i, k := range r.keys {
		if i%touchAhead == 0 {
			sink += touch(r.data, r.keys[i:min(len(r.keys), i+touchAhead)])
		}
		row := r.data[k.off:]
		size, m := binary.Uvarint(row)
		row = row[:m+int(size)]
		if _, err = w.Write(row); err != nil {
			break
		}
		n += int64(len(row))
	}
	r.sink += sink
	if err == nil {
		err = w.Flush()
	}
	err = errors.Join(err, f.Close())
	if err != nil {
		return 0, fmt.Errorf("extsort: spill run to %s: %w", name, err)
	}
	return n, nil
}

// spillBuffer is the buffer of a spill file, written or read.
const spillBuffer = 256 << 10

// Merge returns the rows added, in time order, ties in input order. If a prefix of the input was
// dropped in order, reread(line) must return the input's rows up to line, in input order. Add may not
// be called after Merge.
func (s *Sorter) Merge(reread func(line int64) (Source, error)) (Source, error) {
	var srcs []Source
	if s.prefixLine > 0 {
		src, err := reread(s.prefixLine)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	if err := s.waitSpill(); err != nil {
		return nil, err
	}
	s.spare = nil // the merge needs one buffer only
	for _, name := range s.runs {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("extsort: read run: %w", err)
		}
		fr := &fileRun{f: f, r: bufio.NewReaderSize(f, spillBuffer), name: name}
		s.read = append(s.read, fr)
		srcs = append(srcs, fr)
	}
	if s.cur != nil {
		s.cur.sort()
		srcs = append(srcs, &memRun{keys: s.cur.keys, data: s.cur.data})
	}
	if len(srcs) == 1 {
		return srcs[0], nil
	}
	return newMerger(srcs)
}

// Close waits for a spill in flight, closes the runs Merge opened and removes the spill files. It is
// idempotent. The Source Merge returned may not be read after Close.
func (s *Sorter) Close() error {
	_ = s.waitSpill() // its error was or will never be reported: the sort is abandoned
	for _, fr := range s.read {
		_ = fr.close() // read only: nothing to lose
	}
	s.read = nil
	if s.dir == "" {
		return nil
	}
	dir := s.dir
	s.dir, s.runs = "", nil
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("extsort: remove spill directory: %w", err)
	}
	return nil
}

// removeOrphans removes the spill directories in dir whose owner process is gone. Errors are ignored:
// the directories are only garbage.
func removeOrphans(dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, dirPrefix+"*-*"))
	for _, name := range names {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(name), dirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(name)
		}
	}
}

// memRun reads the sorted run in memory.
type memRun struct {
	keys    []key
	data    []byte
	touched int  // keys whose rows touch has loaded
	sink    byte // keeps touch's loads
}

// touchAhead is how many rows touch loads at once. In time order the rows are scattered over the run
// (one cache miss, often a TLB miss, each); loading a block of them with independent loads lets the
// misses overlap instead of coming one after another. Writing a run and reading one in memory both
// go through the rows that way.
const touchAhead = 32

// touch loads the start of the rows of keys in data, returning a byte the caller keeps so that the
// loads are not optimised away.
func touch(data []byte, keys []key) byte {
	var s byte
	for _, k := range keys {
		s += data[k.off]
		if end := int(k.off) + 63; end < len(data) { // a row is often in two cache lines
			s += data[end]
		}
	}
	return s
}

func (m *memRun) touch() {
	m.touched = min(len(m.keys), touchAhead)
	m.sink += touch(m.data, m.keys[:m.touched])
}

func (m *memRun) Next(r *Row) error {
	if len(m.keys) == 0 {
		return io.EOF
	}
	if m.touched == 0 {
		m.touch()
	}
	m.touched--
	row := m.data[m.keys[0].off:]
	m.keys = m.keys[1:]
	size, n := binary.Uvarint(row)
	return decodeRow(row[n:n+int(size)], r)
}

// fileRun reads a sorted run from its file.
type fileRun struct {
	f    *os.File
	r    *bufio.Reader
	name string
	last int // bytes of the previous row, still buffered (its strings point into the buffer)
}

func (fr *fileRun) Next(r *Row) error {
	if _, err := fr.r.Discard(fr.last); err != nil {
		return fr.fail(err)
	}
	fr.last = 0
	head, err := fr.r.Peek(binary.MaxVarintLen64)
	if len(head) == 0 && err == io.EOF {
		if err := fr.close(); err != nil {
			return fmt.Errorf("extsort: close run %s: %w", fr.name, err)
		}
		return io.EOF
	}
	size, n := binary.Uvarint(head)
	if n <= 0 || size > spillBuffer-binary.MaxVarintLen64 {
		return fr.fail(errCorrupt)
	}
	row, err := fr.r.Peek(n + int(size))
	if err != nil {
		if err == io.EOF {
			err = errCorrupt
		}
		return fr.fail(err)
	}
	fr.last = len(row)
	if err := decodeRow(row[n:], r); err != nil {
		return fr.fail(err)
	}
	return nil
}

func (fr *fileRun) close() error {
	if fr.f == nil {
		return nil
	}
	err := fr.f.Close()
	fr.f = nil
	return err
}

func (fr *fileRun) fail(err error) error {
	return fmt.Errorf("extsort: read run %s: %w", fr.name, errors.Join(err, fr.close()))
}

var errCorrupt = errors.New("extsort: corrupt run")

// encodedLen is the length appendRow appends for r.
func encodedLen(r *Row) int {
	n := payloadLen(r)
	return uvarintLen(uint64(n)) + n
}

func payloadLen(r *Row) int {
	in := &r.In
	n := 8 + 1 + uvarintLen(uint64(r.Line)) + uvarintLen(zigzag(in.DurationMs))
	for _, s := range [...]string{in.UserID, in.Action, in.PageID, in.AppVersion} {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	return n
}

// appendRow appends r as: payload length (uvarint), time (8 bytes little endian), plain (1 byte), line
// (uvarint), duration (zigzag varint), then user_id, action, page_id and app_version (each uvarint
// length and bytes).
func appendRow(dst []byte, r *Row) []byte {
	in := &r.In
	dst = binary.AppendUvarint(dst, uint64(payloadLen(r)))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(in.Time))
	var plain byte
	if r.Plain {
		plain = 1
	}
	dst = append(dst, plain)
	dst = binary.AppendUvarint(dst, uint64(r.Line))
	dst = binary.AppendUvarint(dst, zigzag(in.DurationMs))
	for _, s := range [...]string{in.UserID, in.Action, in.PageID, in.AppVersion} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// decodeRow decodes a payload written by appendRow; r's strings point into b.
func decodeRow(b []byte, r *Row) error {
	if len(b) < 9 {
		return errCorrupt
	}
	r.In.Time = int64(binary.LittleEndian.Uint64(b))
	r.Plain = b[8] == 1
	b = b[9:]
	line, n := binary.Uvarint(b)
	if n <= 0 || line > 1<<62 {
		return errCorrupt
	}
	r.Line = int64(line)
	b = b[n:]
	dur, n := binary.Uvarint(b)
	if n <= 0 {
		return errCorrupt
	}
	r.In.DurationMs = int64(dur>>1) ^ -int64(dur&1)
	b = b[n:]
	for _, p := range [...]*string{&r.In.UserID, &r.In.Action, &r.In.PageID, &r.In.AppVersion} {
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return errCorrupt
		}
		*p = unsafe.String(unsafe.SliceData(b[n:]), int(size))
		b = b[n+int(size):]
	}
	if len(b) != 0 {
		return errCorrupt
	}
	return nil
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
