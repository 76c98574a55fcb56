package dist

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blakesmith/ar"
	"github.com/klauspost/compress/zstd"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/testutil"
)

// .deb files as dpkg-deb writes them, with each compression of
// control.tar it offers, read back the same.
func TestInspectDebCompressions(t *testing.T) {
	dpkgDeb := testutil.NeedTool(t, "dpkg-deb")
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr/share/demo"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/share/demo/README"), []byte("demo\n"), 0o644)
	os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte("Package: demo\nVersion: 2:1.0-3\nArchitecture: amd64\n"+
		"Maintainer: Demo <demo@example.com>\nPre-Depends: dpkg (>= 1.19)\nDepends: libc6 (>= 2.34), dash | bash\n"+
		"Provides: demo-tool (= 1.0)\nDescription: demo\n two lines\n"), 0o644)
	for _, z := range []string{"gzip", "xz", "zstd", "none"} {
		t.Run(z, func(t *testing.T) {
			deb := filepath.Join(t.TempDir(), "demo.deb")
			if z == "zstd" && !dpkgDebWrites(dpkgDeb, "zstd") {
				// Debian 12's dpkg-deb cannot write zstd (Ubuntu's can): take
				// its uncompressed package and compress the members as
				// Ubuntu's dpkg-deb does.
				uncompressed := filepath.Join(t.TempDir(), "demo-none.deb")
				if out, err := exec.Command(dpkgDeb, "--root-owner-group", "-Znone", "--build", root, uncompressed).CombinedOutput(); err != nil {
					t.Fatalf("dpkg-deb -Znone: %v\n%s", err, out)
				}
				zstdRepack(t, uncompressed, deb)
			} else if out, err := exec.Command(dpkgDeb, "--root-owner-group", "-Z"+z, "--build", root, deb).CombinedOutput(); err != nil {
				t.Fatalf("dpkg-deb -Z%s: %v\n%s", z, err, out)
			}
			in, err := Inspect(deb)
			if err != nil {
				t.Fatal(err)
			}
			if in.Name != "demo" || in.Version != "2:1.0-3" || in.Arch != "amd64" || in.Format != Deb {
				t.Errorf("read %+v", in.Package)
			}
			if got := strings.Join(in.Depends, "; "); got != "dpkg (>= 1.19); libc6 (>= 2.34); dash | bash" {
				t.Errorf("depends %q", got)
			}
			if got := strings.Join(in.Provides, "; "); got != "demo-tool (= 1.0)" {
				t.Errorf("provides %q", got)
			}
			if !strings.Contains(in.Control, "Description: demo\n two lines") {
				t.Errorf("control paragraph:\n%s", in.Control)
			}
		})
	}
}

// rpmbuild's own output reads back with its requirements and provides.
func TestInspectRPM(t *testing.T) {
	rpmbuild := testutil.NeedTool(t, "rpmbuild")
	top := t.TempDir()
	spec := filepath.Join(top, "demo.spec")
	os.WriteFile(spec, []byte("Name: demo\nVersion: 1.0\nRelease: 3\nEpoch: 2\nSummary: demo\nLicense: MIT\nBuildArch: noarch\n"+
		"Requires: bash >= 5.0\nProvides: demo-tool = 1.0\n%description\ndemo\n%files\n"), 0o644)
	if out, err := exec.Command(rpmbuild, "--quiet", "-bb", "--define", "_topdir "+top, "--define", "_rpmdir "+top, spec).CombinedOutput(); err != nil {
		t.Fatalf("rpmbuild: %v\n%s", err, out)
	}
	in, err := Inspect(filepath.Join(top, "noarch", "demo-1.0-3.noarch.rpm"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Name != "demo" || in.Version != "1.0" || in.Release != "3" || in.Epoch != "2" || in.Arch != "noarch" || in.FullVersion() != "2:1.0-3" {
		t.Errorf("read %+v", in.Package)
	}
	if got := strings.Join(in.Depends, "; "); got != "bash >= 5.0" {
		t.Errorf("requires %q (rpmlib() ones must be left out)", got)
	}
	if got := strings.Join(in.Provides, "; "); !strings.Contains(got, "demo-tool = 1.0") || !strings.Contains(got, "demo = 2:1.0-3") {
		t.Errorf("provides %q", got)
	}
	// A file that is neither is named as such.
	junk := filepath.Join(top, "junk.deb")
	os.WriteFile(junk, []byte("<html>404</html>"), 0o644)
	if _, err := Inspect(junk); err == nil || !strings.Contains(errs.Format(err), "neither a .deb") {
		t.Errorf("junk: %v", err)
	}
}

// dpkgDebWrites reports whether dpkg-deb can compress with z.
func dpkgDebWrites(dpkgDeb, z string) bool {
	dir, err := os.MkdirTemp("", "dpkg-deb-probe-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "root", "DEBIAN"), 0o755)
	os.WriteFile(filepath.Join(dir, "root", "DEBIAN", "control"), []byte("Package: probe\nVersion: 1\nArchitecture: all\nMaintainer: p <p@example.com>\nDescription: p\n"), 0o644)
	return exec.Command(dpkgDeb, "--root-owner-group", "-Z"+z, "--build", filepath.Join(dir, "root"), filepath.Join(dir, "p.deb")).Run() == nil
}

// zstdRepack writes dst: the ar members of the uncompressed package src,
// with control.tar and data.tar compressed as control.tar.zst and
// data.tar.zst.
func zstdRepack(t *testing.T, src, dst string) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	out.WriteString("!<arch>\n")
	r := ar.NewReader(f)
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", src, err)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if strings.HasSuffix(name, ".tar") {
			enc, _ := zstd.NewWriter(nil)
			body = enc.EncodeAll(body, nil)
			name += ".zst"
		}
		// The common ar header: name, mtime, uid, gid, mode, size, magic.
		fmt.Fprintf(&out, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", name, h.ModTime.Unix(), 0, 0, 0o100644, len(body))
		out.Write(body)
		if len(body)%2 == 1 {
			out.WriteByte('\n')
		}
	}
	if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
