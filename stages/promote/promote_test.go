package promote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages"
)

// The tests below run the stage on real git repositories: a bare origin,
// a developer clone that pushes commits to staging, and a CI clone where
// promote runs. The build verification test is a shell script that judges
// the checked-out tree by marker files:
//
//	*.broken            fail (exit 1)
//	*.untestable        cannot test (exit 125)
//	a.half and b.half   fail only together
//	flaky               fail on the first run of each tree, pass after
//
// and logs the tree it tested, so the tests can check that every tree
// master ever pointed to was tested first.
const probeScript = `#!/bin/sh
log="$1"; flaky="$2"
tree=$(git rev-parse 'HEAD^{tree}')
echo "$tree" >> "$log"
echo "probe at $(git rev-parse --short HEAD) tree $tree"
if ls *.untestable >/dev/null 2>&1; then echo "cannot test this tree"; exit 125; fi
if [ -e a.half ] && [ -e b.half ]; then echo "FAIL: a.half and b.half together"; exit 1; fi
for f in *.broken; do
	if [ -e "$f" ]; then echo "some output"; echo "FAIL: $f is present"; exit 1; fi
done
if [ -e flaky ] && ! grep -q "$tree" "$flaky" 2>/dev/null; then
	echo "$tree" >> "$flaky"; echo "FAIL: flaky"; exit 1
fi
echo ok
`

type fixture struct {
	t       *testing.T
	dir     string
	origin  string
	dev     *gitops.Git
	ci      string
	probes  string // file the probe appends each tested tree to
	test    string // promote.test
	commits []string
	n       int
}

var devEnv = []string{
	"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
	"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
	"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z",
	"GIT_CONFIG_NOSYSTEM=1",
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	testutil.NeedTool(t, "git")
	// Every fixture is its own set of repositories and worktrees: the
	// tests share nothing and run side by side.
	t.Parallel()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, origin: filepath.Join(dir, "origin.git"), probes: filepath.Join(dir, "probes.log")}
	script := filepath.Join(dir, "probe.sh")
	if err := os.WriteFile(script, []byte(probeScript), 0o755); err != nil {
		t.Fatal(err)
	}
	f.test = fmt.Sprintf("sh %s %s %s", script, f.probes, filepath.Join(dir, "flaky.seen"))
	f.git(dir, "init", "--quiet", "--bare", "--initial-branch=master", f.origin)
	// The origin's reflog records every value master ever had.
	f.git(f.origin, "config", "core.logAllRefUpdates", "always")
	f.dev = &gitops.Git{Dir: filepath.Join(dir, "dev"), Env: devEnv}
	f.git(dir, "clone", "--quiet", f.origin, f.dev.Dir)
	f.write("README", "appliance\n")
	f.write("shared.txt", "one\ntwo\nthree\n")
	f.commitAll("initial")
	f.git(f.dev.Dir, "push", "--quiet", "origin", "HEAD:refs/heads/master", "HEAD:refs/heads/staging")
	f.git(f.dev.Dir, "checkout", "--quiet", "-B", "staging")
	f.ci = filepath.Join(dir, "ci")
	f.git(dir, "clone", "--quiet", f.origin, f.ci)
	return f
}

// copyFor makes an independent copy of the fixture's repositories for
// another test (a copy is much cheaper than making the history again).
func (f *fixture) copyFor(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", f.dir+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy fixture: %v: %s", err, out)
	}
	c := *f
	c.t, c.dir = t, dir
	re := func(p string) string { return filepath.Join(dir, strings.TrimPrefix(p, f.dir)) }
	c.origin, c.ci, c.probes = re(f.origin), re(f.ci), re(f.probes)
	c.dev = &gitops.Git{Dir: re(f.dev.Dir), Env: devEnv}
	c.test = strings.ReplaceAll(f.test, f.dir, dir)
	c.commits = append([]string(nil), f.commits...)
	for _, d := range []string{c.ci, c.dev.Dir} {
		c.git(d, "remote", "set-url", "origin", c.origin)
	}
	return &c
}

func (f *fixture) git(dir string, args ...string) string {
	f.t.Helper()
	g := &gitops.Git{Dir: dir, Env: devEnv}
	out, err := g.Run(context.Background(), args...)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) write(name, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dev.Dir, name), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) commitAll(msg string) string {
	f.t.Helper()
	f.git(f.dev.Dir, "add", "--all")
	f.git(f.dev.Dir, "commit", "--quiet", "-m", msg)
	return f.git(f.dev.Dir, "rev-parse", "HEAD")
}

// commit adds a commit to staging that creates its own file plus the
// given marker files (name → content; "" content deletes the file).
func (f *fixture) commit(markers ...string) string {
	f.t.Helper()
	f.n++
	f.write(fmt.Sprintf("f%02d.txt", f.n), fmt.Sprintf("change %d\n", f.n))
	for _, m := range markers {
		name, content, _ := strings.Cut(m, "=")
		if content == "-" {
			f.git(f.dev.Dir, "rm", "--quiet", name)
			continue
		}
		if content == "" {
			content = "marker\n"
		}
		f.write(name, content)
	}
	sha := f.commitAll(fmt.Sprintf("change %d %s", f.n, strings.Join(markers, " ")))
	f.commits = append(f.commits, sha)
	return sha
}

func (f *fixture) pushStaging() {
	f.t.Helper()
	f.git(f.dev.Dir, "push", "--quiet", "origin", "staging")
}

type runOpts struct {
	mutate func(*config.Promote)
	hook   func(string) error
	dryRun bool
	repo   string
}

// promote runs the stage in the CI clone and returns its report.
func (f *fixture) promote(o runOpts) (*Report, error) {
	f.t.Helper()
	cfg := config.Default()
	cfg.Promote.Test = f.test
	cfg.Promote.Workdir = filepath.Join(f.dir, "work-"+filepath.Base(f.repoOf(o)))
	if o.mutate != nil {
		o.mutate(&cfg.Promote)
	}
	var logBuf bytes.Buffer
	log, err := logging.New(&syncWriter{w: &logBuf}, logging.Options{Level: "debug"}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	env := &stages.Env{
		Repo: f.repoOf(o), Config: cfg, CI: ci.Context{Provider: ci.Terminal},
		Log: log, Report: &report.Dir{Path: filepath.Join(f.dir, "reports")}, Forge: gitops.None{}, DryRun: o.dryRun,
	}
	s := New()
	s.AfterStep = o.hook
	res, err := s.Run(context.Background(), env)
	f.t.Cleanup(func() {
		if f.t.Failed() {
			f.t.Logf("promote log:\n%s", logBuf.String())
		}
	})
	if res == nil {
		return nil, err
	}
	return res.Data.(*Report), err
}

func (f *fixture) repoOf(o runOpts) string {
	if o.repo != "" {
		return o.repo
	}
	return f.ci
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// masterPromoted returns, oldest first, the last Promoted-from trailer of every
// commit on origin's master.
func (f *fixture) masterPromoted() []string {
	f.t.Helper()
	out := f.git(f.origin, "log", "--reverse", "--format=%(trailers:key=Promoted-from,valueonly,separator=%x2C)", "master")
	var shas []string
	for _, l := range strings.Split(out, "\n") {
		// The last one is promote's (a developer's message may carry
		// its own, see Provenance).
		if vals := strings.Split(strings.TrimSpace(l), ","); vals[len(vals)-1] != "" {
			shas = append(shas, vals[len(vals)-1])
		}
	}
	return shas
}

// check asserts what master holds and the state of every candidate, and
// the invariants every run must keep: no pick twice, every value master
// ever had was a tested tree, -x and Promoted-from on every pick.
func (f *fixture) check(rep *Report, want map[int]State) {
	f.t.Helper()
	var wantOnMaster []string
	for i, sha := range f.commits {
		st, ok := want[i]
		if !ok {
			st = Promoted
		}
		if st == Promoted {
			wantOnMaster = append(wantOnMaster, sha)
		}
		if rep != nil {
			found := false
			for _, c := range rep.Candidates {
				if c.SHA == sha {
					found = true
					if c.State != st {
						f.t.Errorf("commit %d (%s): %s, want %s (%s)", i, short(sha), c.State, st, c.Reason)
					}
				}
			}
			if !found && st != Promoted {
				f.t.Errorf("commit %d (%s) is not a candidate; want %s", i, short(sha), st)
			}
		}
	}
	got := f.masterPromoted()
	if strings.Join(got, " ") != strings.Join(wantOnMaster, " ") {
		f.t.Errorf("master holds %v\nwant          %v", shorts(got), shorts(wantOnMaster))
	}
	f.checkInvariants()
}

func (f *fixture) checkInvariants() {
	f.t.Helper()
	seen := map[string]bool{}
	for _, s := range f.masterPromoted() {
		if seen[s] {
			f.t.Errorf("%s was picked onto master twice", short(s))
		}
		seen[s] = true
	}
	msgs := f.git(f.origin, "log", "--format=%B%x00", "master")
	for _, m := range strings.Split(msgs, "\x00") {
		if strings.Contains(m, "Promoted-from:") && !strings.Contains(m, "(cherry picked from commit") {
			f.t.Errorf("a promoted commit lacks the -x line:\n%s", m)
		}
	}
	tested := map[string]bool{}
	if b, err := os.ReadFile(f.probes); err == nil {
		for _, l := range strings.Fields(string(b)) {
			tested[l] = true
		}
	}
	values := strings.Fields(f.git(f.origin, "reflog", "--format=%H", "master"))
	first := f.git(f.origin, "rev-list", "--max-parents=0", "master")
	for _, v := range values {
		if v == first {
			continue
		}
		tree := f.git(f.origin, "rev-parse", v+"^{tree}")
		if !tested[tree] {
			f.t.Errorf("master was at %s, whose tree %s was never tested", short(v), short(tree))
		}
	}
}

func shorts(shas []string) []string {
	out := make([]string, len(shas))
	for i, s := range shas {
		out[i] = short(s)
	}
	return out
}

func (f *fixture) probeCount() int {
	b, _ := os.ReadFile(f.probes)
	return len(strings.Fields(string(b)))
}

func TestAllPass(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 4; i++ {
		f.commit()
	}
	f.pushStaging()
	rep, err := f.promote(runOpts{})
	if err != nil {
		t.Fatal(err)
	}
	f.check(rep, nil)
	if len(rep.Probes) != 1 || f.probeCount() != 1 {
		t.Errorf("%d probes, want 1 (the whole batch)", len(rep.Probes))
	}
	// The pushed tree is staging's tree, exactly.
	if a, b := f.git(f.origin, "rev-parse", "master^{tree}"), f.git(f.origin, "rev-parse", "staging^{tree}"); a != b {
		t.Errorf("master tree %s != staging tree %s", a, b)
	}
	// Authorship is the developer's.
	if a := f.git(f.origin, "log", "-1", "--format=%an <%ae>", "master"); a != "Dev <dev@example.com>" {
		t.Errorf("author of the pick: %s", a)
	}
	if rep.MasterAfter != f.git(f.origin, "rev-parse", "master") {
		t.Errorf("report says master is %s", rep.MasterAfter)
	}

	// Nothing more to promote: a re-run tests nothing and changes nothing.
	before := f.git(f.origin, "rev-parse", "master")
	rep, err = f.promote(runOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Candidates) != 0 || len(rep.Probes) != 0 {
		t.Errorf("re-run: %d candidates, %d probes; want none", len(rep.Candidates), len(rep.Probes))
	}
	if after := f.git(f.origin, "rev-parse", "master"); after != before {
		t.Errorf("re-run moved master")
	}
	if r := rep.result(); r.Outcome != stages.NoChange {
		t.Errorf("outcome %s, want %s", r.Outcome, stages.NoChange)
	}
}

func TestNothingToPromote(t *testing.T) {
	f := newFixture(t)
	rep, err := f.promote(runOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Candidates) != 0 || f.probeCount() != 0 {
		t.Fatalf("candidates %d, probes %d", len(rep.Candidates), f.probeCount())
	}
}

func TestOneCulprit(t *testing.T) {
	for _, pos := range []int{0, 3, 6} {
		t.Run(fmt.Sprintf("at %d of 7", pos), func(t *testing.T) {
			f := newFixture(t)
			for i := 0; i < 7; i++ {
				if i == pos {
					f.commit("x.broken")
				} else {
					f.commit()
				}
			}
			f.pushStaging()
			rep, err := f.promote(runOpts{})
			if errs.KindOf(err) != errs.Failure {
				t.Fatalf("err = %v, want a failure (exit 1)", err)
			}
			f.check(rep, map[int]State{pos: Culprit})
			// Cost: 1 + k·(⌈log2 n⌉ + 1) probes, plus retries and confirmations.
			if got, bound := countReason(rep, ReasonBatch, ReasonSearch), 1+1*(3+1); got > bound {
				t.Errorf("%d probes besides retries and confirmations, bound %d", got, bound)
			}
			if c := rep.Candidates[pos]; !strings.Contains(c.OutputTail, "FAIL: x.broken is present") || c.ExitCode != 1 {
				t.Errorf("culprit output tail %q exit %d", c.OutputTail, c.ExitCode)
			}
			// The report files are there.
			for _, name := range []string{"junit-promote.xml", "promote.json"} {
				if _, err := os.Stat(filepath.Join(f.dir, "reports", name)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func countReason(rep *Report, reasons ...Reason) int {
	n := 0
	for _, p := range rep.Probes {
		for _, r := range reasons {
			if p.Reason == r {
				n++
			}
		}
	}
	return n
}

func TestSeveralCulprits(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 8; i++ {
		switch i {
		case 1:
			f.commit("one.broken")
		case 5:
			f.commit("two.broken")
		default:
			f.commit()
		}
	}
	f.pushStaging()
	rep, err := f.promote(runOpts{})
	if errs.KindOf(err) != errs.Failure {
		t.Fatalf("err = %v, want a failure", err)
	}
	f.check(rep, map[int]State{1: Culprit, 5: Culprit})
	if rep.Batches != 3 {
		t.Errorf("%d batches, want 3", rep.Batches)
	}
	if len(rep.Landings) != 3 {
		t.Errorf("%d landings, want 3 (before each culprit and the rest)", len(rep.Landings))
	}
}

func TestFailsOnlyWithALaterCommit(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 6; i++ {
		switch i {
		case 1:
			f.commit("a.half")
		case 4:
			f.commit("b.half")
		default:
			f.commit()
		}
	}
	f.pushStaging()
	rep, err := f.promote(runOpts{})
	if errs.KindOf(err) != errs.Failure {
		t.Fatalf("err = %v", err)
	}
	// a.half alone passes and is promoted; b.half is the first tree that fails.
	f.check(rep, map[int]State{4: Culprit})
}

func TestConflictWithoutCulprit(t *testing.T) {
	f := newFixture(t)
	f.commit()
	f.commit("x.broken", "shared.txt=one\nTWO\nthree\n") // culprit, edits shared.txt
	f.commit()                                           //
	f.commit("shared.txt=one\nTWO, really\nthree\n")     // builds on the culprit's edit
	f.commit()                                           //
	rep, err := func() (*Report, error) { f.pushStaging(); return f.promote(runOpts{}) }()
	if errs.KindOf(err) != errs.Failure {
		t.Fatalf("err = %v", err)
	}
	f.check(rep, map[int]State{1: Culprit, 3: Blocked})
	if b := rep.Candidates[3]; b.BlockedBy != f.commits[1] || len(b.ConflictFiles) != 1 || b.ConflictFiles[0] != "shared.txt" {
		t.Errorf("blocked candidate: %+v", b)
	}
}

func TestExit125Skips(t *testing.T) {
	f := newFixture(t)
	// Commits 2..5 cannot be tested (an untestable tree from 2 until 5
	// removes it); 4 breaks. The first failure is one of 2..5 and nobody can
	// say which: all four are suspects, 0 and 1 land, 6 is tested without
	// them and lands.
	f.commit()
	f.commit()
	f.commit("u.untestable")
	f.commit()
	f.commit("x.broken")
	f.commit("u.untestable=-")
	f.commit()
	f.pushStaging()
	rep, err := f.promote(runOpts{})
	if errs.KindOf(err) != errs.Failure {
		t.Fatalf("err = %v", err)
	}
	f.check(rep, map[int]State{2: Suspect, 3: Suspect, 4: Suspect, 5: Suspect})
	if countVerdict(rep, Skip) == 0 {
		t.Error("no probe was skipped")
	}
}

func countVerdict(rep *Report, v Verdict) int {
	n := 0
	for _, p := range rep.Probes {
		if p.Verdict == v {
			n++
		}
	}
	return n
}

func TestExit125SteppedAround(t *testing.T) {
	f := newFixture(t)
	// Only the tree ending in commit 3 is untestable; the culprit is 5.
	f.commit()
	f.commit()
	f.commit()
	f.commit("u.untestable")
	f.commit("u.untestable=-")
	f.commit("x.broken")
	f.commit()
	f.commit()
	f.pushStaging()
	rep, err := f.promote(runOpts{})
	if errs.KindOf(err) != errs.Failure {
		t.Fatalf("err = %v", err)
	}
	f.check(rep, map[int]State{5: Culprit})
	if countVerdict(rep, Skip) != 1 {
		t.Errorf("%d skipped probes, want 1", countVerdict(rep, Skip))
	}
}

func TestFlakyProbe(t *testing.T) {
	for _, retries := range []int{0, 1} {
		t.Run(fmt.Sprintf("retries %d", retries), func(t *testing.T) {
			f := newFixture(t)
			f.commit()
			f.commit("flaky")
			f.commit()
			f.commit()
			f.pushStaging()
			rep, err := f.promote(runOpts{mutate: func(p *config.Promote) { p.Retries = retries }})
			if err != nil {
				t.Fatal(err)
			}
			// Every tree holding "flaky" fails once, then passes: nothing
			// is blamed, everything lands — with retries by the retry,
			// without by the culprit's confirmation.
			f.check(rep, nil)
			if retries == 1 && len(rep.Probes) != 2 {
				t.Errorf("%d probes, want 2 (the batch and its retry)", len(rep.Probes))
			}
		})
	}
}

func TestParallelProbes(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 16; i++ {
		if i == 11 {
			f.commit("x.broken")
		} else {
			f.commit()
		}
	}
	f.pushStaging()
	rep, err := f.promote(runOpts{mutate: func(p *config.Promote) { p.Parallel = 3 }})
	if errs.KindOf(err) != errs.Failure {
		t.Fatalf("err = %v", err)
	}
	f.check(rep, map[int]State{11: Culprit})
	// ⌈log_4 16⌉ = 2 rounds of search.
	if rep.SearchRounds[0] > 2 {
		t.Errorf("first search took %d rounds, want ≤ 2", rep.SearchRounds[0])
	}
}

func TestDryRunPushesNothing(t *testing.T) {
	f := newFixture(t)
	f.commit()
	f.commit("x.broken")
	f.commit()
	f.pushStaging()
	before := f.git(f.origin, "rev-parse", "master")
	rep, err := f.promote(runOpts{dryRun: true})
	if errs.KindOf(err) != errs.Failure {
		t.Fatalf("err = %v", err)
	}
	if after := f.git(f.origin, "rev-parse", "master"); after != before {
		t.Fatal("--dry-run moved master")
	}
	if len(rep.Landings) != 2 || rep.Landings[0].Pushed {
		t.Errorf("landings %+v: want two, not pushed", rep.Landings)
	}
	if rep.Candidates[0].State != Promoted || rep.Candidates[1].State != Culprit {
		t.Errorf("states %s %s", rep.Candidates[0].State, rep.Candidates[1].State)
	}
	for _, a := range rep.Forge {
		if a.Result != "dry-run" {
			t.Errorf("forge action under --dry-run: %+v", a)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "reports", "promote.json")); err == nil {
		t.Error("--dry-run wrote promote.json")
	}
}

func TestKilledProbeIsInfrastructure(t *testing.T) {
	f := newFixture(t)
	f.commit()
	f.pushStaging()
	before := f.git(f.origin, "rev-parse", "master")
	_, err := f.promote(runOpts{mutate: func(p *config.Promote) { p.Test = "kill -9 $$" }})
	if errs.KindOf(err) != errs.Infra {
		t.Fatalf("err = %v, want an infrastructure error", err)
	}
	_, err = f.promote(runOpts{mutate: func(p *config.Promote) { p.Test = "sleep 5"; p.Timeout = config.Duration(200e6) }})
	if errs.KindOf(err) != errs.Infra || !strings.Contains(errs.Format(err), "timed out") {
		t.Fatalf("err = %v, want a timeout (infrastructure)", err)
	}
	if after := f.git(f.origin, "rev-parse", "master"); after != before {
		t.Fatal("master moved without a verdict")
	}
}

// killScenario is the history the kill-and-rerun tests use: a culprit, a
// commit blocked without it, and commits on both sides.
func killScenario(f *fixture) {
	f.commit()
	f.commit("x.broken", "shared.txt=one\nTWO\nthree\n")
	f.commit()
	f.commit("shared.txt=one\nTWO, really\nthree\n")
	f.commit()
	f.pushStaging()
}

// killOpts: two probes a round and no retries keep the number of steps
// (and so of kill points) small.
func killOpts(p *config.Promote) { p.Parallel, p.Retries = 2, 0 }

var errKilled = errors.New("killed by the test")

// TestKillAndRerunAtEveryStep stops a run after step i, for every i, and
// checks that a clean re-run ends with the same master as an uninterrupted
// run, with no pick twice and no untested tree ever on master.
func TestKillAndRerunAtEveryStep(t *testing.T) {
	pristine := newFixture(t)
	killScenario(pristine)
	ref := pristine.copyFor(t)
	var steps []string
	if _, err := ref.promote(runOpts{mutate: killOpts, hook: func(s string) error { steps = append(steps, s); return nil }}); errs.KindOf(err) != errs.Failure {
		t.Fatalf("reference run: %v", err)
	}
	wantTree := ref.git(ref.origin, "rev-parse", "master^{tree}")
	wantPromoted := strings.Join(ref.masterPromoted(), " ")
	if len(steps) < 6 {
		t.Fatalf("only %d steps: %v", len(steps), steps)
	}
	for i := range steps {
		t.Run(fmt.Sprintf("after %s", steps[i]), func(t *testing.T) {
			t.Parallel() // each has its own copy of the repositories
			f := pristine.copyFor(t)
			k := 0
			_, err := f.promote(runOpts{mutate: killOpts, hook: func(s string) error {
				if k == i {
					return errKilled
				}
				k++
				return nil
			}})
			if !errors.Is(err, errKilled) {
				t.Fatalf("run was not stopped: %v", err)
			}
			f.checkInvariants()
			// A real kill also leaves worktrees behind, dirty: the re-run
			// must not test what is in them.
			stale := filepath.Join(f.dir, "work-ci", "probe-1")
			if _, err := os.Stat(stale); err != nil {
				// As a run killed after making it would leave it: marked.
				f.git(f.ci, "worktree", "add", "--quiet", "--detach", "--force", stale, "HEAD")
				if err := os.WriteFile(filepath.Join(f.dir, "work-ci", workdirMarker), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(stale, "left.broken"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := f.promote(runOpts{mutate: killOpts})
			if errs.KindOf(err) != errs.Failure {
				t.Fatalf("re-run: %v", err)
			}
			f.check(rep, map[int]State{1: Culprit, 3: Blocked})
			if got := f.git(f.origin, "rev-parse", "master^{tree}"); got != wantTree {
				t.Errorf("master tree %s after kill+rerun, %s without the kill", short(got), short(wantTree))
			}
			if got := strings.Join(f.masterPromoted(), " "); got != wantPromoted {
				t.Errorf("master holds %s\nwant %s", got, wantPromoted)
			}
		})
	}
}

// TestConcurrentRuns: a second run pushes while the first is testing; the
// first's push is refused and it starts over from the new master.
func TestConcurrentRuns(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		f.commit()
	}
	f.pushStaging()
	other := filepath.Join(f.dir, "ci2")
	f.git(f.dir, "clone", "--quiet", f.origin, other)
	ran := false
	rep, err := f.promote(runOpts{hook: func(s string) error {
		if s == "round 1" && !ran {
			ran = true
			// Meanwhile, another promote job (and a new staging commit).
			f.commit()
			f.pushStaging()
			if _, err := f.promote(runOpts{repo: other}); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Attempt != 2 {
		t.Errorf("attempt %d, want 2 (one start over)", rep.Attempt)
	}
	f.check(nil, nil)

	// And truly at once: two jobs racing on new commits.
	for i := 0; i < 4; i++ {
		f.commit()
	}
	f.pushStaging()
	var wg sync.WaitGroup
	errsOf := make([]error, 2)
	for k, repo := range []string{f.ci, other} {
		wg.Add(1)
		go func(k int, repo string) {
			defer wg.Done()
			_, errsOf[k] = f.promote(runOpts{repo: repo})
		}(k, repo)
	}
	wg.Wait()
	for _, err := range errsOf {
		if err != nil {
			t.Error(err)
		}
	}
	f.check(nil, nil)
}

func TestShallowClone(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		f.commit()
	}
	f.pushStaging()
	// Promote the first five from a full clone, so that master has picks
	// to recognise; then 22 more, beyond the depth a CI clone fetches.
	if _, err := f.promote(runOpts{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 22; i++ {
		if i == 17 {
			f.commit("x.broken")
		} else {
			f.commit()
		}
	}
	f.pushStaging()
	shallow := filepath.Join(f.dir, "shallow")
	f.git(f.dir, "clone", "--quiet", "--depth=1", "--branch=master", "file://"+f.origin, shallow)
	if f.git(shallow, "rev-parse", "--is-shallow-repository") != "true" {
		t.Fatal("clone is not shallow")
	}
	rep, err := f.promote(runOpts{repo: shallow})
	if errs.KindOf(err) != errs.Failure {
		t.Fatalf("err = %v", err)
	}
	if len(rep.Candidates) != 22 {
		t.Errorf("%d candidates from the shallow clone, want 22", len(rep.Candidates))
	}
	f.check(rep, map[int]State{22: Culprit})
}

// TestProbeRunsInSubdir: with --repo a subdirectory of the repository (the
// project's pipeline.yaml lives there), the test runs in that directory of
// each probe worktree.
func TestProbeRunsInSubdir(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(filepath.Join(f.dev.Dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.commit("sub/keep.txt")
	f.commit()
	f.pushStaging()
	if err := os.MkdirAll(filepath.Join(f.ci, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	rep, err := f.promote(runOpts{repo: filepath.Join(f.ci, "sub"), mutate: func(p *config.Promote) {
		p.Test = "git rev-parse 'HEAD^{tree}' >> " + f.probes + " && test -e keep.txt"
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.check(rep, nil)
}

// TestMergeCommitOnStaging: an MR merged into staging with a merge commit
// is one candidate, picked against its first parent.
func TestMergeCommitOnStaging(t *testing.T) {
	f := newFixture(t)
	f.commit()
	f.git(f.dev.Dir, "checkout", "--quiet", "-b", "feature")
	f.write("feature.txt", "feature\n")
	f.commitAll("feature work")
	f.write("feature2.txt", "more\n")
	f.commitAll("more feature work")
	f.git(f.dev.Dir, "checkout", "--quiet", "staging")
	f.git(f.dev.Dir, "merge", "--quiet", "--no-ff", "-m", "Merge branch 'feature'", "feature")
	f.commits = append(f.commits, f.git(f.dev.Dir, "rev-parse", "HEAD"))
	f.commit()
	f.pushStaging()
	rep, err := f.promote(runOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Candidates) != 3 || !rep.Candidates[1].Merge {
		t.Fatalf("candidates %+v: want 3, the middle one a merge", rep.Candidates)
	}
	f.check(rep, nil)
	if a, b := f.git(f.origin, "rev-parse", "master^{tree}"), f.git(f.origin, "rev-parse", "staging^{tree}"); a != b {
		t.Errorf("master tree %s != staging tree %s", a, b)
	}
	if rep, _ := f.promote(runOpts{}); len(rep.Candidates) != 0 {
		t.Errorf("re-run found %d candidates", len(rep.Candidates))
	}
}

// TestAlreadyOnMaster: a change a hotfix already made on master (with a
// different patch, so git cherry does not see it) is recorded as promoted
// with an empty pick, so no run tries it again.
func TestAlreadyOnMaster(t *testing.T) {
	f := newFixture(t)
	f.write("fix.txt", "fixed\n")
	f.commits = append(f.commits, f.commitAll("fix"))
	f.commit()
	f.pushStaging()
	// The hotfix on master: the same fix.txt, plus more.
	hot := filepath.Join(f.dir, "hot")
	f.git(f.dir, "clone", "--quiet", "--branch=master", f.origin, hot)
	for name, content := range map[string]string{"fix.txt": "fixed\n", "hotfix-note.txt": "why\n"} {
		if err := os.WriteFile(filepath.Join(hot, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.git(hot, "add", "--all")
	f.git(hot, "commit", "--quiet", "-m", "hotfix")
	f.git(hot, "push", "--quiet", "origin", "master")
	// The hotfix tree was tested by someone else: record it as tested.
	if err := os.WriteFile(f.probes, []byte(f.git(hot, "rev-parse", "HEAD^{tree}")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := f.promote(runOpts{})
	if err != nil {
		t.Fatal(err)
	}
	f.check(rep, nil)
	if files := f.git(f.origin, "diff-tree", "--no-commit-id", "--name-only", "-r", rep.Candidates[0].PromotedAs); files != "" {
		t.Errorf("the pick of the fix already on master changed %q; want an empty commit", files)
	}
	if rep, _ := f.promote(runOpts{}); len(rep.Candidates) != 0 {
		t.Errorf("re-run found %d candidates", len(rep.Candidates))
	}
}

// TestSameCloneIsLocked: a second run in the same clone while one is
// testing stops at once with a clear error instead of sharing worktrees.
func TestSameCloneIsLocked(t *testing.T) {
	f := newFixture(t)
	f.commit()
	f.pushStaging()
	var inner error
	_, err := f.promote(runOpts{hook: func(s string) error {
		if s == "round 1" {
			_, inner = f.promote(runOpts{})
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if errs.KindOf(inner) != errs.Usage || !strings.Contains(inner.Error(), "another pipeline promote is running") {
		t.Fatalf("second run: %v", inner)
	}
	f.check(nil, nil)
	// A run that ends leaves neither its worktrees nor its lock file.
	work := filepath.Join(f.dir, "work-"+filepath.Base(f.repoOf(runOpts{})))
	for _, p := range []string{work, work + ".lock"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
}

// TestCloneHooksDoNotTouchPicks: a commit hook in the job's clone that
// refuses every commit does not stop (or change) promote's picks.
func TestCloneHooksDoNotTouchPicks(t *testing.T) {
	f := newFixture(t)
	f.commit()
	f.pushStaging()
	hook := filepath.Join(f.ci, ".git", "hooks", "commit-msg")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho refused >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rep, err := f.promote(runOpts{})
	if err != nil {
		t.Fatal(err)
	}
	f.check(rep, nil)
}
