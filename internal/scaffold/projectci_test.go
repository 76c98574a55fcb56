package scaffold

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The project's own .gitlab-ci.yml and Jenkinsfile (at the top of the
// repository) show the real use of pipeline on this repository. These tests
// keep them valid and keep them wired the way docs/cli.md says.

func readTop(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProjectGitLabCI(t *testing.T) {
	stages, jobs := parseGitLabCI(t, readTop(t, ".gitlab-ci.yml"))
	if strings.Join(stages, ",") != "binary,test,build,template,integration,promote,release" {
		t.Errorf("stages = %v", stages)
	}
	if j := jobs["binary"]; len(j.Script) == 0 || !strings.Contains(j.Script[0], "go build") || !strings.Contains(j.Script[0], "./cmd/pipeline") {
		t.Errorf("binary job does not build the pipeline binary: %v", j.Script)
	}
	if j := jobs["test"]; len(j.Script) != 1 || j.Script[0] != "bash scripts/test.sh" {
		t.Errorf("test job must run README's test command: %v", j.Script)
	}
	for _, stage := range []string{"build", "template", "integration", "promote", "release"} {
		j, ok := jobs[stage]
		if !ok {
			t.Errorf("no job for stage %s", stage)
			continue
		}
		last := j.Script[len(j.Script)-1]
		if j.Stage != stage || !strings.HasPrefix(last, "$PIPELINE ") || !strings.Contains(last, `--report-dir "$REPORTS" `+stage) {
			t.Errorf("job %s: stage %q, script %q: want `$PIPELINE ... --report-dir \"$REPORTS\" %s`", stage, j.Stage, last, stage)
		}
		if j.Artifacts.Reports.Junit != ".pipeline/reports/junit-*.xml" || j.Artifacts.Reports.Dotenv != ".pipeline/reports/pipeline.env" {
			t.Errorf("job %s: reports not wired: %+v", stage, j.Artifacts.Reports)
		}
		if len(j.Needs) == 0 || j.Needs[0] != "binary" {
			t.Errorf("job %s must use the binary of this commit (needs: binary first): %v", stage, j.Needs)
		}
	}
	if j := jobs["integration"]; j.Parallel != 2 || !strings.Contains(j.Script[0], `--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"`) {
		t.Errorf("integration: parallel %v, script %v", j.Parallel, j.Script)
	}
	if j := jobs["promote"]; j.ResourceGroup != "promote" || j.Variables["GIT_DEPTH"] != "0" {
		t.Errorf("promote: resource_group %q, GIT_DEPTH %q", j.ResourceGroup, j.Variables["GIT_DEPTH"])
	}
	rel := jobs["release"]
	if len(rel.Rules) != 2 || !strings.Contains(rel.Rules[0]["if"].(string), `$CI_PIPELINE_SOURCE == "schedule"`) || rel.Rules[1]["when"] != "manual" {
		t.Errorf("release must run on the weekly schedule or by hand: %v", rel.Rules)
	}
}

func TestProjectJenkinsfile(t *testing.T) {
	paths := walkJenkinsfile(t, readTop(t, "Jenkinsfile"))
	checkDeclarative(t, paths)
	for _, want := range []string{
		`pipeline/stages/stage(binary)/steps/sh(go build -trimpath -ldflags "-s -w -X main.version=$(git rev-parse --short=12 HEAD)" -o bin/pipeline ./cmd/pipeline)`,
		"pipeline/stages/stage(test)/steps/sh(bash scripts/test.sh)",
		`pipeline/stages/stage(build)/steps/sh($PIPELINE -C examples/appliance --report-dir "$REPORTS" build)`,
		`pipeline/stages/stage(template)/steps/sh($PIPELINE -C examples/appliance --report-dir "$REPORTS" template)`,
		`pipeline/stages/stage(integration)/parallel/stage(integration 2/2)/agent`,
		`pipeline/stages/stage(integration)/parallel/stage(integration 2/2)/steps/unstash(build)`,
		`pipeline/stages/stage(integration)/parallel/stage(integration 2/2)/steps/catchError(buildResult,stageResult)/sh($PIPELINE -C examples/appliance --report-dir "$REPORTS" integration --shard 2/2)`,
		`pipeline/stages/stage(promote)/steps/lock(promote)/sh($PIPELINE -C examples/appliance --report-dir "$REPORTS" promote)`,
		`pipeline/stages/stage(release)/steps/script/timeout(time,unit)/input(message,ok)`,
		`pipeline/stages/stage(release)/steps/script/node/lock(release)/sh($PIPELINE --report-dir "$REPORTS" release)`,
	} {
		if !paths[want] {
			t.Errorf("Jenkinsfile lacks %s", want)
		}
	}
	for p := range paths {
		if strings.Contains(p, "input(") && (strings.Contains(p, "/node") || strings.Contains(p, "lock(") || !strings.Contains(p, "timeout(")) {
			t.Errorf("the release approval must wait outside any node and lock, with a timeout: %s", p)
		}
	}
}
