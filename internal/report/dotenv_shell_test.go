package report

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/testutil"
)

// gitlabDotenv reads a dotenv report by GitLab's documented rules (the
// artifacts:reports:dotenv page; Ci::ParseDotenvArtifactService): each
// line is KEY=VALUE split at the first "=", key and value stripped of
// surrounding blanks, keys of ASCII letters, digits and "_", quotes KEPT
// as part of the value, no empty line, no comment.
func gitlabDotenv(t *testing.T, text string) map[string]string {
	t.Helper()
	line := regexp.MustCompile(`^(.*?)=(.*)$`)
	key := regexp.MustCompile(`^[a-zA-Z0-9_]+$`)
	out := map[string]string{}
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d %q: GitLab answers 400 Invalid Format", i+1, l)
		}
		k, v := strings.TrimSpace(m[1]), strings.TrimSpace(m[2])
		if !key.MatchString(k) {
			t.Fatalf("line %d: key %q: GitLab refuses it", i+1, k)
		}
		out[k] = v
	}
	return out
}

// dotenvSample is what the stages hand on, with values written to break a
// careless writer: the build's apt source (spaces, brackets), and quotes,
// $, backquotes, backslashes, globs, ~, # and ; that a shell would act on.
var dotenvSample = map[string]string{
	"PIPELINE_APT_SOURCE":           "deb [trusted=yes] file:///srv/builds/1.2.0/apt stable main",
	"PIPELINE_METAPACKAGE":          "appliance=1.2.0",
	"PIPELINE_METAPACKAGE_VERSION":  "1.2.0+2.g0123abc",
	"PIPELINE_REPO_URL":             "s3://bucket/builds/1.2.0/apt?region=eu-west-1&x=1",
	"PIPELINE_PROMOTE_CULPRIT":      "",
	"PIPELINE_RELEASE_TITLE":        `it's "v1.2" $HOME $(id) ` + "`id`" + ` \n \ end`,
	"PIPELINE_GLOBS":                "*.deb ~/x [a-z]? #not-a-comment ; echo no",
	"PIPELINE_INTEGRATION_FAILED":   "0",
	"PIPELINE_TEMPLATE_BOX_COMMAND": "vagrant box add --name appliance/dev https://store.example/boxes/dev.json",
}

// pipeline.env is read by GitLab's rules, and pipeline-env.sh by sh, to
// the same values, every one of them; both files are pinned by golden
// files.
func TestDotenvShellAndGitLabReadTheSameValues(t *testing.T) {
	d := &Dir{Path: t.TempDir()}
	if _, err := d.WriteDotenv(dotenvSample); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(d.Path, DotenvFile))
	if err != nil {
		t.Fatal(err)
	}
	shFile, err := os.ReadFile(filepath.Join(d.Path, DotenvShellFile))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "pipeline.env.golden", env)
	golden(t, "pipeline-env.sh.golden", shFile)

	gitlab := gitlabDotenv(t, string(env))
	if len(gitlab) != len(dotenvSample) {
		t.Errorf("GitLab reads %d variables, want %d", len(gitlab), len(dotenvSample))
	}
	for _, shell := range []string{"sh", "bash"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			if shell == "sh" {
				t.Fatal(err)
			}
			continue // bash is a bonus; sh is the promise
		}
		for k, want := range dotenvSample {
			// A fresh shell per variable: a value that ran a command or
			// set another variable would show.
			cmd := exec.Command(path, "-c", `. ./`+DotenvShellFile+` && printf '%s' "$`+k+`"`)
			cmd.Dir = d.Path
			cmd.Env = []string{"HOME=/nonexistent", "PATH=" + os.Getenv("PATH")}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: . %s: %v\n%s", shell, DotenvShellFile, err, out)
			}
			if string(out) != want {
				t.Errorf("%s reads %s = %q, want %q", shell, k, out, want)
			}
			if gitlab[k] != want {
				t.Errorf("GitLab reads %s = %q, want %q", k, gitlab[k], want)
			}
		}
	}
	// Why two files: sourcing pipeline.env itself runs "[trusted=yes]" as
	// a command. If this ever passes, pipeline.env alone would do.
	cmd := exec.Command("sh", "-c", `. ./`+DotenvFile+` 2>/dev/null && [ "$PIPELINE_APT_SOURCE" = "`+dotenvSample["PIPELINE_APT_SOURCE"]+`" ]`)
	cmd.Dir = d.Path
	if cmd.Run() == nil {
		t.Errorf("sh read %s's apt source whole: the shell file is no longer needed", DotenvFile)
	}
}

// gitlab-ci-local (the e2e tests' stand-in for GitLab, scripts/deps/e2e.sh)
// reads dotenv reports with the npm dotenv package: it reads pipeline.env
// to GitLab's values, except that it cuts an unquoted value at " #" (an
// inline comment to it, part of the value to GitLab). The test pins both,
// so that a change on either side shows.
func TestDotenvGitlabCILocalReadsTheSameValues(t *testing.T) {
	const mod = "/var/tmp/pipeline-tools/gitlab-ci-local-4.64.1/node_modules/dotenv"
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(mod, "package.json"))
	}
	if err != nil {
		testutil.NotChecked(t, "gitlab-ci-local's dotenv (node, "+mod+") is not installed, so its reading of pipeline.env was not checked: run scripts/deps/e2e.sh ("+err.Error()+")")
	}
	d := &Dir{Path: t.TempDir()}
	if _, err := d.WriteDotenv(dotenvSample); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, "-e", `const d = require(process.argv[1]);
process.stdout.write(JSON.stringify(d.parse(require("fs").readFileSync(process.argv[2]))))`,
		mod, filepath.Join(d.Path, DotenvFile)).Output()
	if err != nil {
		t.Fatalf("node dotenv: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range dotenvSample {
		if i := strings.Index(want, " #"); i >= 0 {
			want = strings.TrimSpace(want[:i]) // gitlab-ci-local's divergence from GitLab
		}
		if got[k] != want {
			t.Errorf("gitlab-ci-local reads %s = %q, want %q", k, got[k], want)
		}
	}
}
