package template

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func testRecipe(t *testing.T) Recipe {
	r, err := NewRecipe(config.Template{Name: "acme/dev", Metapackage: config.TemplateMetapackage{Name: "appliance", Version: "1.0.0", Source: "deb [trusted=yes] file:///srv/apt stable main"}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKeyChangesWithEveryInput(t *testing.T) {
	base := Inputs{Recipe: testRecipe(t), Files: map[string]string{"dist.lock": "aa"}, Tools: map[string]string{"mmdebstrap": "1.3.5"},
		Mirrors: map[string]string{"http://deb.debian.org/debian bookworm": "m1"}, Builder: BuilderVersion}
	k := base.Key()
	if len(k) != 32 || base.Key() != k {
		t.Fatalf("key %q: want 32 stable hex digits", k)
	}
	clone := func() Inputs {
		c := base
		c.Files, c.Tools, c.Mirrors = map[string]string{}, map[string]string{}, map[string]string{}
		for a, b := range base.Files {
			c.Files[a] = b
		}
		for a, b := range base.Tools {
			c.Tools[a] = b
		}
		for a, b := range base.Mirrors {
			c.Mirrors[a] = b
		}
		return c
	}
	changes := map[string]func(*Inputs){
		"lock content": func(in *Inputs) { in.Files["dist.lock"] = "bb" },
		"new file":     func(in *Inputs) { in.Files["files/motd"] = "cc" },
		"tool version": func(in *Inputs) { in.Tools["mmdebstrap"] = "1.4.0" },
		"mirror state": func(in *Inputs) { in.Mirrors["http://deb.debian.org/debian bookworm"] = "m2" },
		"meta version": func(in *Inputs) { in.Recipe.MetapackageVersion = "1.0.1" },
		"package":      func(in *Inputs) { in.Recipe.Packages = []string{"vim-tiny"} },
		"provision":    func(in *Inputs) { in.Recipe.Provision = []config.TemplateStep{{Run: "true"}} },
		"disk size":    func(in *Inputs) { in.Recipe.DiskSize *= 2 },
		"builder":      func(in *Inputs) { in.Builder++ },
		"user key": func(in *Inputs) {
			in.Recipe.Users = []config.TemplateUser{{Name: "dev", SSHKeys: []string{"ssh-ed25519 AAAA"}}}
		},
		"suite":          func(in *Inputs) { in.Recipe.Suite = "trixie" },
		"formats subset": func(in *Inputs) { in.Recipe.Formats = []string{"qcow2"} },
	}
	seen := map[string]string{k: "base"}
	for name, change := range changes {
		c := clone()
		change(&c)
		got := c.Key()
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: key %s same as %s", name, got, prev)
		}
		seen[got] = name
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"2026.1121.234012", "2026.1121.234012", 0},
		{"2026.1121.234012", "2026.1122.000001", -1},
		{"2026.0105.000123", "2025.1231.235959", 1},
		{"1.10", "1.9", 1},
		{"1.0", "1.0.0", 0},
		{"1.0", "1.0.rc1", 1},
		{"1.0.a", "1.0.b", -1},
	} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareVersions(c.b, c.a); got != -c.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func TestCatalogMergeAndPrune(t *testing.T) {
	vs := []CatalogVersion{{Version: "2026.1120.100000", Key: "a"}, {Version: "2026.1122.100000", Key: "c"}, {Version: "2026.1121.100000", Key: "b"}, {Version: "2026.1121.100000", Key: "b2"}}
	cat := BuildCatalog("acme/dev", "", vs)
	var got []string
	for _, v := range cat.Versions {
		got = append(got, v.Version)
	}
	if strings.Join(got, " ") != "2026.1122.100000 2026.1121.100000 2026.1120.100000" {
		t.Fatalf("catalog versions %v: want newest first, no duplicates", got)
	}
	kept, dropped := Prune(vs[:3], 2)
	if len(kept) != 2 || len(dropped) != 1 || dropped[0].Key != "a" {
		t.Fatalf("prune kept %v dropped %v: want the oldest dropped", kept, dropped)
	}
	if kept, dropped := Prune(vs[:3], 0); len(kept) != 3 || dropped != nil {
		t.Fatal("retention 0 must keep everything")
	}
	if c := BuildCatalog("x", "", nil); c.Versions == nil {
		t.Fatal("an empty catalog must have versions: [] (Vagrant wants the list)")
	}
}

const smokeOK = `== state
running
== failed
== meta
1.0.0
appliance-agent (= 1.0.0), appliance-config (= 1.0.0-1)
== installed
ii 	appliance	1.0.0
ii 	appliance-agent	1.0.0
ii 	appliance-config	1.0.0-1
ii 	bash	5.2.15-2+b7
`

func TestCheckSmoke(t *testing.T) {
	state, pins, problems := CheckSmoke(smokeOK, "appliance", "1.0.0")
	if state != "running" || len(pins) != 2 || len(problems) != 0 {
		t.Fatalf("good output judged: state %q pins %v problems %v", state, pins, problems)
	}
	bad := map[string]struct{ out, want string }{
		"degraded":       {strings.Replace(smokeOK, "running\n== failed\n", "degraded\n== failed\nfoo.service loaded failed failed Foo\n", 1), "foo.service"},
		"wrong pin":      {strings.Replace(smokeOK, "appliance-agent\t1.0.0", "appliance-agent\t0.9.0", 1), "appliance-agent: pinned to 1.0.0 by appliance, found 0.9.0"},
		"missing dep":    {strings.Replace(smokeOK, "ii 	appliance-config	1.0.0-1\n", "", 1), "appliance-config: pinned to 1.0.0-1 by appliance, found not installed"},
		"half installed": {strings.Replace(smokeOK, "ii 	appliance-config", "iU 	appliance-config", 1), "found not installed"},
		"meta version":   {strings.Replace(smokeOK, "ii 	appliance	1.0.0", "ii 	appliance	1.0.1", 1), "is at 1.0.1, want 1.0.0"},
		"no meta":        {strings.Replace(smokeOK, "ii 	appliance	1.0.0\n", "", 1), "meta-package appliance is not installed"},
		"no pins":        {strings.Replace(smokeOK, "appliance-agent (= 1.0.0), appliance-config (= 1.0.0-1)", "appliance-agent (>= 1.0)", 1), "pins no exact versions"},
	}
	for name, c := range bad {
		_, _, problems := CheckSmoke(c.out, "appliance", "1.0.0")
		if !strings.Contains(strings.Join(problems, "\n"), c.want) {
			t.Errorf("%s: problems %q lack %q", name, problems, c.want)
		}
	}
}

func TestParsePins(t *testing.T) {
	got := ParsePins("bb (= 2:1.0-1), aa:amd64 (= 1.0), cc (>= 1), dd | ee, ff")
	if len(got) != 2 || got[0] != (Pin{Package: "aa", Want: "1.0"}) || got[1] != (Pin{Package: "bb", Want: "2:1.0-1"}) {
		t.Fatalf("ParsePins = %v", got)
	}
}

func TestLayout(t *testing.T) {
	l := NewLayout("0123456789abcdef0123456789abcdef", 2<<30)
	if l != NewLayout("0123456789abcdef0123456789abcdef", 2<<30) {
		t.Fatal("layout must be stable for a key")
	}
	if l.RootStart%mib != 0 || l.RootSize%mib != 0 || l.RootStart+l.RootSize > l.DiskSize-33*sector {
		t.Fatalf("root partition %d+%d does not fit aligned in %d", l.RootStart, l.RootSize, l.DiskSize)
	}
	if l.ESPGUID == l.RootGUID || !strings.Contains(l.Fstab(), "PARTUUID="+l.RootGUID+" / ext4") {
		t.Fatalf("bad ids or fstab: %+v\n%s", l, l.Fstab())
	}
	golden(t, "sfdisk.txt", l.SfdiskScript())
	golden(t, "loader-entry.conf", LoaderEntry("acme/dev", l))
}

func TestRenderBoxFiles(t *testing.T) {
	info := BoxInfo{Name: "acme/dev", Version: "2026.1122.010203", Key: "0123456789abcdef0123456789abcdef", MemoryMB: 1024, CPUs: 2,
		DiskFile: "box-disk001.vmdk", DiskFileSize: 123456, Capacity: 4 << 30, MAC: MACFromKey("0123456789abcdef")}
	for _, p := range []string{"libvirt", "virtualbox"} {
		vf, err := RenderVagrantfile(p, info)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "Vagrantfile."+p, vf)
	}
	ovf, err := RenderOVF(info)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "box.ovf", ovf)
	golden(t, "metadata.libvirt.json", string(BoxMetadata("libvirt", 4<<30)))
	golden(t, "metadata.virtualbox.json", string(BoxMetadata("virtualbox", 4<<30)))
	if m := MACFromKey("abc"); len(m) != 12 || !strings.HasPrefix(m, "080027") {
		t.Fatalf("MAC %q", m)
	}
}

func TestUserScript(t *testing.T) {
	s := UserScript(config.TemplateUser{Name: "dev", SSHKeys: []string{"ssh-ed25519 AAAA it's me"}, Sudo: true}, []string{"ssh-ed25519 AAAA it's me"})
	golden(t, "user.sh", s)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestMetapackageFromBuildHandoff(t *testing.T) {
	dir := t.TempDir()
	hand := &handoff.Build{ID: "1.2.3", Commit: "c0ffee", Metapackage: "appliance", Version: "1.2.3", APTSource: "deb [trusted=yes] file:///x/apt stable main"}
	if _, err := handoff.Save(dir, hand); err != nil {
		t.Fatal(err)
	}
	env := func(reportDir string) *stages.Env {
		return &stages.Env{Repo: t.TempDir(), Config: config.Default(), CI: ci.Context{SHA: "c0ffee"}, Log: logging.Discard(), Report: &report.Dir{Path: reportDir}}
	}
	b := &builder{env: env(dir), cfg: config.Template{Name: "a/b", Metapackage: config.TemplateMetapackage{Name: "appliance"}}}
	if err := b.fromBuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := b.cfg.Metapackage; m.Version != "1.2.3" || m.Source != hand.APTSource {
		t.Fatalf("from the build's hand-off: %+v", m)
	}
	// A hand-off of another commit is stale: not used.
	other := env(dir)
	other.CI.SHA = "beef"
	b = &builder{env: other, cfg: config.Template{Name: "a/b", Metapackage: config.TemplateMetapackage{Name: "appliance"}}}
	if err := b.fromBuild(context.Background()); errs.KindOf(err) != errs.Usage || !strings.Contains(errs.Format(err), "template.metapackage") {
		t.Fatalf("a stale hand-off: %v", err)
	}
	b = &builder{env: env(t.TempDir()), cfg: config.Template{Name: "a/b", Metapackage: config.TemplateMetapackage{Name: "appliance"}}}
	if err := b.fromBuild(context.Background()); errs.KindOf(err) != errs.Usage || !strings.Contains(errs.Format(err), "template.metapackage") {
		t.Fatalf("no version anywhere: %v", err)
	}
}
