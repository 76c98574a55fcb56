// Package templatetest builds small real template images for tests, and
// keeps them between test runs in /var/tmp/pipeline-testcache, so only the
// first run on a machine pays for the build (a couple of minutes under
// software emulation); later runs take about a second.
//
//	img := templatetest.Image(t)   // minbase + cloud kernel + systemd + sshd, no meta-package
//	qemu.Start(ctx, qemu.Config{
//		Image: img.QCOW2, Kernel: img.Kernel, Initrd: img.Initrd, Append: img.Cmdline,
//		ForwardSSH: true, Credentials: qemu.AuthorizedKeys(pub),
//	})
//	// known_hosts: "[127.0.0.1]:PORT " + img.HostKey
//
// It runs the real template stage (stages/template) into a file:// store
// inside the cache directory: the stage's own key decides whether the cached
// image is still good, exactly as in production.
package templatetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/template"
)

// CacheRoot is where test fixtures are kept between runs:
// testutil.CacheRoot (/var/tmp/pipeline-testcache, or $PIPELINE_TESTCACHE).
var CacheRoot = testutil.CacheRoot()

// Built is a built template image, local files ready to boot.
type Built struct {
	Key     string
	QCOW2   string // the qcow2 image (boot it with snapshot=on: runners/qemu does)
	Kernel  string // for direct kernel boot
	Initrd  string
	Cmdline string // root=PARTUUID=... ro
	HostKey string // the guest's ed25519 host public key
	Dir     string // the file:// store the stage published to
	Output  *template.Output
}

// Recipe is the small recipe the fixtures use: Debian bookworm minbase with
// the cloud kernel (a third of the generic kernel's modules), a 2 GiB disk,
// qcow2 only.
func Recipe() config.Template {
	return config.Template{
		Name:     "pipeline-test/minimal",
		Base:     config.TemplateBase{Suite: "bookworm", Kernel: "linux-image-cloud-amd64"},
		DiskSize: "2G",
		Formats:  []string{"qcow2"},
		// Emulated boots on a loaded 2-core CI machine take minutes.
		Boot: config.TemplateBoot{Timeout: config.Duration(10 * time.Minute)},
	}
}

// NeedTools skips (or fails under CI) when a program the build needs is
// missing.
func NeedTools(t testing.TB) {
	t.Helper()
	for _, p := range []string{"mmdebstrap", "bwrap", "mkfs.ext4", "mkfs.vfat", "mcopy", "sfdisk", "qemu-img", "qemu-system-x86_64", "ssh", "ssh-keygen"} {
		testutil.NeedTool(t, p)
	}
	testutil.NeedRoot(t)
}

// Image returns the minimal image of Recipe, built by the template stage
// (without its smoke boot) unless the cache has it.
func Image(t testing.TB) *Built { return Build(t, Recipe(), "") }

// Build runs the template stage for tpl with repo as the repository (a
// temporary directory when empty), publishing into a file:// store in the
// test cache chosen by the recipe, and returns the image's local files.
func Build(t testing.TB, tpl config.Template, repo string) *Built {
	t.Helper()
	NeedTools(t)
	if repo == "" {
		repo = t.TempDir()
	}
	if tpl.CacheDir == "" {
		tpl.CacheDir = filepath.Join(CacheRoot, "base")
	}
	j, _ := json.Marshal(tpl)
	sum := sha256.Sum256(j)
	dir := filepath.Join(CacheRoot, "template-"+hex.EncodeToString(sum[:])[:16])
	// One build per machine: the packages that boot the fixture (runners/qemu,
	// stages/integration, stages/template, e2e) run at once under `go test
	// ./...`; without the lock each of them built the same image on a new
	// machine. The others wait, then find it in the store.
	unlock := lockFile(t, dir+".lock")
	defer unlock()
	st, err := artifacts.NewFileStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Template = tpl
	env := &stages.Env{Repo: repo, Config: cfg, CI: ci.Context{Env: ci.MapEnv{}}, Log: TestLog(t), Report: &report.Dir{}}
	// No smoke boot: the tests using the fixture boot it themselves, and
	// TestTemplateEndToEnd covers the smoke boot; this saves CI minutes.
	res, err := template.New(template.Options{Store: st, NoBoot: true}).Run(context.Background(), env)
	if err != nil {
		t.Fatalf("template stage: %v", err)
	}
	out := res.Data.(*template.Output)
	m, err := template.FindManifest(context.Background(), st, template.StoreLayout{Prefix: template.StorePrefix(tpl.Name)}, out.Key)
	if err != nil || m == nil {
		t.Fatalf("manifest of %s: %v", out.Key, err)
	}
	b := &Built{Key: out.Key, Cmdline: m.Cmdline, HostKey: m.HostKey, Dir: dir, Output: out}
	for _, f := range m.Files {
		p := filepath.Join(dir, "store", filepath.FromSlash(f.Key))
		switch f.Format {
		case "qcow2":
			b.QCOW2 = p
		case "kernel":
			b.Kernel = p
		case "initrd":
			b.Initrd = p
		}
	}
	for _, p := range []string{b.QCOW2, b.Kernel, b.Initrd} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("template fixture: %v", err)
		}
	}
	return b
}

// TestLog is a Logger writing to t.Log.
func TestLog(t testing.TB) *logging.Logger {
	l, err := logging.New(testWriter{t}, logging.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// lockFile takes an exclusive flock on path (made when missing) and returns
// its release.
func lockFile(t testing.TB, path string) func() {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("template fixture lock: %v", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("template fixture lock: %v", err)
	}
	start := time.Now()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("template fixture lock %s: %v", path, err)
	}
	if w := time.Since(start); w > time.Second {
		t.Logf("waited %s for another test process building the template fixture (%s)", w.Round(time.Second), path)
	}
	return func() { f.Close() }
}
