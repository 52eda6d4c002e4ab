// Package record encodes interactions, users and control records as the JSON values of the Kafka topics.
package record

import "github.com/notestream/notestream/internal/event"

// STUB: the API other packages build against; the implementation replaces these bodies.

// ControlHeader is the record header that marks a control record; event readers skip such records.
const ControlHeader = "notestream.control"

// Control kinds, the value of ControlHeader.
const (
	ControlProgress = "progress" // event time has reached EventTime for this partition's producer
	ControlEnd      = "end"      // the replay ended: close every open session
)

// Control is a control record's decoded value.
type Control struct {
	Kind      string
	EventTime int64 // Unix ms
}

// AppendInteraction appends the JSON value of in to dst.
func AppendInteraction(dst []byte, in *event.Interaction) []byte { return dst }

// DecodeInteraction parses a JSON value written by AppendInteraction (or any equivalent JSON).
func DecodeInteraction(b []byte, in *event.Interaction) error { return nil }

// AppendUser appends the JSON value of u to dst.
func AppendUser(dst []byte, u *event.User) []byte { return dst }

// DecodeUser parses a users topic value.
func DecodeUser(b []byte, u *event.User) error { return nil }

// AppendControl appends a control record's JSON value.
func AppendControl(dst []byte, c Control) []byte { return dst }

// DecodeControl parses a control record's value.
func DecodeControl(b []byte) (Control, error) { return Control{}, nil }
