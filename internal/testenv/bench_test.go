package testenv

import "testing"

// These measure a server's start until it answers, plus its SIGKILL: what each test pays per server.
// go test -run '^$' -bench Start -benchtime 20x ./internal/testenv/

func BenchmarkStartRedis(b *testing.B) {
	for b.Loop() {
		StartRedis(b).Stop()
	}
}

func BenchmarkStartMinIO(b *testing.B) {
	for b.Loop() {
		StartMinIO(b).Stop()
	}
}

func BenchmarkStartKafka(b *testing.B) {
	Binary(b, "./cmd/broker") // built once, before b.Loop times anything
	for b.Loop() {
		StartKafka(b).Stop()
	}
}
