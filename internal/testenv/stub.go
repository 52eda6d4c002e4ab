package testenv

import "testing"

// STUB: replaced as each server lands.

// Kafka is a kfake broker process (cmd/broker) with a data directory, on a free loopback port.
type Kafka struct {
	Addr    string // host:port
	DataDir string
}

// StartKafka starts the broker with extra cmd/broker flags (SASL users, partitions); t.Cleanup stops it by PID.
func StartKafka(t testing.TB, brokerArgs ...string) *Kafka {
	t.Skip("testenv: not implemented")
	return nil
}

// Stop kills the broker (SIGKILL) by PID and waits for it.
func (k *Kafka) Stop() {}

// Start restarts a stopped broker on the same port and data directory.
func (k *Kafka) Start() {}

// Kcat runs kcat with args and stdin, failing the test on error, and returns its stdout.
func Kcat(t testing.TB, stdin []byte, args ...string) []byte {
	t.Skip("testenv: not implemented")
	return nil
}

// Binary builds the main package at the module-relative path pkg (such as "./cmd/producer") once per
// test process and returns the executable's path.
func Binary(t testing.TB, pkg string) string { t.Skip("testenv: not implemented"); return "" }
