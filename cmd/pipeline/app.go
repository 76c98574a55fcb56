package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/preflight"
	"github.com/pipeline-ci/pipeline/internal/proc"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/handoff"
	"github.com/spf13/cobra"
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
// builds the stages.Env every command runs with, and prints the outcome.
type app struct {
	g globals
	// stdout is where commands print for people: out, except under --json,
	// where it is kept for the document's "output" so that stdout holds
	// exactly one JSON document whatever a command prints.
	stdout   io.Writer
	out      *logging.MaskedWriter // the real stdout, masked
	captured bytes.Buffer          // what commands printed under --json
	stderr   io.Writer
	env      ci.Env
	masker   *logging.Masker
	log      *logging.Logger // set by setup; nil before

	command string    // name of the command being run ("run", "version")
	started bool      // the command's own code began (errors before are usage errors)
	printed bool      // the --json document is out
	start   time.Time // when the command started
}

func newApp(stdout, stderr io.Writer, env ci.Env) *app {
	m := &logging.Masker{}
	a := &app{out: logging.NewMaskedWriter(stdout, m), stderr: stderr, env: env, masker: m, start: time.Now()}
	a.stdout = commandOut{a}
	return a
}

func (a *app) mask(s string) string { return a.masker.Mask(s) }

// execute runs the command line args and returns the exit code. Whatever
// happens, --json gives exactly one document on stdout, and an error is
// printed (masked) on stderr.
func (a *app) execute(ctx context.Context, args []string) int {
	// Secrets first: even a bad flag's error message is masked.
	a.masker.Add(knownSecrets(a.env)...)

	root := newRootCmd(a) //nolint:contextcheck // the commands take ctx from cmd.Context() (ExecuteContext below)
	root.SetArgs(args)
	root.SetOut(a.out) // help and completion scripts: text, even under --json
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if cmd == nil {
		cmd = root
	}
	if err != nil && !a.started {
		// cobra refused the command line before any command ran: unknown
		// command or flag, wrong arguments.
		if errs.KindOf(err) != errs.Usage || !isErrsError(err) {
			err = errs.New(errs.Usage, err, "see `"+cmd.CommandPath()+" --help`")
		}
	}
	if err != nil && proc.Interrupted(ctx) != nil {
		err = cancelledError(ctx, err)
	}
	code := errs.Code(err)
	a.out.Flush()
	if a.log != nil {
		a.log.Flush()
	}
	if a.wantJSON(args) && !a.printed && !printsText(cmd, root, err) {
		doc := jsonDoc{Command: commandName(cmd, root)}
		if cmd.Annotations[stageCommand] != "" {
			doc.Results = []*stages.Result{}
		}
		a.emit(doc, err)
	}
	if err != nil {
		a.printError(err, code)
	}
	return code
}

// cancelledError is err of a run a signal stopped: it says "cancelled
// (SIGTERM)" first, and is an infrastructure error (exit 3): a stopped run
// decided nothing about the code.
func cancelledError(ctx context.Context, err error) error {
	if errors.Is(err, proc.ErrCancelled) && errs.KindOf(err) == errs.Infra {
		return err // said already (stages.RunOne)
	}
	return errs.New(errs.Infra, fmt.Errorf("%w: %w", proc.Stopped(ctx), err),
		"the run was stopped from outside (a cancelled CI job, Ctrl-C) and decided nothing: run it again")
}

func isErrsError(err error) bool {
	var e *errs.Error
	return errors.As(err, &e)
}

// wantJSON is --json, also when parsing stopped before reaching it.
func (a *app) wantJSON(args []string) bool {
	if a.g.json {
		return true
	}
	for _, arg := range args {
		if arg == "--" {
			break
		}
		if arg == "--json" || arg == "--json=true" {
			return true
		}
	}
	return false
}

// printsText: help and shell completion scripts are text for people and
// shells, not results; they print no JSON document.
func printsText(cmd, root *cobra.Command, err error) bool {
	if cmd == nil {
		return false
	}
	if h := cmd.Flags().Lookup("help"); h != nil && h.Changed {
		return true
	}
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "completion", "help", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return true
		}
	}
	return cmd == root && err == nil // bare `pipeline` prints its help
}

// commandName is the command as typed after "pipeline" ("run", "release
// changelog"), or "pipeline" when no command was recognised.
func commandName(cmd, root *cobra.Command) string {
	if cmd == nil || cmd == root {
		return "pipeline"
	}
	return strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ")
}

// printError writes the error on stderr: a log entry under --log-format
// json, else one "pipeline: ..." paragraph.
func (a *app) printError(err error, code int) {
	msg := a.mask(errs.Format(err))
	if a.g.logFormat == "json" {
		line, _ := json.Marshal(map[string]any{
			"level": "error", "msg": msg, "exit_code": code,
			"time": time.Now().Format(time.RFC3339Nano),
		})
		fmt.Fprintln(a.stderr, string(line))
		return
	}
	fmt.Fprintln(a.stderr, "pipeline: "+msg)
}

// commandOut is app.stdout: the masked stdout, or under --json the buffer
// that becomes the document's "output".
type commandOut struct{ a *app }

func (w commandOut) Write(p []byte) (int, error) {
	if w.a.g.json {
		return w.a.captured.Write(p)
	}
	return w.a.out.Write(p)
}

// jsonDoc is the one document --json prints, for every command.
type jsonDoc struct {
	Command  string     `json:"command"`
	ExitCode int        `json:"exit_code"`
	Error    *jsonError `json:"error,omitempty"`
	DryRun   bool       `json:"dry_run"`
	Results  any        `json:"results,omitempty"` // stage commands: []*stages.Result, [] when none ran
	Data     any        `json:"data,omitempty"`    // other commands: their result
	Output   string     `json:"output,omitempty"`  // text the command printed for people
}

type jsonError struct {
	Kind    string `json:"kind"` // failure, usage or infrastructure
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// emit prints doc (with err's exit code and message) as the --json
// document, masked. It prints at most once.
func (a *app) emit(doc jsonDoc, err error) {
	if a.printed {
		return
	}
	a.printed = true
	doc.ExitCode = errs.Code(err)
	doc.DryRun = a.g.dryRun
	doc.Output = a.captured.String()
	if err != nil {
		doc.Error = &jsonError{Kind: errs.KindOf(err).String(), Message: err.Error(), Hint: strings.Join(errs.HintOf(err), "; ")}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if e := enc.Encode(doc); e != nil {
		b.Reset()
		fmt.Fprintf(&b, "{\"command\": %q, \"exit_code\": 3, \"error\": {\"kind\": \"infrastructure\", \"message\": %q}}\n", doc.Command, "encoding the result: "+e.Error())
	}
	// stdout is the only channel for this document: a failed write has
	// nowhere else to be reported.
	_, _ = a.out.Write(b.Bytes())
	a.out.Flush()
}

// emitData is for commands other than the stages: under --json it prints
// the document with data; it reports whether it did (so the caller prints
// text otherwise).
func (a *app) emitData(data any) bool {
	if !a.g.json {
		return false
	}
	a.emit(jsonDoc{Command: a.command, Data: data}, nil)
	return true
}

// before runs before every command's own code: it checks the global flags
// every command shares.
func (a *app) before(cmd *cobra.Command) error {
	a.command = commandName(cmd, cmd.Root())
	switch a.g.logFormat {
	case "text", "json":
	default:
		return errs.New(errs.Usage, fmt.Errorf("--log-format %q", a.g.logFormat), "use text or json")
	}
	switch a.g.logLevel {
	case "debug", "info", "warn", "warning", "error":
	default:
		return errs.New(errs.Usage, fmt.Errorf("--log-level %q", a.g.logLevel), "use debug, info, warn or error")
	}
	a.started = true
	return nil
}

// setup builds the Env: configuration, CI context, log, report dir, forge.
func (a *app) setup(ctx context.Context) (*stages.Env, error) {
	cictx := ci.Detect(a.env)

	log, err := logging.New(a.stderr, logging.Options{
		Format: a.g.logFormat, Level: a.g.logLevel,
		Sections: cictx.Provider == ci.GitLab, Groups: cictx.Provider == ci.GitHub, Color: a.colour(),
	}, a.masker)
	if err != nil {
		return nil, errs.New(errs.Usage, err, "")
	}
	a.log = log

	repo, err := filepath.Abs(a.g.repo)
	if err != nil {
		return nil, errs.Usagef("--repo %s: %w", a.g.repo, err)
	}
	if st, err := os.Stat(repo); err != nil || !st.IsDir() {
		return nil, errs.New(errs.Usage, fmt.Errorf("--repo %s: not a directory", a.g.repo), "give the path of the repository to work on")
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
	a.masker.Add(configSecrets(cfg, a.env)...)

	reportDir := a.g.reportDir
	if reportDir == "" {
		reportDir = filepath.Join(repo, ".pipeline", "reports")
	} else if reportDir, err = filepath.Abs(reportDir); err != nil {
		return nil, errs.Usagef("--report-dir %s: %w", a.g.reportDir, err)
	}
	forge, err := gitops.OpenForge(cfg.Forge, cictx, log.Warnf)
	if err != nil {
		return nil, err
	}
	env := &stages.Env{
		Repo:   repo,
		Config: cfg,
		CI:     cictx,
		Log:    log,
		Report: &report.Dir{Path: reportDir, Mask: a.mask},
		// Everything posted to the forge is masked, whichever stage posts it.
		Forge:  gitops.Masked(forge, a.mask),
		DryRun: a.g.dryRun,
	}
	if !a.g.json {
		env.Out = a.stdout
	}
	return env, nil
}

// colour: only when stderr is a terminal and NO_COLOR (no-color.org) is unset.
func (a *app) colour() bool {
	if _, off := a.env.Lookup("NO_COLOR"); off {
		return false
	}
	f, ok := a.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// secretVars are the environment variables that hold credentials whatever
// pipeline.yaml says: their values are masked in every output.
var secretVars = append(slices.Clone(config.ForgeTokenEnvs),
	"CI_REGISTRY_PASSWORD",
	"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN",
	"MINIO_ROOT_PASSWORD", "MINIO_SECRET_KEY", "MINIO_ACCESS_KEY", "MINIO_ROOT_USER",
)

// knownSecrets are the values of secretVars present in env.
func knownSecrets(env ci.Env) []string {
	var out []string
	for _, k := range secretVars {
		if v, ok := env.Lookup(k); ok {
			out = append(out, v)
		}
	}
	return out
}

// configSecrets are the values of the variables pipeline.yaml names for its
// secrets (every key ending in _env).
func configSecrets(cfg *config.Config, env ci.Env) []string {
	var out []string
	for _, k := range cfg.SecretEnvNames() {
		if v, ok := env.Lookup(k); ok {
			out = append(out, v)
		}
	}
	return out
}

// runStages runs stages (names: a selection, nil: all of them), writes the
// JSON summary and prints the results: a line per stage, or the --json
// document.
func (a *app) runStages(ctx context.Context, all []stages.Stage, names []string) error {
	env, err := a.setup(ctx)
	if err != nil {
		return err
	}
	return a.runWith(ctx, env, all, names)
}

// runConfigured is `pipeline run`: the stages named on the command line,
// or those listed under `stages:` in pipeline.yaml.
func (a *app) runConfigured(ctx context.Context, all []stages.Stage, args []string) error {
	env, err := a.setup(ctx)
	if err != nil {
		return err
	}
	names := args
	if len(names) == 0 {
		names = env.Config.Stages
		if len(names) == 0 {
			return errs.New(errs.Usage, errors.New("no stages to run: `stages:` in "+configName(env.Config)+" is empty"),
				"list the stages to run there, or name them: pipeline run build template")
		}
	}
	return a.runWith(ctx, env, all, names)
}

func configName(cfg *config.Config) string {
	if cfg.Path == "" {
		return "the default configuration"
	}
	return cfg.Path
}

func (a *app) runWith(ctx context.Context, env *stages.Env, all []stages.Stage, names []string) error {
	fields := map[string]any{"ci": string(env.CI.Provider), "repo": env.Repo, "config": configName(env.Config)}
	if sha := env.CI.ShortSHA(); sha != "" {
		fields["commit"] = sha
	}
	if env.CI.Branch != "" {
		fields["branch"] = env.CI.Branch
	}
	if env.DryRun {
		fields["dry_run"] = true
	}
	env.Log.WithFields(fields).Infof("pipeline %s", a.command)

	results, runErr := a.runChained(ctx, env, all, names)
	if !env.DryRun {
		if _, err := env.Report.WriteSummary(a.summary(env, results, runErr)); err != nil {
			env.Log.Warnf("JSON summary not written: %v", err)
			if runErr == nil {
				runErr = errs.Infraf("%w", err)
			}
		}
	}
	a.printResults(results, runErr)
	return runErr
}

// runChained is stages.Run, except that the stages of one run hand their
// typed values (stages/handoff) to the later ones in process, as separate
// CI jobs get them from the report dir or the store. ${PIPELINE_…} in
// pipeline.yaml still names the earlier stages' outputs (see
// withHandoffs).
func (a *app) runChained(ctx context.Context, env *stages.Env, all []stages.Stage, names []string) ([]*stages.Result, error) {
	selected, err := stages.Select(all, names)
	if err != nil {
		return nil, err
	}
	if env.Handoff == nil {
		env.Handoff = &handoff.Set{}
	}
	var results []*stages.Result
	var seen handoff.Set
	for _, s := range selected {
		if *env.Handoff != seen {
			seen = *env.Handoff
			cfg, err := a.withHandoffs(env.Config, env.Handoff)
			if err != nil {
				return results, errs.New(errs.Usage, fmt.Errorf("before %s, with the outputs of the stages before it: %w", s.Name(), err), "")
			}
			next := *env
			next.Config = cfg
			env = &next
		}
		res, err := stages.Run(ctx, env, []stages.Stage{preflighted(s)}, nil)
		results = append(results, res...)
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// withHandoffs is pipeline.yaml read again with the dotenv variables of
// this run's hand-offs layered over the environment, so that
// ${PIPELINE_METAPACKAGE_VERSION} means the version build just made, in
// `pipeline run` as in a CI job after the build job. The run's own outputs
// win over the environment: a later stage tests what was just built.
func (a *app) withHandoffs(cfg *config.Config, set *handoff.Set) (*config.Config, error) {
	if cfg.Path == "" {
		return cfg, nil
	}
	vars := map[string]string{}
	for _, v := range set.Values() {
		for k, val := range v.Dotenv() {
			vars[k] = val
		}
	}
	if len(vars) == 0 {
		return cfg, nil
	}
	return config.Load(cfg.Path, func(k string) (string, bool) {
		if v, ok := vars[k]; ok {
			return v, true
		}
		return a.env.Lookup(k)
	})
}

// preflighted is s, checked first for its section of pipeline.yaml (the
// ${VAR}s only this stage reads: config.Check) and for what the machine
// lacks (root, a tool; internal/preflight), with a full disk met on the
// way said plainly.
func preflighted(s stages.Stage) stages.Stage { return checkedStage{s} }

type checkedStage struct{ stages.Stage }

func (c checkedStage) Run(ctx context.Context, env *stages.Env) (*stages.Result, error) {
	s := c.Stage
	if err := env.Config.Check(s.Name()); err != nil {
		return nil, err
	}
	if err := preflight.Check(preflight.This(), s.Name(), env.Config, env.DryRun); err != nil {
		return nil, err
	}
	res, err := s.Run(ctx, env)
	return res, preflight.DiskFull(s.Name(), err)
}

// StatusName keeps the wrapped stage's status name (one per shard).
func (c checkedStage) StatusName(env *stages.Env) string { return stages.StatusNameOf(c.Stage, env) }

func (a *app) summary(env *stages.Env, results []*stages.Result, err error) *report.Summary {
	s := &report.Summary{
		Command: a.command, CI: string(env.CI.Provider), Commit: env.CI.SHA, Branch: env.CI.Branch,
		Started: a.start.UTC().Format(time.RFC3339), Seconds: time.Since(a.start).Seconds(),
		DryRun: env.DryRun, ExitCode: errs.Code(err), Results: results,
	}
	if results == nil {
		s.Results = []*stages.Result{}
	}
	if err != nil {
		s.Error = errs.Format(err) // for people reading pipeline.json: hints included
	}
	return s
}

func (a *app) printResults(results []*stages.Result, runErr error) {
	if a.g.json {
		if results == nil {
			results = []*stages.Result{}
		}
		a.emit(jsonDoc{Command: a.command, Results: results}, runErr)
		return
	}
	for _, r := range results {
		fmt.Fprintf(a.stdout, "%-12s %-8s %s\n", r.Stage, r.Outcome, r.Summary)
	}
}
