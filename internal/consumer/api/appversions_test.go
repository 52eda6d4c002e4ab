package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/quantile"
	"github.com/notestream/notestream/internal/rtstate"
)

// versionStore answers every day with the same versions: version i has i+1 events, i page views of
// 1000 ms each, so its percentiles are 1000 within the sketch's accuracy.
type versionStore struct {
	fakeStore
	n int
}

func (f *versionStore) AppVersions(_ context.Context, day int32) (map[string]*rtstate.Version, error) {
	out := map[string]*rtstate.Version{}
	for i := range f.n {
		sk, _ := quantile.New(rtstate.VersionAlpha)
		for range i {
			sk.Add(1000)
		}
		out[fmt.Sprintf("v%03d", i)] = &rtstate.Version{Events: int64(i + 1), PageViews: int64(i), Sketch: sk}
	}
	return out, nil
}

type versionsAnswer struct {
	Date     string
	Versions []appVersion
}

func TestAppVersions(t *testing.T) {
	store := &versionStore{n: 3}
	srv := New(store, func() error { return nil }, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	get := func(path string) (int, versionsAnswer, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var a versionsAnswer
		if rec.Code == 200 {
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
		return rec.Code, a, strings.TrimSpace(rec.Body.String())
	}
	// By events descending; v000 has no page views, so null percentiles.
	code, a, body := get("/v1/app-versions?date=2023-07-01")
	if code != 200 || a.Date != "2023-07-01" || len(a.Versions) != 3 || a.Versions[0].AppVersion != "v002" || a.Versions[2].AppVersion != "v000" {
		t.Fatalf("answer %d %s", code, body)
	}
	if !strings.Contains(body, `{"app_version":"v000","events":1,"page_views":0,"p50_page_view_ms":null,"p95_page_view_ms":null,"p99_page_view_ms":null}`) {
		t.Fatalf("v000 without page views: %s", body)
	}
	if p := a.Versions[0].P95; p == nil || *p < 995 || *p > 1005 {
		t.Fatalf("p95 of v002: %v", p)
	}
	if _, a, _ = get("/v1/app-versions?date=2023-07-01&limit=1"); len(a.Versions) != 1 || a.Versions[0].AppVersion != "v002" {
		t.Fatalf("limit=1: %+v", a)
	}
	if _, a, _ = get("/v1/app-versions?date=2023-07-01&app_version=v001"); len(a.Versions) != 1 || a.Versions[0].Events != 2 {
		t.Fatalf("app_version=v001: %+v", a)
	}
	if _, _, body = get("/v1/app-versions?date=2023-07-01&app_version=nope"); body != `{"date":"2023-07-01","versions":[]}` {
		t.Fatalf("unknown version: %s", body)
	}
	for path, want := range map[string]string{
		"/v1/app-versions":                                                        `{"error":"missing date"}`,
		"/v1/app-versions?date=2023-02-30":                                        `{"error":"date \"2023-02-30\": want YYYY-MM-DD"}`,
		"/v1/app-versions?date=2023-07-01&limit=0":                                `{"error":"limit \"0\": want an integer from 1 to 201"}`,
		"/v1/app-versions?date=2023-07-01&limit=x":                                `{"error":"limit \"x\": want an integer from 1 to 201"}`,
		"/v1/app-versions?date=2023-07-01&app_version=":                           `{"error":"app_version: want 1 to 64 bytes"}`,
		"/v1/app-versions?date=2023-07-01&app_version=" + strings.Repeat("x", 65): `{"error":"app_version: want 1 to 64 bytes"}`,
		"/v1/app-versions?date=2023-07-01&country=US":                             `{"error":"unknown parameter \"country\""}`,
		"/v1/app-versions?date=2023-07-01&date=2023-07-02":                        `{"error":"parameter date given 2 times"}`,
	} {
		if code, _, body := get(path); code != 400 || body != want {
			t.Errorf("GET %s = %d %s, want 400 %s", path, code, body, want)
		}
	}

	// Beyond the cap, the versions with the fewest events are counted together as "other".
	store.n = VersionCap + 10
	_, a, _ = get(fmt.Sprintf("/v1/app-versions?date=2023-07-01&limit=%d", VersionCap+1))
	if len(a.Versions) != VersionCap+1 {
		t.Fatalf("%d versions listed, want %d", len(a.Versions), VersionCap+1)
	}
	var total, other int64
	for _, v := range a.Versions {
		total += v.Events
		if v.AppVersion == OtherVersion {
			other = v.Events
		}
	}
	// The ten smallest have 1 … 10 events: 55 in all, listed by that count among the others.
	want := int64((VersionCap + 10) * (VersionCap + 11) / 2)
	if total != want || other != 55 {
		t.Fatalf("events listed %d (other %d), want %d (other 55)", total, other, want)
	}
}
