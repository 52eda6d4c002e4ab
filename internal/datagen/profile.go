package datagen

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/notestream/notestream/internal/event"
)

// Profile is what Generate wrote: sizes, shape, and every bad row it injected, by reason.
type Profile struct {
	Users                int // users drawn
	ActiveUsers          int // users with at least one event
	UsersWithoutMetadata int
	UsersUpdated         int   // users with a second, later metadata row
	UserRows             int64 // metadata rows, header excluded

	Events           int64 // generated events, good and bad (a duplicate's copy is not one)
	InteractionRows  int64 // interaction rows, header excluded: Events plus duplicate copies
	Sessions         int64
	MidnightSessions int64   // sessions running across midnight UTC
	OtherTimeForms   int64   // timestamps not in the YYYY-MM-DD HH:MM:SS form
	TopShare         float64 // share of events by the most active 1% of users
	First, Last      int64   // earliest and latest event time, Unix ms

	InteractionDirt map[event.Reason]int64 // bad interaction rows by reason
	UserDirt        map[event.Reason]int64 // bad metadata rows by reason
	Planted         Planted                // incidents.go
}

func newProfile() *Profile {
	return &Profile{
		First:           1<<63 - 1,
		InteractionDirt: map[event.Reason]int64{},
		UserDirt:        map[event.Reason]int64{},
	}
}

func (p *Profile) noteTime(t int64, otherForm bool) {
	p.First, p.Last = min(p.First, t), max(p.Last, t)
	if otherForm {
		p.OtherTimeForms++
	}
}

func (p *Profile) finish(users []user) {
	p.Users = len(users)
	counts := make([]int64, len(users))
	var total int64
	for i, u := range users {
		counts[i] = u.events
		total += u.events
		if u.events > 0 {
			p.ActiveUsers++
		}
		switch u.meta {
		case metaNone:
			p.UsersWithoutMetadata++
		case metaUpdated:
			p.UsersUpdated++
		}
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	var top int64
	for _, c := range counts[:max(1, len(counts)/100)] {
		top += c
	}
	if total > 0 {
		p.TopShare = float64(top) / float64(total)
	}
}

// Write prints the profile as aligned text.
func (p *Profile) Write(w io.Writer) error {
	ts := func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05") }
	_, err := fmt.Fprintf(w, `interaction rows      %d (events %d, from %s to %s)
sessions              %d (%d across midnight UTC, %.1f actions each)
users                 %d (%d active, %d without metadata, %d updated later)
user rows             %d
top 1%% of users       %.1f%% of events
other time forms      %d rows (T, Z, milliseconds, offsets)
`, p.InteractionRows, p.Events, ts(p.First), ts(p.Last),
		p.Sessions, p.MidnightSessions, float64(p.Events)/float64(max(1, p.Sessions)),
		p.Users, p.ActiveUsers, p.UsersWithoutMetadata, p.UsersUpdated, p.UserRows,
		100*p.TopShare, p.OtherTimeForms)
	if err != nil {
		return err
	}
	for _, part := range []struct {
		file    string
		reasons []event.Reason
		counts  map[event.Reason]int64
	}{{"interactions", InteractionDirt, p.InteractionDirt}, {"users", UserDirt, p.UserDirt}} {
		for _, r := range part.reasons {
			if _, err := fmt.Fprintf(w, "bad %-12s  %-22s %d\n", part.file, r, part.counts[r]); err != nil {
				return err
			}
		}
	}
	if pl := p.Planted; pl != (Planted{}) {
		_, err = fmt.Fprintf(w, "planted               slow version %q, slow device %q, outage %q, spike %q\n",
			pl.SlowVersion, pl.SlowDevice, pl.Outage, pl.Spike)
	}
	return err
}
