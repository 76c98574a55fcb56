package build_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/runners/runnertest"
	"github.com/pipeline-ci/pipeline/stages/build"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/stages/build/repo"
)

// throwawayKey generates an ed25519 signing key with gpg in a temporary
// home and returns the armored private key and the path of the public
// keyring (for apt's signed-by and gpgv).
func throwawayKey(t *testing.T) (armored, keyring string) {
	t.Helper()
	gpg := testutil.NeedTool(t, "gpg")
	home := t.TempDir()
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run() })
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	run("--quick-gen-key", "Appliance Test <test@appliance.example>", "ed25519", "sign", "1d")
	armored = string(run("--armor", "--export-secret-keys"))
	keyring = filepath.Join(home, "appliance.gpg")
	if err := os.WriteFile(keyring, run("--export"), 0o644); err != nil {
		t.Fatal(err)
	}
	return armored, keyring
}

// aptRoot is apt-get pointed, with -o options, at its own state, cache and
// sources: the real apt, resolving and downloading from our repositories,
// without touching the machine's own apt.
type aptRoot struct {
	dir  string
	opts []string
}

func newAptRoot(t *testing.T, sources []string, preferences string) *aptRoot {
	t.Helper()
	testutil.NeedTool(t, "apt-get")
	d := t.TempDir()
	for _, sub := range []string{"state/lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/preferences.d", "etc/trusted.gpg.d", "etc/apt.conf.d"} {
		os.MkdirAll(filepath.Join(d, sub), 0o755)
	}
	// The base distribution, as dpkg would list it: what build.base names.
	os.WriteFile(filepath.Join(d, "state/status"), []byte("Package: dash\nStatus: install ok installed\nVersion: 0.5.12-2\nArchitecture: amd64\nMaintainer: x\nDescription: x\n\n"), 0o644)
	os.WriteFile(filepath.Join(d, "etc/sources.list"), []byte(strings.Join(sources, "\n")+"\n"), 0o644)
	os.WriteFile(filepath.Join(d, "etc/preferences"), []byte(preferences), 0o644)
	a := &aptRoot{dir: d}
	for k, v := range map[string]string{
		"Dir::State": "state", "Dir::State::status": "state/status", "Dir::Cache": "cache",
		"Dir::Etc::SourceList": "etc/sources.list", "Dir::Etc::SourceParts": "etc/sources.list.d",
		"Dir::Etc::Preferences": "etc/preferences", "Dir::Etc::PreferencesParts": "etc/preferences.d",
		"Dir::Etc::TrustedParts": "etc/trusted.gpg.d", "Dir::Etc::Parts": "etc/apt.conf.d",
	} {
		a.opts = append(a.opts, "-o"+k+"="+filepath.Join(d, v))
	}
	a.opts = append(a.opts, "-oDebug::NoLocking=1", "-oAPT::Sandbox::User=root", "-oAPT::Architecture=amd64", "-oAPT::Architectures=amd64")
	sort.Strings(a.opts) // stable command lines in failure messages
	return a
}

func (a *aptRoot) run(args ...string) (string, error) {
	cmd := exec.Command("apt-get", append(append([]string{}, a.opts...), args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var instRE = regexp.MustCompile(`(?m)^Inst (\S+) \((\S+) `)

// installs returns "name version" of each package apt-get -s would install.
func installs(out string) []string {
	var got []string
	for _, m := range instRE.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1]+" "+m[2])
	}
	sort.Strings(got)
	return got
}

func lockedDebs(out *build.Output) []string {
	want := []string{out.Metapackage + " " + out.Revision.Version}
	for _, p := range out.Lock.Format(dist.Deb) {
		want = append(want, p.Name+" "+p.FullVersion())
	}
	sort.Strings(want)
	return want
}

// The real apt-get, given only the published repository (signed with a
// throwaway key and trusted through signed-by), installs the meta-package
// and exactly the locked versions, and downloads files whose sha256 are the
// lock's. With a newer version of a component in another repository, the
// pins still hold.
func TestAptInstallsExactlyTheLockedSet(t *testing.T) {
	armored, keyring := throwawayKey(t)
	ex := buildtest.BuildExample(t, buildtest.Options{SigningKey: armored})
	a := ex.Out.APT
	if !a.Signed {
		t.Fatal("the repository was not signed")
	}
	// gpgv itself accepts the signatures.
	dists := filepath.Join(strings.TrimPrefix(a.URL, "file://"), "dists", a.Suite)
	for _, args := range [][]string{{filepath.Join(dists, "InRelease")}, {filepath.Join(dists, "Release.gpg"), filepath.Join(dists, "Release")}} {
		if out, err := exec.Command("gpgv", append([]string{"--keyring", keyring}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("gpgv %v: %v\n%s", args, err, out)
		}
	}

	ours := "deb [signed-by=" + keyring + "] " + strings.Replace(a.URL, "file://", "copy://", 1) + " " + a.Suite + " " + a.Component
	apt := newAptRoot(t, []string{ours}, "")
	out, err := apt.run("update")
	if err != nil || strings.Contains(out, "W:") || strings.Contains(out, "E:") {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	out, err = apt.run("install", "-s", "-y", ex.Out.Metapackage)
	if err != nil {
		t.Fatalf("apt-get install -s: %v\n%s", err, out)
	}
	if got, want := installs(out), lockedDebs(ex.Out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("apt would install:\n%s\nthe lock says:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Download for real: apt checks each file against the signed indexes;
	// we check them against the lock.
	if out, err := apt.run("install", "--download-only", "-y", ex.Out.Metapackage); err != nil {
		t.Fatalf("apt-get install --download-only: %v\n%s", err, out)
	}
	for _, p := range ex.Out.Lock.Format(dist.Deb) {
		b, err := os.ReadFile(filepath.Join(apt.dir, "cache/archives", strings.Replace(p.File, ":", "%3a", 1)))
		if err != nil {
			t.Fatalf("apt did not download %s: %v", p.File, err)
		}
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != p.SHA256 {
			t.Errorf("%s: downloaded sha256 differs from the lock", p.File)
		}
	}

	// A newer appliance-agent elsewhere: the pins refuse it rather than
	// drift (apt reports the exact pin it cannot meet) ...
	decoy := decoyRepo(t, "9.9.9-1", "appliance-agent", "appliance-config")
	apt = newAptRoot(t, []string{ours, "deb [trusted=yes] copy://" + decoy + " stable main"}, "")
	if out, err := apt.run("update"); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	out, err = apt.run("install", "-s", "-y", ex.Out.Metapackage)
	if err == nil || strings.Contains(out, "Inst appliance-agent (9.9.9-1") || !strings.Contains(out, "appliance-agent (= 1.0.0-1)") {
		t.Fatalf("with a newer appliance-agent available apt did not hold to the pin: %v\n%s", err, out)
	}
	// ... and with the repository preferred, as docs/build.md recommends,
	// apt installs exactly the locked set again.
	apt = newAptRoot(t, []string{ours, "deb [trusted=yes] copy://" + decoy + " stable main"},
		"Package: *\nPin: release o=appliance\nPin-Priority: 1001\n")
	apt.run("update")
	out, err = apt.run("install", "-s", "-y", ex.Out.Metapackage)
	if got, want := installs(out), lockedDebs(ex.Out); err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("with the build's repository pinned, apt would install:\n%s\nwant:\n%s\n%v\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), err, out)
	}

	// A tampered index is refused: the signature covers it.
	pk := filepath.Join(dists, a.Component, "binary-amd64", "Packages")
	b, _ := os.ReadFile(pk)
	os.WriteFile(pk, append(b, []byte("\n")...), 0o644)
	os.Remove(pk + ".gz")
	apt = newAptRoot(t, []string{ours}, "")
	if out, err := apt.run("update"); err == nil && !strings.Contains(out, "Hash Sum mismatch") && !strings.Contains(out, "E:") {
		t.Fatalf("apt accepted a Packages file that does not match the signed Release:\n%s", out)
	}
}

// decoyRepo is an unsigned APT repository with the named packages at version.
func decoyRepo(t *testing.T, version string, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	var pkgs []*dist.Inspected
	for _, n := range names {
		p, err := buildtest.MakePackage(filepath.Join(dir, "in"), buildtest.Package{Format: "deb", Name: n, Version: version})
		if err != nil {
			t.Fatal(err)
		}
		in, err := dist.Inspect(p)
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, in)
	}
	out := filepath.Join(dir, "repo")
	if _, err := repo.WriteAPT(out, pkgs, repo.APTOptions{Suite: "stable", Origin: "elsewhere"}); err != nil {
		t.Fatal(err)
	}
	return out
}

// The meta-package installs for real into a Debian chroot (made by
// mmdebstrap), from the published and signed repository, the way a
// provisioning script would: the repository and its key copied in, apt-get
// update, apt-get install; apt picks exactly the locked versions and the
// agent runs.
func TestChrootInstall(t *testing.T) {
	testutil.NeedRoot(t)
	armored, keyring := throwawayKey(t)
	root := debianRoot(t)
	ex := buildtest.BuildExample(t, buildtest.Options{SigningKey: armored})
	if out, err := exec.Command("cp", "-a", strings.TrimPrefix(ex.Out.APT.URL, "file://"), filepath.Join(root, "srv/appliance-repo")).CombinedOutput(); err != nil {
		t.Fatalf("copy the repository into the chroot: %v\n%s", err, out)
	}
	os.MkdirAll(filepath.Join(root, "etc/apt/keyrings"), 0o755)
	if b, err := os.ReadFile(keyring); err != nil || os.WriteFile(filepath.Join(root, "etc/apt/keyrings/appliance.gpg"), b, 0o644) != nil {
		t.Fatal("install the key in the chroot")
	}
	// Only our repository: the chroot has the base system already.
	os.WriteFile(filepath.Join(root, "etc/apt/sources.list.d/appliance.list"),
		[]byte("deb [signed-by=/etc/apt/keyrings/appliance.gpg] file:/srv/appliance-repo "+ex.Out.APT.Suite+" "+ex.Out.APT.Component+"\n"), 0o644)
	os.Remove(filepath.Join(root, "etc/apt/sources.list"))
	os.Remove(filepath.Join(root, "etc/apt/sources.list.d/debian.sources"))
	chroot := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("chroot", append([]string{root}, args...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("chroot %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := chroot("apt-get", "update"); strings.Contains(out, "W:") {
		t.Fatalf("apt-get update in the chroot warned:\n%s", out)
	}
	chroot("apt-get", "install", "-y", "--no-install-recommends", ex.Metapackage())
	got := strings.Split(strings.TrimSpace(chroot("dpkg-query", "-W", "-f", "${Package} ${Version}\n", "appliance", "appliance-agent", "appliance-config")), "\n")
	sort.Strings(got)
	if want := lockedDebs(ex.Out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("installed in the chroot:\n%s\nlocked:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if status := chroot("appliance-agent", "status"); !strings.Contains(status, `"agent":"1.0.0-1"`) || !strings.Contains(status, `"config":"present"`) {
		t.Errorf("appliance-agent status in the chroot: %s", status)
	}
	// The installed system says which build it is.
	lock, err := dist.ReadLock(filepath.Join(root, "usr/share/appliance/dist.lock"))
	if err != nil || string(lock.Marshal()) != string(ex.Out.Lock.Marshal()) {
		t.Errorf("the installed dist.lock is not the build's: %v", err)
	}
}

// debianRoot returns a fresh copy of a minimal Debian 12 root with apt: the
// base the runner and integration tests share (runnertest.Rootfs, minbase
// with procps, made once per machine by mmdebstrap), so a new machine
// bootstraps one base for all of them instead of one more here.
func debianRoot(t *testing.T) string {
	t.Helper()
	_, tarball := runnertest.Rootfs(t)
	root := filepath.Join(t.TempDir(), "root")
	os.MkdirAll(root, 0o755)
	if out, err := exec.Command("tar", "-C", root, "-xf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("unpack the Debian root: %v\n%s", err, out)
	}
	return root
}
