package gitops

import (
	"encoding/json"
	"os"
	"strconv"

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

// Pipeline is the GitLab CI pipeline a run belongs to, so that the
// statuses it posts on its own commit land in that pipeline.
type Pipeline struct {
	ID  int    // CI_PIPELINE_ID
	SHA string // CI_COMMIT_SHA: the commit the pipeline runs on
	// Ref is the pipeline's ref: in a merge request pipeline
	// CI_MERGE_REQUEST_REF_PATH (refs/merge-requests/IID/head), else
	// CI_COMMIT_REF_NAME (the branch or tag).
	Ref string
}

// PipelineOf reads the pipeline from a GitLab CI context (zero elsewhere).
func PipelineOf(c ci.Context) Pipeline {
	if c.Provider != ci.GitLab {
		return Pipeline{}
	}
	env := c.Env
	if env == nil {
		env = ci.MapEnv{}
	}
	id, _ := strconv.Atoi(ci.Get(env, "CI_PIPELINE_ID"))
	p := Pipeline{ID: id, SHA: c.SHA}
	if p.SHA == "" {
		p.SHA = ci.Get(env, "CI_COMMIT_SHA")
	}
	p.Ref = ci.Get(env, "CI_COMMIT_REF_NAME")
	if mr := ci.Get(env, "CI_MERGE_REQUEST_REF_PATH"); mr != "" && ci.Get(env, "CI_MERGE_REQUEST_IID") != "" {
		p.Ref = mr
	}
	return p
}

// apply points s at the pipeline when s is about the pipeline's own
// commit and names no pipeline itself. GitLab matches a status to a
// pipeline by sha, ref and pipeline_id, and opens a new "external"
// pipeline when none matches: in a merge request pipeline the source
// branch does not match (the pipeline's ref is refs/merge-requests/IID/head).
// With pipeline_id, GitLab answers 404 when the ref sent is not the
// pipeline's: the pipeline's ref is sent.
func (p Pipeline) apply(s Status) Status {
	if p.ID == 0 || s.PipelineID != 0 || s.SHA != p.SHA {
		return s
	}
	s.PipelineID = p.ID
	if p.Ref != "" {
		s.Ref = p.Ref
	}
	return s
}
