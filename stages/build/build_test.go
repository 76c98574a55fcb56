package build_test

import (
	"compress/gzip"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages/build"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
)

// The example appliance builds into a lock of its four packages, and the
// meta-packages pin each at exactly its locked version, as dpkg-deb and
// rpm themselves read them.
func TestExampleLockAndPins(t *testing.T) {
	dpkgDeb := testutil.NeedTool(t, "dpkg-deb")
	rpmBin := testutil.NeedTool(t, "rpm")
	ex := buildtest.BuildExample(t)
	out := ex.Out

	if out.Revision.Version != "1.0.0" || !out.Revision.Release {
		t.Fatalf("version %q release %v, want the tag's 1.0.0", out.Revision.Version, out.Revision.Release)
	}
	var got []string
	for _, p := range out.Lock.Packages {
		got = append(got, p.ID()+" "+p.FullVersion()+" "+p.Component)
		if len(p.SHA256) != 64 || p.Size == 0 {
			t.Errorf("%s: sha256 %q size %d", p.ID(), p.SHA256, p.Size)
		}
	}
	want := []string{
		"deb/appliance-agent/all 1.0.0-1 appliance-agent",
		"deb/appliance-config/all 1.0.0-1 appliance-config",
		"rpm/appliance-agent/noarch 1.0.0-1 appliance-agent",
		"rpm/appliance-config/noarch 1.0.0-1 appliance-config",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lock:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The lock on disk is the lock in the output, and its sums are the files'.
	onDisk, err := dist.ReadLock(out.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(onDisk.Marshal()) != string(out.Lock.Marshal()) {
		t.Error("dist.lock on disk differs from the build's lock")
	}
	for _, p := range out.Lock.Packages {
		in, err := dist.Inspect(filepath.Join(ex.Repo, "components", p.Component, "dist", p.File))
		if err != nil {
			t.Fatal(err)
		}
		if in.SHA256 != p.SHA256 {
			t.Errorf("%s: lock sha256 %s, file %s", p.File, p.SHA256, in.SHA256)
		}
	}

	for _, m := range out.Metapackages {
		switch m.Format {
		case dist.Deb:
			info := run(t, dpkgDeb, "-f", m.Path, "Depends")
			if strings.TrimSpace(info) != "appliance-agent (= 1.0.0-1), appliance-config (= 1.0.0-1)" {
				t.Errorf("dpkg-deb -f Depends = %q", info)
			}
			if v := strings.TrimSpace(run(t, dpkgDeb, "-f", m.Path, "Version")); v != "1.0.0" {
				t.Errorf("meta-package version %q", v)
			}
		case dist.RPM:
			req := run(t, rpmBin, "-qpR", m.Path)
			for _, pin := range []string{"appliance-agent = 1.0.0-1", "appliance-config = 1.0.0-1"} {
				if !strings.Contains(req, pin+"\n") {
					t.Errorf("rpm -qpR lacks %q:\n%s", pin, req)
				}
			}
		}
	}
	if len(out.Metapackages) != 2 {
		t.Errorf("want a deb and an rpm meta-package, got %+v", out.Metapackages)
	}

	// The YUM repository's metadata (createrepo_c's) lists the locked rpms
	// and the meta-package, with the same sha256.
	wantYUM := map[string]string{}
	for _, p := range out.Lock.Format(dist.RPM) {
		wantYUM[p.Name+" "+p.FullVersion()] = p.SHA256
	}
	for _, m := range out.Metapackages {
		if m.Format == dist.RPM {
			in, err := dist.Inspect(m.Path)
			if err != nil {
				t.Fatal(err)
			}
			wantYUM[in.Name+" "+in.FullVersion()] = in.SHA256
		}
	}
	if got := yumPrimary(t, out.YUM.Dir); !reflect.DeepEqual(got, wantYUM) {
		t.Errorf("YUM primary.xml lists %v, want %v", got, wantYUM)
	}

	env := build.Dotenv(out)
	if env["PIPELINE_METAPACKAGE"] != "appliance=1.0.0" {
		t.Errorf("PIPELINE_METAPACKAGE=%q", env["PIPELINE_METAPACKAGE"])
	}
	if !strings.HasPrefix(env["PIPELINE_REPO_URL"], "file://"+ex.Store+"/builds/1.0.0/apt") {
		t.Errorf("PIPELINE_REPO_URL=%q", env["PIPELINE_REPO_URL"])
	}
	// The published repository holds exactly the files of the local one.
	if _, err := os.Stat(filepath.Join(ex.Store, "builds", "1.0.0", "apt", "dists", "stable", "Release")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(ex.Store, "builds", "1.0.0", "manifest.json")); err != nil {
		t.Error(err)
	}
}

// yumPrimary reads repodata/primary.xml.gz: "name version-release" → sha256.
func yumPrimary(t *testing.T, dir string) map[string]string {
	t.Helper()
	var repomd struct {
		Data []struct {
			Type     string `xml:"type,attr"`
			Location struct {
				Href string `xml:"href,attr"`
			} `xml:"location"`
		} `xml:"data"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, &repomd); err != nil {
		t.Fatal(err)
	}
	var href string
	for _, d := range repomd.Data {
		if d.Type == "primary" {
			href = d.Location.Href
		}
	}
	f, err := os.Open(filepath.Join(dir, href))
	if err != nil {
		t.Fatalf("repomd.xml names primary %q: %v", href, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var primary struct {
		Packages []struct {
			Name    string `xml:"name"`
			Version struct {
				Ver string `xml:"ver,attr"`
				Rel string `xml:"rel,attr"`
			} `xml:"version"`
			Checksum string `xml:"checksum"`
		} `xml:"package"`
	}
	if err := xml.NewDecoder(zr).Decode(&primary); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range primary.Packages {
		got[p.Name+" "+p.Version.Ver+"-"+p.Version.Rel] = p.Checksum
	}
	return got
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
