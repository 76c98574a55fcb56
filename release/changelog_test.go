package release

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

const entry140 = "## [1.4.0] - 2026-11-21\n\n### Features\n\n- a\n"

func TestPrependKeepsEarlierEntries(t *testing.T) {
	earlier := "## [1.3.0] - 2026-11-14\n\n### Fixes\n\n- b   \r\n\n\n## 1.2.0\n\nno trailing newline"
	cases := map[string]struct{ in, want string }{
		"empty":             {"", ChangelogHeader + "\n" + entry140},
		"header":            {"# Changelog\n", "# Changelog\n\n" + entry140},
		"header no newline": {"# Changelog", "# Changelog\n\n" + entry140},
		"entries":           {"# Changelog\n\nIntro.\n\n" + earlier, "# Changelog\n\nIntro.\n\n" + entry140 + "\n" + earlier},
		"unreleased": {"# Changelog\n\n## [Unreleased]\n\n- hand note\n\n" + earlier,
			"# Changelog\n\n## [Unreleased]\n\n- hand note\n\n" + entry140 + "\n" + earlier},
		"unreleased only": {"# Changelog\n\n## [Unreleased]\n", "# Changelog\n\n## [Unreleased]\n\n" + entry140},
	}
	for name, c := range cases {
		got, changed := Prepend([]byte(c.in), entry140, "1.4.0")
		if !changed || string(got) != c.want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, c.want)
		}
		// The earlier bytes are a suffix, untouched.
		if i := strings.Index(c.in, "## [1.3.0]"); i >= 0 && !bytes.HasSuffix(got, []byte(c.in[i:])) {
			t.Errorf("%s: earlier entries changed", name)
		}
		// A second prepend of the same version changes nothing.
		again, changed := Prepend(got, entry140, "1.4.0")
		if changed || !bytes.Equal(again, got) {
			t.Errorf("%s: second prepend changed the file", name)
		}
	}
	for text, want := range map[string]bool{"## [1.4.0](url) - d": true, "## v1.4.0 (2026)": true, "## 1.4.0": true, "## [1.4.0-rc.1]": false, "### 1.4.0": false, "## [1.4.01]": false} {
		if got := HasEntry([]byte("x\n"+text+"\n"), "1.4.0"); got != want {
			t.Errorf("HasEntry(%q) = %v", text, got)
		}
	}
}

func TestVersionFiles(t *testing.T) {
	if got := string(SetPlain([]byte("1.3.0\n"), "1.4.0")); got != "1.4.0\n" {
		t.Errorf("plain: %q", got)
	}
	if got := string(SetPlain([]byte("1.3.0"), "1.4.0")); got != "1.4.0" {
		t.Errorf("plain without newline: %q", got)
	}
	if got := string(SetPlain(nil, "1.4.0")); got != "1.4.0\n" {
		t.Errorf("new plain: %q", got)
	}

	src := "package main\n\nconst Version = \"1.3.0\" // set by release\nconst Other = \"1.3.0\"\n"
	got, err := SetRegex([]byte(src), `Version = "(?P<version>[^"]+)"`, "1.4.0")
	if err != nil || string(got) != strings.Replace(src, `Version = "1.3.0"`, `Version = "1.4.0"`, 1) {
		t.Errorf("regex: %q %v", got, err)
	}
	if _, err := SetRegex([]byte(src), `Release = "([^"]+)"`, "1.4.0"); err == nil || !strings.Contains(errs.Format(err), "matches nothing") {
		t.Errorf("regex no match: %v", err)
	}
	if _, err := SetRegex([]byte(src), `Version`, "1.4.0"); err == nil || !strings.Contains(errs.Format(err), "group") {
		t.Errorf("regex without group: %v", err)
	}

	yml := "# the appliance\nname: os   # comment\npackage:\n  version: 1.3.0 # bumped by release\n  quoted: \"1.3.0\"\n  single: '1.3.0'\n  label: 'café ✨'\nlist: [1, 2]\n"
	for key, want := range map[string]string{
		"package.version": strings.Replace(yml, "version: 1.3.0 #", "version: 1.4.0 #", 1),
		"package.quoted":  strings.Replace(yml, `quoted: "1.3.0"`, `quoted: "1.4.0"`, 1),
		"package.single":  strings.Replace(yml, `single: '1.3.0'`, `single: '1.4.0'`, 1),
		"package.label":   strings.Replace(yml, `label: 'café ✨'`, `label: '1.4.0'`, 1),
	} {
		got, err := SetYAMLKey([]byte(yml), key, "1.4.0")
		if err != nil || string(got) != want {
			t.Errorf("yaml %s: %v\n%s", key, err, got)
		}
	}
	for key, msg := range map[string]string{"package.nope": `no "nope"`, "list": "list", "name.x": "not inside a mapping", "package": "mapping"} {
		if _, err := SetYAMLKey([]byte(yml), key, "1.4.0"); err == nil || !strings.Contains(errs.Format(err), msg) {
			t.Errorf("yaml %s: error %v, want %q", key, err, msg)
		}
	}
	if _, err := SetYAMLKey([]byte("a: [\n"), "a", "1"); err == nil {
		t.Error("broken YAML accepted")
	}
}

func TestJournal(t *testing.T) {
	msg := JournalMessage(ReleaseSubject("1.4.0"), "1.4.0", "2026-11-21")
	j, ok := ReadJournal(msg)
	if !ok || j.Version != "1.4.0" || j.Milestone != "2026-11-21" {
		t.Errorf("%q: %+v %v", msg, j, ok)
	}
	// A squash merge keeps only the MR title.
	if j, ok := ReadJournal("chore(release): 1.4.0-rc.2"); !ok || j.Version != "1.4.0-rc.2" {
		t.Errorf("subject only: %+v %v", j, ok)
	}
	for _, m := range []string{"chore(release): next", "feat: x\n\nRelease-Versions: 1", "chore: release 1.4.0"} {
		if _, ok := ReadJournal(m); ok {
			t.Errorf("%q read as a release", m)
		}
	}
}

func TestSectionsAndFullChangelog(t *testing.T) {
	h := &hist{}
	a := h.line("feat: one")
	b := h.line("fix: two")
	h.merge("Merge branch 'x'\n\nfeat(x): three", "x1", "x2")
	c := h.head
	h.line("perf: four (unreleased)")
	tags := []Tag{{Name: "v0.2.0", SHA: c, Version: v("0.2.0")}, {Name: "v0.1.0", SHA: a, Version: v("0.1.0")}, {Name: "v0.1.1", SHA: b, Version: v("0.1.1")}}
	secs := Sections(h.newestFirst(0), tags)
	if len(secs) != 4 || secs[0].Tag != nil || len(secs[0].Commits) != 1 {
		t.Fatalf("sections %+v", secs)
	}
	wantCounts := []int{1, 3, 1, 1}
	for i, s := range secs {
		if len(s.Commits) != wantCounts[i] {
			t.Errorf("section %d: %d commits, want %d", i, len(s.Commits), wantCounts[i])
		}
	}
	if secs[1].Tag.Name != "v0.2.0" || secs[1].Previous.Name != "v0.1.1" || secs[3].Previous != nil {
		t.Errorf("order: %v %v", secs[1].Tag, secs[1].Previous)
	}
	out, err := FullChangelog(h.newestFirst(0), tags, ChangesInput{Links: gitlabLinks}, Templates{Links: gitlabLinks})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "CHANGELOG-full.md", out)
}

// FuzzPrepend: whatever the file holds, the new entry appears once, and the
// file's bytes from the insertion point on are kept as they were.
func FuzzPrepend(f *testing.F) {
	f.Add("# Changelog\n\n## [1.3.0] - x\n\n- a\n")
	f.Add("## [Unreleased]\n\n- b\n\n## 1.0.0\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, old string) {
		if HasEntry([]byte(old), "9.9.9") {
			return
		}
		got, changed := Prepend([]byte(old), "## [9.9.9] - d\n\n- new\n", "9.9.9")
		if !changed || !HasEntry(got, "9.9.9") {
			t.Fatalf("entry missing from %q", got)
		}
		i := bytes.Index(got, []byte("## [9.9.9] - d\n\n- new\n"))
		rest := got[i+len("## [9.9.9] - d\n\n- new\n"):]
		rest = bytes.TrimPrefix(rest, []byte("\n"))
		if len(bytes.TrimSpace([]byte(old))) > 0 && !bytes.HasSuffix([]byte(old), rest) {
			t.Fatalf("earlier bytes changed:\nold %q\ngot %q", old, got)
		}
		if again, ch := Prepend(got, "## [9.9.9] - d\n\n- new\n", "9.9.9"); ch || !bytes.Equal(again, got) {
			t.Fatal("second prepend changed the file")
		}
	})
}
