package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/stages"
)

// TestEveryCommandTeaches: each command of the contract has a description
// and examples in its --help, and the global flags are the contract's.
func TestEveryCommandTeaches(t *testing.T) {
	root := newRootCmd(newApp(&bytes.Buffer{}, &bytes.Buffer{}, ci.MapEnv{}))
	want := []string{"run", "build", "template", "integration", "promote", "release", "status", "init", "version"}
	for _, name := range want {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Errorf("command %s missing: %v", name, err)
			continue
		}
		if len(strings.TrimSpace(cmd.Long)) < 80 {
			t.Errorf("%s: Long help is missing or too short to teach anything: %q", name, cmd.Long)
		}
		if !strings.Contains(cmd.Example, "pipeline "+name) && !strings.Contains(cmd.Example, "pipeline ") {
			t.Errorf("%s: no example", name)
		}
		if cmd.Short == "" {
			t.Errorf("%s: no short description", name)
		}
	}
	for _, flag := range []string{"config", "repo", "dry-run", "json", "log-format", "log-level", "report-dir"} {
		if root.PersistentFlags().Lookup(flag) == nil {
			t.Errorf("global flag --%s missing", flag)
		}
	}
}

func TestKnownSecrets(t *testing.T) {
	env := ci.MapEnv{"PIPELINE_TOKEN": "a-token-value", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "aws-secret"}
	got := knownSecrets(env)
	if len(got) != 2 {
		t.Errorf("knownSecrets = %v", got)
	}
}

// TestStageOutputIsMasked: what a stage prints for people (env.Out) and its
// result go through the masked stdout, whole lines at a time.
func TestStageOutputIsMasked(t *testing.T) {
	const tok = "glpat-stage-output-secret"
	var stdout, stderr bytes.Buffer
	a := newApp(&stdout, &stderr, ci.MapEnv{"PIPELINE_TOKEN": tok})
	a.masker.Add(knownSecrets(a.env)...)
	a.g = globals{repo: t.TempDir(), logFormat: "text", logLevel: "info", reportDir: t.TempDir()}
	a.command = "run"
	printer := stages.Func{StageName: "release", Fn: func(ctx context.Context, env *stages.Env) (*stages.Result, error) {
		fmt.Fprintf(env.Out, "pushed to https://oauth2:%s", tok[:9])
		fmt.Fprintf(env.Out, "%s@gitlab.example.com\n", tok[9:])
		env.Log.Infof("token %s", tok)
		return &stages.Result{Outcome: stages.Passed, Summary: "released with " + tok}, nil
	}}
	if err := a.runStages(context.Background(), []stages.Stage{printer}, nil); err != nil {
		t.Fatal(err)
	}
	a.out.Flush()
	for name, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		if strings.Contains(text, tok) || !strings.Contains(text, "[MASKED]") {
			t.Errorf("%s not masked:\n%s", name, text)
		}
	}
	if !strings.Contains(stdout.String(), "pushed to https://oauth2:[MASKED]@gitlab.example.com\n") {
		t.Errorf("stdout = %q", stdout.String())
	}
}
