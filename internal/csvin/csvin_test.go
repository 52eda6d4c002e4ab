package csvin

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/notestream/notestream/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// readInteractions renders every result of an InteractionReader, one line each, ending with the error
// that stopped it.
func readInteractions(r io.Reader) []string {
	var out []string
	cr := NewInteractionReader(r)
	for {
		var in event.Interaction
		reason, err := cr.Next(&in)
		if err != nil {
			return append(out, "error: "+err.Error())
		}
		if reason != event.OK {
			out = append(out, fmt.Sprintf("%d %s %q", cr.Line(), reason, cr.Raw()))
			continue
		}
		out = append(out, fmt.Sprintf("%d ok %q %s %q %q %d %q", cr.Line(), in.UserID,
			time.UnixMilli(in.Time).UTC().Format("2006-01-02T15:04:05.000Z"), in.Action, in.PageID, in.DurationMs, in.AppVersion))
	}
}

func readUsers(r io.Reader) []string {
	var out []string
	cr := NewUserReader(r)
	for {
		var u event.User
		reason, err := cr.Next(&u)
		if err != nil {
			return append(out, "error: "+err.Error())
		}
		if reason != event.OK {
			out = append(out, fmt.Sprintf("%d %s %q", cr.Line(), reason, cr.Raw()))
			continue
		}
		out = append(out, fmt.Sprintf("%d ok %q %q %q %q %q", cr.Line(), u.UserID, u.JoinDate, u.Country, u.DeviceType, u.SubscriptionType))
	}
}

func TestParseTimestamp(t *testing.T) {
	ok := func(in, want string) {
		t.Helper()
		w, err := time.Parse(time.RFC3339Nano, want)
		if err != nil {
			t.Fatal(err)
		}
		got, valid := ParseTimestamp([]byte(in))
		if !valid || got != w.UnixMilli() {
			t.Fatalf("ParseTimestamp(%q) = %d, %v; want %d (%s)", in, got, valid, w.UnixMilli(), want)
		}
	}
	ok("2023-07-01 14:30:15", "2023-07-01T14:30:15Z")
	ok("2023-07-01T14:30:15", "2023-07-01T14:30:15Z")
	ok("2023-07-01T14:30:15Z", "2023-07-01T14:30:15Z")
	ok("2023-07-01 14:30:15.1", "2023-07-01T14:30:15.100Z")
	ok("2023-07-01 14:30:15.12", "2023-07-01T14:30:15.120Z")
	ok("2023-07-01 14:30:15.123", "2023-07-01T14:30:15.123Z")
	ok("2023-07-01 14:30:15.123999999", "2023-07-01T14:30:15.123Z") // truncated, not rounded
	ok("2023-07-01T14:30:15.5Z", "2023-07-01T14:30:15.500Z")
	ok("2023-07-01T14:30:15+02:00", "2023-07-01T12:30:15Z")
	ok("2023-07-01T00:30:15+05:30", "2023-06-30T19:00:15Z")
	ok("2023-12-31 23:30:00-01:00", "2024-01-01T00:30:00Z")
	ok("2023-07-01 14:30:15.250-00:00", "2023-07-01T14:30:15.250Z")
	ok("2024-02-29 00:00:00", "2024-02-29T00:00:00Z")
	ok("2000-02-29 23:59:59", "2000-02-29T23:59:59Z")
	ok("1970-01-01 00:00:00", "1970-01-01T00:00:00Z")
	ok("1969-12-31 23:59:59.999", "1969-12-31T23:59:59.999Z")
	ok("0001-01-01 00:00:00", "0001-01-01T00:00:00Z")
	ok("9999-12-31 23:59:59", "9999-12-31T23:59:59Z")

	bad := func(in string) {
		t.Helper()
		if got, valid := ParseTimestamp([]byte(in)); valid {
			t.Fatalf("ParseTimestamp(%q) = %d, want rejection", in, got)
		}
	}
	bad("")
	bad("2023-07-01")
	bad("2023-07-01 14:30")
	bad("2023/07/01 14:30:15")
	bad("2023-07-01_14:30:15")
	bad("2023-13-01 14:30:15")
	bad("2023-00-01 14:30:15")
	bad("2023-02-29 14:30:15")
	bad("1900-02-29 14:30:15")
	bad("2023-04-31 14:30:15")
	bad("2023-07-00 14:30:15")
	bad("2023-07-01 24:00:00")
	bad("2023-07-01 14:60:15")
	bad("2023-07-01 14:30:60")
	bad("2023-07-01 14:30:15.")
	bad("2023-07-01 14:30:15.12a")
	bad("2023-07-01 14:30:15z")
	bad("2023-07-01t14:30:15")
	bad("2023-07-01 14:30:15 Z")
	bad("2023-07-01 14:30:15+0200")
	bad("2023-07-01 14:30:15+02")
	bad("2023-07-01 14:30:15+24:00")
	bad("2023-07-01 14:30:15+02:60")
	bad("2023-07-01 14:30:15ZZ")
	bad("+023-07-01 14:30:15")
	bad("2023-7-01 14:30:15")
	bad("1688221815")
	bad("2023-07-01 14:30:1５")
}

func TestParseInt(t *testing.T) {
	f := func(in string, want int64, wantOK bool) {
		t.Helper()
		got, ok := parseInt([]byte(in))
		if ok != wantOK || got != want {
			t.Fatalf("parseInt(%q) = %d, %v; want %d, %v", in, got, ok, want, wantOK)
		}
	}
	f("0", 0, true)
	f("12000", 12000, true)
	f("-5", -5, true)
	f("+5", 5, true)
	f("0000000000000000000000042", 42, true)
	f("9223372036854775807", 9223372036854775807, true)
	f("-9223372036854775808", -9223372036854775808, true)
	f("9223372036854775808", 0, false)
	f("99999999999999999999", 0, false)
	f("", 0, false)
	f("-", 0, false)
	f("12.5", 0, false)
	f("1e3", 0, false)
	f("1 000", 0, false)
	f("abc", 0, false)
	f("0x10", 0, false)
}

func TestInteractionReader(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		got := readInteractions(strings.NewReader(in))
		want = append(want, "error: EOF")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("input %q:\ngot\n  %s\nwant\n  %s", in, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	const row = "u123,2023-07-01 14:30:15,page_view,p456,12000,5.7.3"
	const okRow = `ok "u123" 2023-07-01T14:30:15.000Z "page_view" "p456" 12000 "5.7.3"`

	f("")
	f("\n\r\n\n")
	f(row, "1 "+okRow)
	f(row+"\n", "1 "+okRow)
	f(row+"\r\n"+row+"\r\n", "1 "+okRow, "2 "+okRow)
	f("\xef\xbb\xbf"+row, "1 "+okRow)
	f("\n\n"+row+"\n\n"+row, "3 "+okRow, "5 "+okRow)
	// Trimming, case kept, every timestamp form.
	f(" u1 ,\t2023-07-01T14:30:15.5+02:00 , EDIT ,p1, -3 , 1.0 ",
		`1 ok "u1" 2023-07-01T12:30:15.500Z "EDIT" "p1" -3 "1.0"`)
	// Quoting: embedded separators, doubled quotes, newlines (the next row's line number follows them).
	f(`"u,1","2023-07-01 14:30:15","page_view","p ""quoted""",12000,"5.7.3"`+"\n"+row,
		`1 ok "u,1" 2023-07-01T14:30:15.000Z "page_view" "p \"quoted\"" 12000 "5.7.3"`, "2 "+okRow)
	f("u1,2023-07-01 14:30:15,edit,\"line\nbreak\r\nhere\",1,v\r\n"+row+"\r\n",
		`1 ok "u1" 2023-07-01T14:30:15.000Z "edit" "line\nbreak\r\nhere" 1 "v"`, "4 "+okRow)
	f(`u1, "p" ,2023-07-01 14:30:15,edit,p,1,v`, `1 malformed "u1, \"p\" ,2023-07-01 14:30:15,edit,p,1,v"`)
	f(`  "u1"  ,2023-07-01 14:30:15,edit,p,1,""`, `1 ok "u1" 2023-07-01T14:30:15.000Z "edit" "p" 1 ""`)
	f(`u1,2023-07-01 14:30:15,edit,p,1,"v"`+"\r\n", `1 ok "u1" 2023-07-01T14:30:15.000Z "edit" "p" 1 "v"`)
	f(`u1,2023-07-01 14:30:15,edit,p,1,"v"`+"\r", `1 ok "u1" 2023-07-01T14:30:15.000Z "edit" "p" 1 "v"`)
	f(`u1,2023-07-01 14:30:15,edit,p,1,`+"\"\"\"\"", `1 ok "u1" 2023-07-01T14:30:15.000Z "edit" "p" 1 "\""`)

	// Malformed: syntax, field count. Reading continues on the next line.
	f(`u1,2023-07-01 14:30:15,ed"it,p,1,v`+"\n"+row, `1 malformed "u1,2023-07-01 14:30:15,ed\"it,p,1,v"`, "2 "+okRow)
	f(`u1,2023-07-01 14:30:15,"edit"x,p,1,v`+"\n"+row, `1 malformed "u1,2023-07-01 14:30:15,\"edit\"x,p,1,v"`, "2 "+okRow)
	f(`u1,2023-07-01 14:30:15,"edit"x,"p`+"\n"+row, `1 malformed "u1,2023-07-01 14:30:15,\"edit\"x,\"p"`, "2 "+okRow)
	f("u1,2023-07-01 14:30:15,edit,p,1\n"+row, `1 malformed "u1,2023-07-01 14:30:15,edit,p,1"`, "2 "+okRow)
	f("u1,2023-07-01 14:30:15,edit,p,1,v,extra\n"+row, `1 malformed "u1,2023-07-01 14:30:15,edit,p,1,v,extra"`, "2 "+okRow)
	f(" \n"+row, `1 malformed " "`, "2 "+okRow)
	f(`u1,"2023-07-01 14:30:15,edit,p,1,v`+"\n"+row, "1 malformed \"u1,\\\"2023-07-01 14:30:15,edit,p,1,v\\n"+row[:len(row)]+"\"")

	// Each later reason applies only when the earlier ones do not.
	long := strings.Repeat("x", 257)
	f("u1,bad,edit,"+long+",x,v", `1 field_too_long "u1,bad,edit,`+long+`,x,v"`)
	f(long+",bad,edit,p,x,v", `1 field_too_long "`+long+`,bad,edit,p,x,v"`)
	f("u1,bad,edit,p,x,"+strings.Repeat("9", 65), `1 field_too_long "u1,bad,edit,p,x,`+strings.Repeat("9", 65)+`"`)
	f(strings.Repeat("x", 256)+",2023-07-01 14:30:15,edit,"+strings.Repeat("p", 256)+",1,"+strings.Repeat("v", 64),
		`1 ok "`+strings.Repeat("x", 256)+`" 2023-07-01T14:30:15.000Z "edit" "`+strings.Repeat("p", 256)+`" 1 "`+strings.Repeat("v", 64)+`"`)
	f("  ,bad,edit,p,x,v", `1 missing_user_id "  ,bad,edit,p,x,v"`)
	f(`"",bad,edit,p,x,v`, `1 missing_user_id "\"\",bad,edit,p,x,v"`)
	f("u1,2023-02-30 10:00:00,edit,p,x,v", `1 bad_timestamp "u1,2023-02-30 10:00:00,edit,p,x,v"`)
	f("u1,,edit,p,1,v", `1 bad_timestamp "u1,,edit,p,1,v"`)
	f("u1,2023-07-01 14:30:15,edit,p,12.5,v", `1 bad_duration "u1,2023-07-01 14:30:15,edit,p,12.5,v"`)
	f("u1,2023-07-01 14:30:15,edit,p,,v", `1 bad_duration "u1,2023-07-01 14:30:15,edit,p,,v"`)
	// Rule checks come later: these rows are readable.
	f("u1,2023-07-01 14:30:15,bogus,p,99999999,", `1 ok "u1" 2023-07-01T14:30:15.000Z "bogus" "p" 99999999 ""`)
	f("u1,2023-07-01 14:30:15,,,-1,", `1 ok "u1" 2023-07-01T14:30:15.000Z "" "" -1 ""`)
}

func TestInteractionHeader(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		got := readInteractions(strings.NewReader(in))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("input %q:\ngot\n  %s\nwant\n  %s", in, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	const okRow = `ok "u1" 2023-07-01T14:30:15.000Z "edit" "p" 5 "v1"`
	f("user_id,timestamp,action_type,page_id,duration_ms,app_version\nu1,2023-07-01 14:30:15,edit,p,5,v1\n",
		"2 "+okRow, "error: EOF")
	f("\xef\xbb\xbf\"user_id\",timestamp,action_type,page_id,duration_ms,app_version\r\nu1,2023-07-01 14:30:15,edit,p,5,v1\r\n",
		"2 "+okRow, "error: EOF")
	// Any order, any case, extra columns ignored but counted.
	f("extra, App_Version,duration_ms,page_id,ACTION_TYPE,timestamp,user_id\n"+
		"x,v1,5,p,edit,2023-07-01 14:30:15,u1\n"+
		"v1,5,p,edit,2023-07-01 14:30:15,u1\n",
		"2 "+okRow, `3 malformed "v1,5,p,edit,2023-07-01 14:30:15,u1"`, "error: EOF")
	f("user_id,timestamp,action_type,page_id,app_version\nu1,2023-07-01 14:30:15,edit,p,v1\n",
		"error: csvin: header on line 1: no column duration_ms")
	f("\n\nuser_id,timestamp,action_type,page_id,duration_ms,app_version,user_id\n",
		"error: csvin: header on line 3: column user_id appears twice")
	// Only the first row can be a header.
	f("u1,2023-07-01 14:30:15,edit,p,5,v1\nuser_id,timestamp,action_type,page_id,duration_ms,app_version\n",
		"1 "+okRow, `2 bad_timestamp "user_id,timestamp,action_type,page_id,duration_ms,app_version"`, "error: EOF")
	// A first row that names a single column is data.
	f("u1,2023-07-01 14:30:15,timestamp,p,5,v1\n", `1 ok "u1" 2023-07-01T14:30:15.000Z "timestamp" "p" 5 "v1"`, "error: EOF")
	f("user_id,x\nu1,2023-07-01 14:30:15,edit,p,5,v1\n", `1 malformed "user_id,x"`, "2 "+okRow, "error: EOF")
	// A malformed first row is a row, not a header.
	f("user_id,timestamp,\"action_type\"x\nu1,2023-07-01 14:30:15,edit,p,5,v1\n",
		`1 malformed "user_id,timestamp,\"action_type\"x"`, "2 "+okRow, "error: EOF")
}

func TestUserReader(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		got := readUsers(strings.NewReader(in))
		want = append(want, "error: EOF")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("input %q:\ngot\n  %s\nwant\n  %s", in, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	f("u123,2022-01-15,US,iPad,premium", `1 ok "u123" "2022-01-15" "US" "iPad" "premium"`)
	f("country,user_id,join_date,subscription_type,device_type,x\r\nUS, u1 ,2024-02-29,free,\"Mac, M1\",y\r\n",
		`2 ok "u1" "2024-02-29" "US" "Mac, M1" "free"`)
	f("u1,2022-01-15,US,iPad\n", `1 malformed "u1,2022-01-15,US,iPad"`)
	f("u1,2022-01-15,US,iPad,premium,x\n", `1 malformed "u1,2022-01-15,US,iPad,premium,x"`)
	long := strings.Repeat("c", 257)
	f(",bad,"+long+",iPad,premium", `1 field_too_long ",bad,`+long+`,iPad,premium"`)
	f(" ,bad,US,iPad,premium", `1 missing_user_id " ,bad,US,iPad,premium"`)
	f("u1,2023-02-29,US,iPad,premium", `1 bad_date "u1,2023-02-29,US,iPad,premium"`)
	f("u1,01/15/2022,US,iPad,premium", `1 bad_date "u1,01/15/2022,US,iPad,premium"`)
	f("u1,,US,iPad,premium", `1 bad_date "u1,,US,iPad,premium"`)
	f("u1,2022-01-15 10:00:00,US,iPad,premium", `1 bad_date "u1,2022-01-15 10:00:00,US,iPad,premium"`)
	f("u1,2022-01-15,,,", `1 ok "u1" "2022-01-15" "" "" ""`)
}

func TestUserHeaderError(t *testing.T) {
	got := readUsers(strings.NewReader("user_id,join_date,country,device_type\nu1,2022-01-15,US,iPad\n"))
	want := "error: csvin: header on line 1: no column subscription_type"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %q, want [%q]", got, want)
	}
}

func TestOverlongRows(t *testing.T) {
	const row = "u1,2023-07-01 14:30:15,edit,p,5,v1"
	const okRow = `ok "u1" 2023-07-01T14:30:15.000Z "edit" "p" 5 "v1"`
	f := func(name, long string, rawLen int, nextLine int64) {
		t.Helper()
		in := long + "\n" + row + "\n"
		for _, rd := range []io.Reader{strings.NewReader(in), iotest.HalfReader(strings.NewReader(in)), iotest.OneByteReader(strings.NewReader(in))} {
			cr := NewInteractionReader(rd)
			var ev event.Interaction
			reason, err := cr.Next(&ev)
			if err != nil || reason != event.Malformed || cr.Line() != 1 || len(cr.Raw()) != rawLen || !bytes.HasPrefix([]byte(long), cr.Raw()) {
				t.Fatalf("%s: first row: %v, %v, line %d, raw %d bytes", name, reason, err, cr.Line(), len(cr.Raw()))
			}
			reason, err = cr.Next(&ev)
			if err != nil || reason != event.OK || cr.Line() != nextLine || ev.UserID != "u1" {
				t.Fatalf("%s: second row: %v, %v, line %d, %+v", name, reason, err, cr.Line(), ev)
			}
			if _, err := cr.Next(&ev); err != io.EOF {
				t.Fatalf("%s: end: %v", name, err)
			}
		}
	}
	f("at the limit is a normal bad row", row+","+strings.Repeat("x", MaxRowBytes-len(row)-1), MaxRowBytes, 2)
	f("one over the limit", row+","+strings.Repeat("x", MaxRowBytes-len(row)), MaxRowBytes, 2)
	f("longer than the buffer", strings.Repeat("y", 3*bufSize), MaxRowBytes, 2)
	f("quoted, with line breaks", `u1,"`+strings.Repeat("z\n", 10)+strings.Repeat("x", MaxRowBytes)+`"`, MaxRowBytes, 12)
	// A quoted row is cut at the first newline after MaxRowBytes, even inside its quotes.
	in := `u1,"` + strings.Repeat("q", MaxRowBytes) + "\n" + row + "\"\n" + row + "\n"
	got := readInteractions(strings.NewReader(in))
	if len(got) != 4 || !strings.HasPrefix(got[0], "1 malformed") || got[1] != `2 malformed "u1,2023-07-01 14:30:15,edit,p,5,v1\""` || got[2] != "3 "+okRow {
		t.Fatalf("got %.200q", got)
	}
}

// TestReadSizes checks that the result does not depend on how the input arrives.
func TestReadSizes(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "interactions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := readInteractions(bytes.NewReader(in))
	for name, r := range map[string]io.Reader{
		"one byte": iotest.OneByteReader(bytes.NewReader(in)),
		"half":     iotest.HalfReader(bytes.NewReader(in)),
		"data+EOF": iotest.DataErrReader(bytes.NewReader(in)),
	} {
		if got := readInteractions(r); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: results differ", name)
		}
	}
}

func TestReadError(t *testing.T) {
	boom := fmt.Errorf("boom")
	in := "u1,2023-07-01 14:30:15,edit,p,5,v1\nu2,2023-07-01"
	got := readInteractions(io.MultiReader(strings.NewReader(in), iotest.ErrReader(boom)))
	want := []string{`1 ok "u1" 2023-07-01T14:30:15.000Z "edit" "p" 5 "v1"`, "error: boom"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestGolden reads testdata/*.csv and compares every result with the .golden file next to it.
func TestGolden(t *testing.T) {
	for name, read := range map[string]func(io.Reader) []string{"interactions": readInteractions, "users": readUsers} {
		in, err := os.ReadFile(filepath.Join("testdata", name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(read(bytes.NewReader(in)), "\n") + "\n"
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s: results differ from %s (run with -update to accept):\n%s", name, path, got)
		}
	}
}

func TestAllocs(t *testing.T) {
	var buf bytes.Buffer
	for i := range 1000 {
		buf.WriteString("u" + strconv.Itoa(i) + ",2023-07-01 14:30:15.123Z,page_view,p456,12000,5.7.3\n")
	}
	in := buf.Bytes()
	cr := NewInteractionReader(bytes.NewReader(in))
	var ev event.Interaction
	cr.Next(&ev) // the first call allocates the buffer
	allocs := testing.AllocsPerRun(500, func() {
		if reason, err := cr.Next(&ev); err != nil || reason != event.OK {
			t.Fatalf("%v %v", reason, err)
		}
	})
	if allocs > 1 {
		t.Fatalf("%v allocations per row, want at most 1", allocs)
	}
}

func parseRFC3339(s string) (int64, error) {
	tm, err := time.Parse(time.RFC3339Nano, s)
	return tm.UnixMilli(), err
}

func unixMilliUTC(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
