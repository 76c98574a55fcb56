package build_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/stages/build/metapkg"
	"github.com/pipeline-ci/pipeline/stages/build/repo"
)

// benchPackages generates n small packages of format f, each depending on
// the one before, once per benchmark binary.
func benchPackages(b *testing.B, f string, n int) []string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("pipeline-bench-%s-%d-%d", f, n, os.Getpid()))
	b.Cleanup(func() { os.RemoveAll(dir) })
	var paths []string
	for i := 0; i < n; i++ {
		p := buildtest.Package{Format: f, Name: fmt.Sprintf("pkg%03d", i), Version: fmt.Sprintf("1.%d.0-1", i)}
		if f == "rpm" {
			p.Version = fmt.Sprintf("1.%d.0", i)
		}
		if i > 0 {
			dep := fmt.Sprintf("pkg%03d (>= 1.0)", i-1)
			if f == "rpm" {
				dep = fmt.Sprintf("pkg%03d >= 1.0", i-1)
			}
			p.Depends = []string{dep}
		}
		path, err := buildtest.MakePackage(dir, p)
		if err != nil {
			b.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

// cpuTime is the CPU time used so far by this process and its waited-for
// children (apt-ftparchive, createrepo_c).
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	d := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return d(self.Utime) + d(self.Stime) + d(kids.Utime) + d(kids.Stime)
}

// reportCPU adds the CPU milliseconds per operation since start: on a
// shared machine, wall time also counts waiting for a CPU or the disk.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// lockAndMeta is the pure part of a build for the given package files:
// read each package, lock, check dependencies, build the meta-package.
func lockAndMeta(b *testing.B, paths []string, f dist.Format, out string) []*dist.Inspected {
	var ins []*dist.Inspected
	var pkgs []dist.Package
	for _, p := range paths {
		in, err := dist.Inspect(p)
		if err != nil {
			b.Fatal(err)
		}
		ins = append(ins, in)
		pkgs = append(pkgs, in.Package)
	}
	lock, err := dist.NewLock(pkgs)
	if err != nil {
		b.Fatal(err)
	}
	if u := dist.Check(lock, nil); len(u) > 0 {
		b.Fatalf("unsatisfied: %v", u)
	}
	built, err := metapkg.Build(metapkg.Spec{Name: "bench", Version: "1.0.0", Time: time.Unix(1767323045, 0), Formats: []dist.Format{f}}, lock, out)
	if err != nil {
		b.Fatal(err)
	}
	meta, err := dist.Inspect(built[0].Path)
	if err != nil {
		b.Fatal(err)
	}
	return append(ins, meta)
}

// BenchmarkBuild200 measures what `pipeline build` adds on top of the
// components' own builds, for 200 generated packages: reading them, the
// lock and dependency check, the meta-package, and the repository
// metadata. The apt-ftparchive line is the reference tool on the same pool.
func BenchmarkBuild200(b *testing.B) {
	debs := benchPackages(b, "deb", 200)
	b.Run("deb/lock+metapackage+apt-repo", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for i := 0; i < b.N; i++ {
			dir := b.TempDir()
			ins := lockAndMeta(b, debs, dist.Deb, dir)
			if _, err := repo.WriteAPT(filepath.Join(dir, "apt"), ins, repo.APTOptions{Date: time.Unix(1767323045, 0)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same work, step by step, to see where the time goes.
	var ins []*dist.Inspected
	b.Run("deb/step:read-200-packages", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for i := 0; i < b.N; i++ {
			ins = ins[:0]
			for _, p := range debs {
				in, err := dist.Inspect(p)
				if err != nil {
					b.Fatal(err)
				}
				ins = append(ins, in)
			}
		}
	})
	var lock *dist.Lock
	b.Run("deb/step:lock+check", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for i := 0; i < b.N; i++ {
			var pkgs []dist.Package
			for _, in := range ins {
				pkgs = append(pkgs, in.Package)
			}
			lock, _ = dist.NewLock(pkgs)
			dist.Check(lock, nil)
		}
	})
	b.Run("deb/step:metapackage", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for i := 0; i < b.N; i++ {
			if _, err := metapkg.Build(metapkg.Spec{Name: "bench", Version: "1.0.0", Time: time.Unix(1767323045, 0), Formats: []dist.Format{dist.Deb}}, lock, b.TempDir()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("deb/step:apt-repo", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for i := 0; i < b.N; i++ {
			if _, err := repo.WriteAPT(filepath.Join(b.TempDir(), "apt"), ins, repo.APTOptions{Date: time.Unix(1767323045, 0)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("deb/reference:apt-ftparchive-packages", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		if _, err := exec.LookPath("apt-ftparchive"); err != nil {
			b.Skip("NOT CHECKED: apt-ftparchive is not installed")
		}
		dir := filepath.Dir(debs[0])
		for i := 0; i < b.N; i++ {
			cmd := exec.Command("apt-ftparchive", "packages", ".")
			cmd.Dir = dir
			if out, err := cmd.Output(); err != nil || len(out) == 0 {
				b.Fatalf("apt-ftparchive: %v", err)
			}
		}
	})
	rpms := benchPackages(b, "rpm", 200)
	b.Run("rpm/lock+metapackage", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for i := 0; i < b.N; i++ {
			lockAndMeta(b, rpms, dist.RPM, b.TempDir())
		}
	})
	b.Run("rpm/yum-repo(createrepo_c)", func(b *testing.B) {
		if _, err := exec.LookPath("createrepo_c"); err != nil {
			b.Skip("NOT CHECKED: createrepo_c is not installed")
		}
		var ins []*dist.Inspected
		for _, p := range rpms {
			in, _ := dist.Inspect(p)
			ins = append(ins, in)
		}
		b.ResetTimer()
		start := cpuTime()
		defer reportCPU(b, start)
		for i := 0; i < b.N; i++ {
			if _, err := repo.WriteYUM(b.Context(), filepath.Join(b.TempDir(), "yum"), ins, time.Unix(1767323045, 0)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
