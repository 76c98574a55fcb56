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
	Remote string `yaml:"remote" doc:"The git remote both branches live on. Default: origin."`
	// From is the branch developers commit to (candidates come from here).
	From string `yaml:"from" doc:"The branch developers commit to; its first-parent commits not yet on the to branch are the candidates. Default: staging."`
	// To is the branch that only ever receives tested trees.
	To string `yaml:"to" doc:"The branch that only ever receives tested trees (cherry-picks with -x and a Promoted-from trailer). Default: master."`
	// Test is the shell command run (sh -c) in a clean worktree of each
	// tree to judge it: exit 0 good, 125 cannot test, 1–127 bad; a signal
	// or the timeout is an infrastructure error, not a verdict.
	Test string `yaml:"test" pipeline:"nonempty" doc:"Shell command (sh -c) run in a clean worktree of each tree judged: exit 0 good, 125 cannot test, 1-127 bad; a signal, an exit above 127 or the timeout is an infrastructure error. Required to run promote (e.g. make bvt)."`
	// Timeout bounds one run of Test.
	Timeout Duration `yaml:"timeout" doc:"Longest one run of test may take (e.g. 90m). Default: 2h."`
	// Parallel is how many probes run at once, each in its own worktree.
	Parallel int `yaml:"parallel" doc:"Probes run at once, each in its own worktree (n-section search: the first search takes ceil(log_(P+1) n) rounds). Default: 1."`
	// Retries is how many more times a failing probe is run before the
	// failure is believed (flaky tests).
	Retries int `yaml:"retries" doc:"Extra runs of a failing probe before the failure is believed (flaky tests); one pass is enough to call a tree good; a culprit is always confirmed by a second run anyway. Default: 0."`
	// Mode is how master is updated: "push" (one guarded atomic git push)
	// or "gitlab-api" (GitLab's cherry-pick API, for runners that cannot
	// push).
	Mode string `yaml:"mode" enum:"push,gitlab-api" doc:"How the to branch is updated: push (one guarded atomic git push) or gitlab-api (GitLab cherry-pick API, for runners that cannot push). Default: push."`
	// StatusName is the commit status name set on each candidate; empty:
	// "promote/" + To (apart from the runner's own pipeline/promote status
	// on the job's commit).
	StatusName string `yaml:"status_name" doc:"Name of the commit status set on each candidate. Default: promote/<to>."`
	// OutputTail is how many lines of a failing probe's output go into the
	// culprit comment.
	OutputTail int `yaml:"output_tail" doc:"Lines of the failing output quoted in the culprit comment. Default: 60."`
	// CommentTemplate is a file (relative to pipeline.yaml) that replaces
	// the built-in culprit comment template.
	CommentTemplate string `yaml:"comment_template" doc:"A text/template file (relative to pipeline.yaml) replacing the built-in culprit comment."`
	// Workdir holds the probe worktrees; empty: a directory under the
	// system temp dir named after the repository.
	Workdir string `yaml:"workdir" doc:"Directory for the build and probe worktrees, cleared at the start of every run. Default: a directory under the system temp dir named after the repository."`
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
		Retries:    0,
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
