package gitops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// filesRepo is a repository with packed and loose refs, deltified objects
// in a pack, loose objects, lightweight, annotated and nested tags.
func filesRepo(t *testing.T) *Git {
	t.Helper()
	g := newRepo(t)
	text := ""
	for i := 0; i < 30; i++ {
		text += fmt.Sprintf("line %d of a file that grows, so that its versions are stored as deltas\n", i)
		commitFile(t, g, "grow.txt", text, fmt.Sprintf("commit %d", i))
		if i%10 == 0 {
			must(t, g, "tag", "-a", "-m", fmt.Sprintf("Release v1.%d.0\n\nRelease-Version: 1.%d.0", i, i), fmt.Sprintf("v1.%d.0", i))
		}
	}
	must(t, g, "tag", "light")
	must(t, g, "tag", "-a", "-m", "a tag of a tag", "nested", "v1.10.0")
	must(t, g, "gc", "--quiet", "--aggressive")
	// After the pack: loose refs, loose objects, one ref in a directory.
	commitFile(t, g, "grow.txt", text+"more\n", "after gc")
	must(t, g, "tag", "-a", "-m", "loose one", "v2.0.0")
	must(t, g, "tag", "group/v3.0.0")
	return g
}

func TestFilesReadTagsAndHeadAsGit(t *testing.T) {
	t.Parallel()
	g := filesRepo(t)
	ctx := context.Background()
	f, err := OpenFiles(filepath.Join(g.Dir)) // from the top
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(g.Dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	fsub, err := OpenFiles(filepath.Join(g.Dir, "sub")) // from inside
	if err != nil || fsub.Top != f.Top {
		t.Fatalf("from a subdirectory: %v, top %v", err, fsub)
	}
	if top := must(t, g, "rev-parse", "--show-toplevel"); f.Top != top {
		t.Errorf("top %s, git says %s", f.Top, top)
	}
	sha, branch, err := f.Head()
	if err != nil || sha != must(t, g, "rev-parse", "HEAD") || branch != "master" {
		t.Errorf("Head() = %s %s %v", sha, branch, err)
	}
	tags, err := f.Tags()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range tags {
		got = append(got, tg.Name+" "+tg.Object+" "+tg.Peeled)
	}
	var want []string
	for _, name := range strings.Split(must(t, g, "for-each-ref", "--format=%(refname:strip=2)", "refs/tags"), "\n") {
		want = append(want, name+" "+must(t, g, "rev-parse", "refs/tags/"+name)+" "+must(t, g, "rev-parse", "refs/tags/"+name+"^{}"))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tags:\n%s\nwant (git):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f.IsShallow() {
		t.Error("a complete repository read as shallow")
	}
	// Detached: no branch.
	must(t, g, "checkout", "--quiet", "--detach", "HEAD~1")
	if sha, branch, err := f.Head(); err != nil || branch != "" || sha != must(t, g, "rev-parse", "HEAD") {
		t.Errorf("detached: %s %q %v", sha, branch, err)
	}
	// A remote in the config; a missing one is "not here", not an error.
	must(t, g, "remote", "add", "origin", "https://example.invalid/x.git")
	if !f.RemoteConfigured("origin") || f.RemoteConfigured("upstream") {
		t.Error("RemoteConfigured: origin not found, or upstream found")
	}
	// Includes and quoted values (as CI runners write) do not stop it.
	must(t, g, "config", "include.path", "extra.cfg")
	must(t, g, "config", "http.https://example.invalid/.extraHeader", "X-Note: \"quoted\" # not a comment")
	if f2, err := OpenFiles(g.Dir); err != nil || !f2.RemoteConfigured("origin") {
		t.Errorf("with an include and quoted values: %v", err)
	}
	// A repository with extensions is left to git.
	must(t, g, "config", "extensions.worktreeConfig", "true")
	if _, err := OpenFiles(g.Dir); err != ErrAskGit {
		t.Errorf("with extensions: %v, want ErrAskGit", err)
	}
	// A shallow clone reads as shallow.
	c := cloneOf(t, "file://"+g.Dir, "--depth=2")
	if fc, err := OpenFiles(c.Dir); err != nil || !fc.IsShallow() {
		t.Errorf("shallow clone: %v", err)
	}
	_ = ctx
}

// Every object of a packed (deltified) repository reads as git reads it.
func TestFilesReadObjectsAsGit(t *testing.T) {
	t.Parallel()
	g := filesRepo(t)
	f, err := OpenFiles(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	list := must(t, g, "cat-file", "--batch-check=%(objectname) %(objecttype) %(deltabase)", "--batch-all-objects")
	deltas := 0
	for _, line := range strings.Split(list, "\n") {
		fl := strings.Fields(line)
		if len(fl) != 3 {
			continue
		}
		if strings.Trim(fl[2], "0") != "" {
			deltas++
		}
		typ, data, err := f.ReadObject(fl[0])
		if err != nil {
			t.Errorf("%s: %v", fl[0], err)
			continue
		}
		want, err := g.RunBytes(context.Background(), nil, "cat-file", fl[1], fl[0])
		if err != nil {
			t.Fatal(err)
		}
		if typ != fl[1] || string(data) != string(want) {
			t.Errorf("%s: %s of %d bytes, git says %s of %d", fl[0], typ, len(data), fl[1], len(want))
		}
	}
	if deltas == 0 {
		t.Fatal("setup: no deltified object in the pack")
	}
	if _, _, err := f.ReadObject(strings.Repeat("0", 40)); err != ErrAskGit {
		t.Errorf("a missing object: %v, want ErrAskGit", err)
	}
}

// TagTrailers finds the trailers git's for-each-ref finds.
func TestTagTrailersAsGit(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	commitFile(t, g, "a", "1\n", "first")
	msgs := []string{
		"Release 1.0.0\n\nRelease-Version: 1.0.0\nRelease-Milestone: W47\n",
		"Release-Version: 1.0.0\n",                                           // the subject is never trailers
		"Release 1\n\nsome text\nRelease-Version: 1.0.0\n",                   // mixed paragraph
		"Release 1\n\nbody\n\nRelease-Version: 1.0.0\n  folded on\n",         // continuation
		"Release 1\n\nRelease-Version : 1.0.0\nKey:no-space\n\n\n",           // blanks around the colon, trailing blank lines
		"Release 1\n\nSigned-off-by: A <a@b>\nnot one\nRelease-Version: 2\n", // a git trailer lets a quarter be enough
		"Release 1\n\nRelease-Version: 1\n---\nRelease-Version: 2\n",         // not a divider in a tag
		"Release 1\n\nRelease-Version: 1\n# comment\n",
		"Release 1\n\nRelease-Version: 1\nRelease-Version: 3\n",
		"no trailers at all\n",
		"Release 1\n\nweird key: 1\n",
	}
	for i, m := range msgs {
		name := fmt.Sprintf("t%02d", i)
		if _, err := g.RunBytes(context.Background(), []byte(m), "tag", "--cleanup=verbatim", "-a", "-F", "-", name); err != nil {
			t.Fatal(err)
		}
		out := must(t, g, "for-each-ref", "--format=%(contents:trailers:only,unfold,separator=%x1f)", "refs/tags/"+name)
		var want []string
		for _, tr := range strings.Split(out, "\x1f") {
			if k, v, ok := strings.Cut(tr, ":"); ok {
				want = append(want, strings.TrimSpace(k)+"="+strings.TrimSpace(v))
			}
		}
		f, err := OpenFiles(g.Dir)
		if err != nil {
			t.Fatal(err)
		}
		msg, ok, err := f.TagMessage(name)
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", name, ok, err)
		}
		var got []string
		for _, tr := range TagTrailers(msg) {
			got = append(got, tr.Key+"="+tr.Value)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%q: trailers %q, git says %q", m, got, want)
		}
	}
}

// InTree answers as `git cat-file -e HEAD:path` does for files, packed or
// loose, and says no for directories and missing paths.
func TestInTreeAsGit(t *testing.T) {
	t.Parallel()
	g := filesRepo(t)
	if err := os.MkdirAll(filepath.Join(g.Dir, "docs", "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	commitFile(t, g, "docs/notes/CHANGELOG.md", "x\n", "a nested file")
	must(t, g, "gc", "--quiet")
	commitFile(t, g, "docs/loose.md", "y\n", "a loose one")
	f, err := OpenFiles(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	head := must(t, g, "rev-parse", "HEAD")
	for path, want := range map[string]bool{
		"grow.txt": true, "docs/notes/CHANGELOG.md": true, "docs/loose.md": true,
		"docs": false, "docs/notes": false, "docs/missing.md": false, "grow.txt/x": false, "nope/CHANGELOG.md": false,
	} {
		got, err := f.InTree(head, path)
		if err != nil || got != want {
			t.Errorf("InTree(%q) = %v, %v; want %v", path, got, err, want)
		}
	}
}
