package build_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages/build"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/stages/build/repo"
)

// baseYUMRepo is a stand-in base distribution for dnf: a package that
// provides /bin/sh, and newer versions of our components that the pins
// must not let in.
func baseYUMRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var pkgs []*dist.Inspected
	for _, p := range []buildtest.Package{
		{Format: "rpm", Name: "base-shell", Version: "5.2", Files: map[string]string{"/bin/sh": "#!/bin/true\n"}},
		{Format: "rpm", Name: "appliance-agent", Version: "9.9.9"},
		{Format: "rpm", Name: "appliance-config", Version: "9.9.9"},
	} {
		path, err := buildtest.MakePackage(filepath.Join(dir, "in"), p)
		if err != nil {
			t.Fatal(err)
		}
		in, err := dist.Inspect(path)
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, in)
	}
	out := filepath.Join(dir, "yum")
	if _, err := repo.WriteYUM(context.Background(), out, pkgs, time.Unix(1767323045, 0)); err != nil {
		t.Fatal(err)
	}
	return out
}

var dnfInstallRE = regexp.MustCompile(`(?m)^ (appliance\S*)\s+noarch\s+(\S+)\s`)

// The real dnf, given the published YUM repository and a base repository
// that also carries newer versions of our components, resolves the
// meta-package to exactly the locked rpms: libsolv honours the "= v-r"
// pins where apt would refuse.
func TestDnfResolvesExactlyTheLockedSet(t *testing.T) {
	dnf := testutil.NeedTool(t, "dnf")
	ex := buildtest.BuildExample(t)
	base := baseYUMRepo(t)
	d := t.TempDir()
	cmd := exec.Command(dnf, "--installroot="+filepath.Join(d, "root"), "--setopt=reposdir="+filepath.Join(d, "repos"),
		"--setopt=cachedir="+filepath.Join(d, "cache"), "--releasever=1", "--setopt=install_weak_deps=False",
		"--repofrompath=appliance,"+ex.Out.YUM.URL, "--repofrompath=base,file://"+base,
		"--setopt=appliance.gpgcheck=0", "--setopt=base.gpgcheck=0",
		"install", "--assumeno", ex.Out.Metapackage)
	out, _ := cmd.CombinedOutput() // --assumeno: exit 1 after printing the transaction
	var got []string
	for _, m := range dnfInstallRE.FindAllStringSubmatch(string(out), -1) {
		got = append(got, m[1]+" "+m[2])
	}
	sort.Strings(got)
	want := lockedRPMs(ex.Out)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("dnf would install:\n%s\nthe lock says:\n%s\ndnf said:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
}

func lockedRPMs(out *build.Output) []string {
	want := []string{out.Metapackage + " " + out.Revision.Version + "-1"}
	for _, p := range out.Lock.Format(dist.RPM) {
		want = append(want, p.Name+" "+p.FullVersion())
	}
	sort.Strings(want)
	return want
}
