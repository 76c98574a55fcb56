// Package errs carries the exit-code contract of the pipeline binary through
// ordinary Go errors: 1 a stage ran and found a failure, 2 usage or
// configuration error, 3 infrastructure error (forge, S3, runner unreachable).
package errs

import (
	"errors"
	"fmt"
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
// to do next.
type Error struct {
	Kind Kind
	Err  error
	Hint string
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + "\n  hint: " + e.Hint
}

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

// WithHint returns err with a hint attached, keeping its kind (Usage if it had none).
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
