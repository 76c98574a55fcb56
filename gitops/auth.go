package gitops

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
)

// WithHTTPAuth returns a copy of g whose git commands send user:token as
// HTTP Basic credentials to every URL under prefix (e.g.
// "https://gitlab.example.com/"). The credentials go to git through the
// environment (GIT_CONFIG_COUNT/KEY/VALUE setting http.<prefix>.extraHeader),
// so the token is never written to .git/config, never part of a remote URL
// and never on a command line that `ps` shows. They replace the credentials
// of the CI's checkout URL (GitLab's gitlab-ci-token), which cannot push.
func (g *Git) WithHTTPAuth(prefix, user, token string) *Git {
	n := 0
	var env []string
	for _, kv := range g.Env {
		if v, ok := strings.CutPrefix(kv, "GIT_CONFIG_COUNT="); ok {
			n, _ = strconv.Atoi(v)
			continue
		}
		env = append(env, kv)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + token))
	i := strconv.Itoa(n)
	env = append(env,
		"GIT_CONFIG_KEY_"+i+"=http."+prefix+".extraHeader",
		"GIT_CONFIG_VALUE_"+i+"=Authorization: Basic "+basic,
		"GIT_CONFIG_COUNT="+strconv.Itoa(n+1))
	return &Git{Dir: g.Dir, Env: env}
}

// WithForgeAuth returns g set up to fetch and push over HTTPS to the forge
// that pipeline.yaml and the CI context point to, with the same token as the
// API (forge.token_env, PIPELINE_TOKEN, GITLAB_TOKEN / GITHUB_TOKEN). It
// returns g unchanged when there is no forge, no token, or no known web URL
// (an SSH remote needs nothing from us). A CI_JOB_TOKEN is not used: it
// cannot push.
func (g *Git) WithForgeAuth(cfg config.Forge, c ci.Context) *Git {
	kind := strings.ToLower(cfg.Type)
	if kind == "" {
		switch c.Provider {
		case ci.GitLab:
			kind = "gitlab"
		case ci.GitHub:
			kind = "github"
		}
	}
	if kind != "gitlab" && kind != "github" || c.WebURL == "" {
		return g
	}
	env := c.Env
	if env == nil {
		env = ci.MapEnv{}
	}
	tok, _, job, err := token(kind, cfg.TokenEnv, c.Provider, env)
	if err != nil || tok == "" || job {
		return g
	}
	u, err := url.Parse(c.WebURL)
	if err != nil || u.Host == "" {
		return g
	}
	user := "oauth2" // GitLab: any user name with a personal/project/group token
	if kind == "github" {
		user = "x-access-token"
	}
	return g.WithHTTPAuth(u.Scheme+"://"+u.Host+"/", user, tok)
}
