package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages"
	"golang.org/x/term"
)

// globals are the global flags of the command-line contract.
type globals struct {
	configPath string
	repo       string
	dryRun     bool
	json       bool
	logFormat  string
	logLevel   string
	reportDir  string
}

// app holds the global flags and the process's streams and environment; it
// builds the stages.Env every command runs with.
type app struct {
	g      globals
	stdout io.Writer
	stderr io.Writer
	env    ci.Env
	masker *logging.Masker
}

func newApp(stdout, stderr io.Writer) *app {
	return &app{stdout: stdout, stderr: stderr, env: ci.OS, masker: &logging.Masker{}}
}

func (a *app) mask(s string) string { return a.masker.Mask(s) }

// setup builds the Env: configuration, CI context, log, report dir, forge.
func (a *app) setup(ctx context.Context) (*stages.Env, error) {
	cictx := ci.Detect(a.env)
	a.masker.Add(knownSecrets(a.env)...)

	isTTY := false
	if f, ok := a.stderr.(*os.File); ok {
		isTTY = term.IsTerminal(int(f.Fd()))
	}
	log, err := logging.New(a.stderr, logging.Options{
		Format: a.g.logFormat, Level: a.g.logLevel,
		Sections: cictx.Provider == ci.GitLab, Color: isTTY,
	}, a.masker)
	if err != nil {
		return nil, errs.New(errs.Usage, err, "")
	}

	repo, err := filepath.Abs(a.g.repo)
	if err != nil {
		return nil, errs.Usagef("--repo %s: %w", a.g.repo, err)
	}
	cfg := config.Default()
	path := a.g.configPath
	if path == "" {
		path = config.Find(repo)
	} else if _, err := os.Stat(path); err != nil {
		return nil, errs.New(errs.Usage, fmt.Errorf("--config %s: %w", path, err), "give the path of an existing pipeline.yaml, or run `pipeline init`")
	}
	if path != "" {
		if cfg, err = config.Load(path, a.env.Lookup); err != nil {
			return nil, errs.New(errs.Usage, err, "")
		}
	}

	reportDir := a.g.reportDir
	if reportDir == "" {
		reportDir = filepath.Join(repo, ".pipeline", "reports")
	}
	env := &stages.Env{
		Repo:   repo,
		Config: cfg,
		CI:     cictx,
		Log:    log,
		Report: &report.Dir{Path: reportDir, Mask: a.mask},
		Forge:  gitops.None{},
		DryRun: a.g.dryRun,
	}
	if !a.g.json {
		env.Out = a.stdout
	}
	return env, nil
}

// knownSecrets are the values of the environment variables that hold
// credentials: masked in every output.
func knownSecrets(env ci.Env) []string {
	var out []string
	for _, k := range []string{"PIPELINE_TOKEN", "GITLAB_TOKEN", "GITHUB_TOKEN", "CI_JOB_TOKEN",
		"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "MINIO_ROOT_PASSWORD", "MINIO_SECRET_KEY"} {
		if v, ok := env.Lookup(k); ok {
			out = append(out, v)
		}
	}
	return out
}

// runStages runs stages and prints the results: human lines, or one JSON
// document under --json.
func (a *app) runStages(ctx context.Context, all []stages.Stage, names []string) error {
	env, err := a.setup(ctx)
	if err != nil {
		return err
	}
	results, runErr := stages.Run(ctx, env, all, names)
	return a.print(results, runErr)
}

func (a *app) print(results []*stages.Result, runErr error) error {
	if a.g.json {
		doc := struct {
			Results []*stages.Result `json:"results"`
			Error   string           `json:"error,omitempty"`
			Exit    int              `json:"exit_code"`
		}{Results: results, Exit: errs.Code(runErr)}
		if runErr != nil {
			doc.Error = runErr.Error()
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, a.mask(string(b)))
		return runErr
	}
	for _, r := range results {
		fmt.Fprintf(a.stdout, "%-12s %-8s %s\n", r.Stage, r.Outcome, a.mask(r.Summary))
	}
	return runErr
}
