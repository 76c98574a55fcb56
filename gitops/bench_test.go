package gitops

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchHistory makes a remote with n commits on master and tag v1.0.0 at
// tagBack commits below the tip, with git fast-import.
func benchHistory(b *testing.B, n, tagBack int) string {
	b.Helper()
	dir := b.TempDir()
	g := &Git{Dir: dir, Env: identity}
	if _, err := g.Run(context.Background(), "init", "--quiet", "--bare", "--initial-branch=master"); err != nil {
		b.Fatal(err)
	}
	var s strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&s, "commit refs/heads/master\nmark :%d\ncommitter T <t@e> %d +0000\ndata 8\ncommit %d\n", i, 1700000000+i*60, i%10)
		if i > 1 {
			fmt.Fprintf(&s, "from :%d\n", i-1)
		}
		fmt.Fprintf(&s, "M 644 inline f%d\ndata %d\n%d\n\n", i%500, len(strconv.Itoa(i))+1, i)
	}
	fmt.Fprintf(&s, "tag v1.0.0\nfrom :%d\ntagger T <t@e> 1700000000 +0000\ndata 3\nv1\n", n-tagBack)
	if _, err := g.RunBytes(context.Background(), []byte(s.String()), "fast-import", "--quiet"); err != nil {
		b.Fatal(err)
	}
	return dir
}

func shallowClone(b *testing.B, src string, depth int) *Git {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "c")
	cmd := exec.Command("git", "clone", "--quiet", "--depth="+strconv.Itoa(depth), "--branch=master", "file://"+src, dir)
	cmd.Env = append(os.Environ(), identity...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("clone: %v %s", err, out)
	}
	return &Git{Dir: dir, Env: identity}
}

// The CI case: a depth-20 clone of a long history whose last release tag
// is 150 commits back. DeepenToTag fetches about as far as needed;
// unshallowing fetches everything.
func BenchmarkDeepenToTag(b *testing.B) {
	src := benchHistory(b, 5000, 150)
	ctx := context.Background()
	var commits int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := shallowClone(b, src, 20)
		b.StartTimer()
		if err := c.DeepenToTag(ctx, "origin", "v1.0.0"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		n, _ := c.Run(ctx, "rev-list", "--count", "--all")
		commits, _ = strconv.Atoi(n)
		b.StartTimer()
	}
	b.ReportMetric(float64(commits), "commits")
}

func BenchmarkUnshallow(b *testing.B) {
	src := benchHistory(b, 5000, 150)
	ctx := context.Background()
	var commits int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := shallowClone(b, src, 20)
		b.StartTimer()
		if _, err := c.Run(ctx, "fetch", "--quiet", "--unshallow", "origin"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		n, _ := c.Run(ctx, "rev-list", "--count", "--all")
		commits, _ = strconv.Atoi(n)
		b.StartTimer()
	}
	b.ReportMetric(float64(commits), "commits")
}

// Reading 5000 commits with their trailers (promote and release walk
// staging..master and tag..HEAD this way).
func BenchmarkLog5000(b *testing.B) {
	src := benchHistory(b, 5000, 150)
	g := &Git{Dir: src}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cs, err := g.Log(ctx, "master")
		if err != nil || len(cs) != 5000 {
			b.Fatalf("%d commits, %v", len(cs), err)
		}
	}
}
