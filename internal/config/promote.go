package config

import (
	"strings"
	"time"
)

// Promote is the `promote:` section of pipeline.yaml: which branch is
// tested and promoted onto which, the test that decides, and how hard to
// look for culprits.
type Promote struct {
	// Remote is the git remote both branches live on.
	Remote string `yaml:"remote"`
	// From is the branch developers commit to (candidates come from here).
	From string `yaml:"from"`
	// To is the branch that only ever receives tested trees.
	To string `yaml:"to"`
	// Test is the shell command run (sh -c) in a clean worktree of each
	// tree to judge it: exit 0 good, 125 cannot test, 1–127 bad; a signal
	// or the timeout is an infrastructure error, not a verdict.
	Test string `yaml:"test"`
	// Timeout bounds one run of Test.
	Timeout Duration `yaml:"timeout"`
	// Parallel is how many probes run at once, each in its own worktree.
	Parallel int `yaml:"parallel"`
	// Retries is how many more times a failing probe is run before the
	// failure is believed (flaky tests).
	Retries int `yaml:"retries"`
	// Mode is how master is updated: "push" (one guarded atomic git push)
	// or "gitlab-api" (GitLab's cherry-pick API, for runners that cannot
	// push).
	Mode string `yaml:"mode"`
	// StatusName is the commit status name set on each candidate; empty:
	// "promote/" + To (apart from the runner's own pipeline/promote status
	// on the job's commit).
	StatusName string `yaml:"status_name"`
	// OutputTail is how many lines of a failing probe's output go into the
	// culprit comment.
	OutputTail int `yaml:"output_tail"`
	// CommentTemplate is a file (relative to pipeline.yaml) that replaces
	// the built-in culprit comment template.
	CommentTemplate string `yaml:"comment_template"`
	// Workdir holds the probe worktrees; empty: a directory under the
	// system temp dir named after the repository.
	Workdir string `yaml:"workdir"`
}

// Promote modes.
const (
	PromoteModePush      = "push"
	PromoteModeGitLabAPI = "gitlab-api"
)

// DefaultPromote is the promote section when the file says nothing.
func DefaultPromote() Promote {
	return Promote{
		Remote:     "origin",
		From:       "staging",
		To:         "master",
		Timeout:    Duration(2 * time.Hour),
		Parallel:   1,
		Retries:    1,
		Mode:       PromoteModePush,
		OutputTail: 60,
	}
}

// Validate checks what types cannot.
func (p Promote) Validate() []FieldError {
	var errs []FieldError
	for _, f := range []struct{ path, v string }{{"remote", p.Remote}, {"from", p.From}, {"to", p.To}} {
		if strings.TrimSpace(f.v) == "" {
			errs = append(errs, FieldError{Path: f.path, Msg: "must not be empty"})
		}
	}
	if p.From != "" && p.From == p.To {
		errs = append(errs, FieldError{Path: "to", Msg: "must differ from promote.from (" + p.From + ")"})
	}
	if p.Parallel < 1 || p.Parallel > 64 {
		errs = append(errs, FieldError{Path: "parallel", Msg: "must be between 1 and 64 probes at a time"})
	}
	if p.Retries < 0 || p.Retries > 10 {
		errs = append(errs, FieldError{Path: "retries", Msg: "must be between 0 and 10"})
	}
	if p.Timeout < 0 {
		errs = append(errs, FieldError{Path: "timeout", Msg: "must not be negative"})
	}
	if p.OutputTail < 0 {
		errs = append(errs, FieldError{Path: "output_tail", Msg: "must not be negative"})
	}
	switch p.Mode {
	case PromoteModePush, PromoteModeGitLabAPI:
	default:
		errs = append(errs, FieldError{Path: "mode", Msg: "want push or gitlab-api"})
	}
	return errs
}
