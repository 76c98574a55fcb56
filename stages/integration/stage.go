// Package integration is the `pipeline integration` stage: it runs every
// suite on a FRESH target (a clean base, then the new version) and on an
// UPGRADED one (the production version, then the new version), provisions
// again to prove idempotence, diffs the state of FRESH and UPGRADE, and
// scans the logs written since provisioning began. Results go to JUnit
// (classname suite.target.phase), JSON, per-target artifacts and an MR
// comment.
//
// The pure parts — the suite parser (suite.go), check probes and their
// judgement (checks.go), TAP/JUnit folding (scripts.go), the snapshot
// normaliser and diff (snapshot.go), the log scan (logscan.go) and the
// rendering (report.go), the failure line of a failed step (failure.go) —
// do no I/O. The stage is an ordered list of named steps (stagesteps.go),
// and each scenario on a target another (steps.go); run.go drives targets
// through the runners.Runner interface; this file holds the stage's modes
// and wires it to pipeline.yaml.
package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/atomicfile"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/runners"
	"github.com/pipeline-ci/pipeline/runners/qemu"
	"github.com/pipeline-ci/pipeline/stages"
)

// Options are the command-line choices of one run.
type Options struct {
	// Shard (1-based) of Shards: this job runs every Shards-th target.
	// Zero means from CI_NODE_INDEX/CI_NODE_TOTAL, or all targets.
	Shard, Shards int
	// Targets limits the run to these target names.
	Targets []string
	// EmitChildPipeline, when set, writes a GitLab child pipeline (one
	// job per target) to this path instead of running anything.
	EmitChildPipeline string
	// BaseOnly bootstraps (or finds) the base of integration.bootstrap for
	// the selected targets and runs nothing else: pre-warms a runner.
	BaseOnly bool
}

// Stage is the integration stage.
type Stage struct {
	Opts Options
}

func (s *Stage) Name() string { return "integration" }

// shard is this run's shard i of n: --shard, else GitLab's parallel job
// (CI_NODE_INDEX/CI_NODE_TOTAL); 0, 0 when the run is not sharded.
func (s *Stage) shard(env *stages.Env) (int, int) {
	shard, shards := s.Opts.Shard, s.Opts.Shards
	if shards == 0 && env.CI.NodeTotal > 1 {
		shard, shards = env.CI.NodeIndex, env.CI.NodeTotal
	}
	if shards <= 1 {
		return 0, 0
	}
	return shard, shards
}

// StatusName gives each job of a split integration its own commit status
// ("integration 1/2", "integration chroot"), so that every shard's verdict
// stays on the commit whatever order the jobs finish in.
func (s *Stage) StatusName(env *stages.Env) string {
	name := "integration"
	if s.Opts.EmitChildPipeline != "" {
		return name + " child-pipeline"
	}
	if len(s.Opts.Targets) > 0 {
		name += " " + strings.Join(s.Opts.Targets, ",")
	}
	if shard, shards := s.shard(env); shards > 1 {
		name += fmt.Sprintf(" %d/%d", shard, shards)
	}
	return name
}

// ParseShard reads "i/n" (1-based).
func ParseShard(v string) (int, int, error) {
	var i, n int
	if _, err := fmt.Sscanf(v, "%d/%d", &i, &n); err != nil || n < 1 || i < 1 || i > n || fmt.Sprintf("%d/%d", i, n) != v {
		return 0, 0, errs.Usagef("--shard %q: want i/n with 1 <= i <= n, such as 2/4", v)
	}
	return i, n, nil
}

// SelectTargets keeps the named targets (all when names is empty) and then
// shard i of n (1-based; round-robin in configuration order, so adding a
// target at the end moves no other).
func SelectTargets(all []config.IntegrationTarget, names []string, shard, shards int) ([]config.IntegrationTarget, error) {
	var picked []config.IntegrationTarget
	if len(names) == 0 {
		picked = all
	} else {
		for _, n := range names {
			found := false
			for _, t := range all {
				if t.Name == n {
					picked, found = append(picked, t), true
				}
			}
			if !found {
				var known []string
				for _, t := range all {
					known = append(known, t.Name)
				}
				return nil, errs.Usagef("--target %q: no such target in integration.targets (known: %s)", n, strings.Join(known, ", "))
			}
		}
	}
	if shards <= 1 {
		return picked, nil
	}
	var out []config.IntegrationTarget
	for i, t := range picked {
		if i%shards == shard-1 {
			out = append(out, t)
		}
	}
	return out, nil
}

// LoadSuites reads every suite named by the patterns (relative to repo).
func LoadSuites(repo string, patterns []string) ([]*Suite, error) {
	var files []string
	seen := map[string]bool{}
	for _, p := range patterns {
		full := p
		if !filepath.IsAbs(full) {
			full = filepath.Join(repo, p)
		}
		matches, err := filepath.Glob(full)
		if err != nil {
			return nil, errs.Usagef("integration.suites: %q: %v", p, err)
		}
		if len(matches) == 0 {
			return nil, errs.New(errs.Usage, fmt.Errorf("integration.suites: %q matches no file", p), "check the path; suites are relative to the repository")
		}
		sort.Strings(matches)
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				files = append(files, m)
			}
		}
	}
	var suites []*Suite
	var problems []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, errs.Usagef("suite %s: %v", f, err)
		}
		rel, err := filepath.Rel(repo, f)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = f
		}
		s, err := ParseSuite(rel, data)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		// Scripts are resolved from the suite's real location.
		for _, c := range s.Checks {
			if c.Script != nil {
				c.Script.Local = filepath.Join(filepath.Dir(f), c.Script.Path)
				if _, err := os.Stat(c.Script.Local); err != nil {
					problems = append(problems, fmt.Sprintf("%s: check %q: script %s: %v", c.Pos, c.ID, c.Script.Path, err))
				}
			}
		}
		suites = append(suites, s)
	}
	if err := checkSuiteNames(suites); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, errs.New(errs.Usage, errors.New(strings.Join(problems, "\n")), "fix the suite files at the positions shown")
	}
	return suites, nil
}

// NewRunner makes the runner of a configured target. lookup reads the
// environment variables the configuration names (key_env).
func NewRunner(t config.IntegrationTarget, repo string, lookup func(string) (string, bool)) (runners.Runner, error) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(repo, p)
	}
	key := func() ([]byte, error) {
		switch {
		case t.KeyEnv != "":
			v, ok := lookup(t.KeyEnv)
			if !ok || v == "" {
				return nil, errs.New(errs.Usage, fmt.Errorf("target %s: key_env %s is not set", t.Name, t.KeyEnv), "set the variable to the private key (a masked, file-less CI variable works)")
			}
			return []byte(v), nil
		case t.KeyFile != "":
			b, err := runners.ReadKeyFile(abs(t.KeyFile))
			if err != nil {
				return nil, errs.Usagef("target %s: %v", t.Name, err)
			}
			return b, nil
		}
		return nil, nil
	}
	switch t.Runner {
	case "local":
		return &runners.Local{Name: t.Name, ResetCommand: t.ResetCommand}, nil
	case "chroot":
		return &runners.Chroot{Name: t.Name, Rootfs: abs(t.Rootfs)}, nil
	case "container":
		image := t.Image
		if image == "" {
			image = importedImageName(abs(t.Tarball))
		}
		return &runners.Container{Name: t.Name, Engine: t.Engine, Image: image, Tarball: abs(t.Tarball), RunArgs: t.RunArgs}, nil
	case "ssh":
		k, err := key()
		if err != nil {
			return nil, err
		}
		sock, _ := lookup("SSH_AUTH_SOCK")
		port := t.Port
		if port == 0 {
			port = 22
		}
		user := t.User
		if user == "" {
			user = "root"
		}
		return &runners.SSH{Name: t.Name, Addr: runners.HostPort(t.Host, port), User: user, Key: k, AgentSocket: sock,
			KnownHosts: abs(t.KnownHosts), ResetCommand: t.ResetCommand}, nil
	case "qemu":
		k, err := key()
		if err != nil {
			return nil, err
		}
		hostKey, err := os.ReadFile(abs(t.KnownHosts))
		if err != nil {
			return nil, errs.New(errs.Usage, fmt.Errorf("target %s: known_hosts: %w", t.Name, err), "for a qemu target, known_hosts names a file holding the template's public host key")
		}
		user := t.User
		if user == "" {
			user = "root"
		}
		return &runners.QEMU{Name: t.Name, VM: qemu.Config{Image: abs(t.DiskImage), MemoryMB: t.Memory,
			Kernel: abs(t.Kernel), Initrd: abs(t.Initrd), Append: t.Cmdline},
			User: user, Key: k, HostKey: lastKeyField(string(hostKey))}, nil
	}
	return nil, errs.Usagef("target %s: unknown runner %q", t.Name, t.Runner)
}

// importedImageName names the image imported from a tarball after the
// tarball's path, size and time, so a new tarball is imported again
// instead of silently reusing the old image.
func importedImageName(tarball string) string {
	id := tarball
	if st, err := os.Stat(tarball); err == nil {
		id = fmt.Sprintf("%s\x00%d\x00%d", tarball, st.Size(), st.ModTime().UnixNano())
	}
	sum := sha256.Sum256([]byte(id))
	return "localhost/pipeline-integration:" + hex.EncodeToString(sum[:6])
}

// lastKeyField takes "ssh-ed25519 AAAA... comment" or a known_hosts line
// and returns "ssh-ed25519 AAAA...".
func lastKeyField(s string) string {
	f := strings.Fields(strings.TrimSpace(strings.SplitN(s, "\n", 2)[0]))
	for i := range f {
		if strings.HasPrefix(f[i], "ssh-") || strings.HasPrefix(f[i], "ecdsa-") {
			if i+1 < len(f) {
				return f[i] + " " + f[i+1]
			}
		}
	}
	return strings.TrimSpace(s)
}

func compileAll(list []string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, p := range list {
		out = append(out, regexp.MustCompile(p)) // validated with the config
	}
	return out
}

// Run runs the stage: in its modes (--emit-child-pipeline, --base-only)
// the one thing each does, else the steps of stageSteps in order.
func (s *Stage) Run(ctx context.Context, env *stages.Env) (*stages.Result, error) {
	cfg := env.Config.Integration
	if !cfg.Configured() {
		return &stages.Result{Outcome: stages.Skipped, Summary: "no integration targets configured (integration.targets)"}, nil
	}
	shard, shards := s.shard(env)
	shardName := ""
	if shards > 1 {
		shardName = fmt.Sprintf("%d/%d", shard, shards)
	}
	targets, err := SelectTargets(cfg.Targets, s.Opts.Targets, shard, shards)
	if err != nil {
		return nil, err
	}
	if s.Opts.EmitChildPipeline != "" {
		return s.emitChild(env, targets)
	}
	if s.Opts.BaseOnly {
		return baseOnly(ctx, env, targets)
	}
	r := &stageRun{env: env, cfg: cfg, shard: shardName, targets: targets}
	for _, st := range stageSteps {
		end := env.Log.Section("integration_step_"+st.Name, "integration: "+st.Name)
		err := st.Run(r, ctx)
		end()
		if err != nil || r.done {
			return r.res, err
		}
	}
	return r.res, nil
}

func (s *Stage) emitChild(env *stages.Env, targets []config.IntegrationTarget) (*stages.Result, error) {
	cp := env.Config.Integration.ChildPipeline
	var names []string
	for _, t := range targets {
		names = append(names, t.Name)
	}
	// The child's jobs run at the top of a fresh checkout (CI_PROJECT_DIR):
	// say where pipeline.yaml and the report dir are from there.
	top := repoTop(env.Repo)
	dir := "."
	if rel, err := filepath.Rel(top, env.Repo); err == nil && !strings.HasPrefix(rel, "..") {
		dir = filepath.ToSlash(rel)
	}
	reportDir := ""
	if env.Report != nil && env.Report.Path != "" {
		if rel, err := filepath.Rel(top, env.Report.Path); err == nil && !strings.HasPrefix(rel, "..") {
			reportDir = filepath.ToSlash(rel)
		}
	}
	needs := cp.NeedsJob
	if needs == "" {
		needs = "build" // the build job of `pipeline init`'s file and of the component
	}
	text, err := ChildPipeline(ChildPipelineInput{Targets: names, Stage: cp.Stage, Image: cp.Image, Tags: cp.Tags,
		NeedsJob: needs, Dir: dir, ReportDir: reportDir})
	if err != nil {
		return nil, errs.Infraf("integration: %w", err)
	}
	out := s.Opts.EmitChildPipeline
	if env.DryRun {
		env.Log.Infof("dry run: would write the child pipeline (%d job(s)) to %s", len(names), out)
		return &stages.Result{Outcome: stages.DryRunned, Summary: fmt.Sprintf("would write %s with %d job(s)", out, len(names))}, nil
	}
	if err := writeAtomic(out, []byte(text)); err != nil {
		return nil, errs.Usagef("--emit-child-pipeline %s: %v", out, err)
	}
	return &stages.Result{Outcome: stages.Passed, Summary: fmt.Sprintf("wrote %s: %d job(s), one per target", out, len(names)),
		Data: map[string]any{"child_pipeline": out, "targets": names}}, nil
}

// repoTop is the top of the git work tree holding dir (dir itself when
// none does).
func repoTop(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return abs
		}
	}
}

func writeAtomic(path string, data []byte) error { return atomicfile.Write(path, data) }

// checkVersion refuses an integration.version written with ${…} that
// expanded to empty (and that nothing else supplied): provisioning
// "appliance=" would fail in apt and blame the change, not the
// configuration.
func checkVersion(cfg *config.Config) error {
	if cfg.Integration.Version != "" {
		return nil
	}
	pos, written, ok := cfg.ExpandedEmpty("integration.version")
	if !ok {
		return nil
	}
	return errs.New(errs.Usage, fmt.Errorf("%s: integration.version: %s expanded to empty: there is no version to test", pos, written),
		"give this job the build's version (the build job's dotenv PIPELINE_METAPACKAGE_VERSION), or write the version in integration.version")
}
