package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary be the `pipeline` program that the scripts
// run: the real command line, in a separate process, with real exit codes.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pipeline": func() { os.Exit(pipelineMain()) },
	})
}

// TestScripts runs testdata/script/*.txtar. Besides testscript's own
// commands they have:
//
//	exits N PROG ARGS...   run PROG and require exit code N (stdout and
//	                       stderr are then checked as after exec)
//	jsondoc [PATH=VALUE...] stdout is exactly one JSON document, and each
//	                       dotted PATH (results.0.stage) has VALUE
//	lines-are-json FILE    every non-empty line of stdout/stderr/FILE is JSON
//
// and the condition [xmllint]: the scripts that validate JUnit reports
// start with `[!xmllint] skip 'NOT CHECKED: ...'`; under CI=true a missing
// xmllint fails them instead (a skip is never a pass there).
func TestScripts(t *testing.T) {
	testutil.NeedTool(t, "git")
	testscript.Run(t, testscript.Params{
		Dir:       "testdata/script",
		Condition: toolCondition,
		Setup: func(env *testscript.Env) error {
			// $JUNIT_XSD: the schema the JUnit reports must validate against.
			xsd := filepath.Join(env.WorkDir, "junit.xsd")
			if err := os.WriteFile(xsd, report.JUnitSchema, 0o644); err != nil {
				return err
			}
			env.Setenv("JUNIT_XSD", xsd)
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("GIT_AUTHOR_NAME", "Dev")
			env.Setenv("GIT_AUTHOR_EMAIL", "dev@example.com")
			env.Setenv("GIT_COMMITTER_NAME", "Dev")
			env.Setenv("GIT_COMMITTER_EMAIL", "dev@example.com")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":          cmdExits,
			"jsondoc":        cmdJSONDoc,
			"lines-are-json": cmdLinesAreJSON,
		},
		RequireExplicitExec: true,
	})
}

func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

func cmdJSONDoc(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("jsondoc does not take !")
	}
	out := ts.ReadFile("stdout")
	dec := json.NewDecoder(strings.NewReader(out))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		ts.Fatalf("stdout is not a JSON document: %v\n%s", err, out)
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		ts.Fatalf("stdout has more than one JSON document:\n%s", out)
	} else if err.Error() != "EOF" {
		ts.Fatalf("stdout has text after the JSON document: %v", err)
	}
	for _, a := range args {
		path, want, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf("jsondoc: want PATH=VALUE, got %q", a)
		}
		got, found := lookup(doc, path)
		if !found {
			ts.Fatalf("jsondoc: %s is not in the document:\n%s", path, out)
		}
		if s := scalar(got); s != want {
			ts.Fatalf("jsondoc: %s = %s, want %s", path, s, want)
		}
	}
}

func lookup(v any, path string) (any, bool) {
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	case []any:
		return "len:" + strconv.Itoa(len(x))
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func cmdLinesAreJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: lines-are-json stdout|stderr|FILE")
	}
	n := 0
	for _, line := range bytes.Split([]byte(ts.ReadFile(args[0])), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		n++
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			ts.Fatalf("%s: line %d is not a JSON object: %q", args[0], n, line)
		}
	}
	if n == 0 {
		ts.Fatalf("%s is empty", args[0])
	}
}

// toolCondition answers [xmllint]: whether the tool is installed. Under
// CI=true a missing one is an error, which fails the script that asked.
func toolCondition(cond string) (bool, error) {
	if cond != "xmllint" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if _, err := exec.LookPath(cond); err == nil {
		return true, nil
	}
	if os.Getenv("CI") != "" {
		return false, fmt.Errorf("%s is not installed (CI=true: a skipped check is a failure): install it with scripts/install-deps.sh", cond)
	}
	return false, nil
}
