package gitops

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// Options say how to reach one forge. OpenForge fills them from pipeline.yaml,
// the CI context and the environment; tests fill them directly.
type Options struct {
	// BaseURL is the API root: https://gitlab.example.com/api/v4, or
	// https://api.github.com/ (GitHub Enterprise: https://HOST/api/v3/).
	BaseURL string
	// Project is the GitLab project id or path, or GitHub "owner/repo".
	Project string
	// Token is the API token; empty with JobToken set means CI_JOB_TOKEN.
	Token string
	// TokenSource names where the token came from (for error messages; never
	// the token itself).
	TokenSource string
	// JobToken: Token is a GitLab CI_JOB_TOKEN, which may only use the
	// releases API.
	JobToken bool
	Retry    Retry
	// HTTPClient is the transport to use (default: a pooled client).
	HTTPClient *http.Client
	// Logf, when set, is told about every retry (never with a token in it).
	Logf func(format string, args ...any)
	// Pipeline is the GitLab CI pipeline of this run (OpenForge reads it
	// from the CI context): statuses on its commit are posted into it.
	Pipeline Pipeline
}

// Default API roots.
const (
	GitLabDotCom = "https://gitlab.com/api/v4"
	GitHubDotCom = "https://api.github.com/"
)

// OpenForge returns the forge that pipeline.yaml and the CI context point to:
// forge.type when set, else GitLab under GitLab CI (at CI_API_V4_URL,
// project CI_PROJECT_ID), GitHub under GitHub Actions, else None. The token
// comes from forge.token_env, else PIPELINE_TOKEN, else GITLAB_TOKEN /
// GITHUB_TOKEN, else (GitLab CI) CI_JOB_TOKEN. A missing token is not an
// error here: the first call that needs one says what to set. logf (may be
// nil) is told about retries.
func OpenForge(cfg config.Forge, c ci.Context, logf func(format string, args ...any)) (Forge, error) {
	kind := strings.ToLower(strings.TrimSpace(cfg.Type))
	if kind == "" {
		switch {
		case c.Provider == ci.GitLab && c.APIURL != "":
			kind = "gitlab"
		case c.Provider == ci.GitHub:
			kind = "github"
		default:
			kind = "none"
		}
	}
	if kind == "none" {
		return None{}, nil
	}
	if kind != "gitlab" && kind != "github" {
		return nil, errs.Usagef("forge.type %q: want gitlab, github or none", cfg.Type)
	}
	opts := Options{BaseURL: cfg.URL, Project: cfg.Project, Logf: logf}
	if kind == "gitlab" {
		opts.Pipeline = PipelineOf(c)
	}
	sameCI := (kind == "gitlab" && c.Provider == ci.GitLab) || (kind == "github" && c.Provider == ci.GitHub)
	if sameCI {
		if opts.BaseURL == "" {
			opts.BaseURL = c.APIURL
		}
		if opts.Project == "" {
			opts.Project = c.Project
		}
	}
	if opts.BaseURL == "" {
		opts.BaseURL = map[string]string{"gitlab": GitLabDotCom, "github": GitHubDotCom}[kind]
	}
	if opts.Project == "" {
		what := map[string]string{"gitlab": "the GitLab project id or path (group/name)", "github": "the GitHub owner/repo"}[kind]
		return nil, errs.New(errs.Usage, fmt.Errorf("forge %s: no project known", kind),
			"set forge.project in pipeline.yaml to "+what)
	}
	env := c.Env
	if env == nil {
		env = ci.MapEnv{}
	}
	var err error
	opts.Token, opts.TokenSource, opts.JobToken, err = token(kind, cfg.TokenEnv, c.Provider, env)
	if err != nil {
		return nil, err
	}
	if kind == "gitlab" {
		return NewGitLab(opts)
	}
	return NewGitHub(opts)
}

// token picks the API token. The order: forge.token_env, PIPELINE_TOKEN,
// GITLAB_TOKEN/GITHUB_TOKEN, CI_JOB_TOKEN (GitLab CI only).
func token(kind, tokenEnv string, p ci.Provider, env ci.Env) (tok, source string, job bool, err error) {
	if tokenEnv != "" {
		if v := ci.Get(env, tokenEnv); v != "" {
			return v, tokenEnv, false, nil
		}
		return "", "", false, errs.New(errs.Usage, fmt.Errorf("forge.token_env names %s, which is not set", tokenEnv),
			"set "+tokenEnv+" in the environment (a CI/CD variable, masked), or remove forge.token_env")
	}
	names := config.ForgeTokenEnvsFor(kind)
	for _, n := range names {
		if v := ci.Get(env, n); v != "" {
			return v, n, false, nil
		}
	}
	if kind == "gitlab" && p == ci.GitLab {
		if v := ci.Get(env, "CI_JOB_TOKEN"); v != "" {
			return v, "CI_JOB_TOKEN", true, nil
		}
	}
	return "", "", false, nil
}

// noToken is the error of a call made without any token.
func noToken(kind string) error {
	env := "GITLAB_TOKEN"
	if kind == "github" {
		env = "GITHUB_TOKEN"
	}
	return errs.New(errs.Usage, fmt.Errorf("%s: no API token", kind),
		"set PIPELINE_TOKEN (or "+env+", or the variable named by forge.token_env) to a token that may use the API")
}

// jobTokenScope is the error of a call CI_JOB_TOKEN may not make. It is
// returned before any request is sent.
func jobTokenScope(what string) error {
	return errs.New(errs.Usage, fmt.Errorf("gitlab: %s needs a token with the api scope, and only CI_JOB_TOKEN is set: %w", what, ErrJobTokenScope),
		"set PIPELINE_TOKEN (a project access token with api scope) in the CI/CD variables")
}

// StatusStates are the states a Status may have.
var StatusStates = []string{"pending", "running", "success", "failed", "canceled", "skipped"}

func statusStateErr(s string) error {
	return errs.Usagef("commit status state %q: want one of %s", s, strings.Join(StatusStates, ", "))
}

func statusUsage(err error, hint string) error { return errs.New(errs.Usage, err, hint) }

func isNoForge(err error) bool { return errors.Is(err, ErrNoForge) }

// refused turns the forge's "who are you" answers into configuration errors
// (exit 2) that say what to fix; other errors pass unchanged.
func refused(err error, status int, tokenSource, kind, project string) error {
	if err == nil || nested(err) {
		return err
	}
	if tokenSource == "" {
		tokenSource = "the token"
	}
	switch status {
	case http.StatusUnauthorized:
		return errs.New(errs.Usage, err, kind+" refused "+tokenSource+" (401): check that it is valid and not expired")
	case http.StatusForbidden:
		return errs.New(errs.Usage, err, tokenSource+" may not do this on "+project+" (403): it needs the api scope (GitLab) or write permission (GitHub) and a role that allows it")
	}
	return err
}

// nested: err already carries a usage kind (ours), leave it.
func nested(err error) bool {
	var e *errs.Error
	return errors.As(err, &e) && e.Kind == errs.Usage
}
