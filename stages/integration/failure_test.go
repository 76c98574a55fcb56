package integration_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/runners"
	"github.com/pipeline-ci/pipeline/stages/integration"
)

// realOutput runs script with the real sh and tools and returns what it
// printed: the failure lines below are picked from real tools' words.
func realOutput(t *testing.T, script string) (stdout, stderr string) {
	t.Helper()
	var o, e strings.Builder
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err == nil {
		t.Fatalf("%s: want a failure", script)
	}
	return o.String(), e.String()
}

// The line a failed step is summed up by names the cause, taken from the
// real tools' real output.
func TestFailureLineFromRealTools(t *testing.T) {
	testutil.NeedTool(t, "apt-get")
	dir := t.TempDir()
	for _, tc := range []struct{ name, script, want string }{
		// apt-get says "is only available from another source" last on
		// stdout; the cause is on stderr.
		{"apt missing version", "apt-get install -s -q coreutils=0.9.0",
			"E: Version '0.9.0' for 'coreutils' was not found"},
		// A script that fails on a real cp, then a later complaint about
		// it: the first error line wins.
		{"cp cannot stat", "set -e; echo 'Setting up kioskos (1.1.0) ...'; trap 'echo \"dpkg: error: processing package kioskos (--configure)\" >&2' EXIT; cp " + dir + "/site.conf.orig " + dir + "/site.conf",
			"cp: cannot stat '" + dir + "/site.conf.orig': No such file or directory"},
		// As apt runs a failing postinst: dpkg's output, the script's
		// error included, on stdout; apt's wrapper line on stderr. (The
		// real apt and dpkg: TestApplianceBadChangeUpgradeOnly.)
		{"postinst via apt", "echo 'Setting up kioskos (1.1.0) ...'; cp " + dir + "/site.conf.orig " + dir + "/site.conf 2>&1; " +
			"echo 'Errors were encountered while processing:'; echo ' kioskos'; echo 'E: Sub-process /usr/bin/dpkg returned an error code (1)' >&2; exit 100",
			"cp: cannot stat '" + dir + "/site.conf.orig': No such file or directory"},
		// Nothing that reads as an error: the last words on stderr.
		{"last stderr line", "echo working; echo 'first words' >&2; echo 'last words' >&2; exit 3", "last words"},
		// Nothing on stderr at all: stdout's last line.
		{"stdout only", "echo one; echo 'two'; echo; exit 1", "two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr := realOutput(t, tc.script)
			if got := integration.FailureLine(stdout, stderr); got != tc.want {
				t.Errorf("FailureLine = %q, want %q\nstdout:\n%s\nstderr:\n%s", got, tc.want, stdout, stderr)
			}
		})
	}
	if got := integration.FailureLine("", "\n"); got != "" {
		t.Errorf("no output: %q", got)
	}
}

// localPlan is a plan on the CI host itself (the local runner), with one
// suite of two checks and a log file that already has three lines.
func localPlan(t *testing.T, scenarios ...string) (*integration.Plan, string) {
	t.Helper()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logFile, []byte("started\nerror: an old line, before provisioning\nready\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	suite, err := integration.ParseSuite("suites/web.yaml", []byte(`checks:
  - id: shell-works
    command: {run: "true"}
  - id: marker
    file: {path: `+filepath.Join(dir, "marker")+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	return &integration.Plan{
		Suites:  []*integration.Suite{suite},
		Version: "1.1.0", Previous: "1.0.0",
		Provision: "echo provisioned",
		Logs: integration.LogSpec{Files: []string{logFile}, Context: 1,
			Patterns: []*regexp.Regexp{regexp.MustCompile(`(?i)\berror\b`)}},
		ProvisionTimeout: time.Minute, CheckTimeout: 30 * time.Second, Parallel: 1,
		Targets: []integration.Target{{Name: "host", Kind: "local",
			Runner: &runners.Local{Name: "host", ResetCommand: "true"}, Scenarios: scenarios}},
	}, logFile
}

// cases returns "suite.target.phase name status: message" of every case.
func cases(tr *integration.TargetRun) []string {
	var out []string
	for _, c := range tr.Cases {
		out = append(out, c.Classname()+" "+c.Name+" "+string(c.Status)+": "+c.Message)
	}
	return out
}

// A failed setup step: its case names the real cause (a real cp), the
// suites are listed as skipped, and the log scan still runs, numbering
// lines from the file's first line.
func TestFailedSetupSkipsSuitesAndScansLogs(t *testing.T) {
	p, logFile := localPlan(t, integration.Fresh)
	missing := filepath.Join(filepath.Dir(logFile), "site.conf.orig")
	p.Setup = "echo 'kiosk: ERROR config missing' >> " + logFile + "\necho copying\ncp " + missing + " /nonexistent/site.conf"
	runs := integration.Execute(context.Background(), p)
	got := cases(runs[0])
	want := []string{
		"provision.host.fresh setup failed: setup exited 1: cp: cannot stat '" + missing + "': No such file or directory",
		"web.host.fresh shell-works skipped: not run: setup failed",
		"web.host.fresh marker skipped: not run: setup failed",
		"logs.host.fresh " + logFile + ":4 failed: " + logFile + ":4: kiosk: ERROR config missing",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("cases:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if sc := runs[0].Scenarios[0]; sc.Infra != "" || sc.Snapshot != nil {
		t.Errorf("scenario: infra %q, snapshot %v: want neither after a failed setup", sc.Infra, sc.Snapshot)
	}
}

// A failed base step (UPGRADE: the production version): the real apt-get's
// cause, the suites skipped, the log scan run; the diff is skipped.
func TestFailedBaseSkipsSuitesAndScansLogs(t *testing.T) {
	testutil.NeedTool(t, "apt-get")
	p, logFile := localPlan(t, integration.Fresh, integration.Upgrade)
	// On FRESH the base step does not run; on UPGRADE it asks apt for a
	// version no repository has (-s: simulate, nothing changes).
	p.Base = "echo 'apt: error: no such version' >> " + logFile + "\napt-get install -s -q coreutils=0.9.0"
	p.Provision = "touch " + filepath.Join(filepath.Dir(logFile), "marker")
	runs := integration.Execute(context.Background(), p)
	got := cases(runs[0])
	owner, _ := exec.Command("stat", "-c", "%a %U:%G", filepath.Join(filepath.Dir(logFile), "marker")).Output()
	want := []string{
		"provision.host.fresh provision passed: ",
		"web.host.fresh shell-works passed: exit 0",
		"web.host.fresh marker passed: " + filepath.Join(filepath.Dir(logFile), "marker") + ": file " + strings.TrimSpace(string(owner)),
		"logs.host.fresh no-errors passed: scanned " + logFile,
		"provision.host.upgrade base failed: base exited 100: E: Version '0.9.0' for 'coreutils' was not found",
		"web.host.upgrade shell-works skipped: not run: base failed",
		"web.host.upgrade marker skipped: not run: base failed",
		"logs.host.upgrade " + logFile + ":4 failed: " + logFile + ":4: apt: error: no such version",
		"state.host.diff fresh-equals-upgrade skipped: not compared: a scenario did not finish",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("cases:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The mark and collect scripts, run by the real sh on a real file, number
// a hit from the file's first line, also when the mark fell mid-line.
func TestLogScanLineFromFilesFirstLine(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "syslog")
	os.WriteFile(f, []byte("one\ntwo\nerror: three, before the mark\nfour, half"), 0o644)
	spec := integration.LogSpec{Files: []string{filepath.Join(dir, "*")},
		Patterns: []*regexp.Regexp{regexp.MustCompile(`\berror\b`)}}
	sh := func(script string) string {
		out, err := exec.Command("/bin/sh", "-c", script).Output()
		if err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		return string(out)
	}
	mark := integration.ParseLogMark(sh(integration.LogMarkScript(spec)))
	fh, _ := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(" done\nsix\nseven: error here\n")
	fh.Close()
	logs := integration.ParseLogCollect(sh(integration.LogCollectScript(spec, mark)))
	hits := integration.ScanLogs(logs, spec, mark)
	want, _ := exec.Command("grep", "-n", "seven", f).Output() // "6:seven: error here"
	if len(hits) != 1 || hits[0].Source != f || hits[0].Line != 6 || !strings.HasPrefix(string(want), "6:") {
		t.Fatalf("hits %+v (grep -n: %s)", hits, want)
	}
}
