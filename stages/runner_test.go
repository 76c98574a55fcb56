package stages

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
)

// recorder is a stage that records that it ran and returns what it is told.
type recorder struct {
	name string
	ran  *[]string
	res  *Result
	err  error
}

func (r recorder) Name() string { return r.name }
func (r recorder) Run(ctx context.Context, env *Env) (*Result, error) {
	*r.ran = append(*r.ran, r.name)
	env.Log.Info("working")
	return r.res, r.err
}

func testEnv(t *testing.T) (*Env, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	log, err := logging.New(&buf, logging.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{
		Repo:   t.TempDir(),
		CI:     ci.Context{Provider: ci.Jenkins, SHA: "0123456789abcdef"},
		Log:    log,
		Report: &report.Dir{Path: t.TempDir()},
	}, &buf
}

func TestRunInOrderStopsAtFirstFailure(t *testing.T) {
	env, logBuf := testEnv(t)
	var ran []string
	all := []Stage{
		recorder{name: "build", ran: &ran, res: &Result{Outcome: Passed, Summary: "3 packages", Dotenv: map[string]string{"PIPELINE_LOCK": "abc"}}},
		recorder{name: "template", ran: &ran, res: &Result{Outcome: NoChange, Summary: "inputs unchanged"}},
		recorder{name: "integration", ran: &ran, res: &Result{Outcome: Failed, Summary: "2 suites failed"}, err: errs.Failuref("2 suites failed")},
		recorder{name: "promote", ran: &ran, res: &Result{Outcome: Passed}},
	}
	results, err := Run(context.Background(), env, all, []string{"integration", "build", "promote", "template"})
	if errs.Code(err) != 1 || !strings.HasPrefix(err.Error(), "integration: ") {
		t.Fatalf("err = %v (code %d)", err, errs.Code(err))
	}
	if strings.Join(ran, ",") != "build,template,integration" {
		t.Errorf("ran %v: want the configured order, stopping after integration", ran)
	}
	if len(results) != 3 || results[2].Stage != "integration" || results[2].Outcome != Failed {
		t.Errorf("results = %+v", results)
	}
	env2, err2 := os.ReadFile(filepath.Join(env.Report.Path, report.DotenvFile))
	if err2 != nil || string(env2) != "PIPELINE_LOCK=abc\n" {
		t.Errorf("dotenv = %q, %v", env2, err2)
	}
	log := logBuf.String()
	for _, want := range []string{"stage=build", "commit=01234567", `msg="── pipeline template"`, `msg="2 suites failed" commit=01234567 outcome=failed stage=integration`, `msg="3 packages" commit=01234567 outcome=passed stage=build`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestRunAllWhenNoNames(t *testing.T) {
	env, _ := testEnv(t)
	var ran []string
	all := []Stage{recorder{name: "a", ran: &ran, res: &Result{Outcome: Passed}}, recorder{name: "b", ran: &ran, res: &Result{Outcome: Passed}}}
	if _, err := Run(context.Background(), env, all, nil); err != nil || len(ran) != 2 {
		t.Fatalf("ran %v, err %v", ran, err)
	}
}

func TestUnknownStageIsAUsageError(t *testing.T) {
	env, _ := testEnv(t)
	var ran []string
	_, err := Run(context.Background(), env, []Stage{recorder{name: "build", ran: &ran}}, []string{"biuld"})
	if errs.Code(err) != 2 || !strings.Contains(errs.Format(err), `unknown stage "biuld"`) || !strings.Contains(errs.Format(err), "hint: the stages are build") {
		t.Errorf("err = %v", err)
	}
	if len(ran) != 0 {
		t.Errorf("ran %v after a usage error", ran)
	}
}

func TestNotImplementedSaysSoAndExits2(t *testing.T) {
	env, _ := testEnv(t)
	results, err := Run(context.Background(), env, []Stage{NotImplemented("template")}, nil)
	if errs.Code(err) != 2 || !strings.Contains(errs.Format(err), `stage "template" is not implemented`) {
		t.Fatalf("err = %v", err)
	}
	if len(results) != 1 || results[0].Outcome != Errored || results[0].Stage != "template" {
		t.Errorf("a stage that errored without a result still gets one: %+v", results)
	}
}

func TestErrorKindsGiveOutcomes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Outcome
		code int
	}{
		{errs.Failuref("culprit found"), Failed, 1},
		{errs.Infraf("forge unreachable"), Errored, 3},
		{errors.New("unclassified"), Errored, 3},
	} {
		env, _ := testEnv(t)
		var ran []string
		res, err := RunOne(context.Background(), env, recorder{name: "promote", ran: &ran, err: tc.err})
		if res == nil || res.Outcome != tc.want || errs.Code(err) != tc.code {
			t.Errorf("%v: result %+v, code %d", tc.err, res, errs.Code(err))
		}
	}
}

func TestDryRunWritesNoDotenv(t *testing.T) {
	env, _ := testEnv(t)
	env.DryRun = true
	var ran []string
	if _, err := RunOne(context.Background(), env, recorder{name: "release", ran: &ran,
		res: &Result{Outcome: DryRunned, Dotenv: map[string]string{"PIPELINE_VERSION": "1.4.0"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(env.Report.Path, report.DotenvFile)); !os.IsNotExist(err) {
		t.Errorf("dry run wrote the dotenv file: %v", err)
	}
}

func TestBadDotenvIsReported(t *testing.T) {
	env, _ := testEnv(t)
	var ran []string
	_, err := RunOne(context.Background(), env, recorder{name: "build", ran: &ran,
		res: &Result{Outcome: Passed, Dotenv: map[string]string{"***": "x"}}})
	if err == nil || !strings.Contains(errs.Format(err), "dotenv") {
		t.Errorf("err = %v", err)
	}
}

func TestInterruptedRunStops(t *testing.T) {
	env, _ := testEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var ran []string
	_, err := Run(ctx, env, []Stage{recorder{name: "build", ran: &ran}}, nil)
	if errs.Code(err) != 3 || len(ran) != 0 {
		t.Errorf("err %v, ran %v", err, ran)
	}
}

func TestNilLogIsTolerated(t *testing.T) {
	var ran []string
	env := &Env{Report: &report.Dir{}}
	if _, err := RunOne(context.Background(), env, recorder{name: "x", ran: &ran, res: &Result{Outcome: Passed}}); err != nil {
		t.Fatal(err)
	}
}

// Under a promote probe (PIPELINE_PROMOTE_TREE set) a failed stage is the
// verdict promote asked for: logged as a warning, not an error; anything
// else that goes wrong there is still an error. Outside a probe a failure
// is an error.
func TestFailureUnderPromoteProbeIsNoError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   ci.Env
		err   error
		level string
	}{
		{"probe, tests failed", ci.MapEnv{"PIPELINE_PROMOTE_TREE": "4b825dc6"}, errs.Failuref("0 passed, 4 failed"), "level=warning"},
		{"probe, target unreachable", ci.MapEnv{"PIPELINE_PROMOTE_TREE": "4b825dc6"}, errs.Infraf("ssh: no answer"), "level=error"},
		{"no probe, tests failed", ci.MapEnv{}, errs.Failuref("0 passed, 4 failed"), "level=error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, logBuf := testEnv(t)
			env.CI.Env = tc.env
			var ran []string
			_, err := RunOne(context.Background(), env, recorder{name: "integration", ran: &ran, res: &Result{Outcome: Failed, Summary: "x"}, err: tc.err})
			if err == nil {
				t.Fatal("want the stage's error back")
			}
			var outcome string
			for _, l := range strings.Split(logBuf.String(), "\n") {
				if strings.Contains(l, "outcome=failed") {
					outcome = l
				}
			}
			if !strings.HasPrefix(outcome, tc.level+" ") && !strings.Contains(outcome, " "+tc.level+" ") {
				t.Errorf("outcome line %q: want %s", outcome, tc.level)
			}
			if tc.level == "level=warning" && strings.Contains(logBuf.String(), "level=error") {
				t.Errorf("an error logged under a probe:\n%s", logBuf.String())
			}
		})
	}
}
