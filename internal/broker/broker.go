// Package broker runs an embedded Kafka-protocol broker (kfake) that keeps its log in a data directory.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures a Broker. The zero value plus a DataDir is a usable config.
type Config struct {
	// Listen is the host:port to serve and to advertise in metadata. Default 127.0.0.1:9092.
	Listen string
	// DataDir holds topics, segments, offsets and groups; a broker started on it again resumes them.
	// Required: a broker without one would silently lose everything on restart.
	DataDir string
	// SyncWrites fsyncs every produced batch before acknowledging it. Without it an acknowledged
	// batch is in the OS page cache: it survives the broker process being killed, not the machine
	// losing power.
	SyncWrites bool
	// Partitions is the partition count of auto-created topics and of CreateTopics with -1. Default 1.
	Partitions int
	// SASLUser and SASLPassword, when set, require SASL authentication as this user with PLAIN,
	// SCRAM-SHA-256 or SCRAM-SHA-512.
	SASLUser     string
	SASLPassword string
	// Logger receives kfake's logs at LogLevel and above. Default slog.Default().
	Logger   *slog.Logger
	LogLevel slog.Level
}

// DefaultListen is the broker's address when Config.Listen is empty: Kafka's usual port, loopback only.
const DefaultListen = "127.0.0.1:9092"

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Partitions == 0 {
		c.Partitions = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first problem with the config after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("broker: listen address %q: %w", c.Listen, err)
	}
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		// kfake advertises the listener's own address, which clients cannot dial if unspecified.
		return fmt.Errorf("broker: listen address %q: need a host clients can reach, not a wildcard", c.Listen)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("broker: listen address %q: bad port", c.Listen)
	}
	if c.DataDir == "" {
		return errors.New("broker: no data directory")
	}
	if c.Partitions < 1 {
		return fmt.Errorf("broker: partitions %d < 1", c.Partitions)
	}
	if (c.SASLUser == "") != (c.SASLPassword == "") {
		return errors.New("broker: SASL needs both a user and a password")
	}
	return nil
}

// Broker is a running single-node cluster.
type Broker struct {
	c *kfake.Cluster
}

// Start loads the data directory (creating it if needed) and starts serving.
func Start(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		// kfake only takes a port and listens on 127.0.0.1; ListenFn puts it on the configured host.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, cfg.Listen) }),
		kfake.DataDir(cfg.DataDir),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.WithLogger(slogLogger{cfg.Logger, cfg.LogLevel}),
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	if cfg.SASLUser != "" {
		opts = append(opts, kfake.EnableSASL())
		for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
			opts = append(opts, kfake.Superuser(mech, cfg.SASLUser, cfg.SASLPassword))
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: start on %s with data dir %s: %w", cfg.Listen, cfg.DataDir, err)
	}
	persistAutoCreatedTopics(c)
	return &Broker{c: c}, nil
}

// persistAutoCreatedTopics makes metadata requests that ask for auto-creation create their missing
// topics through Cluster.CreateTopic. kfake's own auto-creation (AllowAutoTopicCreation) does not
// write topics.json, so a topic it creates, and every record in it, vanishes if the broker is killed
// before a clean shutdown; CreateTopic writes it at once.
func persistAutoCreatedTopics(c *kfake.Cluster) {
	c.ControlKey(int16(kmsg.Metadata), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.MetadataRequest)
		if !req.AllowAutoTopicCreation {
			return nil, nil, false
		}
		var topics []string
		for _, t := range req.Topics {
			if t.Topic != nil && *t.Topic != "" {
				topics = append(topics, *t.Topic)
			}
		}
		if len(topics) == 0 {
			return nil, nil, false
		}
		// Control functions run on the cluster's loop, which CreateTopic needs: sleeping yields it.
		c.SleepControl(func() {
			for _, t := range topics {
				c.CreateTopic(t, -1, nil) // an existing topic is fine; a bad name fails in the metadata reply
			}
		})
		return nil, nil, false // kfake answers the request, now with the topics in place
	})
}

// Addr returns the address the broker listens on and advertises.
func (b *Broker) Addr() string { return b.c.ListenAddrs()[0] }

// Close stops serving and writes the cluster's state to the data directory. It is idempotent.
func (b *Broker) Close() { b.c.Close() }

// slogLogger adapts kfake's printf logger to slog.
type slogLogger struct {
	l     *slog.Logger
	level slog.Level
}

func (s slogLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var l slog.Level
	switch level {
	case kfake.LogLevelError:
		l = slog.LevelError
	case kfake.LogLevelWarn:
		l = slog.LevelWarn
	case kfake.LogLevelInfo:
		l = slog.LevelInfo
	case kfake.LogLevelDebug:
		l = slog.LevelDebug
	default:
		return
	}
	if l < s.level {
		return
	}
	s.l.Log(context.Background(), l, fmt.Sprintf(format, args...), "component", "kfake")
}
