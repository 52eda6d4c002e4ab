package kgolog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestLevels(t *testing.T) {
	f := func(logLevel slog.Level, wantLevel kgo.LogLevel, wantLines ...string) {
		t.Helper()
		var buf bytes.Buffer
		l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: logLevel})).With("file", "a.csv"))
		if got := l.Level(); got != wantLevel {
			t.Errorf("log level %v: Level() = %v, want %v", logLevel, got, wantLevel)
		}
		for _, lvl := range []kgo.LogLevel{kgo.LogLevelDebug, kgo.LogLevelInfo, kgo.LogLevelWarn, kgo.LogLevelError} {
			l.Log(lvl, lvl.String(), "broker", 1)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line != "" {
				_, line, _ = strings.Cut(line, " ") // drop the time
				got = append(got, line)
			}
		}
		if strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
			t.Errorf("log level %v: logged\n%s\nwant\n%s", logLevel, strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
		}
	}
	warn := "level=WARN msg=WARN file=a.csv component=kgo broker=1"
	errLine := "level=ERROR msg=ERROR file=a.csv component=kgo broker=1"
	f(slog.LevelDebug, kgo.LogLevelWarn, warn, errLine)
	f(slog.LevelInfo, kgo.LogLevelWarn, warn, errLine)
	f(slog.LevelWarn, kgo.LogLevelWarn, warn, errLine)
	f(slog.LevelError, kgo.LogLevelError, errLine)
}
