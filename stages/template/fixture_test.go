package template_test

import (
	"testing"

	"github.com/pipeline-ci/pipeline/stages/template/templatetest"
)

// TestFixtureImage builds (or finds in the test cache) the minimal image
// other packages' tests boot, and checks what they rely on.
func TestFixtureImage(t *testing.T) {
	img := templatetest.Image(t)
	if img.HostKey == "" || img.Cmdline == "" {
		t.Fatalf("fixture lacks host key or cmdline: %+v", img)
	}
}
