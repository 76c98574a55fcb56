package release

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cloneNoLocal clones r's origin the way a CI job gets it: one pack,
// packed refs, no commit-graph.
func cloneNoLocal(t *testing.T, r *repo) *repo {
	t.Helper()
	clone := filepath.Join(t.TempDir(), "clone")
	r.git(filepath.Dir(clone), "clone", "--quiet", "--no-local", r.remote, clone)
	c := &repo{t: t, dir: clone, remote: r.remote, n: 1000}
	c.run("config", "user.name", "CI")
	c.run("config", "user.email", "ci@example.com")
	return c
}

// gitShim puts a git on PATH that logs each invocation to the returned
// file, then runs the real git.
func gitShim(t *testing.T) (log string) {
	t.Helper()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log = filepath.Join(dir, "calls")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" + log + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

func calls(t *testing.T, log string) []string {
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "_"))
}

// planJSON runs a dry-run plan and returns its --json data and notes; with
// viaGit the repository is read by git processes only, as before the
// in-process reader.
func planJSON(t *testing.T, c *repo, viaGit bool) string {
	t.Helper()
	if viaGit {
		readInProcess = false
		defer func() { readInProcess = true }()
	}
	env := c.env(nil, nil)
	env.DryRun = true
	_, d := c.mustRelease(env, Options{})
	b, err := json.MarshalIndent(d, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A plan on a fresh CI clone starts at most two git processes (today one:
// the git log of the range), and plans exactly what the all-git reading
// plans.
func TestPlanStartsAtMostTwoGitProcesses(t *testing.T) {
	r := newRepo(t)
	r.commit("feat: start")
	r.bulk("fix: old", 200)
	r.tag("v1.0.0")
	r.bulk("feat: more", 200)
	r.tag("v1.1.0")
	r.bulk("fix: later", 150)
	r.commit("feat!: breaking\n\nBREAKING CHANGE: moved")
	r.push()
	c := cloneNoLocal(t, r)
	want := planJSON(t, c, true)

	log := gitShim(t)
	got := planJSON(t, c, false)
	n := calls(t, log)
	if len(n) > 2 {
		t.Errorf("the plan started %d git processes, want at most 2: %s", len(n), strings.Join(n, "\n"))
	}
	if len(n) == 0 || !strings.HasPrefix(n[len(n)-1], "log_-z") {
		t.Errorf("the plan did not walk the range with git log -z: %q", n)
	}
	if got != want {
		t.Errorf("in-process reading changed the plan:\n%s\nwant (all git):\n%s", got, want)
	}
	if !strings.Contains(got, `"version": "2.0.0"`) || !strings.Contains(got, `"previous_tag": "v1.1.0"`) {
		t.Errorf("unexpected plan: %.400s", got)
	}
}

// The in-process reading plans byte for byte what git's does on histories
// where the guess of the last stable tag is right, wrong, or absent.
func TestInProcessReadingPlansAsGitDoes(t *testing.T) {
	for name, build := range map[string]func(r *repo){
		"no tag": func(r *repo) { r.commit("feat: a"); r.bulk("fix: b", 30) },
		"prerelease in range": func(r *repo) {
			r.commit("feat: a")
			r.tag("v1.0.0")
			r.bulk("fix: b", 10)
			r.tag("v1.1.0-rc.1")
			r.bulk("fix: c", 5)
		},
		"only prereleases": func(r *repo) {
			r.commit("feat: a")
			r.tag("v1.0.0-rc.1")
			r.bulk("fix: b", 10)
			r.tag("v1.0.0-rc.2")
			r.commit("fix: c")
		},
		"prerelease before the stable tag": func(r *repo) {
			r.commit("feat: a")
			r.tag("v2.0.0-rc.1")
			r.bulk("fix: b", 10)
			r.tag("v1.5.0")
			r.commit("fix: c")
		},
		"highest tag on another branch": func(r *repo) {
			r.commit("feat: a")
			r.tag("v1.0.0")
			r.run("checkout", "--quiet", "-b", "side")
			r.commit("fix: side")
			r.tag("v1.0.1")
			r.run("checkout", "--quiet", "main")
			r.bulk("feat: main", 12)
		},
		"lightweight and loose tags": func(r *repo) {
			r.commit("feat: a")
			r.run("tag", "v0.9.0")
			r.bulk("fix: b", 10)
			r.run("tag", "v1.0.0")
			r.commit("feat: c")
			r.run("tag", "not-a-version")
		},
		"lightweight tag of a release commit, not pushed": func(r *repo) {
			r.commit("feat: a")
			r.commit("chore(release): 1.1.0\n\nRelease-Version: 1.1.0\nRelease-Milestone: W48")
		},
		"release tag of ours": func(r *repo) {
			r.commit("feat: a")
			r.run("tag", "-a", "-m", "Release 1.0.0\n\nRelease-Version: 1.0.0\nRelease-Milestone: W47", "v1.0.0")
			r.commit("fix: b")
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t)
			build(r)
			r.run("push", "--quiet", "--tags", "origin", "HEAD:refs/heads/main")
			c := cloneNoLocal(t, r)
			// A tag made in the clone is loose (ref and object).
			c.run("tag", "-a", "-m", "local", "local-tag")
			if name == "lightweight tag of a release commit, not pushed" {
				c.run("tag", "v1.1.0")
			}
			if got, want := planJSON(t, c, false), planJSON(t, c, true); got != want {
				t.Errorf("in-process reading:\n%s\nall git:\n%s", got, want)
			}
		})
	}
}

// A shallow CI clone plans as before, deepening as far as the last tag.
func TestShallowClonePlansAsGitDoes(t *testing.T) {
	r := newRepo(t)
	r.commit("chore: start")
	r.bulk("chore: old", 120)
	r.tag("v1.2.0")
	r.bulk("fix: filler", 40)
	r.commit("feat: new thing")
	r.push()
	shallow := func() *repo {
		clone := filepath.Join(t.TempDir(), "clone")
		r.git(filepath.Dir(clone), "clone", "--quiet", "--depth=5", "--no-single-branch", "file://"+r.remote, clone)
		c := &repo{t: t, dir: clone, remote: r.remote, n: 100}
		c.run("fetch", "--quiet", "--tags", "--depth=1", "origin")
		return c
	}
	a, b := shallow(), shallow()
	got, want := planJSON(t, a, false), planJSON(t, b, true)
	if got != want {
		t.Errorf("shallow clone, in-process reading:\n%s\nall git:\n%s", got, want)
	}
	if !strings.Contains(got, `"previous_tag": "v1.2.0"`) || a.run("rev-parse", "--is-shallow-repository") != "true" {
		t.Errorf("not deepened just to v1.2.0: %.300s", got)
	}
}
