package template_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/rootfs"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/template"
)

// offline is a template whose mirror is a file:// folder with a Release
// file and whose base is already in its base cache: a tiny tarball made
// by tree, so the stage runs its steps without mmdebstrap or a network.
type offline struct {
	repo  string
	tpl   config.Template
	store artifacts.Store
	dir   string
}

func newOffline(t *testing.T, tree func(root string)) *offline {
	t.Helper()
	testutil.NeedTool(t, "tar")
	dir := t.TempDir()
	mirror := filepath.Join(dir, "mirror")
	if err := os.MkdirAll(filepath.Join(mirror, "dists", "bookworm"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mirror, "dists", "bookworm", "Release"), []byte("Suite: bookworm\n"), 0o644)
	o := &offline{repo: filepath.Join(dir, "repo"), dir: dir}
	os.MkdirAll(o.repo, 0o755)
	o.tpl = config.Template{
		Name:     "acme/dev",
		Base:     config.TemplateBase{Suite: "bookworm", Mirror: "file://" + mirror},
		CacheDir: filepath.Join(dir, "bases"),
		Formats:  []string{"qcow2"},
	}
	st, err := artifacts.NewFileStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	o.store = st
	if tree != nil {
		o.seedBase(t, tree)
	}
	return o
}

// seedBase puts the tarball of tree into the base cache under the key the
// stage will ask for.
func (o *offline) seedBase(t *testing.T, tree func(root string)) {
	t.Helper()
	ctx := context.Background()
	r, err := template.NewRecipe(o.tpl)
	if err != nil {
		t.Fatal(err)
	}
	state, err := rootfs.MirrorState(ctx, rootfs.Source{URL: r.Mirror, Suite: r.Suite, Components: r.Components})
	if err != nil {
		t.Fatal(err)
	}
	spec := template.BaseSpecOf(r, state, rootfs.MmdebstrapVersion(ctx))
	root := filepath.Join(o.dir, "tree")
	for _, d := range []string{"etc/apt/apt.conf.d", "usr/sbin", "bin"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	tree(root)
	base := filepath.Join(o.tpl.CacheDir, spec.Key(), "base.tar")
	os.MkdirAll(filepath.Dir(base), 0o755)
	if out, err := exec.Command("tar", "-C", root, "-cf", base, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
}

func (o *offline) env(t *testing.T, log *bytes.Buffer) *stages.Env {
	cfg := config.Default()
	cfg.Template = o.tpl
	l, err := logging.New(log, logging.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &stages.Env{Repo: o.repo, Config: cfg, CI: ci.Context{Env: ci.MapEnv{}}, Log: l, Report: &report.Dir{Path: t.TempDir()}}
}

// TestFailingImageWriteFailsAndPublishesNothing: the files every image
// gets (fstab, hostname, network configuration) are checked when written.
// A recipe file put where /etc/systemd/network must be a directory makes
// the network configuration unwritable: the stage fails (exit 1) naming
// the file and the cause, runs no later step, and publishes nothing.
func TestFailingImageWriteFailsAndPublishesNothing(t *testing.T) {
	o := newOffline(t, func(root string) {})
	os.WriteFile(filepath.Join(o.repo, "network"), []byte("not a directory\n"), 0o644)
	o.tpl.Files = []config.TemplateFile{{Src: "network", Dest: "/etc/systemd/network"}}
	// The files are part of the key: seed the base again for this recipe.
	o.seedBase(t, func(root string) {})

	var log bytes.Buffer
	res, err := template.New(template.Options{Store: o.store, NoBoot: true}).Run(context.Background(), o.env(t, &log))
	if err == nil {
		t.Fatalf("a failed write into the image passed:\n%s", log.String())
	}
	if errs.KindOf(err) != errs.Failure || res.Outcome != stages.Failed {
		t.Errorf("kind %v outcome %s: want a failure (exit 1)", errs.KindOf(err), res.Outcome)
	}
	for _, want := range []string{"write /etc/systemd/network/80-pipeline-dhcp.network into the image", "not a directory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	out := res.Data.(*template.Output)
	var ran []string
	for _, s := range out.Steps {
		ran = append(ran, s.Step)
	}
	if got := strings.Join(ran, " "); got != "key base rootfs" {
		t.Errorf("steps run %q, want the build to stop at rootfs", got)
	}
	objs, lerr := o.store.List(context.Background(), "")
	if lerr != nil || len(objs) != 0 {
		t.Errorf("a failed build published %v (%v)", objs, lerr)
	}
	if res.Dotenv["PIPELINE_TEMPLATE_URL"] != "" {
		t.Errorf("a failed build handed on an image: %v", res.Dotenv)
	}
}
