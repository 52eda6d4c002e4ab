package tables

import (
	"fmt"
	"io"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// bronzeSchema is bronze/interactions' schema; its columns come in BronzeInteraction's field order,
// the order of ReadBronze's cases.
var bronzeSchema = parquet.SchemaOf(BronzeInteraction{})

// ReadBronze is Read for bronze/interactions at a third of the cost, with the same checks: values go
// straight into the struct (no reflection), and the strings that repeat (users, actions, versions)
// are interned in strs instead of allocated row by row.
func ReadBronze(dst []BronzeInteraction, key string, b []byte, strs map[string]string) ([]BronzeInteraction, error) {
	f, err := open(key, b, bronzeSchema)
	if err != nil {
		return dst, err
	}
	// byColumn maps the file's column index to the column's position in bronzeSchema; open checked
	// that each is there, required and of BronzeInteraction's type, so a value is never null.
	byColumn := make([]int, len(f.Schema().Columns()))
	for i := range byColumn {
		byColumn[i] = -1
	}
	for i, path := range bronzeSchema.Columns() {
		leaf, _ := f.Schema().Lookup(path...)
		byColumn[leaf.ColumnIndex] = i
	}
	intern := func(v []byte) string {
		s, ok := strs[string(v)]
		if !ok {
			s = string(v)
			strs[s] = s
		}
		return s
	}
	r := parquet.NewReader(f)
	defer r.Close()
	start, want := len(dst), f.NumRows()
	dst = slices.Grow(dst, int(min(want, trustedRows)))
	rows := make([]parquet.Row, 256)
	for {
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			var in BronzeInteraction
			for _, v := range row {
				if c := v.Column(); c >= 0 && c < len(byColumn) {
					switch byColumn[c] {
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
			dst = append(dst, in)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst[:start], fmt.Errorf("%s: %w", key, err)
		}
	}
	return checkRows(dst, start, key, want)
}
