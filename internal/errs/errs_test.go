package errs

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

type quiet struct{ err error }

func (q *quiet) Error() string   { return "stopped: " + q.err.Error() }
func (q *quiet) Unwrap() error   { return q.err }
func (q *quiet) Hints() []string { return nil }

func TestHintOf(t *testing.T) {
	base := New(Usage, errors.New("bad key"), "fix the key")
	stacked := WithHint(fmt.Errorf("load: %w", base), "see docs/config.md")
	for _, tc := range []struct {
		name     string
		err      error
		msg      string
		hints    []string
		kind     Kind
		rendered string
	}{
		{"none", errors.New("plain"), "plain", nil, Infra, "plain"},
		{"one", base, "bad key", []string{"fix the key"}, Usage, "bad key\n  hint: fix the key"},
		{"stacked, innermost first", stacked, "load: bad key", []string{"fix the key", "see docs/config.md"}, Usage,
			"load: bad key\n  hint: fix the key\n  hint: see docs/config.md"},
		{"same hint twice, once", WithHint(base, "fix the key"), "bad key", []string{"fix the key"}, Usage, "bad key\n  hint: fix the key"},
		{"through a stage", InStage("build", stacked), "build: load: bad key", []string{"fix the key", "see docs/config.md"}, Usage, ""},
		{"joined", errors.Join(base, Infraf("down")), "bad key\ndown", []string{"fix the key"}, Infra, ""},
		{"a Hinter decides", New(Infra, &quiet{base}, "run it again"), "stopped: bad key", []string{"run it again"}, Infra, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.msg {
				t.Errorf("Error() = %q, want %q (hints never in the message)", got, tc.msg)
			}
			if got := HintOf(tc.err); !reflect.DeepEqual(got, tc.hints) {
				t.Errorf("HintOf = %q, want %q", got, tc.hints)
			}
			if tc.rendered != "" && Format(tc.err) != tc.rendered {
				t.Errorf("Format = %q, want %q", Format(tc.err), tc.rendered)
			}
			if tc.name != "joined" && KindOf(tc.err) != tc.kind {
				t.Errorf("KindOf = %v, want %v", KindOf(tc.err), tc.kind)
			}
		})
	}
}

func TestInStage(t *testing.T) {
	if InStage("build", nil) != nil {
		t.Fatal("nil became an error")
	}
	inner := Failuref("2 tests failed")
	err := InStage("build", inner)
	if StageOf(err) != "build" || err.Error() != "build: 2 tests failed" || !errors.Is(err, inner) || KindOf(err) != Failure {
		t.Fatalf("%q stage %q kind %v", err, StageOf(err), KindOf(err))
	}
	if again := InStage("build", err); again != err {
		t.Fatal("marked twice")
	}
	// A stage that names itself in its message is not named twice.
	self := InStage("promote", fmt.Errorf("promote: %w", inner))
	if self.Error() != "promote: 2 tests failed" || StageOf(self) != "promote" {
		t.Fatalf("%q", self)
	}
	if StageOf(inner) != "" {
		t.Fatal("a stage out of nowhere")
	}
	// The stage is found through wrapping, as errors.As finds it.
	if StageOf(fmt.Errorf("run: %w", err)) != "build" {
		t.Fatal("lost through a wrap")
	}
}
