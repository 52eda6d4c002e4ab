package kafkaauth

import (
	"os"
	"path/filepath"
	"testing"
)

func TestValidate(t *testing.T) {
	f := func(s Config, ok bool) {
		t.Helper()
		if err := s.Validate(); (err == nil) != ok {
			t.Fatalf("Validate(%+v) = %v", s, err)
		}
	}
	f(Config{}, true)
	f(Config{SASLMechanism: "scram-sha-512", SASLUser: "u"}, true)
	f(Config{SASLMechanism: "scram-sha-1", SASLUser: "u"}, false)
	f(Config{SASLMechanism: "plain"}, false)
	f(Config{SASLUser: "u"}, false)
}

func TestOpts(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, s := range []Config{{TLSCA: filepath.Join(dir, "missing.pem")}, {TLSCA: notPEM}} {
		if _, err := s.Opts(); err == nil {
			t.Fatalf("Opts(%+v) accepted a bad CA file", s)
		}
	}
	for _, s := range []Config{{}, {TLS: true}, {SASLMechanism: "plain", SASLUser: "u", SASLPassword: "p"},
		{SASLMechanism: "scram-sha-256", SASLUser: "u"}, {SASLMechanism: "scram-sha-512", SASLUser: "u"}} {
		opts, err := s.Opts()
		if err != nil {
			t.Fatalf("Opts(%+v): %v", s, err)
		}
		if want := btoi(s.TLS) + btoi(s.SASLMechanism != ""); len(opts) != want {
			t.Fatalf("Opts(%+v) gave %d options, want %d", s, len(opts), want)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
