package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
)

// Power-user limits: limit= defaults to DefaultLimit and may not exceed MaxLimit.
const (
	DefaultLimit = 100
	MaxLimit     = 100_000
)

type powerUser struct {
	Rank      int64  `json:"rank"`
	UserID    string `json:"user_id"`
	EngagedMs int64  `json:"engaged_ms"`
	Events    int64  `json:"events"`
}

type powerUsers struct {
	Month          string      `json:"month"`
	ActiveUsers    int         `json:"active_users"`
	TopPct         json.Number `json:"top_pct"`
	EngagedMsShare *float64    `json:"engaged_ms_share"` // null when the month's engaged_ms is 0
	Users          []powerUser `json:"users"`
}

// powerUsers serves GET /v1/power-users?month=YYYY-MM[&top_pct=X][&limit=N] (SPEC sections 5, 8).
func (s *Server) powerUsers(w http.ResponseWriter, r *http.Request) {
	var month string
	pct := engagement.DefaultPct
	limit := DefaultLimit
	for name, vals := range r.URL.Query() {
		if len(vals) != 1 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("parameter %s given %d times", name, len(vals)))
			return
		}
		v := vals[0]
		var err error
		switch name {
		case "month":
			if _, _, perr := event.ParseMonth(v); perr != nil || len(v) != len("2006-01") {
				err = fmt.Errorf("month %q: want YYYY-MM", v)
			}
			month = v
		case "top_pct":
			pct, err = engagement.ParsePct(v)
			if err != nil {
				err = fmt.Errorf("top_pct %q: want a decimal in (0, 100]", v)
			}
		case "limit":
			limit, err = strconv.Atoi(v)
			if err != nil || limit < 1 || limit > MaxLimit {
				err = fmt.Errorf("limit %q: want an integer from 1 to %d", v, MaxLimit)
			}
		default:
			err = fmt.Errorf("unknown parameter %q", name)
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	if month == "" {
		writeError(w, http.StatusBadRequest, errors.New("missing month"))
		return
	}
	users, err := s.store.MonthUsers(r.Context(), month)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	top := engagement.PowerUsers(users, pct)
	resp := powerUsers{Month: month, ActiveUsers: top.ActiveUsers, TopPct: json.Number(pct.String()),
		EngagedMsShare: top.EngagedShare, Users: make([]powerUser, 0, min(limit, len(top.Users)))}
	for _, u := range top.Users[:min(limit, len(top.Users))] {
		resp.Users = append(resp.Users, powerUser{Rank: u.Rank, UserID: u.UserID, EngagedMs: u.EngagedMs, Events: u.Events})
	}
	writeJSON(w, http.StatusOK, resp)
}
