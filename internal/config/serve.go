package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Serve is the `serve:` section of pipeline.yaml: the companion agent
// (`pipeline serve`) that GitLab calls for merge-request external status
// checks, and the checks it answers.
type Serve struct {
	// Listen is the address the agent listens on.
	Listen string `yaml:"listen" doc:"host:port the agent listens on (GitLab's status checks call http://HOST:PORT/checks/NAME). Default: 127.0.0.1:8095."`
	// Queue is how many accepted requests may wait for a worker; a request
	// that finds it full is refused with 503.
	Queue int `yaml:"queue" doc:"Accepted requests that may wait for a worker; when it is full the agent answers 503 and the event is not taken. Default: 256."`
	// Workers is how many requests are worked on at once.
	Workers int `yaml:"workers" doc:"Requests worked on at once (each reads the MR and answers GitLab). Default: 4."`
	// MaxBodyBytes bounds a request's body.
	MaxBodyBytes int64 `yaml:"max_body_bytes" doc:"Largest request body accepted (413 above it). Default: 1048576 (1 MiB); GitLab's merge-request payloads are a few KiB."`
	// ReadTimeout bounds reading a request, headers and body.
	ReadTimeout Duration `yaml:"read_timeout" doc:"Longest time to read one request, headers and body. Default: 10s."`
	// Checks are the external status checks the agent answers.
	Checks []ServeCheck `yaml:"checks" doc:"The external status checks the agent answers, each configured in GitLab (Settings > Merge requests > Status checks) with the URL http://HOST:PORT/checks/NAME and a shared secret."`
	// Title is what the title check accepts.
	Title ServeTitle `yaml:"title" doc:"What the title check accepts: the Conventional Commit types and scopes of MR titles."`
}

// ServeCheck is one external status check the agent answers.
type ServeCheck struct {
	// Name is the check: title, integration or promote.
	Name string `yaml:"name" pipeline:"required" enum:"title,integration,promote" doc:"Which check: title (the MR title is a Conventional Commit of an allowed type and scope), integration or promote (the verdict that stage recorded for the MR's head commit)."`
	// SecretEnv names the variable holding the check's shared secret.
	SecretEnv string `yaml:"secret_env" pipeline:"required" doc:"NAME of the environment variable holding this check's HMAC shared secret, the one set in GitLab (never the secret itself)."`
	// ID is GitLab's id of the check, when known.
	ID int `yaml:"id" doc:"GitLab's id of this external status check (GET /projects/:id/external_status_checks). Lets the integration and promote stages answer the check themselves at their end; the agent reads it from each request."`
}

// ServeTitle says which MR titles the title check passes.
type ServeTitle struct {
	Types  []string `yaml:"types" doc:"Conventional Commit types an MR title may have. Default: feat, fix, perf, refactor, docs, test, build, ci, chore, style, revert."`
	Scopes []string `yaml:"scopes" doc:"Scopes an MR title may have; empty: any scope, or none."`
	// RequireScope: a title without a scope fails.
	RequireScope bool `yaml:"require_scope" doc:"Fail a title without a scope. Default: false."`
}

// Check names the agent knows.
const (
	CheckTitle       = "title"
	CheckIntegration = "integration"
	CheckPromote     = "promote"
)

// DefaultServe is the serve section when the file says nothing.
func DefaultServe() Serve {
	return Serve{
		Listen:       "127.0.0.1:8095",
		Queue:        256,
		Workers:      4,
		MaxBodyBytes: 1 << 20,
		ReadTimeout:  Duration(10 * time.Second),
		Title:        ServeTitle{Types: []string{"feat", "fix", "perf", "refactor", "docs", "test", "build", "ci", "chore", "style", "revert"}},
	}
}

// Check returns the configured check of that name, or nil.
func (s Serve) Check(name string) *ServeCheck {
	for i := range s.Checks {
		if s.Checks[i].Name == name {
			return &s.Checks[i]
		}
	}
	return nil
}

// Validate checks what types cannot.
func (s Serve) Validate() []FieldError {
	var out []FieldError
	if _, port, err := net.SplitHostPort(s.Listen); err != nil || port == "" {
		out = append(out, FieldError{Path: "listen", Msg: "want host:port, such as 127.0.0.1:8095 or :8095"})
	}
	if s.Queue < 1 || s.Queue > 1_000_000 {
		out = append(out, FieldError{Path: "queue", Msg: "must be between 1 and 1000000 requests"})
	}
	if s.Workers < 1 || s.Workers > 1024 {
		out = append(out, FieldError{Path: "workers", Msg: "must be between 1 and 1024"})
	}
	if s.MaxBodyBytes < 1024 || s.MaxBodyBytes > 64<<20 {
		out = append(out, FieldError{Path: "max_body_bytes", Msg: "must be between 1024 and 67108864 bytes"})
	}
	if s.ReadTimeout.D() <= 0 {
		out = append(out, FieldError{Path: "read_timeout", Msg: "must be positive, such as 10s"})
	}
	seen := map[string]bool{}
	for i, c := range s.Checks {
		if seen[c.Name] {
			out = append(out, FieldError{Path: fmt.Sprintf("checks[%d].name", i), Msg: "check \"" + c.Name + "\" is listed twice — list each check once"})
		}
		seen[c.Name] = true
		if c.ID < 0 {
			out = append(out, FieldError{Path: fmt.Sprintf("checks[%d].id", i), Msg: "must be GitLab's (positive) id of the check"})
		}
	}
	for i, t := range s.Title.Types {
		if strings.TrimSpace(t) == "" || strings.ContainsAny(t, " ():!") {
			out = append(out, FieldError{Path: fmt.Sprintf("title.types[%d]", i), Msg: "must be a Conventional Commit type such as feat"})
		}
	}
	return out
}
