package gitops

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/ci"
)

func TestStatusSHA(t *testing.T) {
	event := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(event, []byte(`{"action":"synchronize","number":7,"pull_request":{"number":7,"head":{"ref":"fix","sha":"headsha"},"base":{"ref":"main","sha":"basesha"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		env  ci.MapEnv
		want string
	}{
		{ci.MapEnv{"GITLAB_CI": "true", "CI_COMMIT_SHA": "merge", "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": "head"}, "head"},
		{ci.MapEnv{"GITLAB_CI": "true", "CI_COMMIT_SHA": "commit"}, "commit"},
		{ci.MapEnv{"GITHUB_ACTIONS": "true", "GITHUB_SHA": "merge", "GITHUB_REF": "refs/pull/7/merge", "GITHUB_EVENT_PATH": event}, "headsha"},
		{ci.MapEnv{"GITHUB_ACTIONS": "true", "GITHUB_SHA": "push", "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_PATH": event}, "push"},
		{ci.MapEnv{"JENKINS_URL": "http://j", "GIT_COMMIT": "jenkins"}, "jenkins"},
		{ci.MapEnv{}, ""},
	}
	for _, c := range cases {
		if got := StatusSHA(ci.Detect(c.env)); got != c.want {
			t.Errorf("%v: %q, want %q", c.env, got, c.want)
		}
	}
}
