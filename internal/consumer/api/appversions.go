package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/rtstate"
)

// VersionStore is where the app versions are read from; *rtstore.Store implements it.
type VersionStore interface {
	// AppVersions returns every app version of day with its counts and page-view sketch.
	AppVersions(ctx context.Context, day int32) (map[string]*rtstate.Version, error)
}

// Limits of /v1/app-versions.
const (
	// VersionCap is the most versions a day lists by name: the rest, by events, are counted together
	// under OtherVersion, so an answer stays small whatever the data holds.
	VersionCap = 200
	// OtherVersion names the versions beyond VersionCap (and a version that is itself named so).
	OtherVersion     = "other"
	defaultVersions  = 50
	maxVersionLength = 64 // the contract's limit on app_version
)

// appVersion is one entry of the answer; percentiles are null without page views.
type appVersion struct {
	AppVersion string   `json:"app_version"`
	Events     int64    `json:"events"`
	PageViews  int64    `json:"page_views"`
	P50        *float64 `json:"p50_page_view_ms"`
	P95        *float64 `json:"p95_page_view_ms"`
	P99        *float64 `json:"p99_page_view_ms"`
}

// appVersions serves GET /v1/app-versions?date=…[&app_version=V][&limit=N].
func (s *Server) appVersions(store VersionStore) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		date, version, limit, err := parseVersions(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		d, _ := event.ParseDate(date)
		all, err := store.AppVersions(r.Context(), d)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var list []appVersion
		if version != "" {
			if v := all[version]; v != nil {
				list = append(list, entry(version, v))
			}
		} else {
			list = capVersions(all)
			list = list[:min(len(list), limit)]
		}
		if list == nil {
			list = []appVersion{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"date": date, "versions": list})
	}
}

func parseVersions(v url.Values) (date, version string, limit int, err error) {
	limit = defaultVersions
	for name, vals := range v {
		if len(vals) != 1 {
			return "", "", 0, fmt.Errorf("parameter %s given %d times", name, len(vals))
		}
		switch val := vals[0]; name {
		case "date":
			if _, err := event.ParseDate(val); err != nil {
				return "", "", 0, fmt.Errorf("date %q: want YYYY-MM-DD", val)
			}
			date = val
		case "app_version":
			if val == "" || len(val) > maxVersionLength {
				return "", "", 0, fmt.Errorf("app_version: want 1 to %d bytes", maxVersionLength)
			}
			version = val
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > VersionCap+1 {
				return "", "", 0, fmt.Errorf("limit %q: want an integer from 1 to %d", val, VersionCap+1)
			}
			limit = n
		default:
			return "", "", 0, fmt.Errorf("unknown parameter %q", name)
		}
	}
	if date == "" {
		return "", "", 0, errors.New("missing date")
	}
	return date, version, limit, nil
}

// capVersions lists the versions by events descending, then by name; beyond VersionCap the rest are
// merged into OtherVersion, which then takes its place in that order.
func capVersions(all map[string]*rtstate.Version) []appVersion {
	names := slices.Collect(maps.Keys(all))
	order := func(a, b string) int { return cmp.Or(cmp.Compare(all[b].Events, all[a].Events), cmp.Compare(a, b)) }
	slices.SortFunc(names, order)
	if len(names) > VersionCap {
		var other *rtstate.Version
		for _, n := range names[VersionCap:] {
			if other == nil {
				other = all[n]
				continue
			}
			other.Events += all[n].Events
			other.PageViews += all[n].PageViews
			other.Sketch.Merge(all[n].Sketch) // one accuracy for every stored sketch
		}
		names = names[:VersionCap]
		if o := all[OtherVersion]; o != nil { // a version named "other" among the first joins them
			names = slices.DeleteFunc(names, func(n string) bool { return n == OtherVersion })
			other.Events += o.Events
			other.PageViews += o.PageViews
			other.Sketch.Merge(o.Sketch)
		}
		all[OtherVersion] = other
		names = append(names, OtherVersion)
		slices.SortFunc(names, order)
	}
	out := make([]appVersion, len(names))
	for i, n := range names {
		out[i] = entry(n, all[n])
	}
	return out
}

func entry(name string, v *rtstate.Version) appVersion {
	e := appVersion{AppVersion: name, Events: v.Events, PageViews: v.PageViews}
	for pct, dst := range map[uint64]**float64{50: &e.P50, 95: &e.P95, 99: &e.P99} {
		if x, ok := v.Sketch.Percentile(pct); ok {
			*dst = &x
		}
	}
	return e
}
