package release

import (
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/stages"
)

// A forge release that already exists with other notes (made by hand, or
// by an earlier run) is updated by the run: its notes, name and links are
// this run's, and it stays one release.
func TestExistingForgeReleaseIsUpdated(t *testing.T) {
	t.Parallel()
	f := newGLFixture(t)
	f.srv.GitLab().Do("42", func(p *forgetest.GLProject) {
		p.Releases = append(p.Releases, &forgetest.GLRelease{TagName: "v1.4.0", Name: "draft", Description: "old notes, written by hand"})
	})
	res, d := f.r.mustRelease(f.env(direct), Options{})
	if res.Outcome != stages.Passed || d.Version != "1.4.0" {
		t.Fatalf("%+v %+v", res, d)
	}
	var status string
	for _, a := range d.Actions {
		if a.Step == StepForgeRelease {
			status = a.Status
		}
	}
	if status != "updated" {
		t.Errorf("forge-release action %q, want updated", status)
	}
	rels := f.srv.GitLab().Releases("42")
	if len(rels) != 1 || rels[0].Name != "1.4.0" || strings.Contains(rels[0].Description, "old notes") {
		t.Fatalf("releases %+v, want the one release with this run's name and notes", rels)
	}
	f.checkReleased(t, "1.4.0")
}
