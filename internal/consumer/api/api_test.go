package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/rtstate"
)

// fakeStore answers Active with the number of days asked for, times 100 for a segment, and records
// the last question.
type fakeStore struct {
	from, to int32
	seg      rtstate.Segment
	fail     bool
}

func (f *fakeStore) Active(_ context.Context, from, to int32, seg rtstate.Segment) (uint64, error) {
	f.from, f.to, f.seg = from, to, seg
	if f.fail {
		return 0, errors.New("redis down")
	}
	n := uint64(to - from + 1)
	if seg != (rtstate.Segment{}) {
		n *= 100
	}
	return n, nil
}

func (f *fakeStore) Sessions(_ context.Context, day int32, seg rtstate.Segment) (metric.Sessions, error) {
	f.from, f.to, f.seg = day, day, seg
	return metric.Sessions{Count: 4, DurationMs: 10_000, Actions: 10}, nil
}

func TestAPI(t *testing.T) {
	store := &fakeStore{}
	ready := errors.New("loading users")
	srv := New(store, func() error { return ready }, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	f := func(path string, status int, want string) {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != status || strings.TrimSpace(rec.Body.String()) != want {
			t.Errorf("GET %s = %d %s, want %d %s", path, rec.Code, rec.Body, status, want)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
	}
	f("/v1/dau?date=2023-07-01", 200, `{"date":"2023-07-01","dau":1}`)
	f("/v1/wau?date=2023-07-01", 200, `{"date":"2023-07-01","wau":7}`)
	f("/v1/mau?date=2023-07-01", 200, `{"date":"2023-07-01","mau":30}`)
	f("/v1/mau?month=2023-02", 200, `{"mau":28,"month":"2023-02"}`)
	f("/v1/mau?month=2024-02&country=US", 200, `{"country":"US","mau":2900,"month":"2024-02"}`)
	f("/v1/dau?date=2023-07-01&device_type=iPad", 200, `{"date":"2023-07-01","dau":100,"device_type":"iPad"}`)
	if store.seg != (rtstate.Segment{Dimension: "device_type", Value: "iPad"}) {
		t.Errorf("segment %v", store.seg)
	}
	f("/v1/sessions?date=2023-07-01&subscription_type=premium", 200,
		`{"avg_actions_per_session":2.5,"avg_session_duration_s":2.5,"date":"2023-07-01","sessions":4,"subscription_type":"premium"}`)

	f("/v1/dau", 400, `{"error":"missing date"}`)
	f("/v1/mau", 400, `{"error":"missing date or month"}`)
	f("/v1/dau?date=2023-02-30", 400, `{"error":"date \"2023-02-30\": want YYYY-MM-DD"}`)
	f("/v1/dau?date=07/01/2023", 400, `{"error":"date \"07/01/2023\": want YYYY-MM-DD"}`)
	f("/v1/dau?month=2023-07", 400, `{"error":"unknown parameter \"month\""}`)
	f("/v1/mau?month=2023-13", 400, `{"error":"month \"2023-13\": want YYYY-MM"}`)
	f("/v1/mau?month=2023-07&date=2023-07-01", 400, `{"error":"give date or month, not both"}`)
	f("/v1/dau?date=2023-07-01&date=2023-07-02", 400, `{"error":"parameter date given 2 times"}`)
	f("/v1/dau?date=2023-07-01&country=US&device_type=iPad", 400, `{"error":"at most one of country, device_type, subscription_type"}`)
	f("/v1/dau?date=2023-07-01&country=", 400, `{"error":"empty country"}`)
	f("/v1/dau?date=2023-07-01&os=ios", 400, `{"error":"unknown parameter \"os\""}`)
	f("/v1/nothing", 404, `{"error":"not found"}`)

	f("/healthz", 200, `{"status":"ok"}`)
	f("/readyz", 503, `{"reason":"loading users","status":"not ready"}`)
	ready = nil
	f("/readyz", 200, `{"status":"ready"}`)

	store.fail = true
	f("/v1/dau?date=2023-07-01", 503, `{"error":"store unavailable"}`)
}

// TestParameterLimits: a value longer than the contract's field limit gets 400, and one at the limit
// is answered.
func TestParameterLimits(t *testing.T) {
	srv := New(&fakeStore{}, func() error { return nil }, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	long := strings.Repeat("x", 257)
	for _, tc := range []struct {
		path   string
		status int
		err    string
	}{
		{"/v1/dau?date=2023-07-01&country=" + long[:256], 200, ""},
		{"/v1/dau?date=2023-07-01&country=" + long, 400, "country: 257 bytes, at most 256"},
		{"/v1/wau?date=2023-07-01&device_type=" + long, 400, "device_type: 257 bytes, at most 256"},
		{"/v1/mau?month=2023-07&subscription_type=" + long, 400, "subscription_type: 257 bytes, at most 256"},
		{"/v1/sessions?date=2023-07-01&country=" + strings.Repeat("é", 129), 400, "country: 258 bytes, at most 256"}, // bytes, not characters
		{"/v1/sessions?date=2023-07-01&country=" + strings.Repeat("é", 128), 200, ""},
		{"/v1/dau?date=2023-07-01" + strings.Repeat("0", 300), 400, "date: 310 bytes, at most 10"},
		{"/v1/mau?month=2023-07" + long, 400, "month: 264 bytes, at most 7"},
	} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%.60s…: %q is not JSON", tc.path, rec.Body)
		}
		if rec.Code != tc.status || (tc.err != "" && body["error"] != tc.err) {
			t.Errorf("GET %.60s… = %d %v, want %d %q", tc.path, rec.Code, body, tc.status, tc.err)
		}
		if tc.status == 400 && strings.Contains(rec.Body.String(), "xxxxxxxx") {
			t.Errorf("GET %.60s…: the answer echoes the long value: %s", tc.path, rec.Body)
		}
	}
}

func TestAnswersDecode(t *testing.T) {
	srv := New(&fakeStore{}, func() error { return nil }, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/sessions?date=2023-07-01", nil))
	var got struct {
		Date     string  `json:"date"`
		Sessions int64   `json:"sessions"`
		AvgDur   float64 `json:"avg_session_duration_s"`
		AvgAct   float64 `json:"avg_actions_per_session"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Sessions != 4 || got.AvgDur != 2.5 || got.AvgAct != 2.5 {
		t.Fatalf("%s: %+v %v", rec.Body, got, err)
	}
}

// FuzzQuery checks that any query string gives a JSON answer: 200 for a valid question, else 400
// with an error, never a panic.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{"date=2023-07-01", "month=2023-07&country=US", "date=2023-07-01&date=x",
		"date=0000-01-01", "month=9999-12", "date=2023-07-01&subscription_type=%00", "%zz"} {
		f.Add("mau", q)
	}
	srv := New(&fakeStore{}, func() error { return nil }, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, endpoint, query string) {
		switch endpoint {
		case "dau", "wau", "mau", "sessions":
		default:
			endpoint = "dau"
		}
		req := httptest.NewRequest(http.MethodGet, "/v1/"+endpoint, nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s?%s: %d %q is not JSON", endpoint, query, rec.Code, rec.Body)
		}
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			if msg, _ := body["error"].(string); msg == "" {
				t.Fatalf("%s?%s: 400 without an error: %s", endpoint, query, rec.Body)
			}
		default:
			t.Fatalf("%s?%s: status %d", endpoint, query, rec.Code)
		}
	})
}
