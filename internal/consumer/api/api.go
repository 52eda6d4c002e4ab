// Package api serves the real-time metrics over HTTP, as the contract's section 5 defines them.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/rtstate"
)

// Store is where the metrics are read from; *rtstore.Store implements it.
type Store interface {
	// Active estimates the distinct users active on days from to to (inclusive) in seg.
	Active(ctx context.Context, from, to int32, seg rtstate.Segment) (uint64, error)
	// Sessions returns the closed-session aggregates of day in seg.
	Sessions(ctx context.Context, day int32, seg rtstate.Segment) (metric.Sessions, error)
	// MonthUsers returns the users active in month (YYYY-MM) with their engaged_ms and events.
	MonthUsers(ctx context.Context, month string) ([]engagement.User, error)
}

// Server is the HTTP API.
type Server struct {
	store   Store
	ready   func() error
	metrics http.Handler
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []string
}

// New returns the API over store: /v1/dau, /v1/wau, /v1/mau, /v1/sessions, /v1/power-users,
// /v1/openapi.json, and /metrics (served by metrics), /healthz and /readyz (ready returns nil when
// ready). Register routes with s.route, so that Routes and the OpenAPI test see them.
func New(store Store, ready func() error, metrics http.Handler, log *slog.Logger) *Server {
	s := &Server{store: store, ready: ready, metrics: metrics, log: log, mux: http.NewServeMux()}
	s.route("GET /v1/dau", s.active("dau", 1))
	s.route("GET /v1/wau", s.active("wau", event.WAUDays))
	s.route("GET /v1/mau", s.active("mau", event.MAUDays))
	s.route("GET /v1/sessions", s.sessions)
	s.route("GET /v1/power-users", s.powerUsers)
	if vs, ok := store.(VersionStore); ok {
		s.route("GET /v1/app-versions", s.appVersions(vs))
	}
	s.route("GET /v1/openapi.json", serveOpenAPI)
	s.route("GET /metrics", metrics.ServeHTTP)
	s.route("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.route("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, errors.New("not found"))
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// query is a parsed metrics request.
type query struct {
	date    string // YYYY-MM-DD, or empty for a month
	month   string // YYYY-MM
	from    int32  // first day
	to      int32  // last day
	segment rtstate.Segment
}

// maxLen is the longest value of a parameter, in bytes: segment values are metadata fields, which
// the contract caps at 256 bytes (section 2), and dates and months have fixed lengths. A longer value
// gets 400 before it is parsed, looked up or echoed.
func maxLen(name string) (int, bool) {
	switch {
	case name == "date":
		return len("2006-01-02"), true
	case name == "month":
		return len("2006-01"), true
	case slices.Contains(event.Dimensions[:], name):
		return 256, true
	}
	return 0, false
}

// parse reads date (or, if allowMonth, month) and at most one segment parameter; anything else is
// an error. A rolling window of days ends on date.
func parse(v url.Values, days int32, allowMonth bool) (query, error) {
	var q query
	for name, vals := range v {
		if len(vals) != 1 {
			return q, fmt.Errorf("parameter %s given %d times", name, len(vals))
		}
		if n, ok := maxLen(name); ok && len(vals[0]) > n {
			return q, fmt.Errorf("%s: %d bytes, at most %d", name, len(vals[0]), n)
		}
		switch name {
		case "date":
			q.date = vals[0]
		case "month":
			if !allowMonth {
				return q, fmt.Errorf("unknown parameter %q", name)
			}
			q.month = vals[0]
		case event.Dimensions[0], event.Dimensions[1], event.Dimensions[2]:
			if q.segment != (rtstate.Segment{}) {
				return q, errors.New("at most one of country, device_type, subscription_type")
			}
			if vals[0] == "" {
				return q, fmt.Errorf("empty %s", name)
			}
			q.segment = rtstate.Segment{Dimension: name, Value: vals[0]}
		default:
			return q, fmt.Errorf("unknown parameter %q", name)
		}
	}
	switch {
	case q.date != "" && q.month != "":
		return q, errors.New("give date or month, not both")
	case q.month != "":
		var err error
		if q.from, q.to, err = event.ParseMonth(q.month); err != nil {
			return q, fmt.Errorf("month %q: want YYYY-MM", q.month)
		}
	case q.date != "":
		var err error
		if q.to, err = event.ParseDate(q.date); err != nil {
			return q, fmt.Errorf("date %q: want YYYY-MM-DD", q.date)
		}
		q.from = q.to - days + 1
	case allowMonth:
		return q, errors.New("missing date or month")
	default:
		return q, errors.New("missing date")
	}
	return q, nil
}

// active serves the distinct users of a rolling window of days ending on date (dau, wau, mau), or of
// a calendar month for mau.
func (s *Server) active(name string, days int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := parse(r.URL.Query(), days, name == "mau")
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		n, err := s.store.Active(r.Context(), q.from, q.to, q.segment)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		resp := q.echo()
		resp[name] = n
		writeJSON(w, http.StatusOK, resp)
	}
}

func (s *Server) sessions(w http.ResponseWriter, r *http.Request) {
	q, err := parse(r.URL.Query(), 1, false)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	agg, err := s.store.Sessions(r.Context(), q.to, q.segment)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := q.echo()
	resp["sessions"] = agg.Count
	resp["avg_session_duration_s"] = agg.AvgDurationS()
	resp["avg_actions_per_session"] = agg.AvgActions()
	writeJSON(w, http.StatusOK, resp)
}

// echo returns the answer's fields that repeat the question: date or month, and the segment.
func (q query) echo() map[string]any {
	m := map[string]any{}
	if q.month != "" {
		m["month"] = q.month
	} else {
		m["date"] = q.date
	}
	if q.segment != (rtstate.Segment{}) {
		m[q.segment.Dimension] = q.segment.Value
	}
	return m
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Warn("api request failed", "path", r.URL.Path, "query", r.URL.RawQuery, "err", err)
	writeError(w, http.StatusServiceUnavailable, errors.New("store unavailable"))
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
