// Package ci tells the rest of the program where it runs: GitLab CI, Jenkins,
// GitHub Actions or a person at a terminal, and what that CI says about the
// commit, branch, merge request and job. It is the only package that reads
// the process environment; everything else asks it (or is handed an Env).
package ci

import (
	"cmp"
	"os"
	"strconv"
	"strings"
)

// Provider names the CI system.
type Provider string

const (
	Terminal Provider = "terminal"
	GitLab   Provider = "gitlab"
	Jenkins  Provider = "jenkins"
	GitHub   Provider = "github"
)

// Env looks up environment variables. Tests pass a map; the binary passes
// the real environment.
type Env interface {
	Lookup(key string) (string, bool)
}

// MapEnv is an Env backed by a map.
type MapEnv map[string]string

func (m MapEnv) Lookup(k string) (string, bool) { v, ok := m[k]; return v, ok }

type osEnv struct{}

func (osEnv) Lookup(k string) (string, bool) { return os.LookupEnv(k) }

// OS is the real process environment.
var OS Env = osEnv{}

// Get returns the value of key in env, or "".
func Get(env Env, key string) string { v, _ := env.Lookup(key); return v }

// Context is what the CI system says about this run.
type Context struct {
	Provider Provider
	Env      Env `json:"-"`

	// Forge API: GitLab's CI_API_V4_URL / CI_PROJECT_ID, GitHub's API URL and owner/repo.
	APIURL  string
	Project string // GitLab project id or path; GitHub "owner/repo"
	WebURL  string // project web URL when known

	SHA           string // commit under test
	Branch        string
	Tag           string
	DefaultBranch string
	MergeRequest  int    // MR IID / PR number / Jenkins CHANGE_ID, 0 when none
	TargetBranch  string // the MR / PR / change's target branch, when there is one
	Source        string // GitLab CI_PIPELINE_SOURCE, GitHub event name
	JobURL        string // link for statuses
	JobName       string

	// Parallel job index (1-based) and total, from CI_NODE_INDEX/CI_NODE_TOTAL.
	NodeIndex, NodeTotal int

	// JobToken is true when the only forge credential is GitLab's CI_JOB_TOKEN.
	JobToken bool
}

// Detect reads env and returns the CI context.
func Detect(env Env) Context {
	c := Context{Provider: Terminal, Env: env}
	g := func(k string) string { return Get(env, k) }
	switch {
	case g("GITLAB_CI") == "true" || g("CI_API_V4_URL") != "":
		c.Provider = GitLab
		c.APIURL = g("CI_API_V4_URL")
		c.Project = g("CI_PROJECT_ID")
		c.WebURL = g("CI_PROJECT_URL")
		c.SHA = g("CI_COMMIT_SHA")
		c.Branch = g("CI_COMMIT_BRANCH")
		if c.Branch == "" {
			c.Branch = g("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
		}
		c.Tag = g("CI_COMMIT_TAG")
		c.DefaultBranch = g("CI_DEFAULT_BRANCH")
		c.MergeRequest = atoi(g("CI_MERGE_REQUEST_IID"))
		c.TargetBranch = g("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
		c.Source = g("CI_PIPELINE_SOURCE")
		c.JobURL = g("CI_JOB_URL")
		c.JobName = g("CI_JOB_NAME")
		c.NodeIndex = atoi(g("CI_NODE_INDEX"))
		c.NodeTotal = atoi(g("CI_NODE_TOTAL"))
		c.JobToken = g("CI_JOB_TOKEN") != "" && g("PIPELINE_TOKEN") == "" && g("GITLAB_TOKEN") == ""
	case g("JENKINS_URL") != "":
		c.Provider = Jenkins
		c.SHA = g("GIT_COMMIT")
		// BRANCH_NAME is set by multibranch pipelines; a plain pipeline job
		// with the git plugin only has GIT_BRANCH ("origin/main").
		c.Branch = firstNonEmpty(g("BRANCH_NAME"), strings.TrimPrefix(g("GIT_BRANCH"), "origin/"))
		if g("CHANGE_ID") != "" {
			c.MergeRequest = atoi(g("CHANGE_ID"))
			c.Branch = firstNonEmpty(g("CHANGE_BRANCH"), c.Branch)
			c.TargetBranch = g("CHANGE_TARGET")
		}
		c.JobURL = g("BUILD_URL")
		c.JobName = g("JOB_NAME")
	case g("GITHUB_ACTIONS") == "true":
		c.Provider = GitHub
		c.APIURL = firstNonEmpty(g("GITHUB_API_URL"), "https://api.github.com")
		c.Project = g("GITHUB_REPOSITORY")
		if s := g("GITHUB_SERVER_URL"); s != "" && c.Project != "" {
			c.WebURL = strings.TrimRight(s, "/") + "/" + c.Project
		}
		c.SHA = g("GITHUB_SHA")
		c.Source = g("GITHUB_EVENT_NAME")
		ref := g("GITHUB_REF")
		switch {
		case strings.HasPrefix(ref, "refs/heads/"):
			c.Branch = strings.TrimPrefix(ref, "refs/heads/")
		case strings.HasPrefix(ref, "refs/tags/"):
			c.Tag = strings.TrimPrefix(ref, "refs/tags/")
		case strings.HasPrefix(ref, "refs/pull/"):
			c.MergeRequest = atoi(strings.SplitN(strings.TrimPrefix(ref, "refs/pull/"), "/", 2)[0])
			c.Branch = g("GITHUB_HEAD_REF")
			c.TargetBranch = g("GITHUB_BASE_REF")
		}
		if c.WebURL != "" && g("GITHUB_RUN_ID") != "" {
			c.JobURL = c.WebURL + "/actions/runs/" + g("GITHUB_RUN_ID")
		}
		c.JobName = g("GITHUB_JOB")
	}
	return c
}

// ShortSHA is the commit's first 8 hex digits, for log fields.
func (c Context) ShortSHA() string {
	if len(c.SHA) > 8 {
		return c.SHA[:8]
	}
	return c.SHA
}

// IsCI reports whether we run under a CI system rather than a terminal.
func (c Context) IsCI() bool { return c.Provider != Terminal }

func atoi(s string) int { n, _ := strconv.Atoi(strings.TrimSpace(s)); return n }

func firstNonEmpty(v ...string) string { return cmp.Or(v...) }
