package datagen

import (
	"time"
)

// Incidents are planted in the generated data so that each performance analysis has something to
// find (SPEC section 9), when Config.Incidents is set:
//   - a slow release: the first minor release (x.y.0) on or after the middle of the range has page
//     views SlowVersionFactor times slower, until the next release replaces it;
//   - a slow device: SlowDevice's page views are SlowDeviceFactor times slower all along;
//   - an outage: no events at all on the first Wednesday on or after 40% of the range;
//   - a spike: SpikeFactor times the usual activity on the first Wednesday on or after 70% of it.
//
// The outage and spike need MinIncidentDays: the anomaly rule wants four weeks of history first.
const (
	SlowVersionFactor = 2.5
	SlowDevice        = "Android"
	SlowDeviceFactor  = 1.8
	SpikeFactor       = 3.0
	MinIncidentDays   = 70
)

// Planted says where Generate planted the incidents; empty fields were not planted.
type Planted struct {
	SlowVersion string
	SlowDevice  string
	Outage      string // YYYY-MM-DD
	Spike       string
}

// wednesdayFrom is the first Wednesday on or after day d (days from start).
func wednesdayFrom(start time.Time, d int) int {
	for start.AddDate(0, 0, d).Weekday() != time.Wednesday {
		d++
	}
	return d
}

// planIncidents marks the outage and spike days in the day factors and picks the slow release.
func (g *generator) planIncidents() {
	if !g.cfg.Incidents {
		return
	}
	p := &g.prof.Planted
	p.SlowDevice = SlowDevice
	g.slowDevice = -1
	for i, d := range devices {
		if d == SlowDevice {
			g.slowDevice = i
		}
	}
	g.slowRelease = -1
	for i, r := range g.releases {
		if r.day >= g.cfg.Days/2 && r.day < g.cfg.Days && len(r.name) > 2 && r.name[len(r.name)-2:] == ".0" {
			g.slowRelease = i
			p.SlowVersion = r.name
			break
		}
	}
	if g.cfg.Days < MinIncidentDays {
		return
	}
	outage, spike := wednesdayFrom(g.cfg.Start, g.cfg.Days*2/5), wednesdayFrom(g.cfg.Start, g.cfg.Days*7/10)
	if spike >= g.cfg.Days-1 { // the last day is never scored
		return
	}
	g.dayFactor[outage] = 0
	g.dayFactor[spike] *= SpikeFactor
	p.Outage = g.cfg.Start.AddDate(0, 0, outage).Format(time.DateOnly)
	p.Spike = g.cfg.Start.AddDate(0, 0, spike).Format(time.DateOnly)
}

// slowdown is the factor of a page view's duration for a user's device and app version.
func (g *generator) slowdown(device uint8, version uint16) float64 {
	f := 1.0
	if !g.cfg.Incidents {
		return f
	}
	if int(device) == g.slowDevice {
		f *= SlowDeviceFactor
	}
	if int(version) == g.slowRelease {
		f *= SlowVersionFactor
	}
	return f
}
