// Package errs carries the exit-code contract of the pipeline binary through
// ordinary Go errors: 1 a stage ran and found a failure, 2 usage or
// configuration error, 3 infrastructure error (forge, S3, runner unreachable).
package errs

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the class of an error, and the process exit code it maps to.
type Kind int

const (
	// Failure means the stage ran and found a real failure (tests failed,
	// culprit found). Exit code 1.
	Failure Kind = 1
	// Usage means bad flags, bad configuration or bad input. Exit code 2.
	Usage Kind = 2
	// Infra means something we depend on was unreachable or broke after
	// retries. Exit code 3.
	Infra Kind = 3
)

func (k Kind) String() string {
	switch k {
	case Failure:
		return "failure"
	case Usage:
		return "usage"
	case Infra:
		return "infrastructure"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error with a Kind and an optional hint telling the person what
// to do next. Its text is the message alone: the hints of a chain are read
// with HintOf, and Format puts both together for a person.
type Error struct {
	Kind Kind
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// New wraps err with kind and hint. A nil err gives nil.
func New(kind Kind, err error, hint string) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err, Hint: hint}
}

// Usagef makes a usage/configuration error (exit 2).
func Usagef(format string, args ...any) error {
	return &Error{Kind: Usage, Err: fmt.Errorf(format, args...)}
}

// Infraf makes an infrastructure error (exit 3).
func Infraf(format string, args ...any) error {
	return &Error{Kind: Infra, Err: fmt.Errorf(format, args...)}
}

// Failuref makes a stage failure (exit 1).
func Failuref(format string, args ...any) error {
	return &Error{Kind: Failure, Err: fmt.Errorf(format, args...)}
}

// WithHint returns err with a hint added, keeping its kind (Usage if it
// had none) and the hints it had (HintOf lists them all).
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return &Error{Kind: e.Kind, Err: err, Hint: hint}
	}
	return &Error{Kind: Usage, Err: err, Hint: hint}
}

// Hinter is an error that decides the hints of what it wraps: HintOf asks
// it instead of looking inside (a cancelled stage's own hints are about a
// verdict there is none of).
type Hinter interface {
	Hints() []string
}

// HintOf lists the hints of every *Error in err's chain, innermost first,
// each once. Joined errors (Unwrap() []error) are read in order.
func HintOf(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) { //nolint:errorlint // walking the chain by hand, one level at a time
		case nil:
		case Hinter:
			for _, h := range e.Hints() {
				out = appendNew(out, h)
			}
		case *Error:
			walk(e.Err)
			if e.Hint != "" {
				out = appendNew(out, e.Hint)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		}
	}
	walk(err)
	return out
}

func appendNew(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

// Format is err for a person: its message, then a "  hint: " line per
// hint. "" for nil.
func Format(err error) string {
	if err == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(err.Error())
	for _, h := range HintOf(err) {
		b.WriteString("\n  hint: " + h)
	}
	return b.String()
}

// StageError is an error of the named stage. Its text starts with the
// stage's name once, whether or not the stage's own message already did.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string {
	msg := e.Err.Error()
	if strings.HasPrefix(msg, e.Stage+": ") {
		return msg // the stage named itself: say it once
	}
	return e.Stage + ": " + msg
}

func (e *StageError) Unwrap() error { return e.Err }

// InStage marks err as the named stage's (nil stays nil; an error already
// marked for that stage is returned as it is).
func InStage(stage string, err error) error {
	if err == nil || StageOf(err) == stage {
		return err
	}
	return &StageError{Stage: stage, Err: err}
}

// StageOf is the stage err belongs to ("" when none says).
func StageOf(err error) string {
	var se *StageError
	if errors.As(err, &se) {
		return se.Stage
	}
	return ""
}

// KindOf returns the kind of err: the outermost *Error's kind, or Infra for
// an unclassified error (an unexpected error is treated as the machinery
// failing, never as a verdict on the code under test).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Infra
}

// Code is the process exit code for err: 0 for nil.
func Code(err error) int {
	if err == nil {
		return 0
	}
	return int(KindOf(err))
}
