// Package profile describes the contents of the interactions and user metadata CSV files for data profiling.
package profile

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
)

// TopN is how many of the most frequent values a column lists.
const TopN = 10

// Report profiles one CSV file. Column statistics cover readable rows (unreadable rows have no fields).
type Report struct {
	File        string           `json:"file"`
	Rows        int64            `json:"rows"`     // rows read
	Readable    int64            `json:"readable"` // rows that passed the first tier
	Rejected    map[string]int64 `json:"rejected"` // unreadable rows by reason
	RuleInvalid map[string]int64 `json:"rule_invalid,omitempty"`
	ValidEvents int64            `json:"valid_events,omitempty"`
	// DuplicateUsers counts user metadata rows for a user already seen (the last row wins).
	DuplicateUsers int64 `json:"duplicate_users,omitempty"`
	// UsersWithoutMetadata counts users with valid events but no metadata row (segment value "unknown").
	UsersWithoutMetadata *int64      `json:"users_without_metadata,omitempty"`
	Columns              []Column    `json:"columns"`
	Histograms           []Histogram `json:"histograms,omitempty"`
}

// Column describes one column's values over the readable rows.
type Column struct {
	Name     string       `json:"name"`
	Empty    int64        `json:"empty"` // empty after trimming: the CSV form of null
	Distinct int64        `json:"distinct"`
	Min      string       `json:"min"`
	Max      string       `json:"max"`
	Top      []ValueCount `json:"top"`
}

// ValueCount is one value and how many rows carry it.
type ValueCount struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Histogram counts values in buckets; a bucket holds values v with previous Le < v ≤ Le.
type Histogram struct {
	Name    string   `json:"name"`
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one histogram bucket. Label is human-readable; Le is its inclusive upper bound, absent for
// the last, open bucket.
type Bucket struct {
	Label string `json:"label"`
	Le    *int64 `json:"le,omitempty"`
	Count int64  `json:"count"`
}

// durationBounds are the duration_ms bucket bounds: sub-second to beyond the 2-hour rule.
var durationBounds = []int64{-1, 0, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, event.MaxDurationMs}

// eventsPerUserBounds are the bucket bounds of valid events per user over the whole file.
var eventsPerUserBounds = []int64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000}

// Interactions profiles a user_interactions CSV named name. users, when not nil, is the profile of the
// matching metadata file's user ids, used to count users without metadata.
func Interactions(r io.Reader, name string, users map[string]bool) (*Report, error) {
	rep := &Report{File: name, Rejected: map[string]int64{}, RuleInvalid: map[string]int64{}}
	var (
		userID, action, page, version stringColumn
		ts, duration                  intColumn
		durations                     = newHistogram("duration_ms", durationBounds, formatMs)
		perUser                       = map[string]int64{}
		seen                          = newKeySet()
		in                            event.Interaction
	)
	cr := csvin.NewInteractionReader(r)
	for {
		reason, err := cr.Next(&in)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("profile %s: line %d: %w", name, cr.Line(), err)
		}
		rep.Rows++
		if reason != event.OK {
			rep.Rejected[reason.String()]++
			continue
		}
		rep.Readable++
		userID.add(in.UserID)
		action.add(in.Action)
		page.add(in.PageID)
		version.add(in.AppVersion)
		ts.add(in.Time)
		duration.add(in.DurationMs)
		durations.add(in.DurationMs)

		if reason := event.Check(&in); reason != event.OK {
			rep.RuleInvalid[reason.String()]++
			continue
		}
		if !seen.insert(&in) {
			rep.RuleInvalid[event.Duplicate.String()]++
			continue
		}
		rep.ValidEvents++
		perUser[in.UserID]++
	}

	rep.Columns = []Column{
		userID.column("user_id"),
		ts.column("timestamp", formatTime),
		action.column("action_type"),
		page.column("page_id"),
		duration.column("duration_ms", formatInt),
		version.column("app_version"),
	}
	eventsPerUser := newHistogram("valid_events_per_user", eventsPerUserBounds, formatInt)
	var missing int64
	for id, n := range perUser {
		eventsPerUser.add(n)
		if users != nil && !users[id] {
			missing++
		}
	}
	if users != nil {
		rep.UsersWithoutMetadata = &missing
	}
	rep.Histograms = []Histogram{durations.histogram(), eventsPerUser.histogram()}
	return rep, nil
}

// Users profiles a user_metadata CSV named name and returns the set of user ids it holds.
func Users(r io.Reader, name string) (*Report, map[string]bool, error) {
	rep := &Report{File: name, Rejected: map[string]int64{}}
	var (
		userID, joinDate, country, device, subscription stringColumn
		ids                                             = map[string]bool{}
		u                                               event.User
	)
	cr := csvin.NewUserReader(r)
	for {
		reason, err := cr.Next(&u)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("profile %s: line %d: %w", name, cr.Line(), err)
		}
		rep.Rows++
		if reason != event.OK {
			rep.Rejected[reason.String()]++
			continue
		}
		rep.Readable++
		if ids[u.UserID] {
			rep.DuplicateUsers++
		}
		ids[u.UserID] = true
		userID.add(u.UserID)
		joinDate.add(u.JoinDate)
		country.add(u.Country)
		device.add(u.DeviceType)
		subscription.add(u.SubscriptionType)
	}
	rep.Columns = []Column{
		userID.column("user_id"),
		joinDate.column("join_date"),
		country.column("country"),
		device.column("device_type"),
		subscription.column("subscription_type"),
	}
	return rep, ids, nil
}

// stringColumn counts every value of a text column; the counts give distinct, min/max and top values.
type stringColumn struct {
	counts map[string]int64
	empty  int64
}

func (c *stringColumn) add(v string) {
	if v == "" {
		c.empty++
	}
	if c.counts == nil {
		c.counts = map[string]int64{}
	}
	c.counts[v]++
}

func (c *stringColumn) column(name string) Column {
	col := Column{Name: name, Empty: c.empty, Distinct: int64(len(c.counts))}
	if len(c.counts) == 0 {
		return col
	}
	keys := slices.Sorted(maps.Keys(c.counts))
	col.Min, col.Max = keys[0], keys[len(keys)-1]
	col.Top = top(c.counts)
	return col
}

// intColumn is stringColumn for numbers and times, ordered numerically. It keeps the values in a slice
// (8 bytes each) rather than a map of counts: timestamps are nearly all distinct, where a map costs
// five times as much.
type intColumn struct {
	values []int64
}

func (c *intColumn) add(v int64) { c.values = append(c.values, v) }

func (c *intColumn) column(name string, format func(int64) string) Column {
	col := Column{Name: name}
	if len(c.values) == 0 {
		return col
	}
	slices.Sort(c.values)
	col.Min, col.Max = format(c.values[0]), format(c.values[len(c.values)-1])
	// Runs of equal values: count them, and keep the TopN longest (ties: smallest value, met first).
	var best []ValueCount
	var bestValues []int64
	for i := 0; i < len(c.values); {
		j := i + 1
		for j < len(c.values) && c.values[j] == c.values[i] {
			j++
		}
		col.Distinct++
		n := int64(j - i)
		if len(best) < TopN || n > best[len(best)-1].Count {
			k := len(best)
			for k > 0 && best[k-1].Count < n {
				k--
			}
			best = slices.Insert(best, k, ValueCount{Count: n})
			bestValues = slices.Insert(bestValues, k, c.values[i])
			best, bestValues = best[:min(len(best), TopN)], bestValues[:min(len(bestValues), TopN)]
		}
		i = j
	}
	for k := range best {
		best[k].Value = format(bestValues[k])
	}
	col.Top = best
	c.values = nil
	return col
}

// top lists the TopN most frequent values, ties broken by value so the output is deterministic.
func top(counts map[string]int64) []ValueCount {
	all := make([]ValueCount, 0, len(counts))
	for v, n := range counts {
		all = append(all, ValueCount{v, n})
	}
	slices.SortFunc(all, func(a, b ValueCount) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Value, b.Value)) })
	return all[:min(TopN, len(all))]
}

type histogram struct {
	name   string
	bounds []int64
	counts []int64 // len(bounds)+1: the last counts values above every bound
	format func(int64) string
}

func newHistogram(name string, bounds []int64, format func(int64) string) *histogram {
	return &histogram{name: name, bounds: bounds, counts: make([]int64, len(bounds)+1), format: format}
}

func (h *histogram) add(v int64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i]++
}

func (h *histogram) histogram() Histogram {
	out := Histogram{Name: h.name, Buckets: make([]Bucket, len(h.counts))}
	for i, n := range h.counts {
		b := &out.Buckets[i]
		b.Count = n
		switch {
		case i == len(h.bounds):
			b.Label = "> " + h.format(h.bounds[i-1])
		case i == 0:
			b.Label = "≤ " + h.format(h.bounds[0])
		case h.bounds[i-1]+1 == h.bounds[i]:
			b.Label = h.format(h.bounds[i])
		default:
			b.Label = h.format(h.bounds[i-1]+1) + " – " + h.format(h.bounds[i])
		}
		if i < len(h.bounds) {
			le := h.bounds[i]
			b.Le = &le
		}
	}
	return out
}

// keySet remembers the duplicate keys (user_id, timestamp, action_type, page_id) of valid events as
// 128-bit hashes: half the memory of the strings, and a collision over a billion keys has odds near 1e-21.
type keySet struct {
	seeds [2]maphash.Seed
	set   map[[2]uint64]struct{}
}

func newKeySet() *keySet {
	return &keySet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, set: map[[2]uint64]struct{}{}}
}

// insert adds in's key and reports whether it was new.
func (s *keySet) insert(in *event.Interaction) bool {
	type key struct {
		user   string
		time   int64
		action string
		page   string
	}
	v := key{in.UserID, in.Time, in.Action, in.PageID}
	k := [2]uint64{maphash.Comparable(s.seeds[0], v), maphash.Comparable(s.seeds[1], v)}
	if _, dup := s.set[k]; dup {
		return false
	}
	s.set[k] = struct{}{}
	return true
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

func formatTime(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }

// formatMs writes a duration in milliseconds the way people read it: 500ms, 30s, 5m, 2h.
func formatMs(ms int64) string {
	switch {
	case ms < 0 || ms < 1000 || ms%1000 != 0:
		return strconv.FormatInt(ms, 10) + "ms"
	case ms%3_600_000 == 0:
		return strconv.FormatInt(ms/3_600_000, 10) + "h"
	case ms%60_000 == 0:
		return strconv.FormatInt(ms/60_000, 10) + "m"
	}
	return strconv.FormatInt(ms/1000, 10) + "s"
}
