package gitops

import (
	"encoding/json"
	"os"

	"github.com/pipeline-ci/pipeline/internal/ci"
)

// StatusSHA is the commit a status about this CI run belongs on: the merge
// request's head commit when the run is for an MR/PR — GitLab's
// CI_MERGE_REQUEST_SOURCE_BRANCH_SHA (set in merged-results pipelines, where
// CI_COMMIT_SHA is a merge commit), GitHub's pull_request.head.sha from the
// event payload (GITHUB_SHA is a merge commit there) — else the CI commit.
// Statuses on a merge commit would not show on the MR.
func StatusSHA(c ci.Context) string {
	env := c.Env
	if env == nil {
		env = ci.MapEnv{}
	}
	switch c.Provider {
	case ci.GitLab:
		if sha := ci.Get(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"); sha != "" {
			return sha
		}
	case ci.GitHub:
		if path := ci.Get(env, "GITHUB_EVENT_PATH"); path != "" && c.MergeRequest > 0 {
			if b, err := os.ReadFile(path); err == nil {
				var ev struct {
					PullRequest struct {
						Head struct {
							SHA string `json:"sha"`
						} `json:"head"`
					} `json:"pull_request"`
				}
				if json.Unmarshal(b, &ev) == nil && ev.PullRequest.Head.SHA != "" {
					return ev.PullRequest.Head.SHA
				}
			}
		}
	}
	return c.SHA
}
