package repo_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/stages/build/repo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var date = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func packages(t *testing.T) []*dist.Inspected {
	t.Helper()
	dir := t.TempDir()
	var out []*dist.Inspected
	for _, p := range []buildtest.Package{
		{Format: "deb", Name: "appliance-agent", Version: "1.0.0-1", Arch: "amd64", Depends: []string{"appliance-config (>= 1.0)"}},
		{Format: "deb", Name: "appliance-agent", Version: "1.0.0-1", Arch: "arm64", Depends: []string{"appliance-config (>= 1.0)"}},
		{Format: "deb", Name: "appliance-config", Version: "1.0.0-1"},
		{Format: "deb", Name: "libappliance1", Version: "2.0-1", Arch: "amd64"},
		{Format: "rpm", Name: "appliance-config", Version: "1.0.0"},
	} {
		path, err := buildtest.MakePackage(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		in, err := dist.Inspect(path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, in)
	}
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./stages/build/repo -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run: go test ./stages/build/repo -update to accept)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// The APT repository as apt reads it: Debian's pool layout, an index per
// architecture with arch "all" packages in each, and a Release whose sums
// are those of the files it names.
func TestWriteAPT(t *testing.T) {
	dir := t.TempDir()
	r, err := repo.WriteAPT(dir, packages(t), repo.APTOptions{Suite: "stable", Origin: "appliance", Label: "appliance", Date: date})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{
		"dists/stable/Release",
		"dists/stable/main/binary-amd64/Packages", "dists/stable/main/binary-amd64/Packages.gz",
		"dists/stable/main/binary-arm64/Packages", "dists/stable/main/binary-arm64/Packages.gz",
		"pool/main/a/appliance-agent/appliance-agent_1.0.0-1_amd64.deb",
		"pool/main/a/appliance-agent/appliance-agent_1.0.0-1_arm64.deb",
		"pool/main/a/appliance-config/appliance-config_1.0.0-1_all.deb",
		"pool/main/liba/libappliance1/libappliance1_2.0-1_amd64.deb",
	}
	if strings.Join(r.Files, "\n") != strings.Join(wantFiles, "\n") {
		t.Errorf("files:\n%s", strings.Join(r.Files, "\n"))
	}
	release, _ := os.ReadFile(filepath.Join(dir, "dists/stable/Release"))
	golden(t, "Release", release)
	amd64, _ := os.ReadFile(filepath.Join(dir, "dists/stable/main/binary-amd64/Packages"))
	golden(t, "Packages-amd64", amd64)

	// Each line under MD5Sum:/SHA256: is right about its file.
	section := ""
	checked := 0
	for _, line := range strings.Split(string(release), "\n") {
		if !strings.HasPrefix(line, " ") {
			section = strings.TrimSuffix(line, ":")
			continue
		}
		var sum, name string
		var size int
		fmt.Sscanf(line, " %s %d %s", &sum, &size, &name)
		b, err := os.ReadFile(filepath.Join(dir, "dists/stable", name))
		if err != nil || len(b) != size {
			t.Errorf("%s: %v, size %d listed", name, err, size)
			continue
		}
		var got string
		if section == "MD5Sum" {
			s := md5.Sum(b)
			got = hex.EncodeToString(s[:])
		} else {
			s := sha256.Sum256(b)
			got = hex.EncodeToString(s[:])
		}
		if got != sum {
			t.Errorf("%s %s: listed %s, file %s", section, name, sum, got)
		}
		checked++
	}
	if checked != 8 {
		t.Errorf("checked %d sums, want 8 (4 indexes × MD5Sum and SHA256)", checked)
	}
}

// A package of an architecture the repository does not index is an error,
// not a package apt silently cannot see.
func TestWriteAPTRefusesUnlistedArchitecture(t *testing.T) {
	_, err := repo.WriteAPT(t.TempDir(), packages(t), repo.APTOptions{Architectures: []string{"amd64"}, Date: date})
	if err == nil || !strings.Contains(errs.Format(err), "appliance-agent_1.0.0-1_arm64.deb is built for arm64") {
		t.Errorf("got %v", err)
	}
}

// Signing: a key protected by a passphrase needs it; a public key alone is
// refused with the command that exports the private one.
func TestSignerErrors(t *testing.T) {
	if _, err := repo.NewSigner("not a key", ""); err == nil || !strings.Contains(errs.Format(err), "export-secret-keys") {
		t.Errorf("garbage key: %v", err)
	}
}

// Without createrepo_c the YUM repository is refused with what to install.
func TestWriteYUMWithoutCreaterepo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := repo.WriteYUM(context.Background(), t.TempDir(), nil, date)
	if !errors.Is(err, repo.ErrNoCreaterepo) || !strings.Contains(errs.Format(err), "apt-get install createrepo-c") || !strings.Contains(errs.Format(err), "build.yum.enabled: false") {
		t.Errorf("got %v", err)
	}
}

// A passphrase-protected key: refused without its passphrase (naming the
// setting), refused with a wrong one, and with the right one its
// signatures are accepted by gpgv.
func TestSignerWithPassphrase(t *testing.T) {
	gpg := testutil.NeedTool(t, "gpg")
	gpgv := testutil.NeedTool(t, "gpgv")
	home := t.TempDir()
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run() })
	run := func(args ...string) []byte {
		out, err := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", "correct horse"}, args...)...).Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	run("--quick-gen-key", "Archive <archive@example.com>", "ed25519", "sign", "1d")
	armored := string(run("--armor", "--export-secret-keys"))
	keyring := filepath.Join(home, "pub.gpg")
	os.WriteFile(keyring, run("--export"), 0o644)

	if _, err := repo.NewSigner(armored, ""); err == nil || !strings.Contains(errs.Format(err), "passphrase_env") {
		t.Errorf("no passphrase: %v", err)
	}
	if _, err := repo.NewSigner(armored, "wrong"); err == nil {
		t.Error("a wrong passphrase unlocked the key")
	}
	s, err := repo.NewSigner(armored, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := repo.WriteAPT(dir, packages(t), repo.APTOptions{Date: date, Signer: s}); err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(dir, "dists", "stable")
	if out, err := exec.Command(gpgv, "--keyring", keyring, filepath.Join(d, "InRelease")).CombinedOutput(); err != nil {
		t.Errorf("gpgv InRelease: %v\n%s", err, out)
	}
	if out, err := exec.Command(gpgv, "--keyring", keyring, filepath.Join(d, "Release.gpg"), filepath.Join(d, "Release")).CombinedOutput(); err != nil {
		t.Errorf("gpgv Release.gpg: %v\n%s", err, out)
	}
	// The signed Release is reproducible; its signature carries a random
	// salt (go-crypto's protection of ed25519 keys), so only validity counts.
	again := t.TempDir()
	repo.WriteAPT(again, packages(t), repo.APTOptions{Date: date, Signer: s})
	a, _ := os.ReadFile(filepath.Join(d, "Release"))
	b, _ := os.ReadFile(filepath.Join(again, "dists", "stable", "Release"))
	if !bytes.Equal(a, b) {
		t.Error("the same packages and date gave different Release files")
	}
}
