// Package kafkaauth configures TLS and SASL for the binaries' Kafka clients and checks that the brokers
// accept them.
package kafkaauth

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Config configures TLS and SASL for a Kafka client.
type Config struct {
	TLS           bool   // dial brokers with TLS (implied by TLSCA)
	TLSCA         string // PEM file of CAs to trust instead of the system pool
	SASLMechanism string // "", "plain", "scram-sha-256" or "scram-sha-512"
	SASLUser      string
	SASLPassword  string // never logged nor put in errors
}

// Validate checks the mechanism and that credentials come with it.
func (s Config) Validate() error {
	switch s.SASLMechanism {
	case "":
		if s.SASLUser != "" {
			return fmt.Errorf("sasl user given without --sasl-mechanism")
		}
		return nil
	case "plain", "scram-sha-256", "scram-sha-512":
		if s.SASLUser == "" {
			return fmt.Errorf("sasl mechanism %s needs --sasl-user", s.SASLMechanism)
		}
		return nil
	default:
		return fmt.Errorf("unknown sasl mechanism %q (want plain, scram-sha-256 or scram-sha-512)", s.SASLMechanism)
	}
}

// Opts returns the kgo options for s.
func (s Config) Opts() ([]kgo.Opt, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if s.TLS || s.TLSCA != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.TLSCA != "" {
			pem, err := os.ReadFile(s.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("read tls ca: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls ca %s: no PEM certificates", s.TLSCA)
			}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	switch s.SASLMechanism {
	case "plain":
		opts = append(opts, kgo.SASL(plain.Auth{User: s.SASLUser, Pass: s.SASLPassword}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: s.SASLUser, Pass: s.SASLPassword}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: s.SASLUser, Pass: s.SASLPassword}.AsSha512Mechanism()))
	}
	return opts, nil
}

// Flags defines --tls, --tls-ca, --sasl-mechanism, --sasl-user and --sasl-password on fs.
func Flags(fs *flag.FlagSet) *Config {
	var c Config
	fs.BoolVar(&c.TLS, "tls", false, "connect to the brokers with TLS")
	fs.StringVar(&c.TLSCA, "tls-ca", "", "PEM file of certificate authorities to trust (implies --tls)")
	fs.StringVar(&c.SASLMechanism, "sasl-mechanism", "", "plain, scram-sha-256 or scram-sha-512")
	fs.StringVar(&c.SASLUser, "sasl-user", "", "SASL user")
	fs.StringVar(&c.SASLPassword, "sasl-password", "", "SASL password (better: NOTESTREAM_SASL_PASSWORD)")
	return &c
}
