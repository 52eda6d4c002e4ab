// Package csvin reads the user_interactions and user_metadata CSV exports and classifies every row.
package csvin

import (
	"io"

	"github.com/notestream/notestream/internal/event"
)

// STUB: the API other packages build against; the implementation replaces these bodies.

// InteractionReader streams user_interactions rows.
type InteractionReader struct{}

// NewInteractionReader reads interactions CSV from r.
func NewInteractionReader(r io.Reader) *InteractionReader { return &InteractionReader{} }

// Next reads the next row into *row. It returns (event.OK, nil) for a readable row, (reason, nil) for an
// unreadable one (see Line and Raw), and (_, io.EOF) at the end.
func (r *InteractionReader) Next(row *event.Interaction) (event.Reason, error) { return 0, io.EOF }

// Line is the 1-based line number on which the last row began.
func (r *InteractionReader) Line() int64 { return 0 }

// Raw is the last row's input bytes without its line end, valid until the next call to Next.
func (r *InteractionReader) Raw() []byte { return nil }

// UserReader streams user_metadata rows.
type UserReader struct{}

// NewUserReader reads user metadata CSV from r.
func NewUserReader(r io.Reader) *UserReader { return &UserReader{} }

// Next is InteractionReader.Next for user rows.
func (r *UserReader) Next(row *event.User) (event.Reason, error) { return 0, io.EOF }

// Line is the 1-based line number on which the last row began.
func (r *UserReader) Line() int64 { return 0 }

// Raw is the last row's input bytes, valid until the next call to Next.
func (r *UserReader) Raw() []byte { return nil }

// ParseTimestamp parses every timestamp form of the contract into Unix milliseconds, UTC.
func ParseTimestamp(s []byte) (int64, bool) { return 0, false }
