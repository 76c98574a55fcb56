package template_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/artifacts/miniotest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
	"github.com/pipeline-ci/pipeline/stages/template"
	"github.com/pipeline-ci/pipeline/stages/template/templatetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.Stop()
	os.Exit(code)
}

// appliance is the example appliance built and published by the build
// stage, with a template recipe that installs its pinned meta-package.
type appliance struct {
	ex  *buildtest.Example
	cfg *config.Config
}

func newAppliance(t *testing.T) *appliance {
	ex := buildtest.BuildExample(t)
	cfg := *ex.Config
	cfg.Template = templatetest.Recipe()
	cfg.Template.Name = "acme/appliance-dev"
	cfg.Template.Description = "Appliance developer VM"
	cfg.Template.Formats = nil // every format
	cfg.Template.CacheDir = filepath.Join(templatetest.CacheRoot, "base")
	cfg.Template.Retention = 2
	cfg.Template.Metapackage = config.TemplateMetapackage{
		Name: ex.Out.Metapackage, Version: ex.Out.Revision.Version, Source: ex.Out.APT.Source, Lock: ex.Out.LockFile,
	}
	cfg.Template.Provision = []config.TemplateStep{{Run: "echo provisioned > /etc/appliance-template"}}
	return &appliance{ex: ex, cfg: &cfg}
}

func (a *appliance) env(t *testing.T, tpl config.Template) *stages.Env {
	cfg := *a.cfg
	cfg.Template = tpl
	return &stages.Env{Repo: a.ex.Repo, Config: &cfg, CI: ci.Context{Env: ci.MapEnv{}}, Log: templatetest.TestLog(t),
		Report: &report.Dir{Path: t.TempDir()}}
}

func publicBucket(t *testing.T, srv *miniotest.Server) artifacts.Store {
	bucket := srv.Bucket(t)
	// Developers download boxes over plain HTTP: let anyone read.
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, bucket)
	if err := srv.Client.SetBucketPolicy(context.Background(), bucket, policy); err != nil {
		t.Fatal(err)
	}
	st, err := artifacts.NewS3Store(context.Background(), bucket, "ci", artifacts.S3Options{Endpoint: srv.Endpoint, Insecure: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func keys(t *testing.T, st artifacts.Store) []string {
	objs, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Key+" "+o.SHA256)
	}
	sort.Strings(out)
	return out
}

// TestTemplateEndToEnd builds the appliance's template from the example's
// published APT repository into a real MinIO, boots it and checks the
// pinned versions inside, re-runs as a cache hit, adds the box with
// Vagrant from the catalog and sees `vagrant box outdated` notice the next
// version, and shows that a changed lock gives a new key.
func TestTemplateEndToEnd(t *testing.T) {
	templatetest.NeedTools(t)
	vagrant := testutil.NeedTool(t, "vagrant")
	a := newAppliance(t)
	st := publicBucket(t, miniotest.Start(t))
	ctx := context.Background()

	// First build: everything, with the smoke boot.
	res, err := template.New(template.Options{Store: st}).Run(ctx, a.env(t, a.cfg.Template))
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	out := res.Data.(*template.Output)
	if res.Outcome != stages.Passed || out.CacheHit {
		t.Fatalf("first run: outcome %s cache hit %v", res.Outcome, out.CacheHit)
	}
	t.Logf("first build: %s", timings(out))

	// The smoke boot read the meta-package's pins back from inside the VM:
	// every locked deb at exactly its locked version.
	want := map[string]string{}
	for _, p := range a.ex.Out.Lock.Packages {
		if p.Format == "deb" {
			want[p.Name] = p.Version
		}
	}
	if out.Smoke == nil || out.Smoke.State != "running" {
		t.Fatalf("smoke: %+v", out.Smoke)
	}
	got := map[string]string{}
	for _, p := range out.Smoke.Pins {
		if p.Installed != p.Want {
			t.Errorf("pin %s: want %s installed %s", p.Package, p.Want, p.Installed)
		}
		got[p.Package] = p.Installed
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("installed pins %v, want the lock's %v", got, want)
	}

	// Every format, verified in the store; the key in dotenv and manifest.
	formats := map[string]template.File{}
	for _, f := range out.Files {
		formats[f.Format] = f
		obj, err := st.Stat(ctx, f.Key)
		if err != nil || obj.SHA256 != f.SHA256 || obj.Size != f.Size {
			t.Errorf("%s in the store: %+v, %v; want sha256 %s size %d", f.Name, obj, err, f.SHA256, f.Size)
		}
	}
	for _, f := range []string{"qcow2", "qcow2-compressed", "vmdk", "libvirt", "virtualbox", "kernel", "initrd"} {
		if _, ok := formats[f]; !ok {
			t.Errorf("no %s file published", f)
		}
	}
	if res.Dotenv["PIPELINE_TEMPLATE_KEY"] != out.Key || res.Dotenv["PIPELINE_TEMPLATE_URL"] != formats["qcow2"].URL {
		t.Errorf("dotenv %v", res.Dotenv)
	}
	checkImages(t, st, formats)

	// Second run, same inputs: a cache hit that uploads nothing.
	before := keys(t, st)
	start := time.Now()
	res2, err := template.New(template.Options{Store: st}).Run(ctx, a.env(t, a.cfg.Template))
	if err != nil {
		t.Fatal(err)
	}
	out2 := res2.Data.(*template.Output)
	t.Logf("cache hit in %s", time.Since(start).Round(time.Millisecond))
	if !out2.CacheHit || out2.Key != out.Key || res2.Outcome != stages.NoChange || out2.Version != out.Version {
		t.Fatalf("second run: cache hit %v key %s outcome %s version %s", out2.CacheHit, out2.Key, res2.Outcome, out2.Version)
	}
	if after := keys(t, st); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a cache hit changed the store:\nbefore %v\nafter  %v", before, after)
	}

	// Vagrant: add the box from the catalog over HTTP, publish the next
	// version, and `vagrant box outdated` tells.
	vagrantOutdated(t, vagrant, st, out, formats)

	// A changed lock gives a new key (dry run: nothing is built or uploaded).
	lock, _ := os.ReadFile(a.ex.Out.LockFile)
	changed := filepath.Join(t.TempDir(), "dist.lock")
	os.WriteFile(changed, append(lock, []byte("\n")...), 0o644)
	tpl := a.cfg.Template
	tpl.Metapackage.Lock = changed
	env := a.env(t, tpl)
	env.DryRun = true
	before = keys(t, st)
	res3, err := template.New(template.Options{Store: st}).Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if k := res3.Data.(*template.Output).Key; k == out.Key || res3.Outcome != stages.DryRunned || res3.Dotenv != nil {
		t.Fatalf("changed lock: key %s (was %s), outcome %s, dotenv %v", k, out.Key, res3.Outcome, res3.Dotenv)
	}
	if after := keys(t, st); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("--dry-run changed the store")
	}
}

func timings(out *template.Output) string {
	var s []string
	for _, st := range out.Steps {
		s = append(s, fmt.Sprintf("%s %.1fs", st.Step, st.Seconds))
	}
	return strings.Join(s, ", ")
}

// checkImages looks inside what was published: the formats qemu-img sees,
// and the files in each box.
func checkImages(t *testing.T, st artifacts.Store, formats map[string]template.File) {
	dir := t.TempDir()
	get := func(f template.File) string {
		p := filepath.Join(dir, f.Name)
		w, _ := os.Create(p)
		defer w.Close()
		if err := st.Get(context.Background(), f.Key, w); err != nil {
			t.Fatal(err)
		}
		return p
	}
	info := func(p string) map[string]any {
		out, err := exec.Command("qemu-img", "info", "--output=json", p).Output()
		if err != nil {
			t.Fatalf("qemu-img info %s: %v", p, err)
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		return m
	}
	if m := info(get(formats["vmdk"])); m["format"] != "vmdk" || !strings.Contains(fmt.Sprint(m["format-specific"]), "streamOptimized") {
		t.Errorf("vmdk: %v", m)
	}
	if m := info(get(formats["qcow2-compressed"])); m["format"] != "qcow2" {
		t.Errorf("compressed qcow2: %v", m)
	}
	for box, want := range map[string][]string{"libvirt": {"Vagrantfile", "box.img", "metadata.json"}, "virtualbox": {"Vagrantfile", "box-disk001.vmdk", "box.ovf", "metadata.json"}} {
		f, _ := os.Open(get(formats[box]))
		tr := tar.NewReader(f)
		var names []string
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			names = append(names, h.Name)
		}
		f.Close()
		sort.Strings(names)
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("%s box holds %v, want %v", box, names, want)
		}
	}
}

func vagrantOutdated(t *testing.T, vagrant string, st artifacts.Store, out *template.Output, formats map[string]template.File) {
	home := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command(vagrant, args...)
		cmd.Env = append(os.Environ(), "VAGRANT_HOME="+home, "VAGRANT_CHECKPOINT_DISABLE=1", "VAGRANT_DISABLE_VBOXSYMLINKCREATE=1")
		cmd.Dir = home
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("vagrant %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	run("box", "add", "--provider", "libvirt", out.Catalog)
	if list := run("box", "list"); !strings.Contains(list, "acme/appliance-dev") || !strings.Contains(list, out.Version) {
		t.Fatalf("vagrant box list: %s", list)
	}
	if o := run("box", "outdated", "--global"); strings.Contains(o, "is outdated") {
		t.Fatalf("fresh box reported outdated: %s", o)
	}
	// The next version, as the next changed build would publish it.
	layout := template.StoreLayout{Prefix: template.StorePrefix("acme/appliance-dev")}
	next := template.CatalogVersion{Version: "9999.0101.000000", Status: "active", Key: out.Key, Created: time.Now().UTC().Format(time.RFC3339),
		Providers: []template.CatalogProvider{{Name: "libvirt", URL: formats["libvirt"].URL, Checksum: formats["libvirt"].SHA256, ChecksumType: "sha256"}}}
	if _, _, err := template.PublishCatalog(context.Background(), st, layout, "acme/appliance-dev", "", next, 2); err != nil {
		t.Fatal(err)
	}
	o := run("box", "outdated", "--global")
	if !strings.Contains(o, "outdated") || !strings.Contains(o, "9999.0101.000000") {
		t.Fatalf("vagrant box outdated --global did not notice the new version:\n%s", o)
	}
	t.Logf("vagrant box outdated --global:\n%s", o)
	// Retention 2: a third version drops the oldest from the catalog, but
	// the files of a key a kept version still uses stay.
	third := next
	third.Version = "9999.0102.000000"
	cat, pruned, err := template.PublishCatalog(context.Background(), st, layout, "acme/appliance-dev", "", third, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Versions) != 2 || len(pruned) != 1 || pruned[0].Version != out.Version {
		t.Fatalf("retention: catalog %v pruned %v", cat.Versions, pruned)
	}
	if _, err := st.Stat(context.Background(), layout.Manifest(out.Key)); err != nil {
		t.Fatalf("pruning a version deleted the files another version uses: %v", err)
	}
}

// TestFailingProvisioningFailsWithOutput: a provisioning command that
// fails stops the stage (exit 1) with the command's own output, and
// nothing is published for the key.
func TestFailingProvisioningFailsWithOutput(t *testing.T) {
	templatetest.NeedTools(t)
	a := newAppliance(t)
	st, err := artifacts.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tpl := a.cfg.Template
	tpl.Provision = []config.TemplateStep{{Run: "echo 'appliance: provisioning broke here' >&2\nexit 7"}}
	res, err := template.New(template.Options{Store: st, NoBoot: true}).Run(context.Background(), a.env(t, tpl))
	if err == nil {
		t.Fatal("a failing provisioning command passed")
	}
	if errs.KindOf(err) != errs.Failure || res.Outcome != stages.Failed {
		t.Errorf("kind %v outcome %s: want a failure (exit 1)", errs.KindOf(err), res.Outcome)
	}
	for _, want := range []string{"provisioning broke here", "exit status 7", "provision[0]"} {
		if !strings.Contains(errs.Format(err), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	objs, _ := st.List(context.Background(), "")
	if len(objs) != 0 {
		t.Errorf("a failed build published %v", objs)
	}
}
