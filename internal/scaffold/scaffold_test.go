package scaffold

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func render(t *testing.T, d Data) map[string]string {
	t.Helper()
	fs, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range fs {
		out[f.Path] = f.Content
	}
	return out
}

func sampleData() Data {
	d := Defaults("/src/My Appliance")
	d.Shards = 3
	return d
}

func TestGolden(t *testing.T) {
	for path, text := range render(t, sampleData()) {
		golden := filepath.Join("testdata", strings.TrimPrefix(path, ".")+".golden")
		if *update {
			if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if string(want) != text {
			t.Errorf("%s differs from %s (run go test -update if the change is meant):\n%s", path, golden, text)
		}
	}
}

func TestDefaults(t *testing.T) {
	d := Defaults("/src/My Appliance")
	if d.Project != "my-appliance" || d.Staging != "staging" || d.Master != "master" || d.Shards != 2 {
		t.Errorf("Defaults = %+v", d)
	}
	for in, want := range map[string]string{"Web_Appliance 2": "web-appliance-2", "...": "appliance", "os.img+x": "os.img+x"} {
		if got := ProjectName(in); got != want {
			t.Errorf("ProjectName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Data){
		"--forge":   func(d *Data) { d.Forge = "gitea" },
		"--shards":  func(d *Data) { d.Shards = 0 },
		"--project": func(d *Data) { d.Project = "Bad Name" },
		"--staging": func(d *Data) { d.Staging = "it's" },
		"--master":  func(d *Data) { d.Master = "" },
	} {
		d := Defaults("/x/appliance")
		mutate(&d)
		if _, err := Render(d); err == nil || !strings.Contains(errs.Format(err), name) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestStarterConfigLoads: the pipeline.yaml that init writes is accepted by
// the real (strict) decoder, with the values the flags gave.
func TestStarterConfigLoads(t *testing.T) {
	for _, forge := range []string{"", "gitlab", "github", "none"} {
		d := Defaults("/x/appliance")
		d.Forge = forge
		dir := t.TempDir()
		fs, err := Render(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(dir, fs, false); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(filepath.Join(dir, "pipeline.yaml"), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatalf("forge %q: the starter pipeline.yaml does not load: %v", forge, err)
		}
		if cfg.Project.Name != "appliance" || cfg.Forge.Type != forge || cfg.Forge.TokenEnv != "PIPELINE_TOKEN" || len(cfg.Stages) != 5 {
			t.Errorf("forge %q: loaded %+v", forge, cfg)
		}
		// Integration: one chroot target on the built-in base, provisioned
		// the built-in way; the integration stage accepts it as written.
		in := cfg.Integration
		if len(in.Targets) != 1 || in.Targets[0].Runner != "chroot" || !in.Targets[0].NeedsBootstrap() || !in.BuiltinProvisioning() {
			t.Errorf("forge %q: integration %+v", forge, in)
		}
		if err := cfg.Check("integration"); err != nil {
			t.Errorf("forge %q: Check(integration) = %v", forge, err)
		}
	}
}

// gitlabJob is the part of a GitLab CI job these tests look at.
type gitlabJob struct {
	Extends       any               `yaml:"extends"`
	Stage         string            `yaml:"stage"`
	Script        []string          `yaml:"script"`
	Parallel      any               `yaml:"parallel"`
	ResourceGroup string            `yaml:"resource_group"`
	Variables     map[string]string `yaml:"variables"`
	Rules         []map[string]any  `yaml:"rules"`
	Needs         []any             `yaml:"needs"`
	Artifacts     struct {
		When    string   `yaml:"when"`
		Paths   []string `yaml:"paths"`
		Reports struct {
			Junit  any    `yaml:"junit"`
			Dotenv string `yaml:"dotenv"`
		} `yaml:"reports"`
	} `yaml:"artifacts"`
}

// parseGitLabCI decodes a .gitlab-ci.yml, resolving one level of extends.
func parseGitLabCI(t *testing.T, text string) (stages []string, jobs map[string]gitlabJob) {
	t.Helper()
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
		t.Fatalf("not YAML: %v", err)
	}
	jobs = map[string]gitlabJob{}
	for name, node := range raw {
		switch name {
		case "stages":
			if err := node.Decode(&stages); err != nil {
				t.Fatal(err)
			}
			continue
		case "workflow", "variables", "default", "include":
			continue
		}
		var j gitlabJob
		if err := node.Decode(&j); err != nil {
			t.Fatalf("job %s: %v", name, err)
		}
		jobs[name] = j
	}
	for name, j := range jobs {
		base, ok := j.Extends.(string)
		if !ok {
			continue
		}
		b, found := jobs[base]
		if !found {
			t.Fatalf("job %s extends %s, which does not exist", name, base)
		}
		if j.Artifacts.Reports.Junit == nil {
			j.Artifacts = b.Artifacts
		}
		if j.Rules == nil {
			j.Rules = b.Rules
		}
		if j.Needs == nil {
			j.Needs = b.Needs
		}
		jobs[name] = j
	}
	return stages, jobs
}

func TestGeneratedGitLabCI(t *testing.T) {
	text := render(t, sampleData())[".gitlab-ci.yml"]
	stages, jobs := parseGitLabCI(t, text)
	if strings.Join(stages, ",") != "build,template,integration,promote,release" {
		t.Errorf("stages = %v", stages)
	}
	for _, stage := range stages {
		j, ok := jobs[stage]
		if !ok {
			t.Errorf("no job for stage %s", stage)
			continue
		}
		if j.Stage != stage || len(j.Script) == 0 || !strings.HasPrefix(j.Script[len(j.Script)-1], "pipeline "+stage) {
			t.Errorf("job %s: stage %q script %v: want it to call `pipeline %s`", stage, j.Stage, j.Script, stage)
		}
		if j.Artifacts.Reports.Junit != ".pipeline/reports/junit-*.xml" || j.Artifacts.Reports.Dotenv != ".pipeline/reports/pipeline.env" || j.Artifacts.When != "always" {
			t.Errorf("job %s: reports not wired: %+v", stage, j.Artifacts)
		}
	}
	if j := jobs["integration"]; j.Parallel != 3 || !strings.Contains(j.Script[0], `--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"`) {
		t.Errorf("integration: parallel %v script %v", j.Parallel, j.Script)
	}
	if jobs["promote"].ResourceGroup != "promote" || jobs["promote"].Variables["GIT_DEPTH"] != "0" {
		t.Errorf("promote must be serialised and see full history: %+v", jobs["promote"])
	}
	rel := jobs["release"]
	if len(rel.Rules) < 2 || !strings.Contains(rel.Rules[0]["if"].(string), `$CI_PIPELINE_SOURCE == "schedule"`) ||
		rel.Rules[1]["when"] != "manual" {
		t.Errorf("release must run on the schedule and by hand: %v", rel.Rules)
	}
	for _, stage := range []string{"build", "template", "integration", "promote"} {
		r := jobs[stage].Rules
		if len(r) == 0 || r[0]["when"] != "never" || !strings.Contains(r[0]["if"].(string), "schedule") {
			t.Errorf("%s must not run in the weekly release schedule: %v", stage, r)
		}
	}
}

func TestGeneratedJenkinsfile(t *testing.T) {
	paths := walkJenkinsfile(t, render(t, sampleData())["Jenkinsfile"])
	checkDeclarative(t, paths)
	for _, want := range []string{
		"pipeline/stages/stage(build)/steps/sh(pipeline build)",
		"pipeline/stages/stage(build)/steps/stash(includes,name)",
		"pipeline/stages/stage(template)/steps/unstash(build)",
		"pipeline/stages/stage(template)/steps/sh(pipeline template)",
		"pipeline/stages/stage(integration)/parallel/stage(integration 3/3)/agent",
		"pipeline/stages/stage(integration)/parallel/stage(integration 3/3)/steps/unstash(build)",
		"pipeline/stages/stage(integration)/parallel/stage(integration 3/3)/steps/catchError(buildResult,stageResult)/sh(pipeline integration --shard 3/3)",
		"pipeline/stages/stage(integration)/parallel/stage(integration 3/3)/post/always/archiveArtifacts(allowEmptyArchive,artifacts)",
		"pipeline/stages/stage(promote)/when/allOf/branch(staging)",
		"pipeline/stages/stage(promote)/steps/lock(promote)/sh(pipeline promote)",
		"pipeline/stages/stage(release)/when/allOf/branch(master)",
		"pipeline/stages/stage(release)/when/allOf/anyOf/triggeredBy(TimerTrigger)",
		"pipeline/stages/stage(release)/steps/script/node/sh(pipeline release --dry-run)",
		"pipeline/stages/stage(release)/steps/script/timeout(time,unit)/input(message,ok)",
		"pipeline/stages/stage(release)/steps/script/node/lock(release)/sh(pipeline release)",
		"pipeline/triggers/cron()", // off the master branch; on it: the weekly spec
	} {
		if !paths[want] {
			t.Errorf("Jenkinsfile lacks %s", want)
		}
	}
	// Each stage takes its own executor and workspace (no shared workspace
	// between the parallel shards), and the release approval waits holding
	// neither an executor nor a lock.
	for p := range paths {
		if strings.Contains(p, "input(") && (strings.Contains(p, "/node") || strings.Contains(p, "lock(") || !strings.Contains(p, "timeout(")) {
			t.Errorf("the release approval must wait outside any node and lock, with a timeout: %s", p)
		}
		if strings.Contains(p, "/post/always/sh(") && !strings.Contains(p, "stage(integration ") {
			t.Errorf("unexpected shell step in a post block: %s", p)
		}
	}
	text := render(t, sampleData())["Jenkinsfile"]
	for _, want := range []string{"pipeline {\n    agent none\n", "cron(env.BRANCH_NAME == 'master' ? 'H 6 * * 1' : '')",
		"cp -a .pipeline/reports .pipeline/shard-3"} {
		if !strings.Contains(text, want) {
			t.Errorf("Jenkinsfile lacks %q", want)
		}
	}
	release := text[strings.Index(text, "stage('release')"):]
	if !strings.Contains(release[:200], "agent none") {
		t.Errorf("the release stage must take no agent (its approval holds none):\n%s", release[:200])
	}
}

// walkJenkinsfile runs text with the real Groovy, its DSL calls recorded
// instead of executed (testdata/jenkins-walk.groovy), and returns every
// call as a path: "pipeline/stages/stage(build)/steps/sh(pipeline build)".
// A syntax error, or a block that is not a closure where one is expected,
// fails the test.
func walkJenkinsfile(t *testing.T, text string) map[string]bool {
	t.Helper()
	groovy := testutil.NeedTool(t, "groovy")
	f := filepath.Join(t.TempDir(), "Jenkinsfile")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	walker, err := filepath.Abs(filepath.Join("testdata", "jenkins-walk.groovy"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(groovy, walker, f)
	cmd.Env = append(os.Environ(), "JAVA_HOME="+javaHome(t))
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("the Jenkinsfile does not run as Groovy: %v\n%s", err, stderr)
	}
	paths := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		paths[line] = true
	}
	return paths
}

// checkDeclarative checks the shape Jenkins' declarative pipeline requires:
// one pipeline block with agent and stages, and every stage with steps,
// parallel stages or nested stages.
func checkDeclarative(t *testing.T, paths map[string]bool) {
	t.Helper()
	for _, p := range []string{"pipeline", "pipeline/agent", "pipeline/stages"} {
		if !paths[p] {
			t.Errorf("no %s block", p)
		}
	}
	stageRe := regexp.MustCompile(`^pipeline/stages(/stage\([^)]*\)/parallel)?/stage\([^)]*\)$`)
	n := 0
	for p := range paths {
		if !stageRe.MatchString(p) {
			continue
		}
		n++
		if !paths[p+"/steps"] && !paths[p+"/parallel"] && !paths[p+"/stages"] {
			t.Errorf("%s has neither steps nor parallel", p)
		}
	}
	if n == 0 {
		t.Error("no stages")
	}
}

// javaHome is $JAVA_HOME when it holds a java, else the JDK that the java
// on PATH belongs to (Debian's groovy looks in default-java, which only the
// default-jre package creates).
func javaHome(t *testing.T) string {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		if _, err := os.Stat(filepath.Join(h, "bin", "java")); err == nil {
			return h
		}
	}
	java, err := filepath.EvalSymlinks(testutil.NeedTool(t, "java"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(java))
}

func TestWriteRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	fs, err := Render(Defaults(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Jenkinsfile"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Write(dir, fs, false)
	if err == nil || !strings.Contains(errs.Format(err), "Jenkinsfile already exists") {
		t.Fatalf("err = %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("refusing must write nothing at all; dir has %d entries", len(entries))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "Jenkinsfile")); string(b) != "mine\n" {
		t.Errorf("existing file changed: %q", b)
	}

	if err := Write(dir, fs, true); err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil || string(b) != f.Content {
			t.Errorf("%s not written by --force: %v", f.Path, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestWriteIntoMissingDir(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "nope"), nil, false); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
