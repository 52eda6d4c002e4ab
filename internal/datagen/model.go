package datagen

import (
	"math"
	"math/rand/v2"
)

// rng draws everything from one PCG stream through helpers defined here, so the output depends only
// on the seed and this code, not on how math/rand derives floats or bounded integers.
type rng struct {
	src   *rand.PCG
	spare float64 // the second normal variate of the last Box-Muller pair
	has   bool
}

func newRNG(seed uint64) *rng { return &rng{src: rand.NewPCG(seed, 0x6e6f746573747265)} }

func (r *rng) float() float64 { return float64(r.src.Uint64()>>11) / (1 << 53) }

func (r *rng) intn(n int) int { return int(r.src.Uint64() % uint64(n)) }

func (r *rng) chance(p float64) bool { return r.float() < p }

// exp is an exponential variate with mean 1.
func (r *rng) exp() float64 { return -math.Log(1 - r.float()) }

// normal is a standard normal variate (Box-Muller, both halves used).
func (r *rng) normal() float64 {
	if r.has {
		r.has = false
		return r.spare
	}
	radius := math.Sqrt(-2 * math.Log(1-r.float()))
	sin, cos := math.Sincos(2 * math.Pi * r.float())
	r.spare, r.has = radius*sin, true
	return radius * cos
}

// logNormal has the given median and log-space standard deviation.
func (r *rng) logNormal(median, sigma float64) float64 { return median * math.Exp(sigma*r.normal()) }

// poisson is Knuth's method; the means used here are small.
func (r *rng) poisson(mean float64) int {
	limit, p, n := math.Exp(-mean), r.float(), 0
	for p > limit {
		p *= r.float()
		n++
	}
	return n
}

// geometric counts failures before the first success; its mean is m.
func (r *rng) geometric(m float64) int {
	if m <= 0 {
		return 0
	}
	return int(math.Log(1-r.float()) / math.Log(m/(1+m)))
}

// pick returns an index drawn with the weights of a table built by cumulate.
func (r *rng) pick(cum []float64) int {
	u := r.float() * cum[len(cum)-1]
	for i, c := range cum {
		if u < c {
			return i
		}
	}
	return len(cum) - 1
}

func cumulate(weights []float64) []float64 {
	cum := make([]float64, len(weights))
	sum := 0.0
	for i, w := range weights {
		sum += w
		cum[i] = sum
	}
	return cum
}

// mix is SplitMix64's finaliser: a well-spread hash of x, for per-user properties that must not depend
// on the order of draws.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// country is one metadata country with its share of users and a typical UTC offset in minutes.
type country struct {
	code   string
	share  float64
	offset int
}

var countries = []country{
	{"US", 0.31, -300}, {"IN", 0.09, 330}, {"GB", 0.07, 0}, {"DE", 0.07, 60}, {"BR", 0.06, -180},
	{"FR", 0.05, 60}, {"CA", 0.04, -300}, {"JP", 0.04, 540}, {"AU", 0.03, 600}, {"ES", 0.03, 60},
	{"MX", 0.03, -360}, {"NL", 0.02, 60}, {"KR", 0.02, 540}, {"IT", 0.02, 60}, {"SE", 0.015, 60},
	{"PL", 0.015, 60}, {"ID", 0.015, 420}, {"TR", 0.01, 180}, {"NG", 0.01, 60}, {"ZA", 0.01, 120},
	{"AR", 0.01, -180}, {"SG", 0.01, 480}, {"PH", 0.01, 480}, {"UA", 0.01, 120}, {"CH", 0.01, 60},
}

var devices = []string{"iPhone", "Android", "Web", "Windows", "Mac", "iPad", "Linux"}
var deviceShares = []float64{0.30, 0.27, 0.15, 0.11, 0.09, 0.06, 0.02}

// deviceLagDays is the mean delay, in days, before a device picks up a new app version.
var deviceLagDays = []float64{4, 9, 0.2, 6, 5, 5, 7}

// plans are the subscription types, with their shares and how much more active their users are.
var plans = []string{"free", "premium", "team", "enterprise"}
var planShares = []float64{0.72, 0.21, 0.05, 0.02}
var planActivity = []float64{1, 1.8, 2.2, 2.5}

// hourWeights is the local-time rhythm of session starts: quiet nights, a morning peak, an afternoon
// plateau and an evening peak.
var hourWeights = []float64{
	1.2, 0.7, 0.4, 0.3, 0.3, 0.5, 1.2, 2.6, 4.2, 5.4, 5.8, 5.5,
	4.8, 4.9, 5.3, 5.2, 4.7, 4.3, 4.4, 5.2, 5.9, 5.6, 4.1, 2.4,
}

// weekdayFactor scales activity by day of week, Sunday first: a work-week tool, quieter at weekends.
var weekdayFactor = []float64{0.72, 1.1, 1.14, 1.12, 1.08, 0.98, 0.66}

var actions = []string{"page_view", "edit", "create", "delete", "share"}

// Action mixes: the first action of a session is mostly opening a page.
var firstActionShares = []float64{0.70, 0.15, 0.15, 0, 0}
var nextActionShares = []float64{0.45, 0.35, 0.07, 0.07, 0.06}

// Median duration_ms and log-space spread per action: reading takes seconds, editing minutes.
var durationMedianMs = []float64{12_000, 45_000, 30_000, 2_000, 6_000}
var durationSigma = []float64{1.0, 1.25, 1.0, 0.6, 0.8}
