package metapkg

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
)

func testLock(t *testing.T) *dist.Lock {
	t.Helper()
	l, err := dist.NewLock([]dist.Package{
		{Name: "appliance-agent", Version: "1.2.0-1", Arch: "amd64", Format: dist.Deb, SHA256: "a"},
		{Name: "appliance-config", Version: "2:0.9-3", Arch: "all", Format: dist.Deb, SHA256: "b"},
		{Name: "appliance-agent", Version: "1.2.0", Release: "1", Arch: "x86_64", Format: dist.RPM, SHA256: "c"},
		{Name: "appliance-config", Version: "0.9", Release: "3", Epoch: "2", Arch: "noarch", Format: dist.RPM, SHA256: "d"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func spec() Spec {
	return Spec{
		Name: "appliance", Version: "1.3.0+7.gabc1234", Project: "appliance", Commit: "abc1234",
		Maintainer: "Team <team@example.com>", Time: time.Unix(1767323045, 0),
		Formats: []dist.Format{dist.Deb, dist.RPM},
	}
}

func sum(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The same lock and commit give byte-identical packages, whatever the
// directory, the clock and the umask when they are built.
func TestReproducible(t *testing.T) {
	first, err := Build(spec(), testLock(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a different wall-clock second
	old := umask(0o077)
	second, err := Build(spec(), testLock(t), t.TempDir())
	umask(old)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		a, b := sum(t, first[i].Path), sum(t, second[i].Path)
		if a != b {
			t.Errorf("%s: two builds differ: %s vs %s", first[i].File, a, b)
		}
	}
	// A different commit time is a different package: the time is in it.
	s := spec()
	s.Time = s.Time.Add(time.Hour)
	third, err := Build(s, testLock(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if sum(t, third[0].Path) == sum(t, first[0].Path) {
		t.Error("changing SOURCE_DATE_EPOCH did not change the deb: is the time really used?")
	}
}

// dpkg-deb and rpm read the exact pins back from the files.
func TestPinsAsToolsSeeThem(t *testing.T) {
	dpkgDeb := testutil.NeedTool(t, "dpkg-deb")
	rpmBin := testutil.NeedTool(t, "rpm")
	built, err := Build(spec(), testLock(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	deb, rpm := built[0], built[1]
	if deb.File != "appliance_1.3.0+7.gabc1234_all.deb" || rpm.File != "appliance-1.3.0+7.gabc1234-1.noarch.rpm" {
		t.Errorf("file names %s, %s", deb.File, rpm.File)
	}
	out := tool(t, dpkgDeb, "-I", deb.Path)
	for _, want := range []string{
		"Package: appliance\n", "Version: 1.3.0+7.gabc1234\n", "Architecture: all\n",
		"Depends: appliance-agent (= 1.2.0-1), appliance-config (= 2:0.9-3)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, out)
		}
	}
	contents := tool(t, dpkgDeb, "-c", deb.Path)
	if !strings.Contains(contents, "root/root") || !strings.Contains(contents, "./usr/share/appliance/dist.lock") {
		t.Errorf("dpkg-deb -c:\n%s", contents)
	}
	req := tool(t, rpmBin, "-qpR", rpm.Path)
	for _, want := range []string{"appliance-agent = 1.2.0-1\n", "appliance-config = 2:0.9-3\n"} {
		if !strings.Contains(req, want) {
			t.Errorf("rpm -qpR lacks %q:\n%s", want, req)
		}
	}
	if v := tool(t, rpmBin, "-qp", "--queryformat", "%{VERSION}-%{RELEASE} %{ARCH}", rpm.Path); v != "1.3.0+7.gabc1234-1 noarch" {
		t.Errorf("rpm version/arch %q", v)
	}
	// The lock the package carries is the lock it pins.
	dir := t.TempDir()
	tool(t, dpkgDeb, "-x", deb.Path, dir)
	carried, err := dist.ReadLock(filepath.Join(dir, LockPath("appliance")))
	if err != nil {
		t.Fatal(err)
	}
	if string(carried.Marshal()) != string(testLock(t).Marshal()) {
		t.Error("the packaged dist.lock is not the build's lock")
	}
}

func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
