// Command consumer computes real-time sessions and active users from the interactions topic into
// Redis, exactly once, and serves them over HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/notestream/notestream/internal/cli"
	"github.com/notestream/notestream/internal/consumer"
	"github.com/notestream/notestream/internal/consumer/api"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/kafkaauth"
	"github.com/notestream/notestream/internal/rtstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit(os.Stderr, "consumer", err))
}

// run is the command with its arguments (after the program name), environment and output. It serves
// until ctx is done.
func run(ctx context.Context, args []string, env func(string) (string, bool), _, stderr io.Writer) error {
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg       consumer.Config
		store     rtstore.Config
		brokers   = fs.String("brokers", "127.0.0.1:9092", "comma-separated seed brokers")
		redisURL  = fs.String("redis", "redis://127.0.0.1:6379", "Redis URL, redis:// or rediss:// (TLS), with user:password@ for AUTH (better: NOTESTREAM_REDIS); a Redis Cluster as redis+cluster://host:port?addr=host2:port2&addr=… (see README)")
		httpAddr  = fs.String("http", "127.0.0.1:8080", "HTTP API listen address")
		debugAddr = fs.String("debug-addr", "", "serve pprof on this address (off by default; a bare port such as 6060 means 127.0.0.1)")
		tz        = fs.String("tz", "UTC", "reporting time zone (IANA name), the same as the compactor's")
		logLevel  = fs.String("log-level", "info", "debug, info, warn or error")
		timeout   = fs.Duration("timeout", 30*time.Second, "give up at start-up when Redis or the brokers stay unreachable this long")
	)
	fs.StringVar(&store.Prefix, "redis-prefix", "ns:", "prefix of every Redis key")
	fs.DurationVar(&store.Retention, "retention", 400*24*time.Hour, "TTL of daily Redis keys, renewed on every update")
	fs.StringVar(&cfg.Group, "group", "notestream-consumer", "consumer group")
	fs.StringVar(&cfg.InstanceID, "instance-id", "", "static group member ID: a restart with the same ID gets its partitions back without a rebalance")
	fs.DurationVar(&cfg.SessionTimeout, "session-timeout", 10*time.Second, "group session timeout: how soon a crashed member's partitions move")
	fs.StringVar(&cfg.TopicInteractions, "topic-interactions", event.TopicInteractions, "interactions topic")
	fs.StringVar(&cfg.TopicUsers, "topic-users", event.TopicUsers, "users topic")
	fs.StringVar(&cfg.TopicLate, "topic-late", event.TopicLate, "topic late events are copied to")
	fs.DurationVar(&cfg.Lateness, "lateness", event.DefaultLateness, "allowed lateness of events (event time)")
	fs.DurationVar(&cfg.CheckpointInterval, "checkpoint-interval", time.Second, "checkpoint each partition at least this often while it changes")
	fs.IntVar(&cfg.CheckpointRecords, "checkpoint-records", 200_000, "and after this many records")
	auth := kafkaauth.Flags(fs)
	if err := cli.Parse(fs, args, env); err != nil {
		return err
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return cli.Usagef("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return cli.Usagef("--tz: %w", err)
	}
	rdb, err := rtstore.Dial(*redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	store.Topic = cfg.TopicInteractions
	st, err := rtstore.New(rdb, store)
	if err != nil {
		return err
	}
	// Here, not at the first checkpoint: a wrong password would otherwise show only in a request's log.
	if err := st.Ping(ctx, *timeout); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Brokers = strings.Split(*brokers, ",")
	if cfg.ClientOpts, err = auth.Opts(); err != nil {
		return err
	}
	// Here, not in the group: its clients would report a rejected login as a bare EOF, or retry forever.
	if err := auth.Ping(ctx, cfg.Brokers, *timeout); err != nil {
		return err
	}
	cfg.Location = loc
	cfg.Logger = log
	cfg.Registerer = reg
	c, err := consumer.New(cfg, st)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", api.New(st, c.Ready, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), log))
	servers := []*server{{name: "http", ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}}
	if *debugAddr != "" {
		dln, err := net.Listen("tcp", loopbackPort(*debugAddr))
		if err != nil {
			ln.Close()
			return fmt.Errorf("--debug-addr: %w", err)
		}
		servers = append(servers, &server{name: "debug", ln: dln, srv: &http.Server{Handler: debugMux(), ReadHeaderTimeout: 10 * time.Second}})
		log.Info("serving pprof", "debug_addr", dln.Addr().String())
	}
	log.Info("consumer starting", "http", ln.Addr().String(), "brokers", *brokers, "group", cfg.Group, "tz", loc.String())

	g, gctx := errgroup.WithContext(ctx)
	for _, s := range servers {
		g.Go(func() error {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		err := c.Run(gctx)
		// Reverse order: the consumer has written its final checkpoints; now stop serving.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			err = errors.Join(err, s.srv.Shutdown(shutdownCtx))
		}
		return err
	})
	err = g.Wait()
	log.Info("consumer stopped", "err", err)
	return err
}

// server is one HTTP listener of the process.
type server struct {
	name string
	ln   net.Listener
	srv  *http.Server
}

// debugMux serves pprof, on its own listener: never on the API's, which may face a network.
func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// loopbackPort turns a bare port ("6060" or ":6060") into a loopback address; any other address is
// used as given, so "0.0.0.0:6060" still listens on every interface.
func loopbackPort(addr string) string {
	port := strings.TrimPrefix(addr, ":")
	if _, err := strconv.ParseUint(port, 10, 16); err == nil {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}
