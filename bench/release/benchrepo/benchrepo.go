// Package benchrepo generates the repository the release benchmarks run
// on: a long, realistic history written with `git fast-import` in one go,
// cached on disk so that reruns start at once.
package benchrepo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Shape is the size of the generated history.
type Shape struct {
	Commits    int // all commits on main
	Tags       int // release tags, evenly spread over the released part
	Unreleased int // commits after the last tag
}

// Default is the shape the issue asks for.
var Default = Shape{Commits: 100_000, Tags: 490, Unreleased: 2_000}

// Dir is where a repository of shape s is cached.
func Dir(base string, s Shape) string {
	return filepath.Join(base, fmt.Sprintf("release-%d-%d-%d", s.Commits, s.Tags, s.Unreleased))
}

// Ensure returns the path of a repository of shape s under base, making it
// when it is not there yet (a marker file says it is complete).
func Ensure(ctx context.Context, base string, s Shape, log io.Writer) (string, error) {
	dir := Dir(base, s)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "generating %d commits, %d tags, %d unreleased in %s\n", s.Commits, s.Tags, s.Unreleased, dir)
	git := func(stdin io.Reader, args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Stdin, cmd.Stderr = stdin, log
		return cmd.Run()
	}
	if err := git(nil, "init", "--quiet", "--initial-branch=main"); err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(Write(pw, s)) }()
	if err := git(pr, "fast-import", "--quiet", "--done"); err != nil {
		return "", fmt.Errorf("fast-import: %w", err)
	}
	// A checkout (the release stage commits in it), a commit-graph as any
	// maintained clone has, and a tidy pack.
	for _, args := range [][]string{
		{"reset", "--quiet", "--hard", "main"},
		{"config", "user.name", "Bench"}, {"config", "user.email", "bench@example.com"},
		{"gc", "--quiet"},
		{"commit-graph", "write", "--reachable"},
	} {
		if err := git(nil, args...); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".git", "info", "exclude"), []byte(".complete\n"), 0o644); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}

var kinds = []string{
	"feat", "fix", "fix", "chore", "docs", "perf", "refactor", "test", "fix", "feat", "ci", "build",
}
var scopes = []string{"", "apt", "image", "kernel", "ui", "net", "", "boot", "api", ""}
var words = strings.Fields("mirror sync retry pinned package image kernel module boot network bridge " +
	"firewall rule journal rotation cache key upgrade path login session token disk layout partition")

// message is commit i's message: mostly Conventional Commits with scopes,
// bodies and footers, some plain, some breaking.
func message(i int) string {
	w := func(k int) string { return words[(i*7+k*13)%len(words)] }
	var b strings.Builder
	switch {
	case i%97 == 0:
		fmt.Fprintf(&b, "Update %s and %s", w(1), w(2)) // not conventional
	case i%501 == 0:
		fmt.Fprintf(&b, "feat(image)!: replace the %s %s", w(1), w(2))
	default:
		k := kinds[i%len(kinds)]
		if s := scopes[(i/3)%len(scopes)]; s != "" {
			fmt.Fprintf(&b, "%s(%s): %s the %s %s", k, s, w(0), w(1), w(2))
		} else {
			fmt.Fprintf(&b, "%s: %s the %s %s", k, w(0), w(1), w(2))
		}
	}
	if i%3 == 0 {
		fmt.Fprintf(&b, "\n\nThe %s used to %s the %s; now it does not.\nThis keeps %s stable.", w(3), w(4), w(5), w(6))
	}
	if i%11 == 0 {
		fmt.Fprintf(&b, "\n\nCloses #%d", i%900+1)
	}
	if i%1009 == 0 {
		fmt.Fprintf(&b, "\n\nBREAKING CHANGE: the %s %s moved.", w(7), w(8))
	}
	return b.String()
}

// Write writes the fast-import stream of shape s to w.
func Write(w io.Writer, s Shape) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	released := s.Commits - s.Unreleased
	every := released / s.Tags
	tag := 0
	const t0 = 1_600_000_000
	for i := 1; i <= s.Commits; i++ {
		msg := message(i)
		ts := t0 + int64(i)*600
		fmt.Fprintf(bw, "commit refs/heads/main\nmark :%d\nauthor Dev %d <dev%d@example.com> %d +0000\ncommitter Dev <dev@example.com> %d +0000\n",
			i, i%40, i%40, ts, ts)
		fmt.Fprintf(bw, "data %d\n%s\n", len(msg), msg)
		if i > 1 {
			fmt.Fprintf(bw, "from :%d\n", i-1)
		}
		body := "change " + strconv.Itoa(i) + "\n"
		fmt.Fprintf(bw, "M 100644 inline src/file%03d.txt\ndata %d\n%s\n", i%200, len(body), body)
		if i <= released && i%every == 0 && tag < s.Tags {
			name := fmt.Sprintf("v1.%d.%d", tag/20, tag%20)
			tmsg := "Release " + name
			fmt.Fprintf(bw, "tag %s\nfrom :%d\ntagger Dev <dev@example.com> %d +0000\ndata %d\n%s\n", name, i, ts, len(tmsg), tmsg)
			tag++
		}
	}
	fmt.Fprintf(bw, "done\n")
	return bw.Flush()
}
