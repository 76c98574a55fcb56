package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/ci"
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
