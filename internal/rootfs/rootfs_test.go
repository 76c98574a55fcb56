package rootfs

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

func testSpec() Spec {
	return Spec{Packages: []string{"procps", "iproute2"}, MirrorState: "aa11", Mmdebstrap: "mmdebstrap 1.3.5", KeepDocs: true}.Normal()
}

func TestNormalFillsDefaultsAndSorts(t *testing.T) {
	s := testSpec()
	if s.Distribution != "debian" || s.Suite != "bookworm" || s.Mirror != DefaultMirror || s.Variant != "minbase" || strings.Join(s.Components, ",") != "main" {
		t.Fatalf("defaults: %+v", s)
	}
	if strings.Join(s.Packages, ",") != "iproute2,procps" {
		t.Fatalf("packages not sorted: %v", s.Packages)
	}
	written := Spec{Suite: "bookworm", Mirror: DefaultMirror + "/", Variant: "minbase", Components: []string{"main"},
		Packages: []string{"iproute2", "procps"}, MirrorState: "aa11", Mmdebstrap: "mmdebstrap 1.3.5", KeepDocs: true}.Normal()
	if written.Key() != s.Key() {
		t.Fatalf("the same base written two ways has two keys: %s and %s", written.Key(), s.Key())
	}
}

func TestKeyIsStableAndChangesWithEveryInput(t *testing.T) {
	base := testSpec()
	if base.Key() != testSpec().Key() || len(base.Key()) != 32 {
		t.Fatalf("key not stable or not 32 hex digits: %q", base.Key())
	}
	changes := map[string]func(*Spec){
		"distribution": func(s *Spec) { s.Distribution = "ubuntu" },
		"suite":        func(s *Spec) { s.Suite = "trixie" },
		"mirror":       func(s *Spec) { s.Mirror = "http://snapshot.debian.org/archive/debian/20250520T000000Z" },
		"components":   func(s *Spec) { s.Components = []string{"main", "contrib"} },
		"variant":      func(s *Spec) { s.Variant = "apt" },
		"packages":     func(s *Spec) { s.Packages = append(s.Packages, "curl") },
		"mirror state": func(s *Spec) { s.MirrorState = "bb22" },
		"mmdebstrap":   func(s *Spec) { s.Mmdebstrap = "mmdebstrap 1.5.0" },
		"keep docs":    func(s *Spec) { s.KeepDocs = false },
	}
	seen := map[string]string{base.Key(): "base"}
	for name, change := range changes {
		s := testSpec()
		s.Packages = append([]string(nil), s.Packages...)
		change(&s)
		k := s.Key()
		if other, dup := seen[k]; dup {
			t.Errorf("changing %s gives the key of %s (%s)", name, other, k)
		}
		seen[k] = name
	}
}

// The template stage's bases were cached under this hash before the code
// moved here: the same JSON keeps those caches valid.
func TestTemplateSpecJSONUnchanged(t *testing.T) {
	s := Spec{Distribution: "debian", Suite: "bookworm", Mirror: "http://deb.debian.org/debian", Components: []string{"main"},
		Variant: "minbase", Packages: []string{"sudo"}, MirrorState: "ab", Mmdebstrap: "mmdebstrap 1.3.5"}
	j, _ := json.Marshal(s)
	want := `{"distribution":"debian","suite":"bookworm","mirror":"http://deb.debian.org/debian","components":["main"],"variant":"minbase","packages":["sudo"],"mirror_state":"ab","mmdebstrap":"mmdebstrap 1.3.5"}`
	if string(j) != want {
		t.Fatalf("JSON changed:\n got %s\nwant %s", j, want)
	}
}

func TestArgs(t *testing.T) {
	s := testSpec()
	got := strings.Join(s.Args("/c/base.tar"), " ")
	want := "--variant=minbase --components=main --include=iproute2,procps --format=tar bookworm /c/base.tar http://deb.debian.org/debian"
	if got != want {
		t.Fatalf("args\n got %s\nwant %s", got, want)
	}
	s.KeepDocs, s.Packages = false, nil
	got = strings.Join(s.Args("/c/base.tar"), " ")
	if strings.Contains(got, "--include") || !strings.Contains(got, "--dpkgopt=path-exclude=/usr/share/doc/*") {
		t.Fatalf("args without packages and docs: %s", got)
	}
	if strings.Contains(got, "update-initramfs") {
		t.Fatalf("a base without a kernel diverts update-initramfs: %s", got)
	}
	// With a kernel: the initramfs is made once, at the end.
	s.Packages = []string{"linux-image-cloud-amd64"}
	got = strings.Join(s.Args("/c/base.tar"), "\n")
	for _, want := range []string{
		`--essential-hook=chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs && printf '#!/bin/sh\nexit 0\n' > "$1"/usr/sbin/update-initramfs && chmod 755 "$1"/usr/sbin/update-initramfs`,
		`--customize-hook=rm -f "$1"/usr/sbin/update-initramfs && chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs && chroot "$1" update-initramfs -c -k all`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args with a kernel lack\n%s\nin\n%s", want, got)
		}
	}
}

func TestParseSource(t *testing.T) {
	s, err := ParseSource("deb [trusted=yes arch=amd64] file:///srv/apt/ stable main extra")
	if err != nil {
		t.Fatal(err)
	}
	if s.Options != "trusted=yes arch=amd64" || s.URL != "file:///srv/apt" || s.Suite != "stable" || strings.Join(s.Components, ",") != "main,extra" {
		t.Fatalf("parsed %+v", s)
	}
	if got := s.Line("file:/run/x"); got != "deb [trusted=yes arch=amd64] file:/run/x stable main extra" {
		t.Fatalf("Line = %q", got)
	}
	if u := s.ReleaseURLs()[0]; u != "file:///srv/apt/dists/stable/InRelease" {
		t.Fatalf("release url %q", u)
	}
	flat, _ := ParseSource("deb [trusted=yes] http://x/repo ./")
	if u := flat.ReleaseURLs()[1]; u != "http://x/repo/./Release" && u != "http://x/repo/Release" {
		t.Fatalf("flat release url %q", u)
	}
	for _, bad := range []string{"", "deb-src http://x s main", "deb http://x", "http://x stable main"} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("ParseSource(%q) accepted", bad)
		}
	}
}

func TestMirrorStateOfAFileMirror(t *testing.T) {
	dir := t.TempDir()
	rel := filepath.Join(dir, "dists", "stable")
	os.MkdirAll(rel, 0o755)
	os.WriteFile(filepath.Join(rel, "Release"), []byte("Suite: stable\n"), 0o644)
	src := Source{URL: "file://" + dir, Suite: "stable"}
	a, err := MirrorState(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rel, "Release"), []byte("Suite: stable\nDate: later\n"), 0o644)
	b, _ := MirrorState(context.Background(), src)
	if a == b || len(a) != 64 {
		t.Fatalf("mirror state did not follow the Release file: %s, %s", a, b)
	}
	if _, err := MirrorState(context.Background(), Source{URL: "file://" + dir, Suite: "nope"}); err == nil || !strings.Contains(errs.Format(err), "Release file") {
		t.Fatalf("a missing Release file: %v", err)
	}
}

// fakeMmdebstrap is a stand-in for mmdebstrap that writes a tiny tarball
// at its output argument (the second last), after saying "I: ..." and
// sleeping $FAKE_SLEEP seconds; each run appends a line to $FAKE_COUNT.
func fakeMmdebstrap(t *testing.T, sleep string) string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-mmdebstrap")
	count := filepath.Join(dir, "count")
	body := `#!/bin/sh
set -e
for a; do out=$last; last=$a; done
echo run >> ` + count + `
echo "I: downloading packages with apt..."
sleep ` + sleep + `
echo "I: creating tarball..."
tree=$(mktemp -d)
mkdir -p "$tree/bin" "$tree/etc"
printf '#!/bin/true\n' > "$tree/bin/sh"; chmod 755 "$tree/bin/sh"
echo fake > "$tree/etc/os-release"
tar -C "$tree" -cf "$out" .
rm -rf "$tree"
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

func runs(t *testing.T, prog string) int {
	data, _ := os.ReadFile(filepath.Join(filepath.Dir(prog), "count"))
	return strings.Count(string(data), "run")
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestConcurrentGetsBuildOnceAndReuse(t *testing.T) {
	prog := fakeMmdebstrap(t, "1")
	var log logLines
	c := Cache{Dir: t.TempDir(), Program: prog, Log: log.add, Every: 200 * time.Millisecond}
	s := testSpec()
	var wg sync.WaitGroup
	got := make([]Base, 3)
	errs := make([]error, 3)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = c.Get(context.Background(), s, i != 0)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
	}
	if n := runs(t, prog); n != 1 {
		t.Fatalf("%d bootstraps for one key, want 1\n%s", n, log.String())
	}
	reused := 0
	for _, b := range got {
		if b.Reused {
			reused++
		}
		if b.Key != s.Key() || b.Tarball != filepath.Join(c.Dir, s.Key(), "base.tar") {
			t.Fatalf("base %+v", b)
		}
	}
	if reused != 2 {
		t.Fatalf("%d of 3 calls reused the base, want 2", reused)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, s.Key(), "rootfs", "bin", "sh")); err != nil {
		t.Fatalf("unpacked tree: %v", err)
	}
	var saved Spec
	data, _ := os.ReadFile(filepath.Join(c.Dir, s.Key(), "spec.json"))
	if json.Unmarshal(data, &saved); saved.Key() != s.Key() {
		t.Fatalf("spec.json %s", data)
	}
	for _, want := range []string{"mmdebstrap: downloading packages with apt...", "still bootstrapping", "bootstrapped in"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	// A later run finds it without bootstrapping.
	b, err := c.Get(context.Background(), s, true)
	if err != nil || !b.Reused || b.Rootfs == "" || runs(t, prog) != 1 {
		t.Fatalf("second run: %+v %v (runs %d)", b, err, runs(t, prog))
	}
	if left, _ := filepath.Glob(filepath.Join(c.Dir, ".tmp-*")); len(left) > 0 {
		t.Fatalf("temporary folders left: %v", left)
	}
}

func TestStoppedBuildLeavesNothingUnderTheFinalName(t *testing.T) {
	prog := fakeMmdebstrap(t, "30")
	c := Cache{Dir: t.TempDir(), Program: prog}
	s := testSpec()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, s, true)
	if err == nil || !strings.Contains(errs.Format(err), "stopped") {
		t.Fatalf("stopped build: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("the stopped build took %s to return", time.Since(start))
	}
	if _, ok := c.Find(s); ok {
		t.Fatal("a stopped build left a base under the final name")
	}
	if _, err := os.Stat(filepath.Join(c.Dir, s.Key())); !os.IsNotExist(err) {
		t.Fatalf("final folder: %v", err)
	}
}

func TestLeftoversOfAKilledBuildAreCleared(t *testing.T) {
	prog := fakeMmdebstrap(t, "0")
	c := Cache{Dir: t.TempDir(), Program: prog}
	s := testSpec()
	// What a build killed with SIGKILL leaves: its temporary folder.
	stale := filepath.Join(c.Dir, ".tmp-"+s.Key()+"-123")
	os.MkdirAll(filepath.Join(stale, "rootfs"), 0o755)
	b, err := c.Get(context.Background(), s, false)
	if err != nil || b.Reused || runs(t, prog) != 1 {
		t.Fatalf("rebuild: %+v %v", b, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary folder kept: %v", err)
	}
	if b.Rootfs != "" {
		t.Fatalf("unpacked without being asked: %s", b.Rootfs)
	}
}

// The template stage's code before this package wrote its temporary file
// inside the final folder, without a lock: a build of that code may be
// under way (or dead) there. Its file is left alone and the base is
// completed beside it.
func TestAnOlderWriterInTheFinalFolder(t *testing.T) {
	prog := fakeMmdebstrap(t, "0")
	c := Cache{Dir: t.TempDir(), Program: prog}
	s := testSpec()
	theirs := filepath.Join(c.Dir, s.Key(), "base.tar.tmp-4242")
	os.MkdirAll(filepath.Dir(theirs), 0o755)
	os.WriteFile(theirs, nil, 0o644)
	b, err := c.Get(context.Background(), s, true)
	if err != nil || b.Reused {
		t.Fatalf("build beside an older writer: %+v %v", b, err)
	}
	if _, ok := c.Find(s); !ok {
		t.Fatal("the base is not complete")
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Fatalf("the older writer's file was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.Rootfs, "bin", "sh")); err != nil {
		t.Fatalf("unpacked tree: %v", err)
	}
	// A base another writer completed meanwhile is used as it is.
	s2 := testSpec()
	s2.Suite = "trixie"
	os.MkdirAll(filepath.Join(c.Dir, s2.Key()), 0o755)
	slow := fakeMmdebstrap(t, "1")
	c.Program = slow
	go func() {
		time.Sleep(300 * time.Millisecond)
		os.WriteFile(filepath.Join(c.Dir, s2.Key(), "base.tar"), []byte("theirs"), 0o644)
	}()
	b2, err := c.Get(context.Background(), s2, false)
	if err != nil || !b2.Reused {
		t.Fatalf("a base completed by another writer: %+v %v", b2, err)
	}
	if data, _ := os.ReadFile(b2.Tarball); string(data) != "theirs" {
		t.Fatalf("their tarball was replaced: %q", data)
	}
}

func TestFailedBootstrapSaysWhatAndKeepsNothing(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "mmdebstrap")
	os.WriteFile(prog, []byte("#!/bin/sh\necho 'E: cannot reach the mirror' >&2\nexit 1\n"), 0o755)
	c := Cache{Dir: filepath.Join(dir, "cache"), Program: prog}
	_, err := c.Get(context.Background(), testSpec(), true)
	if err == nil || !strings.Contains(errs.Format(err), "E: cannot reach the mirror") || !strings.Contains(errs.Format(err), "--variant=minbase") {
		t.Fatalf("error: %v", err)
	}
	entries, _ := os.ReadDir(c.Dir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestFindEarlierIgnoresOnlyTheMirrorState(t *testing.T) {
	prog := fakeMmdebstrap(t, "0")
	c := Cache{Dir: t.TempDir(), Program: prog}
	old := testSpec()
	if _, err := c.Get(context.Background(), old, false); err != nil {
		t.Fatal(err)
	}
	now := testSpec()
	now.MirrorState = "moved"
	b, ok := c.FindEarlier(now)
	if !ok || b.Key != old.Key() {
		t.Fatalf("FindEarlier: %+v %v", b, ok)
	}
	now.Packages = []string{"curl"}
	if _, ok := c.FindEarlier(now); ok {
		t.Fatal("FindEarlier matched a base with other packages")
	}
}
