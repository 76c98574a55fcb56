package runners

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

type entry struct {
	name, link string
	typ        byte
	body       string
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A hostile target answers CopyOut with a tar whose links lead out of the
// destination: nothing may be written outside it, and the copy fails
// naming the entry.
func TestUnpackTarRefusesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{"absolute symlink, then a file through it", []entry{
			{name: "logs", typ: tar.TypeDir},
			{name: "logs/evil", typ: tar.TypeSymlink, link: "OUTSIDE"},
			{name: "logs/evil/pwned", typ: tar.TypeReg, body: "x"},
		}, "leaves the destination"},
		{"relative symlink climbing out", []entry{
			{name: "logs", typ: tar.TypeDir},
			{name: "logs/up", typ: tar.TypeSymlink, link: "../.."},
			{name: "logs/up/pwned", typ: tar.TypeReg, body: "x"},
		}, "leaves the destination"},
		{"deeper climb", []entry{
			{name: "logs/a/b", typ: tar.TypeDir},
			{name: "logs/a/b/up", typ: tar.TypeSymlink, link: "../../../sibling"},
		}, "leaves the destination"},
		{"dot-dot name", []entry{
			{name: "logs/../pwned", typ: tar.TypeReg, body: "x"},
		}, "unexpected entry"},
		{"hard link to outside", []entry{
			{name: "logs", typ: tar.TypeDir},
			{name: "logs/h", typ: tar.TypeLink, link: "OUTSIDE/secret"},
		}, "hard link"},
		{"the top itself a link", []entry{
			{name: "logs", typ: tar.TypeSymlink, link: "OUTSIDE"},
		}, "leaves the destination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			outside := filepath.Join(tmp, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
				t.Fatal(err)
			}
			for i := range tc.entries {
				tc.entries[i].link = strings.ReplaceAll(tc.entries[i].link, "OUTSIDE", outside)
			}
			dst := filepath.Join(tmp, "copy", "logs")
			err := unpackTar(bytes.NewReader(tarOf(t, tc.entries...)), "logs", dst)
			if err == nil || !strings.Contains(errs.Format(err), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			for _, p := range []string{filepath.Join(outside, "pwned"), filepath.Join(tmp, "pwned"), filepath.Join(tmp, "copy", "pwned")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
}

// What a real copy holds still comes through: files, directories, links
// that stay inside (relative, even climbing within), hard links.
func TestUnpackTarKeepsInsideLinks(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "logs")
	err := unpackTar(bytes.NewReader(tarOf(t,
		entry{name: "logs", typ: tar.TypeDir},
		entry{name: "logs/a/b", typ: tar.TypeDir},
		entry{name: "logs/a/b/f", typ: tar.TypeReg, body: "hello"},
		entry{name: "logs/current", typ: tar.TypeSymlink, link: "a/b/f"},
		entry{name: "logs/a/b/up", typ: tar.TypeSymlink, link: "../../current"},
		entry{name: "logs/hard", typ: tar.TypeLink, link: "logs/a/b/f"},
	)), "logs", dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"current", "a/b/up", "hard"} {
		b, err := os.ReadFile(filepath.Join(dst, p))
		if err != nil || string(b) != "hello" {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
}
