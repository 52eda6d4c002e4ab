package producer

import (
	"context"
	"time"
)

// pacer replays event time against wall time: after reading an event, the replay may not run ahead of
// start + (max event time read so far − first event time) / speed. Driving it by the maximum keeps
// unsorted input moving forward instead of stalling on an old timestamp.
type pacer struct {
	speed      float64 // event milliseconds per wall millisecond; 0 means as fast as possible
	now        func() time.Time
	started    bool
	startWall  time.Time
	startEvent int64
	idle       func() (time.Duration, error) // called before sleeping; may be nil
}

// minSleep avoids a timer per event: the replay runs slightly ahead and catches up in one sleep.
const minSleep = 2 * time.Millisecond

// wait blocks until the wall clock reaches maxEvent's place in the replay, or ctx ends.
func (p *pacer) wait(ctx context.Context, maxEvent int64) error {
	if p.speed <= 0 {
		return nil
	}
	if !p.started {
		p.started, p.startWall, p.startEvent = true, p.now(), maxEvent
		return nil
	}
	target := p.startWall.Add(time.Duration(float64(maxEvent-p.startEvent) / p.speed * float64(time.Millisecond)))
	d := target.Sub(p.now())
	if d < minSleep {
		return nil
	}
	if p.idle != nil {
		if _, err := p.idle(); err != nil {
			return err
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
