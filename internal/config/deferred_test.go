package config

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

// envOf is a lookup over a fixed set of variables.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const perStageFile = `version: 1
project:
  name: appliance
build:
  output: ${BUILD_OUTPUT:-.pipeline/build}
integration:
  version: ${PIPELINE_METAPACKAGE_VERSION}
  provision: apt-get install -y appliance=$PIPELINE_VERSION
  suites: [suites/*.yaml]
  scenarios: [fresh]
  parallel: ${INTEGRATION_PARALLEL:-many}
  targets:
    - {name: c, runner: ssh, host: "${HOST:-}", key_env: STAGING_KEY, known_hosts: ci/known_hosts}
`

// An unset variable, a value typed after expansion and a needed value
// that expanded to empty, all in integration:, do not stop the build: the
// integration stage gets them, each at file:line:col with its key.
func TestStageSectionProblemsWaitForTheirStage(t *testing.T) {
	cfg, err := Parse("pipeline.yaml", []byte(perStageFile), envOf(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, stage := range []string{"build", "template", "promote", "release", "status"} {
		if err := cfg.Check(stage); err != nil {
			t.Errorf("Check(%q) = %v, want nil", stage, err)
		}
	}
	err = cfg.Check("integration")
	if errs.Code(err) != 2 {
		t.Fatalf("Check(integration): exit code %d (%v), want 2", errs.Code(err), err)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Check(integration) is not a *config.Error: %v", err)
	}
	want := []string{
		"pipeline.yaml:7:12: integration.version: ${PIPELINE_METAPACKAGE_VERSION} is not set and has no default — set PIPELINE_METAPACKAGE_VERSION in the environment, or write ${PIPELINE_METAPACKAGE_VERSION:-default}",
		`pipeline.yaml:11:13: integration.parallel: want a whole number, got the text "many" (after ${…} expansion)`,
		"pipeline.yaml:13:36: integration.targets[0].host: ${HOST:-} expanded to empty, and this key needs a value — set HOST in the environment to one, or write a default: ${HOST:-value}",
	}
	if got := strings.Split(ce.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Check(integration):\n%s\nwant:\n%s", ce.Error(), strings.Join(want, "\n"))
	}
	if !strings.Contains(errs.Format(err), "hint: the integration stage reads these values") {
		t.Errorf("no hint: %v", err)
	}
	// Nothing half-set stays where another stage could read it: the
	// section holds its defaults; the sections that decoded keep their values.
	if cfg.Integration.Configured() || cfg.Integration.Version != "" || cfg.Integration.Provision != "" {
		t.Errorf("integration kept values after a deferred problem: %+v", cfg.Integration)
	}
	if cfg.Build.Output != ".pipeline/build" {
		t.Errorf("build.output = %q", cfg.Build.Output)
	}
	// The reset section's secrets are still masked.
	if !contains(cfg.SecretEnvNames(), "STAGING_KEY") {
		t.Errorf("SecretEnvNames() = %v lost STAGING_KEY", cfg.SecretEnvNames())
	}
	// Given the variables, the same file is whole.
	cfg, err = Parse("pipeline.yaml", []byte(perStageFile), envOf(map[string]string{
		"PIPELINE_METAPACKAGE_VERSION": "1.2.0", "INTEGRATION_PARALLEL": "3", "HOST": "staging-1.example.com"}))
	if err != nil || cfg.Check("integration") != nil {
		t.Fatalf("with the variables set: %v / %v", err, cfg.Check("integration"))
	}
	if cfg.Integration.Version != "1.2.0" || cfg.Integration.Parallel != 3 || cfg.Integration.Targets[0].Host != "staging-1.example.com" {
		t.Errorf("integration = %+v", cfg.Integration)
	}
}

// In the sections every stage reads, the same problems fail Load at once.
func TestSharedSectionProblemsFailLoad(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"project:\n  name: ${NAME}\n", "pipeline.yaml:2:9: project.name: ${NAME} is not set"},
		{"project:\n  name: ${NAME:-}\n", "pipeline.yaml:2:9: project.name: ${NAME:-} expanded to empty, and this key needs a value — set NAME"},
		{"project: {name: a}\nartifacts:\n  url: '${STORE:-}'\n", "pipeline.yaml:3:8: artifacts.url: ${STORE:-} expanded to empty"},
		{"project: {name: a}\nforge:\n  statuses: ${POST:-maybe}\n", `pipeline.yaml:3:13: forge.statuses: want true or false, got the text "maybe" (after ${…} expansion)`},
	} {
		_, err := Parse("pipeline.yaml", []byte(c.file), envOf(nil))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || errs.Code(err) != 2 {
			t.Errorf("%q: got %v, want exit 2 and a message starting %q", c.file, err, c.want)
		}
	}
}

// A mistake in the file itself is reported at once, in any section: a
// malformed ${…}, an unknown key, a wrong type written in the file.
func TestFileMistakesInStageSectionsFailLoad(t *testing.T) {
	for _, file := range []string{
		"project: {name: a}\nintegration:\n  version: ${1X}\n",
		"project: {name: a}\nintegration:\n  verison: ${X}\n",
		"project: {name: a}\nintegration:\n  parallel: many\n",
	} {
		if _, err := Parse("pipeline.yaml", []byte(file), envOf(nil)); err == nil {
			t.Errorf("%q accepted", file)
		}
	}
}

// ExpandedEmpty says where a ${…} value without a nonempty rule expanded
// to empty, for the stage that has another source for it.
func TestExpandedEmpty(t *testing.T) {
	file := "project: {name: a}\nintegration:\n  version: ${PIPELINE_METAPACKAGE_VERSION:-}\n  previous: 1.0.0\n"
	cfg, err := Parse("pipeline.yaml", []byte(file), envOf(map[string]string{"PIPELINE_METAPACKAGE_VERSION": ""}))
	if err != nil || cfg.Check("integration") != nil {
		t.Fatalf("%v / %v", err, cfg.Check("integration"))
	}
	pos, written, ok := cfg.ExpandedEmpty("integration.version")
	if !ok || pos != "pipeline.yaml:3:12" || written != "${PIPELINE_METAPACKAGE_VERSION:-}" {
		t.Errorf("ExpandedEmpty(integration.version) = %q, %q, %v", pos, written, ok)
	}
	if _, _, ok := cfg.ExpandedEmpty("integration.previous"); ok {
		t.Error("integration.previous was written as is, not expanded")
	}
	cfg, _ = Parse("pipeline.yaml", []byte(file), envOf(map[string]string{"PIPELINE_METAPACKAGE_VERSION": "1.1.0"}))
	if _, _, ok := cfg.ExpandedEmpty("integration.version"); ok || cfg.Integration.Version != "1.1.0" {
		t.Errorf("with the variable set: ExpandedEmpty ok=%v, version %q", ok, cfg.Integration.Version)
	}
	if _, _, ok := Default().ExpandedEmpty("integration.version"); ok {
		t.Error("Default() has nothing expanded")
	}
}

// A stage's deferred problems do not hide the top level's own rules.
func TestTopLevelRulesStillApply(t *testing.T) {
	file := "project: {name: a}\nstages: [build, build]\nintegration:\n  version: ${V}\n"
	_, err := Parse("pipeline.yaml", []byte(file), envOf(nil))
	if err == nil || !strings.Contains(errs.Format(err), `stage "build" is listed twice`) {
		t.Errorf("got %v, want the stages rule", err)
	}
}

var yamlFence = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// DocIntegrationBlocks returns docs/integration.md's configuration
// examples: the minimal one (what `pipeline init` writes; the integration
// stage's tests also run it) and the reference of every key.
func docIntegrationBlocks(t *testing.T) (minimal, reference string) {
	t.Helper()
	md, err := os.ReadFile("../../docs/integration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range yamlFence.FindAllStringSubmatch(string(md), -1) {
		first, _, _ := strings.Cut(m[1], "\n")
		switch {
		case !strings.HasPrefix(first, "integration:"):
		case strings.Contains(first, "# minimal") && minimal == "":
			minimal = m[1]
		case strings.Contains(first, "# reference") && reference == "":
			reference = m[1]
		}
	}
	if minimal == "" || reference == "" {
		t.Fatal("docs/integration.md lacks a ```yaml block starting `integration:   # minimal` or one starting `integration:   # reference`")
	}
	return minimal, reference
}

// docs/integration.md's configuration examples, as they stand, in a job
// with an empty environment: every stage accepts them (the version under
// test and the production build come from the hand-offs).
func TestIntegrationDocExample(t *testing.T) {
	minimal, reference := docIntegrationBlocks(t)
	for name, example := range map[string]string{"minimal": minimal, "reference": reference} {
		file := "version: 1\nproject:\n  name: appliance\n" + example
		cfg, err := Parse("pipeline.yaml", []byte(file), envOf(nil))
		if err != nil {
			t.Fatalf("docs/integration.md's %s example does not load:\n%v", name, err)
		}
		for _, stage := range AllStages {
			if err := cfg.Check(stage); err != nil {
				t.Errorf("%s example: Check(%s) = %v", name, stage, err)
			}
		}
		if len(cfg.Integration.Targets) == 0 || cfg.Integration.Version != "" {
			t.Errorf("%s example: integration = %+v", name, cfg.Integration)
		}
	}
	cfg, _ := Parse("pipeline.yaml", []byte("version: 1\nproject:\n  name: appliance\n"+minimal), envOf(nil))
	if in := cfg.Integration; !in.BuiltinProvisioning() || len(in.Targets) != 1 || !in.Targets[0].NeedsBootstrap() {
		t.Errorf("the minimal example should use the built-in provisioning and base: %+v", in)
	}
}

// The provisioning may be left out whole (the built-in one), not in part;
// suites may be left out (only the built-in phases run).
func TestIntegrationProvisioningRequiredOnlyInPart(t *testing.T) {
	head := "version: 1\nproject: {name: a}\nintegration:\n  targets: [{name: c, runner: chroot}]\n"
	for _, c := range []struct{ extra, want string }{
		{"", ""},
		{"  suites: [s/*.yaml]\n", ""},
		{"  setup: echo hi\n", "integration.provision: missing: the command that installs the version under test"},
		{"  copy: [{src: a, dest: /a}]\n  base: apt-get install -y a=$PIPELINE_VERSION\n", "integration.provision: missing"},
		{"  provision: apt-get install -y a=$PIPELINE_VERSION\n", ""},
	} {
		_, err := Parse("pipeline.yaml", []byte(head+c.extra), envOf(nil))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.extra, err)
		case c.want != "" && (err == nil || !strings.Contains(errs.Format(err), c.want) || errs.Code(err) != 2):
			t.Errorf("%q: got %v, want exit 2 with %q", c.extra, err, c.want)
		}
	}
}

// The example appliance's pipeline.yaml in a build job (no variables):
// every stage runs, integration too (its version comes from the build's
// hand-off, not from a variable).
func TestExampleInEachJob(t *testing.T) {
	cfg, err := Load("../../examples/appliance/pipeline.yaml", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range AllStages {
		if err := cfg.Check(stage); err != nil {
			t.Errorf("Check(%s) = %v", stage, err)
		}
	}
	if cfg.Integration.Version != "" || cfg.Integration.Provision == "" {
		t.Errorf("integration = %+v", cfg.Integration)
	}
}
