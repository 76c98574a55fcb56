package dist

import (
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/testutil"
)

func TestCompareDeb(t *testing.T) {
	// Each version is lower than the next, as dpkg --compare-versions says.
	ordered := []string{"0~rc1", "0", "0.1", "0.1-1", "0.1-1.1", "0.1-2", "0.1+b1", "0.9", "0.10", "1.0~~", "1.0~a", "1.0", "1.0a", "1.0+5.gabc", "1.0.1", "1.2.3-0ubuntu1", "1:0.1", "2:0"}
	for i := range ordered {
		for j := range ordered {
			got := sign(CompareDeb(ordered[i], ordered[j]))
			want := sign(i - j)
			if got != want {
				t.Errorf("CompareDeb(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	if CompareDeb("1.0-01", "1.0-1") != 0 || CompareDeb("0:1.0", "1.0") != 0 {
		t.Error("leading zeros and a zero epoch must compare equal")
	}
}

func TestCompareRPM(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.0-1", "1.0-2", -1},
		{"1.0-1", "1.0", 0}, // a requirement without release matches any
		{"1.10-1", "1.9-1", 1},
		{"1:1.0-1", "2.0-1", 1},
		{"1.0+5.gabc-1", "1.0-1", 1},
	}
	for _, c := range cases {
		if got := sign(CompareRPM(c.a, c.b)); got != c.want {
			t.Errorf("CompareRPM(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestParseClause(t *testing.T) {
	got := ParseClause(Deb, "libc6 (>= 2.34) | libc6-udeb:any ( << 3 ) | foo [amd64]")
	want := []Relation{{"libc6", ">=", "2.34"}, {"libc6-udeb", "<<", "3"}, {"foo", "", ""}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("alternative %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if r := ParseClause(RPM, "bash >= 5.0-1"); len(r) != 1 || r[0] != (Relation{"bash", ">=", "5.0-1"}) {
		t.Errorf("rpm: %+v", r)
	}
	if r := ParseClause(RPM, "(a or b)"); len(r) != 1 || r[0].Name != "(a or b)" {
		t.Errorf("rich dependency: %+v", r)
	}
}

func pkg(f Format, name, version, arch, sha string, deps ...string) Package {
	p := Package{Name: name, Version: version, Arch: arch, Format: f, SHA256: sha, File: name + "_" + version + "_" + arch + "." + string(f), Depends: deps}
	if f == RPM {
		p.Version, p.Release, _ = strings.Cut(version, "-")
	}
	return p
}

func TestNewLockSortsAndIsStable(t *testing.T) {
	pkgs := []Package{
		pkg(RPM, "b", "1.0-1", "noarch", "r1", "z", "a"),
		pkg(Deb, "b", "1.0-1", "all", "d1"),
		pkg(Deb, "a", "2.0", "amd64", "d2"),
		pkg(Deb, "a", "2.0", "arm64", "d3"),
	}
	first, err := NewLock(pkgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		shuffled := append([]Package(nil), pkgs...)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		l, err := NewLock(shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if string(l.Marshal()) != string(first.Marshal()) {
			t.Fatalf("lock depends on input order:\n%s\nvs\n%s", l.Marshal(), first.Marshal())
		}
	}
	var ids []string
	for _, p := range first.Packages {
		ids = append(ids, p.ID())
	}
	if got := strings.Join(ids, " "); got != "deb/a/amd64 deb/a/arm64 deb/b/all rpm/b/noarch" {
		t.Errorf("order: %s", got)
	}
	if d := first.Packages[3].Depends; strings.Join(d, ",") != "a,z" {
		t.Errorf("dependencies not sorted: %v", d)
	}
	back, err := ParseLock(first.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Marshal()) != string(first.Marshal()) {
		t.Error("ParseLock(Marshal(l)) differs from l")
	}
	if got := first.Pins(Deb); strings.Join(got, ", ") != "a (= 2.0), b (= 1.0-1)" {
		t.Errorf("deb pins: %v", got)
	}
	if got := first.Pins(RPM); strings.Join(got, ", ") != "b = 1.0-1" {
		t.Errorf("rpm pins: %v", got)
	}
}

func TestNewLockRefusesTwoVersions(t *testing.T) {
	old := pkg(Deb, "agent", "1.0-1", "all", "s1")
	old.Component = "agent"
	newer := pkg(Deb, "agent", "1.1-1", "all", "s2")
	newer.Component = "agent"
	_, err := NewLock([]Package{newer, old})
	var dup *DuplicateError
	if !errors.As(err, &dup) {
		t.Fatalf("two versions of agent: got %v, want a DuplicateError", err)
	}
	for _, want := range []string{"two versions of agent", "1.0-1", "1.1-1", "agent_1.0-1_all.deb"} {
		if !strings.Contains(errs.Format(err), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// Same name, version and arch but different bytes: refused too.
	if _, err := NewLock([]Package{pkg(Deb, "x", "1", "all", "s1"), pkg(Deb, "x", "1", "all", "s2")}); !errors.As(err, &dup) || !strings.Contains(errs.Format(err), "two different files") {
		t.Errorf("different bytes for one version: %v", err)
	}
	// The same file listed twice is one package.
	l, err := NewLock([]Package{pkg(Deb, "x", "1", "all", "s1"), pkg(Deb, "x", "1", "all", "s1")})
	if err != nil || len(l.Packages) != 1 {
		t.Errorf("same file twice: %v %+v", err, l)
	}
	// One version of a name in each format is fine.
	if _, err := NewLock([]Package{pkg(Deb, "x", "1-1", "all", "s1"), pkg(RPM, "x", "1-1", "noarch", "s2")}); err != nil {
		t.Errorf("deb and rpm of one package: %v", err)
	}
}

func TestCheckDependencies(t *testing.T) {
	web := pkg(Deb, "web", "2.0", "all", "3")
	web.Provides = []string{"web-server"}
	l, err := NewLock([]Package{
		pkg(Deb, "agent", "1.0-1", "all", "1", "config (>= 1.0)", "libc6 (>= 2.30)", "missing-lib", "foo | web-server", "python3:any"),
		pkg(Deb, "config", "1.0-1", "all", "2"),
		web,
		pkg(Deb, "old-user", "1", "all", "4", "config (>= 2.0)"),
		pkg(RPM, "agent", "1.0-1", "noarch", "5", "config >= 1.0", "/bin/sh", "libfoo.so.1()(64bit)"),
		pkg(RPM, "config", "1.0-1", "noarch", "6"),
	})
	if err != nil {
		t.Fatal(err)
	}
	base := NewBase("/bin/sh", "python3")
	if err := base.AddIndex("Package: libc6\nVersion: 2.36-9\nProvides: libc6-any (= 2.36)\n\nPackage: dash\nVersion: 0.5\n"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range Check(l, base) {
		got = append(got, u.String())
	}
	want := []string{
		"agent 1.0-1 all (deb) depends on missing-lib",
		"agent 1.0-1 noarch (rpm) depends on libfoo.so.1()(64bit)",
		"old-user 1 all (deb) depends on config (>= 2.0)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("unsatisfied:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// With an index whose libc6 is too old, the versioned dependency fails.
	old := &Base{}
	_ = old.AddIndex("Package: libc6\nVersion: 2.28-10\n")
	found := false
	for _, u := range Check(l, old) {
		if u.Depends == "libc6 (>= 2.30)" {
			found = true
		}
	}
	if !found {
		t.Error("libc6 2.28 from the index satisfied libc6 (>= 2.30)")
	}
}

func TestDiff(t *testing.T) {
	a, _ := NewLock([]Package{pkg(Deb, "x", "1", "all", "s1"), pkg(Deb, "y", "1", "all", "s2")})
	b, _ := NewLock([]Package{pkg(Deb, "x", "2", "all", "s3"), pkg(Deb, "z", "1", "all", "s4")})
	got := strings.Join(Diff(a, b), "\n")
	want := "- x 1 all (deb)\n+ x 2 all (deb)\n- y 1 all (deb)\n+ z 1 all (deb)"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}

func FuzzParseControl(f *testing.F) {
	f.Add("Package: a\nVersion: 1\nDescription: x\n more\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseControl(s)
		for _, c := range splitClauses(s) {
			_ = ParseClause(Deb, c)
		}
		_ = CompareDeb(s, "1.0")
	})
}

// Whatever bytes a .deb holds, reading it returns an error or a package,
// never a panic or a hang.
func FuzzInspect(f *testing.F) {
	f.Add([]byte("!<arch>\ncontrol.tar     0           0     0     100644  5         `\nhello\n"))
	f.Add([]byte{0xed, 0xab, 0xee, 0xdb, 3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "x.deb")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = Inspect(p)
	})
}

// CompareDeb orders versions exactly as dpkg does: each pair is also
// asked of `dpkg --compare-versions` (the real tool, not a copy of it).
func TestCompareDebAgreesWithDpkg(t *testing.T) {
	dpkg := testutil.NeedTool(t, "dpkg")
	versions := []string{
		"1.0", "1.0-1", "1.0-01", "1.0-2", "1.0~rc1", "1.0~rc1-1", "1.0~~", "1.0~", "1.0+b1", "1.0.1",
		"1:0.9", "0:1.0", "2:0", "1.0a", "1.0A", "1.0-1ubuntu1", "1.0-1+deb12u1", "1.00", "10", "9",
		"1.2.3-4.5", "1.2.3-4.10", "0.0~git20240101.abcdef-1", "1.0.0+dfsg-2", "1.0-1~bpo12+1",
	}
	// Sorted by CompareDeb, each neighbour must be "lt" or "eq" for dpkg
	// as CompareDeb says: then both orders are the same (dpkg's is a total
	// order), with one dpkg call a pair of neighbours.
	sorted := slices.Clone(versions)
	slices.SortStableFunc(sorted, CompareDeb)
	for i := 1; i < len(sorted); i++ {
		a, b := sorted[i-1], sorted[i]
		op := "lt"
		if CompareDeb(a, b) == 0 {
			op = "eq"
		}
		if err := exec.Command(dpkg, "--compare-versions", a, op, b).Run(); err != nil {
			t.Errorf("CompareDeb puts %q before %q (%s), dpkg does not agree: %v", a, b, op, err)
		}
	}
}
