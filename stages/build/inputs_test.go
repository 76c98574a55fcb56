package build

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/config"
)

// commitAt writes files and commits them at the given time.
func commitAt(t *testing.T, repo string, when time.Time, files map[string]string) {
	t.Helper()
	for rel, text := range files {
		p := filepath.Join(repo, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	date := when.UTC().Format(time.RFC3339)
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "--allow-empty", "-m", "at " + date}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.com", "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date,
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}

const twoComponents = `build:
  components:
    - name: a
      command: make -C a
      inputs: [a, common.mk]
      packages: [a/*.deb]
    - name: b
      command: %s
      inputs: [b]
      packages: [b/*.deb]
      after: [a]
`

// A component's time is the last commit that changed its inputs or its
// entry in pipeline.yaml; its key changes with them and nothing else.
func TestComponentInputsTimeAndKey(t *testing.T) {
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", "-b", "main", repo).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	cfg := func(bCommand string) string { return strings.Replace(twoComponents, "%s", bCommand, 1) }
	components := func(bCommand string) []config.Component {
		return []config.Component{
			{Name: "a", Command: "make -C a", Inputs: []string{"a", "common.mk"}, Packages: []string{"a/*.deb"}},
			{Name: "b", Command: bCommand, Inputs: []string{"b"}, Packages: []string{"b/*.deb"}, After: []string{"a"}},
		}
	}
	r := inputsReader{git: gitops.Open(repo), config: "pipeline.yaml", tools: func(context.Context, string) string { return "1.0" }}
	read := func(bCommand string) map[string]Inputs {
		t.Helper()
		in, err := r.componentInputs(context.Background(), components(bCommand), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}

	commitAt(t, repo, at(0), map[string]string{"pipeline.yaml": cfg("make -C b"), "a/x": "1", "b/y": "1", "common.mk": "1", "README": "1"})
	first := read("make -C b")
	commitAt(t, repo, at(1), map[string]string{"README": "2"}) // no component's input
	commitAt(t, repo, at(2), map[string]string{"a/x": "2"})    // a's
	second := read("make -C b")
	if !second["a"].Time.Equal(at(2)) || !second["b"].Time.Equal(at(0)) {
		t.Errorf("times: a %s (want %s), b %s (want %s)", second["a"].Time, at(2), second["b"].Time, at(0))
	}
	if second["b"].Key() != first["b"].Key() || second["a"].Key() == first["a"].Key() {
		t.Error("keys: b's changed or a's did not")
	}
	commitAt(t, repo, at(3), map[string]string{"common.mk": "2"}) // a's declared file
	if got := read("make -C b"); !got["a"].Time.Equal(at(3)) || !got["b"].Time.Equal(at(0)) {
		t.Errorf("after common.mk changed: a %s, b %s", got["a"].Time, got["b"].Time)
	}
	// b's command changes in pipeline.yaml: its time and key move; a's
	// entry, unchanged, keeps a's.
	commitAt(t, repo, at(4), map[string]string{"pipeline.yaml": cfg("make -C b V=1")})
	got := read("make -C b V=1")
	if !got["b"].Time.Equal(at(4)) || !got["a"].Time.Equal(at(3)) || got["b"].Key() == second["b"].Key() {
		t.Errorf("after b's command changed: a %s (want %s), b %s (want %s), key changed %v",
			got["a"].Time, at(3), got["b"].Time, at(4), got["b"].Key() != second["b"].Key())
	}
	// A tool's version is in the key.
	r.tools = func(context.Context, string) string { return "2.0" }
	in, err := r.componentInputs(context.Background(), []config.Component{{Name: "a", Command: "make -C a", Inputs: []string{"a", "common.mk"}, Tools: []string{"dpkg-deb"}, Packages: []string{"a/*.deb"}}}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	r.tools = func(context.Context, string) string { return "1.0" }
	in2, _ := r.componentInputs(context.Background(), []config.Component{{Name: "a", Command: "make -C a", Inputs: []string{"a", "common.mk"}, Tools: []string{"dpkg-deb"}, Packages: []string{"a/*.deb"}}}, time.Time{})
	if in["a"].Key() == in2["a"].Key() {
		t.Error("the key does not change with dpkg-deb's version")
	}
}

func TestInputPathsAndCovers(t *testing.T) {
	for _, tc := range []struct {
		c    config.Component
		want string
	}{
		{config.Component{}, "."},
		{config.Component{Dir: "agent/", Inputs: []string{"common.mk", "./agent"}}, "agent common.mk"},
		{config.Component{Prebuilt: "vendor", Inputs: []string{"."}}, "."},
	} {
		if got := strings.Join(InputPaths(tc.c), " "); got != tc.want {
			t.Errorf("InputPaths(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
	paths := []string{"agent", "common.mk"}
	for p, want := range map[string]bool{"agent/x.c": true, "agent": true, "agentx/y": false, "common.mk": true, "README": false} {
		if Covers(paths, p) != want {
			t.Errorf("Covers(%v, %s) = %v", paths, p, !want)
		}
	}
	if DirtyVersion("1.2.0", "abc") != "1.2.0+dirty.abc" || DirtyVersion("1.2.0+5.gabc1234", "abc") != "1.2.0+5.gabc1234.dirty.abc" {
		t.Error("DirtyVersion")
	}
}

// The --repo directory may be below the root of the git repository (the
// example in examples/appliance of a bigger repository): inputs, the
// pipeline.yaml history and the dirty check are all relative to it.
func TestInputsBelowTheGitRoot(t *testing.T) {
	root := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", "-b", "main", root).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := strings.Replace(twoComponents, "%s", "make -C b", 1)
	commitAt(t, root, t0, map[string]string{"app/pipeline.yaml": cfg, "app/a/x": "1", "app/b/y": "1", "app/common.mk": "1", "other/z": "1"})
	commitAt(t, root, t0.Add(time.Hour), map[string]string{"app/pipeline.yaml": strings.Replace(twoComponents, "%s", "make -C b V=1", 1)})
	app := filepath.Join(root, "app")
	r := inputsReader{git: gitops.Open(app), config: "pipeline.yaml", tools: func(context.Context, string) string { return "" }}
	in, err := r.componentInputs(context.Background(), []config.Component{
		{Name: "a", Command: "make -C a", Inputs: []string{"a", "common.mk"}, Packages: []string{"a/*.deb"}},
		{Name: "b", Command: "make -C b V=1", Inputs: []string{"b"}, Packages: []string{"b/*.deb"}, After: []string{"a"}},
	}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if in["a"].Trees[0] == "-" || in["b"].Trees[0] == "-" || !in["a"].Time.Equal(t0) || !in["b"].Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("a: trees %v time %s; b: trees %v time %s", in["a"].Trees, in["a"].Time, in["b"].Trees, in["b"].Time)
	}
	os.WriteFile(filepath.Join(root, "other", "z"), []byte("2"), 0o644) // outside app: does not count
	os.WriteFile(filepath.Join(app, "a", "x"), []byte("2"), 0o644)
	os.MkdirAll(filepath.Join(app, ".pipeline"), 0o755)
	os.WriteFile(filepath.Join(app, ".pipeline", "out"), []byte("2"), 0o644)
	d, err := dirtyTree(context.Background(), app, []string{".pipeline"})
	if err != nil {
		t.Fatal(err)
	}
	if d == nil || strings.Join(d.Files, " ") != "a/x" || len(d.Hash) != 12 {
		t.Errorf("dirty: %+v, want a/x only", d)
	}
}
