package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/engagement"
)

// MonthUsers answers 250 users for 2023-07 (u000 … u249, engaged_ms 10·i, ties in pairs), none
// for other months, and fails for 1999-01.
func (f *fakeStore) MonthUsers(_ context.Context, month string) ([]engagement.User, error) {
	switch month {
	case "2023-07":
		var users []engagement.User
		for i := range 250 {
			users = append(users, engagement.User{UserID: fmt.Sprintf("u%03d", i), EngagedMs: int64(10 * (i / 2)), Events: int64(i%3 + 1)})
		}
		return users, nil
	case "1999-01":
		return nil, errors.New("redis down")
	}
	return nil, nil
}

func TestPowerUsers(t *testing.T) {
	srv := New(&fakeStore{}, func() error { return nil }, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	f := func(path string, status int, want string) {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != status || strings.TrimSpace(rec.Body.String()) != want {
			t.Errorf("GET %s = %d %s, want %d %s", path, rec.Code, rec.Body, status, want)
		}
	}
	// Total engaged_ms: 2·10·(0+…+124) = 155000. ⌈1·250/100⌉ = 3 ranks: u248, u249 (1240 each; byte
	// order breaks the tie), then u246 (1230, tied with u247). Top 0.5%: ⌈1.25⌉ = 2 ranks, one listed.
	f("/v1/power-users?month=2023-07", 200,
		`{"month":"2023-07","active_users":250,"top_pct":1,"engaged_ms_share":0.023935483870967743,"users":[`+
			`{"rank":1,"user_id":"u248","engaged_ms":1240,"events":3},{"rank":2,"user_id":"u249","engaged_ms":1240,"events":1},`+
			`{"rank":3,"user_id":"u246","engaged_ms":1230,"events":1}]}`)
	f("/v1/power-users?month=2023-07&top_pct=0.5&limit=1", 200,
		`{"month":"2023-07","active_users":250,"top_pct":0.5,"engaged_ms_share":0.016,"users":[{"rank":1,"user_id":"u248","engaged_ms":1240,"events":3}]}`)
	f("/v1/power-users?month=2023-08", 200, `{"month":"2023-08","active_users":0,"top_pct":1,"engaged_ms_share":null,"users":[]}`)
	f("/v1/power-users?month=1999-01", 503, `{"error":"store unavailable"}`)
	f("/v1/power-users", 400, `{"error":"missing month"}`)
	f("/v1/power-users?month=2023-7", 400, `{"error":"month \"2023-7\": want YYYY-MM"}`)
	f("/v1/power-users?month=2023-07&top_pct=0", 400, `{"error":"top_pct \"0\": want a decimal in (0, 100]"}`)
	f("/v1/power-users?month=2023-07&top_pct=1e1", 400, `{"error":"top_pct \"1e1\": want a decimal in (0, 100]"}`)
	f("/v1/power-users?month=2023-07&limit=0", 400, `{"error":"limit \"0\": want an integer from 1 to 100000"}`)
	f("/v1/power-users?month=2023-07&date=2023-07-01", 400, `{"error":"unknown parameter \"date\""}`)
	f("/v1/power-users?month=2023-07&month=2023-08", 400, `{"error":"parameter month given 2 times"}`)
}
