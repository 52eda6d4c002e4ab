// Package engagement computes the contract's engagement analytics (power users, weekly cohort
// retention, session frequency) from per-user activity, one computation for the lake and the stream.
//
// It is pure: days are day numbers (days since 1970-01-01 of the reporting zone's calendar date, as
// the compactor numbers them), so "weeks start on Monday 00:00 in the zone" is the Monday of the date.
package engagement

import (
	"cmp"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// Pct is a percentage 0 < X ≤ 100 kept as the exact decimal it was written as.
type Pct struct {
	r *big.Rat
}

// DefaultPct is the default top percentage: 1.
var DefaultPct = Pct{r: big.NewRat(1, 1)}

// ParsePct parses a plain decimal such as "1", "0.5" or "12.25" (no exponent, no sign) in (0, 100].
func ParsePct(s string) (Pct, error) {
	if s == "" || len(s) > 32 || strings.ContainsFunc(s, func(c rune) bool { return (c < '0' || c > '9') && c != '.' }) ||
		strings.Count(s, ".") > 1 || s[0] == '.' || s[len(s)-1] == '.' {
		return Pct{}, fmt.Errorf("engagement: percentage %q is not a decimal such as 1 or 0.5", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return Pct{}, fmt.Errorf("engagement: percentage %q is not a decimal", s)
	}
	if r.Sign() <= 0 || r.Cmp(big.NewRat(100, 1)) > 0 {
		return Pct{}, fmt.Errorf("engagement: percentage %s is not in (0, 100]", s)
	}
	return Pct{r: r}, nil
}

func (p Pct) rat() *big.Rat {
	if p.r == nil {
		return DefaultPct.r
	}
	return p.r
}

// Top is the number of ranks in the top X percent of n users: ⌈X·n/100⌉, computed exactly.
func (p Pct) Top(n int) int {
	num := new(big.Int).Mul(p.rat().Num(), big.NewInt(int64(n)))
	den := new(big.Int).Mul(p.rat().Denom(), big.NewInt(100))
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return int(q.Int64())
}

// Float is X as the nearest float64, for JSON.
func (p Pct) Float() float64 {
	f, _ := p.rat().Float64()
	return f
}

// String is X in its shortest exact decimal form.
func (p Pct) String() string {
	r := p.rat()
	if r.IsInt() {
		return r.Num().String()
	}
	s := r.FloatString(40) // X was written with at most 32 characters, so 40 digits are exact
	return strings.TrimRight(s, "0")
}

// User is one user's activity in a calendar month.
type User struct {
	UserID     string
	EngagedMs  int64 // sum of duration_ms of their valid events
	Events     int64 // valid events
	Sessions   int64 // sessions started
	ActiveDays int64 // days active
}

// PowerUser is a ranked user of the top.
type PowerUser struct {
	Rank int64 // 1-based
	User
	Share *float64 // EngagedMs over all users' engaged_ms in the month; nil when that is 0
}

// Top is a month's top X percent of users by engaged time.
type Top struct {
	ActiveUsers    int
	TotalEngagedMs int64
	Users          []PowerUser // ranks 1 … ⌈X·ActiveUsers/100⌉
	EngagedShare   *float64    // the top's combined share; nil when TotalEngagedMs is 0
}

// Compare orders users by rank: engaged_ms descending, then user_id ascending (byte order).
func Compare(a, b *User) int {
	return cmp.Or(cmp.Compare(b.EngagedMs, a.EngagedMs), strings.Compare(a.UserID, b.UserID))
}

// PowerUsers ranks a month's active users (each listed once) and returns the top pct of them. It
// reorders users.
func PowerUsers(users []User, pct Pct) Top {
	t := Top{ActiveUsers: len(users)}
	var topMs int64
	for i := range users {
		t.TotalEngagedMs += users[i].EngagedMs
	}
	k := pct.Top(len(users))
	selectTop(users, k)
	t.Users = make([]PowerUser, k)
	for i := range k {
		t.Users[i] = PowerUser{Rank: int64(i + 1), User: users[i], Share: share(users[i].EngagedMs, t.TotalEngagedMs)}
		topMs += users[i].EngagedMs
	}
	t.EngagedShare = share(topMs, t.TotalEngagedMs)
	return t
}

// selectTop moves the first k users in rank order to users[:k], sorted: a heap of the best k seen
// costs O(n log k), where sorting all n would cost O(n log n) (a month of a million users, 1% of them).
func selectTop(users []User, k int) {
	cmpUsers := func(a, b User) int { return Compare(&a, &b) }
	if k == 0 {
		return
	}
	if k*4 >= len(users) {
		slices.SortFunc(users, cmpUsers)
		return
	}
	// users[:k] is a heap whose root is the worst of the best k so far.
	worse := func(i, j int) bool { return Compare(&users[i], &users[j]) > 0 }
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= k {
				return
			}
			if c+1 < k && worse(c+1, c) {
				c++
			}
			if !worse(c, i) {
				return
			}
			users[i], users[c] = users[c], users[i]
			i = c
		}
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for i := k; i < len(users); i++ {
		if Compare(&users[i], &users[0]) < 0 {
			users[0], users[i] = users[i], users[0]
			down(0)
		}
	}
	slices.SortFunc(users[:k], cmpUsers)
}

// share is a/b, nil when b is 0.
func share(a, b int64) *float64 {
	if b == 0 {
		return nil
	}
	f := float64(a) / float64(b)
	return &f
}

// Buckets are the session-frequency buckets in the contract's order: the label and the least and
// most sessions (inclusive) a user of the bucket started in the month.
var Buckets = [...]struct {
	Label    string
	Min, Max int64
}{{"1", 1, 1}, {"2", 2, 2}, {"3-5", 3, 5}, {"6-10", 6, 10}, {"11-20", 11, 20}, {"21+", 21, 1<<63 - 1}}

// FrequencyRow is one bucket of a month's session frequency.
type FrequencyRow struct {
	Bucket string
	Users  int64
	Share  *float64 // Users over the month's active users; nil when there are none
}

// BucketOf is the index in Buckets of a user who started n sessions. An active user starts at least
// one session in the lake; a count below 1 (a stream that left a late event out) falls in "1".
func BucketOf(n int64) int {
	for i, b := range Buckets {
		if n <= b.Max {
			return i
		}
	}
	return len(Buckets) - 1
}

// Frequency returns the six rows of a month from its active users' session counts.
func Frequency(sessions []int64) []FrequencyRow {
	var counts [len(Buckets)]int64
	for _, n := range sessions {
		counts[BucketOf(n)]++
	}
	rows := make([]FrequencyRow, len(Buckets))
	for i, b := range Buckets {
		rows[i] = FrequencyRow{Bucket: b.Label, Users: counts[i], Share: share(counts[i], int64(len(sessions)))}
	}
	return rows
}
