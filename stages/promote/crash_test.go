package promote

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// TestWorkdirNotOursIsRefused: promote.workdir pointed at anything promote
// did not make — a folder with files, the clone, the clone's parent — is
// refused with exit 2 naming it, and nothing in it is touched.
func TestWorkdirNotOursIsRefused(t *testing.T) {
	f := newFixture(t)
	f.commit()
	f.pushStaging()
	folder := filepath.Join(f.dir, "mine")
	if err := os.MkdirAll(filepath.Join(folder, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder, "notes.txt"), []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	onlyBuild := filepath.Join(f.dir, "only-build")
	if err := os.MkdirAll(filepath.Join(onlyBuild, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := f.git(f.origin, "rev-parse", "master")
	for name, dir := range map[string]string{
		"a folder with files":        folder,
		"a folder holding build/":    onlyBuild,
		"the clone":                  f.ci,
		"the clone's .git":           filepath.Join(f.ci, ".git"),
		"the clone's parent":         f.dir,
		"the clone, relative (../)":  filepath.Join(f.ci, "sub", ".."),
		"a file instead of a folder": filepath.Join(folder, "notes.txt"),
	} {
		_, err := f.promote(runOpts{mutate: func(p *config.Promote) { p.Workdir = dir }})
		if errs.KindOf(err) != errs.Usage {
			t.Errorf("%s: err = %v, want a usage error (exit 2)", name, err)
			continue
		}
		abs, _ := filepath.Abs(dir)
		if !strings.Contains(err.Error(), "promote.workdir") || !strings.Contains(err.Error(), abs) {
			t.Errorf("%s: error does not name promote.workdir and %s: %v", name, abs, err)
		}
	}
	for _, p := range []string{filepath.Join(folder, "notes.txt"), filepath.Join(onlyBuild, "build"), filepath.Join(f.ci, ".git", "HEAD"), f.origin} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was touched: %v", p, err)
		}
	}
	if after := f.git(f.origin, "rev-parse", "master"); after != before {
		t.Error("master moved")
	}
	// An empty folder, or a missing one, is fine; it gets the marker and a
	// second run clears it again.
	empty := filepath.Join(f.dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := f.promote(runOpts{mutate: func(p *config.Promote) { p.Workdir = empty }}); err != nil {
		t.Fatal(err)
	}
	f.check(nil, nil)
	if err := os.MkdirAll(filepath.Join(empty, "probe-1", "junk"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, workdirMarker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.commit()
	f.pushStaging()
	if _, err := f.promote(runOpts{mutate: func(p *config.Promote) { p.Workdir = empty }}); err != nil {
		t.Fatalf("a marked workdir was refused: %v", err)
	}
	f.check(nil, nil)
}

// TestProvenanceOnlyFromOurPicks: a later staging commit whose message
// carries "Promoted-from: <culprit>" or "(cherry picked from commit
// <culprit>)" is promoted; the culprit must not vanish from the next run.
func TestProvenanceOnlyFromOurPicks(t *testing.T) {
	for name, line := range map[string]string{
		"trailer": "Promoted-from: %s",
		"x-line":  "(cherry picked from commit %s)",
		"both":    "(cherry picked from commit %[1]s)\nPromoted-from: %[1]s",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.commit()
			culprit := f.commit("x.broken")
			f.n++
			f.write(fmt.Sprintf("f%02d.txt", f.n), "sneaky\n")
			f.commits = append(f.commits, f.commitAll("innocent looking\n\n"+fmt.Sprintf(line, culprit)))
			f.pushStaging()
			rep, err := f.promote(runOpts{})
			if errs.KindOf(err) != errs.Failure {
				t.Fatalf("first run: %v", err)
			}
			f.check(rep, map[int]State{1: Culprit})
			rep, err = f.promote(runOpts{})
			if errs.KindOf(err) != errs.Failure {
				t.Fatalf("re-run: %v (the culprit vanished?)", err)
			}
			if len(rep.Candidates) != 1 || rep.Candidates[0].SHA != culprit || rep.Candidates[0].State != Culprit {
				t.Fatalf("re-run candidates %+v, want the culprit again", rep.Candidates)
			}
		})
	}
}
