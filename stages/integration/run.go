package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/runners"
)

// Plan is everything a run needs, built from pipeline.yaml by the stage.
type Plan struct {
	Suites  []*Suite
	Targets []Target
	// Version is the version under test; Previous the production version
	// the upgrade scenario starts from.
	Version, Previous string
	Copy              []CopyItem
	Setup, Base       string
	Provision         string
	Idempotence       bool
	Snapshot          SnapshotSpec
	Logs              LogSpec
	ProvisionTimeout  time.Duration
	CheckTimeout      time.Duration
	Parallel          int
	// Progress, when set, receives one line per step as it happens.
	Progress func(target, scenario, msg string)
}

// CopyItem is a local file or tree copied to Dest on every target.
type CopyItem struct{ Src, Dest string }

// Target is a runner and the scenarios it runs.
type Target struct {
	Name      string
	Kind      string // runner kind, for reports
	Runner    runners.Runner
	Scenarios []string
}

// Status of a case.
type Status string

const (
	Pass  Status = "passed"
	Fail  Status = "failed"
	Error Status = "error" // the machinery failed: <error> in JUnit
	Skip  Status = "skipped"
)

// Case is one reported result. Its JUnit classname is
// Suite.Target.Phase: Suite is a suite name or one of the built-in
// pseudo-suites provision, idempotence, logs and state; Phase is the
// scenario (fresh, upgrade) or "diff" for the state diff.
type Case struct {
	Suite    string        `json:"suite"`
	Target   string        `json:"target"`
	Phase    string        `json:"phase"`
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Message  string        `json:"message,omitempty"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Tries    int           `json:"tries,omitempty"`
}

// Classname is suite.target.phase.
func (c Case) Classname() string { return c.Suite + "." + c.Target + "." + c.Phase }

// ScenarioRun is what one scenario on one target produced.
type ScenarioRun struct {
	Scenario string   `json:"scenario"`
	Snapshot Snapshot `json:"-"`
	// Log is the scenario's step log (provisioning output, ...), and
	// Phases the same cut by phase (start, setup, base, provision,
	// idempotence, suites, snapshot, logs) for the job log's sections.
	Log    string   `json:"-"`
	Phases []*Phase `json:"-"`
	// Infra is set when the target broke down during the scenario.
	Infra string `json:"infra,omitempty"`
}

// Phase is the log of one phase of a scenario.
type Phase struct {
	Name string
	Log  string
}

// TargetRun is what one target produced.
type TargetRun struct {
	Target    string         `json:"target"`
	Kind      string         `json:"runner"`
	Scenarios []*ScenarioRun `json:"scenarios"`
	Cases     []Case         `json:"-"`
	Diff      []Difference   `json:"diff,omitempty"`
	Duration  time.Duration  `json:"duration_ns"`
}

// Execute runs every target of the plan, Parallel at a time, and returns
// their results in plan order. It never returns early: a broken target is
// recorded as error cases and the others go on.
func Execute(ctx context.Context, p *Plan) []*TargetRun {
	par := p.Parallel
	if par <= 0 {
		par = 4
	}
	out := make([]*TargetRun, len(p.Targets))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, t := range p.Targets {
		wg.Add(1)
		go func(i int, t Target) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = runTarget(ctx, p, t)
		}(i, t)
	}
	wg.Wait()
	return out
}

// targetRun carries the state of one target's run.
type targetRun struct {
	p   *Plan
	t   Target
	res *TargetRun
	sc  *ScenarioRun
	log strings.Builder // the scenario's whole log (the artifact)
	cur *Phase          // the phase being logged

	// The scenario's state between its steps (steps.go).
	first   bool     // the target's first scenario: started, not reset
	stopped string   // why the steps that need provisioning do not run
	mark    *LogMark // where the logs ended before the step they judge
}

// phase starts the log of a new phase of the scenario (its own log section).
func (r *targetRun) phase(name string) {
	r.cur = &Phase{Name: name}
	r.sc.Phases = append(r.sc.Phases, r.cur)
}

// write adds text to the scenario's log and to the current phase's.
func (r *targetRun) write(text string) {
	r.log.WriteString(text)
	if r.cur != nil {
		r.cur.Log += text
	}
}

func (r *targetRun) progress(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.write(fmt.Sprintf("%s %s\n", time.Now().UTC().Format("15:04:05"), msg))
	if r.p.Progress != nil {
		r.p.Progress(r.t.Name, r.sc.Scenario, msg)
	}
}

func (r *targetRun) add(c Case) {
	c.Target, c.Phase = r.t.Name, r.sc.Scenario
	r.res.Cases = append(r.res.Cases, c)
}

func runTarget(ctx context.Context, p *Plan, t Target) *TargetRun {
	start := time.Now()
	res := &TargetRun{Target: t.Name, Kind: t.Kind}
	r := &targetRun{p: p, t: t, res: res}
	defer t.Runner.Close()
	for i, scenario := range t.Scenarios {
		r.sc = &ScenarioRun{Scenario: scenario}
		r.log.Reset()
		r.cur = nil
		res.Scenarios = append(res.Scenarios, r.sc)
		err := r.scenario(ctx, i == 0)
		if err != nil {
			r.sc.Infra = err.Error()
			r.add(Case{Suite: "provision", Name: "target", Status: Error,
				Message: firstLine(err.Error()), Detail: err.Error()})
			r.progress("target broke down: %v", err)
		}
		r.sc.Log = r.log.String()
		if ctx.Err() != nil {
			break
		}
	}
	r.diff()
	res.Duration = time.Since(start)
	return res
}

func (r *targetRun) skipChecks(why string) {
	for _, s := range r.p.Suites {
		for _, c := range s.Checks {
			r.add(Case{Suite: s.Name, Name: c.ID, Status: Skip, Message: why})
		}
	}
}

// step runs a provisioning command as a case of the provision pseudo-suite.
func (r *targetRun) step(ctx context.Context, name, script, version string) (bool, error) {
	r.progress("%s ($PIPELINE_VERSION=%s)", name, version)
	out, err := r.t.Runner.Run(ctx, runners.Command{
		Script:  "set -e\n" + script,
		Env:     r.env(version),
		Timeout: r.p.ProvisionTimeout,
	})
	if err != nil {
		return false, err
	}
	text := fmt.Sprintf("$ %s\n%s%s", strings.TrimSpace(script), out.Stdout, out.Stderr)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	r.write(text)
	c := Case{Suite: "provision", Name: name, Status: Pass, Duration: out.Duration, Detail: string(clip([]byte(text)))}
	switch {
	case out.TimedOut:
		c.Status, c.Message = Fail, fmt.Sprintf("%s timed out after %s", name, r.p.ProvisionTimeout)
	case out.Exit != 0:
		c.Status, c.Message = Fail, exitMessage(name, out)
	}
	r.add(c)
	r.progress("%s: %s in %s", name, c.Status, out.Duration.Round(time.Millisecond))
	return c.Status == Pass, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// exitMessage is "NAME exited N: CAUSE", CAUSE being the line that says
// why (FailureLine); "NAME exited N" when the command printed nothing.
func exitMessage(name string, out runners.Output) string {
	msg := fmt.Sprintf("%s exited %d", name, out.Exit)
	if line := FailureLine(string(out.Stdout), string(out.Stderr)); line != "" {
		msg += ": " + line
	}
	return msg
}

// env is what provisioning commands, probes and scripts see.
func (r *targetRun) env(version string) map[string]string {
	return map[string]string{"PIPELINE_VERSION": version, "PIPELINE_SCENARIO": r.sc.Scenario,
		"PIPELINE_TARGET": r.t.Name, "DEBIAN_FRONTEND": "noninteractive"}
}

// idempotence provisions a second time; any change of state is a failure
// listing what changed.
func (r *targetRun) idempotence(ctx context.Context) error {
	before, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	ok, err := r.step(ctx, "provision-again", r.p.Provision, r.p.Version)
	if err != nil || !ok {
		return err
	}
	after, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	c := Case{Suite: "idempotence", Name: "provision-again-changes-nothing", Status: Pass}
	if d := Diff(before, after); len(d) > 0 {
		var lines []string
		for _, x := range d {
			lines = append(lines, x.String("before", "after"))
		}
		c.Status = Fail
		c.Message = fmt.Sprintf("provisioning again changed %d thing(s): %s", len(d), lines[0])
		c.Detail = strings.Join(lines, "\n")
	}
	r.add(c)
	return nil
}

func (r *targetRun) snapshot(ctx context.Context) (Snapshot, error) {
	out, err := r.t.Runner.Run(ctx, runners.Command{Script: SnapshotScript(r.p.Snapshot), Timeout: r.p.CheckTimeout})
	if err != nil {
		return nil, err
	}
	if out.TimedOut {
		return nil, fmt.Errorf("%s: taking the state snapshot timed out after %s", r.t.Name, r.p.CheckTimeout)
	}
	return ParseSnapshot(string(out.Stdout), r.p.Snapshot.Ignore), nil
}

// markLogs notes where the logs end now (r.mark): the scan reads what
// was written after.
func (r *targetRun) markLogs(ctx context.Context) error {
	if len(r.p.Logs.Files) == 0 && !r.p.Logs.Journal {
		r.mark = &LogMark{}
		return nil
	}
	out, err := r.t.Runner.Run(ctx, runners.Command{Script: LogMarkScript(r.p.Logs), Timeout: r.p.CheckTimeout})
	if err != nil {
		return err
	}
	m := ParseLogMark(string(out.Stdout))
	r.mark = &m
	return nil
}

func (r *targetRun) scanLogs(ctx context.Context, mark LogMark) error {
	if len(r.p.Logs.Files) == 0 && !r.p.Logs.Journal {
		return nil
	}
	r.phase("logs")
	out, err := r.t.Runner.Run(ctx, runners.Command{Script: LogCollectScript(r.p.Logs, mark), Timeout: r.p.CheckTimeout})
	if err != nil {
		return err
	}
	logs := ParseLogCollect(string(out.Stdout))
	for src, text := range logs {
		r.write(fmt.Sprintf("--- log %s from line %d (written since provisioning began)\n%s", src, mark.Lines[src]+1, text))
	}
	hits := ScanLogs(logs, r.p.Logs, mark)
	for _, h := range hits {
		r.add(Case{Suite: "logs", Name: fmt.Sprintf("%s:%d", h.Source, h.Line), Status: Fail,
			Message: fmt.Sprintf("%s:%d: %s", h.Source, h.Line, strings.TrimSpace(h.Text)),
			Detail:  fmt.Sprintf("matched %s\n%s", h.Pattern, strings.Join(h.Context, "\n"))})
	}
	if len(hits) == 0 {
		var srcs []string
		for s := range logs {
			srcs = append(srcs, s)
		}
		sort.Strings(srcs)
		r.add(Case{Suite: "logs", Name: "no-errors", Status: Pass, Message: "scanned " + orNone(strings.Join(srcs, ", "))})
	}
	r.progress("log scan: %d problem line(s)", len(hits))
	return nil
}

// check runs one check with its retries and returns its case(s). first,
// when set, is the check's first probe, already run in a batch.
func (r *targetRun) check(ctx context.Context, s *Suite, c *Check, first *batched) ([]Case, error) {
	if c.Script != nil {
		return r.script(ctx, s, c)
	}
	start := time.Now()
	if first != nil {
		start = first.start
	}
	deadline := start.Add(c.Within)
	every := c.Every
	if every <= 0 {
		every = time.Second
	}
	tries := 0
	var err error
	for {
		tries++
		var v Verdict
		if tries == 1 && first != nil {
			v = Judge(c, first.out)
		} else if v, err = r.probe(ctx, c); err != nil {
			return nil, err
		}
		if v.OK || c.Within == 0 || time.Now().Add(every).After(deadline) {
			cs := Case{Suite: s.Name, Name: c.ID, Status: Pass, Message: v.Message, Detail: v.Detail, Duration: time.Since(start), Tries: tries}
			if !v.OK {
				cs.Status = Fail
				if c.Within > 0 {
					cs.Message += fmt.Sprintf(" (still failing after %d tries within %s)", tries, c.Within)
				}
			}
			if c.Description != "" {
				cs.Detail = strings.TrimSpace(c.Description + "\n" + cs.Detail)
			}
			return []Case{cs}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(every):
		}
	}
}

// batched is a check's first probe, run in a batch.
type batched struct {
	out   runners.Output
	start time.Time
}

// batch runs the first probe of every quick check of a suite (package,
// service, file, port, user, group, kernel) in one command: one session
// instead of one per check, which is what makes a long suite fast over
// SSH. Command, http and script checks, which have timeouts and outputs of
// their own, run one by one. A batch that times out is dropped and its
// checks run one by one.
func (r *targetRun) batch(ctx context.Context, s *Suite) (map[*Check]*batched, error) {
	var checks []*Check
	for _, c := range s.Checks {
		if c.Applies(r.sc.Scenario) && Batchable(c) {
			checks = append(checks, c)
		}
	}
	if len(checks) < 2 {
		return nil, nil
	}
	script, marker := BatchScript(checks)
	start := time.Now()
	out, err := r.t.Runner.Run(ctx, runners.Command{Script: script, Timeout: r.p.CheckTimeout, Env: r.env(r.p.Version)})
	if err != nil {
		return nil, err
	}
	if out.TimedOut || out.Exit != 0 {
		r.progress("batch of %d checks did not finish (exit %d): running them one by one", len(checks), out.Exit)
		return nil, nil
	}
	outs := SplitBatch(string(out.Stdout), marker, len(checks))
	res := map[*Check]*batched{}
	for i, c := range checks {
		if outs[i] != nil {
			res[c] = &batched{out: *outs[i], start: start}
		}
	}
	return res, nil
}

func (r *targetRun) checkTimeout(own time.Duration) time.Duration {
	if own > 0 {
		return own
	}
	return r.p.CheckTimeout
}

// probe runs a check once.
func (r *targetRun) probe(ctx context.Context, c *Check) (Verdict, error) {
	if c.HTTP != nil {
		if d, ok := r.t.Runner.(runners.Dialer); ok {
			return httpVia(ctx, d, c.HTTP, r.checkTimeout(c.HTTP.Timeout)), nil
		}
	}
	timeout := r.p.CheckTimeout
	if c.Command != nil {
		timeout = r.checkTimeout(c.Command.Timeout)
	}
	out, err := r.t.Runner.Run(ctx, runners.Command{Script: Probe(c), Timeout: timeout, Env: r.env(r.p.Version)})
	if err != nil {
		return Verdict{}, err
	}
	if out.TimedOut {
		return fail("timed out after %s", timeout), nil
	}
	return Judge(c, out), nil
}

// httpVia fetches the URL through the runner's own connection (an SSH
// tunnel, say) so it sees what the target sees.
func httpVia(ctx context.Context, d runners.Dialer, h *HTTPCheck, timeout time.Duration) Verdict {
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			DisableKeepAlives: true,
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return fail("GET %s: %v", h.URL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return JudgeHTTP(h, 0, err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return JudgeHTTP(h, resp.StatusCode, string(body))
}

// script copies a plain test script to the target, runs it and folds its
// result (exit status, TAP or JUnit) into cases.
func (r *targetRun) script(ctx context.Context, s *Suite, c *Check) ([]Case, error) {
	sc := c.Script
	remote := path.Join("/tmp/pipeline-tests", s.Name, c.ID, path.Base(sc.Path))
	if err := r.t.Runner.CopyIn(ctx, sc.Local, remote); err != nil {
		if errors.Is(err, runners.ErrUnreachable) {
			return nil, err
		}
		return []Case{{Suite: s.Name, Name: c.ID, Status: Error, Message: "copy the script: " + err.Error()}}, nil
	}
	line := "chmod +x " + runners.Quote(remote) + " && " + runners.Quote(remote)
	for _, a := range sc.Args {
		line += " " + runners.Quote(a)
	}
	out, err := r.t.Runner.Run(ctx, runners.Command{Script: line, Timeout: r.checkTimeout(sc.Timeout),
		Env: r.env(r.p.Version)})
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("$ %s\nexit %d\n--- stdout\n%s--- stderr\n%s", sc.Path, out.Exit, clip(out.Stdout), clip(out.Stderr))
	whole := Case{Suite: s.Name, Name: c.ID, Status: Pass, Message: fmt.Sprintf("exit %d", out.Exit), Detail: detail, Duration: out.Duration}
	if out.TimedOut {
		whole.Status, whole.Message = Fail, "timed out"
		return []Case{whole}, nil
	}
	var subs []SubResult
	switch sc.Format {
	case "tap":
		subs = ParseTAP(string(out.Stdout))
	case "junit":
		data := out.Stdout
		if sc.Report != "" {
			rep, err := r.t.Runner.Run(ctx, runners.Command{Script: "cat " + runners.Quote(sc.Report), Timeout: r.p.CheckTimeout})
			if err != nil {
				return nil, err
			}
			data = rep.Stdout
		}
		var perr error
		if subs, perr = ParseJUnit(data); perr != nil {
			whole.Status, whole.Message = Fail, perr.Error()
			return []Case{whole}, nil
		}
	}
	var cases []Case
	for _, sr := range subs {
		cs := Case{Suite: s.Name, Name: c.ID + "/" + sr.Name, Status: Pass, Message: sr.Message, Detail: sr.Detail}
		switch {
		case sr.Skipped:
			cs.Status = Skip
		case !sr.OK:
			cs.Status = Fail
		}
		cases = append(cases, cs)
	}
	// The exit status counts in every format: a script that crashed after
	// printing "ok" lines has not passed.
	if out.Exit != 0 {
		whole.Status, whole.Message = Fail, strings.TrimPrefix(exitMessage("", out), " ")
	}
	if sc.Format == "exit" || out.Exit != 0 {
		cases = append(cases, whole)
	}
	return cases, nil
}

// diff compares the fresh and upgrade snapshots: one case per difference.
func (r *targetRun) diff() {
	var fresh, upgrade *ScenarioRun
	for _, s := range r.res.Scenarios {
		switch s.Scenario {
		case Fresh:
			fresh = s
		case Upgrade:
			upgrade = s
		}
	}
	if fresh == nil || upgrade == nil {
		return
	}
	r.sc = &ScenarioRun{Scenario: "diff"}
	if fresh.Snapshot == nil || upgrade.Snapshot == nil {
		r.add(Case{Suite: "state", Name: "fresh-equals-upgrade", Status: Skip, Message: "not compared: a scenario did not finish"})
		return
	}
	d := Diff(fresh.Snapshot, upgrade.Snapshot)
	r.res.Diff = d
	for _, x := range d {
		r.add(Case{Suite: "state", Name: x.Key, Status: Fail,
			Message: x.String("fresh", "upgrade"),
			Detail:  fmt.Sprintf("fresh:   %s\nupgrade: %s", show(x.A), show(x.B))})
	}
	if len(d) == 0 {
		r.add(Case{Suite: "state", Name: "fresh-equals-upgrade", Status: Pass,
			Message: fmt.Sprintf("%d keys compared, no difference", len(fresh.Snapshot))})
	}
}
