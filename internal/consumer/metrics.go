package consumer

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/notestream/notestream/internal/sessionwindow"
)

// Kinds of records handled, the kind label of notestream_consumer_records_total.
const (
	kindValid = iota
	kindLate
	kindInvalid
	kindControl
	kindUndecodable
	numKinds
)

var kindNames = [numKinds]string{"valid", "late", "rule_invalid", "control", "undecodable"}

// metrics are the consumer's Prometheus metrics.
type metrics struct {
	records            [numKinds]prometheus.Counter
	lag                *prometheus.GaugeVec
	watermark          *prometheus.GaugeVec
	openSessions       *prometheus.GaugeVec
	checkpointSeconds  prometheus.Histogram
	redisErrors        prometheus.Counter
	offsetCommitErrors prometheus.Counter
	rewinds            prometheus.Counter
	users              prometheus.GaugeFunc
	partitions         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, users *Users) *metrics {
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "notestream_consumer_records_total",
		Help: "Interactions records handled, by kind: valid and late events, rule-invalid events, control and undecodable records. Events/s is the rate of valid+late+rule_invalid.",
	}, []string{"kind"})
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "notestream_consumer_lag_records",
			Help: "Records between the partition's end offset and the next offset to handle.",
		}, []string{"partition"}),
		watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "notestream_consumer_watermark_seconds",
			Help: "Event-time watermark of the partition (Unix seconds): events older than this are late.",
		}, []string{"partition"}),
		openSessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "notestream_consumer_open_sessions",
			Help: "Open sessions in the partition's window.",
		}, []string{"partition"}),
		checkpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "notestream_consumer_checkpoint_duration_seconds",
			Help:    "Time to write one partition checkpoint to Redis, successful ones only.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		offsetCommitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "notestream_consumer_offset_commit_errors_total",
			Help: "Failed commits of checkpointed offsets to the consumer group in Kafka (lag tools only; Redis holds the offsets the consumer resumes from).",
		}),
		rewinds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "notestream_consumer_checkpoint_rewinds_total",
			Help: "Partitions rewound to an older checkpoint than the one they had written, because Redis lost checkpoints it had acknowledged (a failover to a replica they had not reached, an older RDB or AOF file); each replays from Kafka what Redis lost.",
		}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "notestream_consumer_redis_errors_total",
			Help: "Failed checkpoint attempts (Redis errors, late-topic publish errors, fencing).",
		}),
		users: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "notestream_consumer_users",
			Help: "Users in the metadata table.",
		}, func() float64 { return float64(users.Len()) }),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "notestream_consumer_assigned_partitions",
			Help: "Partitions assigned to this consumer.",
		}),
	}
	for k := range numKinds {
		m.records[k] = records.WithLabelValues(kindNames[k])
	}
	reg.MustRegister(records, m.lag, m.watermark, m.openSessions, m.checkpointSeconds, m.redisErrors, m.offsetCommitErrors, m.rewinds, m.users, m.partitions)
	return m
}

// observeBatch publishes a batch's counts and the window's state.
func (m *metrics) observeBatch(p int32, counts *[numKinds]int64, win *sessionwindow.Window) {
	for k, n := range counts {
		if n > 0 {
			m.records[k].Add(float64(n))
		}
	}
	label := strconv.Itoa(int(p))
	m.watermark.WithLabelValues(label).Set(float64(win.Watermark()) / 1000)
	m.openSessions.WithLabelValues(label).Set(float64(win.Open()))
}

func (m *metrics) forgetPartition(p int32) {
	label := strconv.Itoa(int(p))
	m.lag.DeleteLabelValues(label)
	m.watermark.DeleteLabelValues(label)
	m.openSessions.DeleteLabelValues(label)
}
