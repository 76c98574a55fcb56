package promote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/templates"
)

// Report is what a promotion did: the --json data of the stage and
// promote.json in the report dir.
type Report struct {
	Remote   string `json:"remote"`
	From     string `json:"from"`
	To       string `json:"to"`
	Test     string `json:"test"`
	Parallel int    `json:"parallel"`
	Retries  int    `json:"retries"`
	DryRun   bool   `json:"dry_run"`
	// ListOnly: the run only listed the candidates (--list).
	ListOnly bool `json:"list_only,omitempty"`
	// Attempt counts the starts over because master moved under the run.
	Attempt int `json:"attempt"`

	MasterBefore string `json:"master_before"`
	MasterAfter  string `json:"master_after"`

	Candidates   []CandidateReport `json:"candidates"`
	Probes       []ProbeReport     `json:"probes"`
	Rounds       int               `json:"rounds"`
	Batches      int               `json:"batches"`
	SearchRounds []int             `json:"search_rounds"`
	Landings     []Landing         `json:"landings"`
	BaseBroken   bool              `json:"master_broken,omitempty"`
	Inconsistent bool              `json:"inconsistent,omitempty"`
	Forge        []ForgeAction     `json:"forge"`

	forgeErr error
}

// CandidateReport is one candidate and what became of it.
type CandidateReport struct {
	Candidate
	State State `json:"state"`
	// Reason says why, in a sentence (blocked: the conflict).
	Reason        string   `json:"reason,omitempty"`
	PromotedAs    string   `json:"promoted_as,omitempty"`
	BlockedBy     string   `json:"blocked_by,omitempty"`
	ConflictFiles []string `json:"conflict_files,omitempty"`
	OutputTail    string   `json:"output_tail,omitempty"`
	FoundIn       int      `json:"found_in_batch,omitempty"`
	ExitCode      int      `json:"exit_code,omitempty"`
}

// ProbeReport is one run of the test.
type ProbeReport struct {
	N      int    `json:"n"`
	Round  int    `json:"round"`
	Batch  int    `json:"batch"`
	Prefix int    `json:"prefix"` // commits of the batch in the tree
	Of     int    `json:"of"`     // commits in the batch
	Reason Reason `json:"reason"`
	// Head is the candidate whose pick ends the tree ("" for master alone).
	Head     string  `json:"head,omitempty"`
	Subject  string  `json:"subject"`
	Commit   string  `json:"commit"`
	Tree     string  `json:"tree"`
	Verdict  Verdict `json:"verdict"`
	ExitCode int     `json:"exit_code"`
	Seconds  float64 `json:"seconds"`
	Log      string  `json:"log,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// Landing is one update of master.
type Landing struct {
	From     string   `json:"from"`
	Commit   string   `json:"commit"`
	Tree     string   `json:"tree"`
	Promoted []string `json:"promoted"`
	Pushed   bool     `json:"pushed"`
}

// ForgeAction is one status or comment, done, skipped or failed.
type ForgeAction struct {
	Action string `json:"action"` // status, comment
	Target string `json:"target"` // commit sha, "!12" for an MR
	State  string `json:"state,omitempty"`
	Result string `json:"result"` // done, skipped (no forge), dry-run, failed
	Error  string `json:"error,omitempty"`
}

// Promoted returns the staging shas that landed.
func (r *Report) Promoted() []string { return r.inState(Promoted) }

// Culprits returns the culprits' shas.
func (r *Report) Culprits() []string { return r.inState(Culprit) }

func (r *Report) inState(s State) []string {
	var out []string
	for _, c := range r.Candidates {
		if c.State == s {
			out = append(out, c.SHA)
		}
	}
	return out
}

func (r *Report) count(s State) int { return len(r.inState(s)) }

// result is the stage result of the report.
func (r *Report) result() *stages.Result {
	r.normalize()
	promoted, culprits := r.Promoted(), r.Culprits()
	res := &stages.Result{Data: r}
	return r.fill(res, promoted, culprits)
}

// normalize makes every list [] in the JSON, never null: consumers index
// them.
func (r *Report) normalize() {
	if r.Candidates == nil {
		r.Candidates = []CandidateReport{}
	}
	if r.Probes == nil {
		r.Probes = []ProbeReport{}
	}
	if r.SearchRounds == nil {
		r.SearchRounds = []int{}
	}
	if r.Landings == nil {
		r.Landings = []Landing{}
	}
	if r.Forge == nil {
		r.Forge = []ForgeAction{}
	}
}

func (r *Report) fill(res *stages.Result, promoted, culprits []string) *stages.Result {
	var parts []string
	switch {
	case len(r.Candidates) == 0:
		parts = append(parts, fmt.Sprintf("nothing to promote: %s holds every commit of %s", r.To, r.From))
	case r.ListOnly:
		parts = append(parts, fmt.Sprintf("%d candidate(s) on %s not yet on %s (listed, not tested)", len(r.Candidates), r.From, r.To))
	case r.DryRun:
		parts = append(parts, fmt.Sprintf("would promote %d of %d", len(promoted), len(r.Candidates)))
	default:
		parts = append(parts, fmt.Sprintf("promoted %d of %d", len(promoted), len(r.Candidates)))
	}
	if r.MasterAfter != "" && r.MasterAfter != r.MasterBefore {
		parts = append(parts, fmt.Sprintf("%s %s → %s", r.To, short(r.MasterBefore), short(r.MasterAfter)))
	}
	for _, c := range r.Candidates {
		if c.State == Culprit {
			parts = append(parts, fmt.Sprintf("culprit %s %q", short(c.SHA), c.Subject))
		}
	}
	if n := r.count(Suspect); n > 0 {
		parts = append(parts, fmt.Sprintf("%d suspect(s)", n))
	}
	if n := r.count(Blocked); n > 0 {
		parts = append(parts, fmt.Sprintf("%d blocked", n))
	}
	if n := r.count(NotTested); n > 0 && len(r.Probes) > 0 {
		parts = append(parts, fmt.Sprintf("%d not tested", n))
	}
	if r.BaseBroken {
		parts = append(parts, r.To+" itself fails the test")
	}
	if len(r.Probes) > 0 {
		parts = append(parts, fmt.Sprintf("%d probe(s) in %d round(s)", len(r.Probes), r.Rounds))
	}
	res.Summary = strings.Join(parts, "; ")
	switch {
	case r.ListOnly:
		res.Outcome = stages.NoChange
	case r.findings():
		res.Outcome = stages.Failed
	case r.DryRun:
		res.Outcome = stages.DryRunned
	case len(promoted) > 0:
		res.Outcome = stages.Passed
	default:
		res.Outcome = stages.NoChange
	}
	res.Dotenv = map[string]string{
		"PIPELINE_PROMOTED":        fmt.Sprint(len(promoted)),
		"PIPELINE_PROMOTE_CULPRIT": strings.Join(culprits, " "),
	}
	if r.MasterAfter != "" {
		res.Dotenv["PIPELINE_PROMOTE_HEAD"] = r.MasterAfter
	}
	return res
}

func (r *Report) findings() bool {
	return r.BaseBroken || r.Inconsistent || r.count(Culprit)+r.count(Suspect)+r.count(Blocked) > 0
}

// failure is the error the stage returns: a finding (exit 1), or a forge
// that could not be told (exit 3), or nil.
func (r *Report) failure() error {
	switch {
	case r.BaseBroken:
		return errs.New(errs.Failure, fmt.Errorf("promote: %s itself fails `%s`, so no commit can be blamed", r.To, r.Test),
			"fix "+r.To+" first (or the test), then re-run")
	case r.Inconsistent:
		return errs.New(errs.Failure, fmt.Errorf("promote: `%s` gave contradictory results on the same trees", r.Test),
			"the test is flaky: fix it, or raise promote.retries")
	case r.findings():
		return errs.New(errs.Failure, fmt.Errorf("promote: %d culprit(s), %d suspect(s), %d blocked", r.count(Culprit), r.count(Suspect), r.count(Blocked)),
			"fix or revert the culprit on "+r.From+"; the next run promotes the rest")
	case r.forgeErr != nil:
		return errs.New(errs.Infra, r.forgeErr, "the promotion itself is done; re-run to post the statuses")
	}
	return nil
}

// publish tells people: statuses, culprit comments, JUnit, promote.json and
// a summary in the job log.
func (s *Stage) publish(ctx context.Context, env *stages.Env, rep *Report) {
	// Also after a cancel (SIGTERM): what landed, and what was found, is
	// said on the forge, within a bounded time.
	ctx, cancel := stages.Final(ctx)
	defer cancel()
	cfg := env.Config.Promote
	statusName := cfg.StatusName
	if statusName == "" {
		statusName = "promote/" + cfg.To
	}
	for _, c := range rep.Candidates {
		state, desc := statusOf(c, rep.To)
		rep.forge(env, "status", c.SHA, state, func() error {
			return env.Forge.SetStatus(ctx, gitops.Status{SHA: c.SHA, Ref: rep.From, Name: statusName,
				State: state, Description: desc, TargetURL: env.CI.JobURL})
		})
	}
	tmpl, err := commentTemplate(env)
	if err != nil {
		env.Log.Warnf("culprit comment: %v", err)
	}
	for i, c := range rep.Candidates {
		if (c.State != Culprit && c.State != Suspect) || tmpl == nil {
			continue
		}
		if c.State == Suspect && i+1 < len(rep.Candidates) && rep.Candidates[i+1].State == Suspect {
			continue // one comment per suspect group, on its last commit
		}
		body, err := renderComment(tmpl, commentData(env, rep, i))
		if err != nil {
			env.Log.Warnf("culprit comment: %v", err)
			continue
		}
		target := gitops.CommentTarget{Commit: c.SHA}
		label := c.SHA
		if mr := findMR(ctx, env, rep.From, c); mr > 0 {
			target = gitops.CommentTarget{MergeRequest: mr}
			label = fmt.Sprintf("!%d", mr)
		}
		rep.forge(env, "comment", label, "", func() error {
			return env.Forge.UpsertComment(ctx, target, "pipeline-promote-culprit:"+c.SHA, body)
		})
	}
	rep.normalize()
	if !env.DryRun {
		if _, err := env.Report.WriteJUnit("junit-promote.xml", rep.junit()); err != nil {
			env.Log.Warnf("JUnit report: %v", err)
		}
		if _, err := env.Report.WriteJSON("promote.json", rep); err != nil {
			env.Log.Warnf("JSON report: %v", err)
		}
	}
	rep.logSummary(env)
}

// forge runs one forge write, or records why it was not made.
func (r *Report) forge(env *stages.Env, action, target, state string, do func() error) {
	a := ForgeAction{Action: action, Target: target, State: state}
	switch {
	case env.DryRun:
		a.Result = "dry-run"
	case errors.Is(r.forgeErr, gitops.ErrJobTokenScope):
		// Said once already; every other write would fail the same way.
		a.Result = "skipped (needs an api token)"
	default:
		err := do()
		switch {
		case err == nil:
			a.Result = "done"
		case errors.Is(err, gitops.ErrNoForge):
			a.Result = "skipped (no forge)"
		default:
			a.Result, a.Error = "failed", err.Error()
			what := fmt.Sprintf("%s on %s: ", action, short(target))
			if gitops.NamesCall(err) {
				what = "" // the forge's error names the call: once is enough
			}
			env.Log.Warnf("%s%v", what, err)
			if r.forgeErr == nil {
				r.forgeErr = fmt.Errorf("promote: %s%w", what, err)
			}
		}
	}
	r.Forge = append(r.Forge, a)
}

// statusOf maps a candidate's state to a commit status.
func statusOf(c CandidateReport, to string) (state, desc string) {
	switch c.State {
	case Promoted:
		return "success", "promoted to " + to + " as " + short(c.PromotedAs)
	case Culprit:
		return "failed", "culprit: first commit whose tree fails the test; not promoted"
	case Suspect:
		return "failed", "suspect: the first failure is one of several untestable commits"
	case Blocked:
		if c.BlockedBy != "" {
			return "failed", "blocked: does not apply without culprit " + short(c.BlockedBy)
		}
		return "failed", "blocked: does not apply onto " + to
	}
	return "pending", "not tested: " + c.Reason
}

func commentTemplate(env *stages.Env) (*template.Template, error) {
	funcs := template.FuncMap{"short": short, "cell": func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }, "fence": fence, "diagram": SearchDiagram}
	if f := env.Config.Promote.CommentTemplate; f != "" {
		if !filepath.IsAbs(f) && env.Config.Path != "" {
			f = filepath.Join(filepath.Dir(env.Config.Path), f)
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("promote.comment_template: %w", err)
		}
		return templates.ParseText(filepath.Base(f), string(src), funcs)
	}
	return templates.Parse("promote/culprit.md.tmpl", funcs)
}

func renderComment(t *template.Template, d CommentData) (string, error) {
	return templates.Render(t, d)
}

// fence returns a Markdown code fence longer than any run of backticks in
// s, so that a test's output cannot close the block early.
func fence(s string) string {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// CommentData is what the culprit comment template is given.
type CommentData struct {
	Culprit        CandidateReport
	Suspects       []CandidateReport
	Blocked        []CandidateReport
	From, To, Test string
	ExitCode       int
	Tail           string
	Probes         []ProbeReport
	JobURL         string
	// Promoted counts the commits before the culprit that are on the
	// target branch, whichever run promoted them.
	Promoted         int
	MasterBefore     string
	MasterAfter      string
	DryRun           bool
	CandidatesInRun  int
	ProbesInRun      int
	RoundsInRun      int
	BatchesInRun     int
	SearchRoundsOfIt int
}

func commentData(env *stages.Env, rep *Report, i int) CommentData {
	c := rep.Candidates[i]
	// The test's output may print anything (its environment, tokens
	// included): masked here, and again by the masked forge.
	tail := c.OutputTail
	if env.Log != nil {
		tail = env.Log.Masker().Mask(tail)
	}
	d := CommentData{Culprit: c, From: rep.From, To: rep.To, Test: rep.Test, ExitCode: c.ExitCode, Tail: tail,
		JobURL: env.CI.JobURL, MasterBefore: rep.MasterBefore, MasterAfter: rep.MasterAfter, DryRun: rep.DryRun,
		CandidatesInRun: len(rep.Candidates), ProbesInRun: len(rep.Probes), RoundsInRun: rep.Rounds, BatchesInRun: rep.Batches}
	if c.State == Suspect {
		for j := i; j >= 0 && rep.Candidates[j].State == Suspect; j-- {
			d.Suspects = append([]CandidateReport{rep.Candidates[j]}, d.Suspects...)
		}
	}
	for _, b := range rep.Candidates {
		if b.State == Blocked && b.BlockedBy == c.SHA {
			d.Blocked = append(d.Blocked, b)
		}
	}
	for _, p := range rep.Probes {
		if p.Batch == c.FoundIn {
			d.Probes = append(d.Probes, p)
		}
	}
	if c.FoundIn > 0 && c.FoundIn <= len(rep.SearchRounds) {
		d.SearchRoundsOfIt = rep.SearchRounds[c.FoundIn-1]
	}
	// The commits before it (before the first of a suspect group) that are
	// on master: promoted by this run or, as master's trailers say, by an
	// earlier one. Not this run's landings, which may include commits
	// after it, so that a re-run with nothing new says the same.
	first := i - len(d.Suspects) + 1
	if len(d.Suspects) == 0 {
		first = i
	}
	d.Promoted = rep.Candidates[first].onTarget
	for _, b := range rep.Candidates[:first] {
		if b.State == Promoted {
			d.Promoted++
		}
	}
	return d
}

// findMR returns the merge request that brought c into the branch (its
// merge, squash or head commit), or 0.
func findMR(ctx context.Context, env *stages.Env, branch string, c CandidateReport) int {
	since := time.Time{}
	if !c.time.IsZero() {
		since = c.time.Add(-30 * 24 * time.Hour)
	}
	mrs, err := env.Forge.MergedMergeRequests(ctx, branch, since)
	if err != nil {
		env.Log.Debugf("look up the merge request of %s: %v", short(c.SHA), err)
		return 0
	}
	for _, mr := range mrs {
		if mr.MergeCommitSHA == c.SHA || mr.SquashCommitSHA == c.SHA || mr.SHA == c.SHA {
			return mr.Number
		}
	}
	return 0
}

// junit is one test case per candidate: promoted passes, a culprit or a
// blocked commit fails, not tested is skipped.
func (r *Report) junit() *report.JUnit {
	suite := &report.Suite{Name: "promote " + r.From + " → " + r.To, Timestamp: time.Now().UTC().Format(time.RFC3339)}
	secs := map[string]float64{}
	for _, p := range r.Probes {
		secs[p.Head] += p.Seconds
	}
	for _, c := range r.Candidates {
		tc := &report.Case{Name: short(c.SHA) + " " + c.Subject, Classname: "promote." + r.To, Time: secs[c.SHA]}
		switch c.State {
		case Promoted:
			tc.SystemOut = "promoted as " + c.PromotedAs
		case Culprit, Suspect:
			tc.Failure = &report.Problem{Message: string(c.State) + ": " + c.Reason, Type: string(c.State), Body: c.OutputTail}
		case Blocked:
			tc.Failure = &report.Problem{Message: "blocked: " + c.Reason, Type: "blocked"}
		default:
			tc.Skipped = &report.Skip{Message: "not tested: " + c.Reason}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	return &report.JUnit{Name: "pipeline promote", Suites: []*report.Suite{suite}}
}

// logSummary writes the outcome table to the job log.
func (r *Report) logSummary(env *stages.Env) {
	end := env.Log.Section("promote_summary", "promote summary")
	defer end()
	if len(r.Candidates) == 0 {
		env.Log.Infof("nothing to promote")
		return
	}
	for _, c := range r.Candidates {
		line := fmt.Sprintf("  %-10s  %s  %s", c.State, short(c.SHA), c.Subject)
		if c.State != Promoted && c.Reason != "" {
			line += "  — " + c.Reason
		}
		env.Log.Info(line)
	}
	skipped := 0
	for _, a := range r.Forge {
		if strings.HasPrefix(a.Result, "skipped") {
			skipped++
		}
	}
	if skipped > 0 {
		env.Log.Infof("forge: %d status/comment action(s) skipped: no forge configured", skipped)
	}
	env.Log.Infof("%d probe(s) in %d round(s) over %d batch(es); %s %s → %s", len(r.Probes), r.Rounds, r.Batches, r.To, short(r.MasterBefore), short(r.MasterAfter))
}
