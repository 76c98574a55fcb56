package config

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Integration is the `integration:` section of pipeline.yaml: the targets,
// how a target is provisioned in each scenario, the suites, and what the
// state snapshot and the log scan look at.
//
//	integration:
//	  production: {from: last-release}   # previous: the last release's build, from the store
//	  copy: [{src: .pipeline/build/apt, dest: /srv/appliance-repo}]
//	  setup: |
//	    echo 'deb [trusted=yes] file:/srv/appliance-repo ./' > /etc/apt/sources.list.d/appliance.list
//	    apt-get update -q
//	  provision: apt-get install -y -q appliance-base=$PIPELINE_VERSION
//	  suites: [suites/*.yaml]
//	  parallel: 4
//	  bootstrap: {suite: bookworm, packages: [procps]}  # the base of chroot/container targets
//	  targets:
//	    - {name: chroot, runner: chroot}          # on the bootstrapped base
//	    - {name: podman, runner: container}       # its tarball, imported
//	    - {name: staging-1, runner: ssh, host: staging-1.example.com, user: ci,
//	       key_env: STAGING_SSH_KEY, known_hosts: ci/known_hosts, scenarios: [upgrade]}
//	  snapshot: {paths: [/etc/appliance], ignore: ["file:/etc/appliance/*.log"]}
//	  logs: {files: [/var/log/appliance/*.log], allow: ["deprecated option"]}
type Integration struct {
	// Version is the version under test, given to the provisioning commands
	// as $PIPELINE_VERSION. Left empty, it is the build's (its hand-off:
	// this run, the report dir, the artifact store by commit).
	Version string `yaml:"version"`
	// Previous is the production version the UPGRADE scenario starts from
	// ($PIPELINE_VERSION while Base runs). Left empty, it is the version
	// of the production build (Production).
	Previous string `yaml:"previous"`
	// Production is the build the UPGRADE scenario starts from, taken from
	// the artifact store into .pipeline/prod (its apt/ and yum/).
	Production IntegrationProduction `yaml:"production"`
	// Copy puts files from the repository onto every target before setup
	// (the package repository the build stage published, say).
	Copy []IntegrationCopy `yaml:"copy"`
	// Setup runs on a clean target before anything else (add the package
	// source).
	Setup string `yaml:"setup"`
	// Base brings a clean target to the production state in the UPGRADE
	// scenario; default: Provision with $PIPELINE_VERSION=Previous.
	Base string `yaml:"base"`
	// Provision installs (FRESH) or upgrades to (UPGRADE) the version under
	// test; it runs again for the idempotence check. Copy, Setup, Base and
	// Provision all left out: the built-in APT provisioning
	// (BuiltinProvisioning).
	Provision string `yaml:"provision" pipeline:"nonempty"`
	// ProvisionTimeout bounds each setup/base/provision run (default 20m).
	ProvisionTimeout Duration `yaml:"provision_timeout"`
	// Suites are suite files or globs, relative to the repository; none:
	// only the built-in phases run (provision, idempotence, logs, state).
	Suites []string `yaml:"suites" pipeline:"nonempty"`
	// Scenarios to run on every target that does not say (default: fresh
	// and upgrade).
	Scenarios []string `yaml:"scenarios"`
	// Parallel is how many targets run at once (default 4).
	Parallel int `yaml:"parallel"`
	// CheckTimeout bounds one check's probe (default 60s).
	CheckTimeout Duration `yaml:"check_timeout"`
	// Idempotence provisions a second time and fails on any change
	// (default on; `idempotence: false` turns it off).
	Idempotence *bool               `yaml:"idempotence"`
	Targets     []IntegrationTarget `yaml:"targets"`
	// Bootstrap is the base root filesystem the tool makes (mmdebstrap,
	// cached by its content key) for every chroot target without rootfs:
	// and every container target without image: or tarball:.
	Bootstrap IntegrationBootstrap `yaml:"bootstrap" doc:"The base the tool bootstraps with mmdebstrap for chroot/container targets that give no rootfs, image or tarball (docs/integration.md)."`
	Snapshot  IntegrationSnapshot  `yaml:"snapshot"`
	Logs      IntegrationLogs      `yaml:"logs"`
	// ArtifactsURL is the base address of the job's artifacts, for links
	// in the MR comment; default from the CI job URL.
	ArtifactsURL string `yaml:"artifacts_url"`
	// Comment posts the MR comment (default on in merge request pipelines).
	Comment *bool `yaml:"comment"`
	// ChildPipeline configures --emit-child-pipeline.
	ChildPipeline IntegrationChildPipeline `yaml:"child_pipeline"`
}

// IntegrationProduction names the production build: a version, or the
// last release (the newest release tag reachable from HEAD). It is used
// when set, and by default when previous is empty and a target runs the
// upgrade scenario.
type IntegrationProduction struct {
	Version string `yaml:"version" doc:"The production version: its build is taken from the artifact store (builds/<version>/manifest.json). Give version or from, not both."`
	From    string `yaml:"from" enum:"last-release" doc:"last-release: the newest release tag (build.metapackage.tag_prefix) reachable from HEAD, older than the version under test. The default when previous is empty."`
	Dir     string `yaml:"dir" doc:"Where its APT (apt/) and YUM (yum/) repositories are downloaded, verified by sha256, relative to the repository. Default: .pipeline/prod."`
}

// Set reports whether the section names a production build.
func (p IntegrationProduction) Set() bool { return p.Version != "" || p.From != "" }

// DirOrDefault is Dir, .pipeline/prod when unset.
func (p IntegrationProduction) DirOrDefault() string {
	if p.Dir == "" {
		return ".pipeline/prod"
	}
	return p.Dir
}

// IntegrationCopy is a file or directory copied onto each target.
type IntegrationCopy struct {
	Src  string `yaml:"src" pipeline:"required"`
	Dest string `yaml:"dest" pipeline:"required"`
}

// IntegrationTarget is one machine the suites run on.
type IntegrationTarget struct {
	Name   string `yaml:"name" pipeline:"required"`
	Runner string `yaml:"runner" pipeline:"required" enum:"local,chroot,container,ssh,qemu"`
	// Scenarios this target runs (default: the section's). A long-lived
	// host without a reset runs only upgrade.
	Scenarios []string `yaml:"scenarios"`

	// chroot: the unpacked root filesystem (copied for every run); empty:
	// the base of the section's bootstrap:.
	Rootfs string `yaml:"rootfs"`
	// container: the image, imported from Tarball when missing (neither:
	// the tarball of the section's bootstrap: base); Engine is the CLI with
	// its global flags (default [podman]); RunArgs go to `run`.
	Image   string   `yaml:"image"`
	Tarball string   `yaml:"tarball"`
	Engine  []string `yaml:"engine"`
	RunArgs []string `yaml:"run_args"`
	// ssh: the host; the private key is in the file KeyFile or the
	// environment variable KeyEnv, else the SSH agent is used.
	Host       string `yaml:"host" pipeline:"nonempty"`
	Port       int    `yaml:"port"`
	User       string `yaml:"user"`
	KeyFile    string `yaml:"key_file"`
	KeyEnv     string `yaml:"key_env"`
	KnownHosts string `yaml:"known_hosts" pipeline:"nonempty"`
	// ResetCommand runs on the CI host to bring an ssh or local target
	// back to a clean state (a snapshot revert).
	ResetCommand string `yaml:"reset_command"`
	// qemu: the disk image (booted with snapshot=on), memory in MiB, and
	// for a direct kernel boot (much faster under emulation) the kernel,
	// initrd and command line the template stage published. The key
	// (key_file/key_env) is handed to the guest for this boot only
	// (systemd credential ssh.authorized_keys.USER); known_hosts names a
	// file with the template's public host key.
	DiskImage string `yaml:"disk_image" pipeline:"nonempty"`
	Memory    int    `yaml:"memory"`
	Kernel    string `yaml:"kernel"`
	Initrd    string `yaml:"initrd"`
	Cmdline   string `yaml:"cmdline"`
}

// IntegrationBootstrap is the base the tool makes for chroot and container
// targets that give none: mmdebstrap SUITE from MIRROR, cached in CacheDir
// by the content key of every input (suite, mirror and its state,
// components, variant, packages, mmdebstrap's version).
type IntegrationBootstrap struct {
	Suite string `yaml:"suite" doc:"Debian (or Ubuntu) suite. Default bookworm."`
	// Mirror is the archive URL; pin it to a snapshot for a base that
	// changes only when you say so.
	Mirror     string   `yaml:"mirror" doc:"Archive URL. Default http://deb.debian.org/debian."`
	Components []string `yaml:"components" doc:"Archive components. Default [main]."`
	Variant    string   `yaml:"variant" enum:"extract,custom,essential,apt,required,minbase,buildd,important,debootstrap,standard" doc:"mmdebstrap variant. Default minbase."`
	// Packages are added to the variant; nil means DefaultBootstrapPackages.
	Packages []string `yaml:"packages" doc:"Packages added to the variant. Default [procps] (ps, pgrep, kill for the service checks)."`
	// CacheDir keeps the bases on this machine; default
	// $XDG_CACHE_HOME/pipeline/rootfs when XDG_CACHE_HOME is set, else
	// /var/cache/pipeline/rootfs.
	CacheDir string `yaml:"cache_dir" doc:"Where bases are kept on this machine. Default $XDG_CACHE_HOME/pipeline/rootfs, else /var/cache/pipeline/rootfs."`
}

// DefaultBootstrapPackages are added to the bootstrap variant when the
// configuration lists none: the service checks use ps and pgrep.
var DefaultBootstrapPackages = []string{"procps"}

// NeedsBootstrap reports whether target t runs on the base the tool
// bootstraps: a chroot target without rootfs, a container target without
// image and tarball.
func (t IntegrationTarget) NeedsBootstrap() bool {
	switch t.Runner {
	case "chroot":
		return t.Rootfs == ""
	case "container":
		return t.Image == "" && t.Tarball == ""
	}
	return false
}

// IntegrationSnapshot configures the state snapshot.
type IntegrationSnapshot struct {
	Paths  []string `yaml:"paths"`
	Sysctl []string `yaml:"sysctl"`
	Ignore []string `yaml:"ignore"`
}

// IntegrationLogs configures the log scan.
type IntegrationLogs struct {
	Files   []string `yaml:"files"`
	Journal *bool    `yaml:"journal"`
	// Patterns are regular expressions of problem lines (default: error,
	// fatal, panic, segfault, traceback, case-insensitive).
	Patterns []string `yaml:"patterns"`
	// Allow are regular expressions of known noise.
	Allow   []string `yaml:"allow"`
	Context int      `yaml:"context"`
}

// IntegrationChildPipeline configures the generated GitLab child pipeline.
type IntegrationChildPipeline struct {
	Image string   `yaml:"image"`
	Tags  []string `yaml:"tags"`
	Stage string   `yaml:"stage"`
	// NeedsJob is the parent pipeline's job whose artifacts (the build
	// output, report dir and dotenv) every child job fetches; default
	// build. The trigger job must pass PARENT_PIPELINE_ID: $CI_PIPELINE_ID.
	NeedsJob string `yaml:"needs_job"`
}

// DefaultLogPatterns are used when logs.patterns is empty.
var DefaultLogPatterns = []string{`(?i)\berror\b`, `(?i)\bfatal\b`, `(?i)\bpanic\b`, `(?i)segfault`, `(?i)traceback`}

var targetName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`) })

// BuiltinProvisioning reports whether the section gives none of copy,
// setup, base and provision: the stage then provisions the Debian way by
// itself, from the build's and the production build's APT repositories.
func (in Integration) BuiltinProvisioning() bool {
	return len(in.Copy) == 0 && in.Setup == "" && in.Base == "" && in.Provision == ""
}

// Configured reports whether the section is filled in.
func (in Integration) Configured() bool { return len(in.Targets) > 0 }

// ParallelOrDefault is Parallel, 4 when unset.
func (in Integration) ParallelOrDefault() int {
	if in.Parallel <= 0 {
		return 4
	}
	return in.Parallel
}

// IdempotenceOn reports whether the idempotence phase runs.
func (in Integration) IdempotenceOn() bool { return in.Idempotence == nil || *in.Idempotence }

// Timeouts with defaults.
func (in Integration) Timeouts() (provision, check time.Duration) {
	provision, check = in.ProvisionTimeout.D(), in.CheckTimeout.D()
	if provision <= 0 {
		provision = 20 * time.Minute
	}
	if check <= 0 {
		check = 60 * time.Second
	}
	return
}

// ScenariosOf returns the scenarios target t runs.
func (in Integration) ScenariosOf(t IntegrationTarget) []string {
	switch {
	case len(t.Scenarios) > 0:
		return t.Scenarios
	case len(in.Scenarios) > 0:
		return in.Scenarios
	}
	return []string{"fresh", "upgrade"}
}

// Validate checks the section beyond types.
func (in Integration) Validate() []FieldError {
	var errs []FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if !in.Configured() {
		return nil
	}
	// None of copy/setup/base/provision: the stage provisions from the
	// build's APT repository itself. Some of them but no provision: a
	// half-written provisioning the stage cannot complete.
	if in.Provision == "" && !in.BuiltinProvisioning() {
		add("provision", "missing: the command that installs the version under test (apt-get install -y appliance=$PIPELINE_VERSION); or leave out copy, setup and base too for the built-in APT provisioning (docs/integration.md)")
	}
	// No suites: only the built-in phases run (the stage says so).
	checkScenarios := func(path string, list []string) {
		for i, s := range list {
			if s != "fresh" && s != "upgrade" {
				add(fmt.Sprintf("%s[%d]", path, i), "%q is not a scenario: want fresh or upgrade", s)
			}
		}
	}
	checkScenarios("scenarios", in.Scenarios)
	if in.Production.Version != "" && in.Production.From != "" {
		add("production", "give version or from, not both")
	}
	if in.Previous != "" && in.Production.Set() {
		add("previous", "give previous or production, not both (production sets previous to its version)")
	}
	if in.Parallel < 0 {
		add("parallel", "want a positive number of targets run at once")
	}
	for i, c := range in.Copy {
		if c.Dest != "" && !strings.HasPrefix(c.Dest, "/") {
			add(fmt.Sprintf("copy[%d].dest", i), "%q: want an absolute path on the target", c.Dest)
		}
	}
	seen := map[string]int{}
	for i, t := range in.Targets {
		p := fmt.Sprintf("targets[%d]", i)
		if t.Name != "" && !targetName().MatchString(t.Name) {
			add(p+".name", "%q: use letters, digits, '.', '_' and '-'", t.Name)
		}
		if j, dup := seen[t.Name]; dup && t.Name != "" {
			add(p+".name", "%q is also the name of targets[%d]: target names must be unique", t.Name, j)
		}
		seen[t.Name] = i
		checkScenarios(p+".scenarios", t.Scenarios)
		if (t.Runner == "ssh" || t.Runner == "local") && t.ResetCommand == "" && len(in.ScenariosOf(t)) > 1 {
			add(p+".scenarios", "target %q cannot be brought back to a clean base between scenarios: give it reset_command, or one scenario (scenarios: [upgrade] for a long-lived host)", t.Name)
		}
		switch t.Runner {
		case "ssh":
			if t.Host == "" {
				add(p+".host", "missing: the host of an ssh target")
			}
			if t.KnownHosts == "" {
				add(p+".known_hosts", "missing: host keys are always checked; give a known_hosts file holding the host's key")
			}
			if t.KeyFile != "" && t.KeyEnv != "" {
				add(p+".key_file", "give key_file or key_env, not both")
			}
		case "qemu":
			if t.DiskImage == "" {
				add(p+".disk_image", "missing: the template disk image to boot")
			}
		}
		if t.Port < 0 || t.Port > 65535 {
			add(p+".port", "%d: want 1-65535", t.Port)
		}
	}
	for i, pat := range in.Logs.Patterns {
		if _, err := regexp.Compile(pat); err != nil {
			add(fmt.Sprintf("logs.patterns[%d]", i), "bad regular expression: %v", err)
		}
	}
	for i, pat := range in.Logs.Allow {
		if _, err := regexp.Compile(pat); err != nil {
			add(fmt.Sprintf("logs.allow[%d]", i), "bad regular expression: %v", err)
		}
	}
	if in.Logs.Context < 0 {
		add("logs.context", "want 0 or more lines")
	}
	return errs
}

// YAMLSyntax places a YAML syntax error from yaml/v3, or a refusal from
// yamlbound.Check, at its line and column, as the config loader does;
// suite files use it for the same messages. Call it only on data that
// passed yamlbound.Check or with the error Check gave.
func YAMLSyntax(data []byte, err error) (line, col int, msg string) {
	if p, refused := boundProblem(data); refused {
		return p.Line, p.Col, p.Msg
	}
	p := syntaxProblem(data, err)
	return p.Line, p.Col, p.Msg
}
