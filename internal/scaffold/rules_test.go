package scaffold

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// gitlab-ci-local (4.64.1) does not evaluate workflow:rules, so the e2e
// tests cannot show which pipelines GitLab creates. These tests evaluate the
// CI files' workflow and job rules the way GitLab documents them: the first
// rule whose `if` holds decides (`when: never` drops the pipeline or job),
// no rule holding drops it; `$VAR` holds when VAR is set and not empty, and
// an unset variable compares as empty. Only the syntax the files use is
// understood (`&&` of `$VAR`, `$VAR == "..."`, `$VAR != "..."`); anything
// else fails the test, so a new rule cannot slip past it.

var (
	ruleCompare = regexp.MustCompile(`^\$(\w+)\s*(==|!=)\s*"([^"]*)"$`)
	rulePresent = regexp.MustCompile(`^\$(\w+)$`)
)

// ruleHolds evaluates one `if:` expression with vars.
func ruleHolds(t *testing.T, expr string, vars map[string]string) bool {
	t.Helper()
	for _, term := range strings.Split(expr, "&&") {
		term = strings.TrimSpace(term)
		if m := ruleCompare.FindStringSubmatch(term); m != nil {
			if (vars[m[1]] == m[3]) != (m[2] == "==") {
				return false
			}
		} else if m := rulePresent.FindStringSubmatch(term); m != nil {
			if vars[m[1]] == "" {
				return false
			}
		} else {
			t.Fatalf("rule %q: term %q is outside what this test understands", expr, term)
		}
	}
	return true
}

// rulesRun says whether rules let the pipeline or job exist.
func rulesRun(t *testing.T, rules []map[string]any, vars map[string]string) bool {
	t.Helper()
	for _, r := range rules {
		if cond, ok := r["if"]; ok && !ruleHolds(t, cond.(string), vars) {
			continue
		}
		return r["when"] != "never"
	}
	return false
}

func workflowRules(t *testing.T, text string) []map[string]any {
	t.Helper()
	var f struct {
		Workflow struct {
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"workflow"`
	}
	if err := yaml.Unmarshal([]byte(text), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Workflow.Rules) == 0 {
		t.Fatal("no workflow rules")
	}
	return f.Workflow.Rules
}

// pipelineCases are the events that matter: which pipeline GitLab creates,
// and whether promote (on staging) and the release (on master) are in it.
var pipelineCases = []struct {
	name               string
	vars               map[string]string
	pipeline, promote  bool
	releaseJobIncluded bool
}{
	{"push to staging", map[string]string{"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "staging"}, true, true, false},
	// The case of the issue: with an MR open from staging, the branch
	// pipeline must still be created, and promote be in it.
	{"push to staging, MR open from it", map[string]string{"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "staging", "CI_OPEN_MERGE_REQUESTS": "appliance/os!7"}, true, true, false},
	// ...and no second pipeline for the same push (the MR pipeline has no
	// CI_COMMIT_BRANCH, so promote could not run in it anyway).
	{"MR pipeline from staging", map[string]string{"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "staging"}, false, false, false},
	{"push to a feature branch, MR open", map[string]string{"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature", "CI_OPEN_MERGE_REQUESTS": "appliance/os!8"}, false, false, false},
	{"MR pipeline from a feature branch", map[string]string{"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature"}, true, false, false},
	{"push to a feature branch", map[string]string{"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature"}, true, false, false},
	{"weekly schedule on master", map[string]string{"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "master"}, true, false, true},
	{"push to master", map[string]string{"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "master"}, true, false, true},
	{"the release's tag", map[string]string{"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.1.0"}, false, false, false},
}

func checkPipelines(t *testing.T, text string) {
	t.Helper()
	workflow := workflowRules(t, text)
	_, jobs := parseGitLabCI(t, text)
	for _, c := range pipelineCases {
		if got := rulesRun(t, workflow, c.vars); got != c.pipeline {
			t.Errorf("%s: pipeline created = %v, want %v", c.name, got, c.pipeline)
			continue
		}
		if !c.pipeline {
			continue
		}
		if got := rulesRun(t, jobs["promote"].Rules, c.vars); got != c.promote {
			t.Errorf("%s: promote runs = %v, want %v", c.name, got, c.promote)
		}
		if got := rulesRun(t, jobs["release"].Rules, c.vars); got != c.releaseJobIncluded {
			t.Errorf("%s: release job = %v, want %v", c.name, got, c.releaseJobIncluded)
		}
	}
}

func TestGeneratedGitLabCIPipelines(t *testing.T) {
	checkPipelines(t, render(t, sampleData())[".gitlab-ci.yml"])
}

func TestProjectGitLabCIPipelines(t *testing.T) { checkPipelines(t, readTop(t, ".gitlab-ci.yml")) }

// The component cannot set workflow rules: its comments give the rule to
// add. With that rule before the usual ones (as e2e's isolated component
// test writes them), the component's jobs behave as the generated file's.
func TestComponentPipelines(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "templates", "gitlab", "template.yml"))
	if err != nil {
		t.Fatal(err)
	}
	_, jobs, ok := strings.Cut(string(b), "\n---\n")
	if !ok {
		t.Fatal("the component has no spec header")
	}
	if !strings.Contains(jobs, `#   - if: $CI_COMMIT_BRANCH == "staging"`) {
		t.Fatal("the component no longer gives the workflow rule for staging")
	}
	jobs = strings.NewReplacer("$[[ inputs.staging ]]", "staging", "$[[ inputs.master ]]", "master").Replace(jobs)
	workflow := `workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event" && $CI_MERGE_REQUEST_SOURCE_BRANCH_NAME == "staging"
      when: never
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH == "staging"
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS
      when: never
    - if: $CI_COMMIT_BRANCH
`
	checkPipelines(t, workflow+jobs)
}
