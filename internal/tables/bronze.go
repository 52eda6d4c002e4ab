package tables

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// bronzeSchema is bronze/interactions' schema; its columns come in BronzeInteraction's field order,
// the order of Scan's cases.
var bronzeSchema = parquet.SchemaOf(BronzeInteraction{})

// BronzeFile is a bronze/interactions object opened for reading: its footer read and its columns
// checked as Read checks them, its rows not yet read. Its Scan is Read at a third of the cost:
// values go straight into the struct (no reflection), and the strings that repeat (users, actions,
// versions) are interned instead of allocated row by row.
type BronzeFile struct {
	f   *parquet.File
	key string
	// byColumn maps the file's column index to the column's position in bronzeSchema; open checked
	// that each is there, required and of BronzeInteraction's type, so a value is never null.
	byColumn []int
}

// OpenBronze opens the bronze object key, size bytes read from r.
func OpenBronze(key string, r io.ReaderAt, size int64) (*BronzeFile, error) {
	f, err := open(key, r, size, bronzeSchema)
	if err != nil {
		return nil, err
	}
	byColumn := make([]int, len(f.Schema().Columns()))
	for i := range byColumn {
		byColumn[i] = -1
	}
	for i, path := range bronzeSchema.Columns() {
		leaf, _ := f.Schema().Lookup(path...)
		byColumn[leaf.ColumnIndex] = i
	}
	return &BronzeFile{f: f, key: key, byColumn: byColumn}, nil
}

// NumRows is the row count of the file's footer.
func (b *BronzeFile) NumRows() int64 { return b.f.NumRows() }

// Scan reads the file's rows in batches and hands each to fn, which must not keep the slice (its
// rows it may); strings that repeat are interned in strs. The row count is checked at the end, as
// Scan does.
func (b *BronzeFile) Scan(strs map[string]string, fn func([]BronzeInteraction) error) error {
	intern := func(v []byte) string {
		s, ok := strs[string(v)]
		if !ok {
			s = string(v)
			strs[s] = s
		}
		return s
	}
	r := parquet.NewReader(b.f)
	defer r.Close()
	rows := make([]parquet.Row, 256)
	batch := make([]BronzeInteraction, 0, len(rows))
	got := int64(0)
	for {
		n, err := r.ReadRows(rows)
		batch = batch[:0]
		for _, row := range rows[:n] {
			var in BronzeInteraction
			for _, v := range row {
				if c := v.Column(); c >= 0 && c < len(b.byColumn) {
					switch b.byColumn[c] {
					case 0:
						in.UserID = intern(v.ByteArray())
					case 1:
						in.Timestamp = v.Int64()
					case 2:
						in.ActionType = intern(v.ByteArray())
					case 3:
						in.PageID = string(v.ByteArray()) // nearly unique: interning would not pay
					case 4:
						in.DurationMs = v.Int64()
					case 5:
						in.AppVersion = intern(v.ByteArray())
					case 6:
						in.KafkaPartition = v.Int32()
					case 7:
						in.KafkaOffset = v.Int64()
					case 8:
						in.Late = v.Boolean()
					}
				}
			}
			batch = append(batch, in)
		}
		got += int64(n)
		if n > 0 {
			if err := fn(batch); err != nil {
				return err
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", b.key, err)
		}
	}
	return checkCount(b.key, got, b.NumRows())
}
