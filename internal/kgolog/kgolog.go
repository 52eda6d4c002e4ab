// Package kgolog passes a franz-go client's warnings and errors to slog.
package kgolog

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// New returns a kgo.Logger writing to log with component=kgo. It passes on warnings and errors only,
// whatever log's level: at info franz-go logs every connection, metadata refresh and group change.
func New(log *slog.Logger) kgo.Logger {
	return kslog.New(slog.New(warnOrAbove{log.Handler()}).With("component", "kgo"))
}

// warnOrAbove is h without its debug and info records.
type warnOrAbove struct{ slog.Handler }

func (h warnOrAbove) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnOrAbove) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnOrAbove{h.Handler.WithAttrs(attrs)}
}

func (h warnOrAbove) WithGroup(name string) slog.Handler {
	return warnOrAbove{h.Handler.WithGroup(name)}
}
