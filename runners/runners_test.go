package runners_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/runners"
	"github.com/pipeline-ci/pipeline/runners/runnertest"
)

// conformance checks what every Runner promises: env and stdin reach the
// script, exit codes and stderr come back, a timeout is a verdict and not
// an error, files go in and out, and (when reset is true) Reset wipes what
// a run left behind.
func conformance(t *testing.T, r runners.Runner, reset bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { r.Close() })

	out, err := r.Run(ctx, runners.Command{
		Script: `read line; echo "$GREETING $line"; echo oops >&2; exit 3`,
		Env:    map[string]string{"GREETING": "it's a"},
		Stdin:  strings.NewReader("test\n"),
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := strings.TrimSpace(string(out.Stdout)); got != "it's a test" || out.Exit != 3 || strings.TrimSpace(string(out.Stderr)) != "oops" {
		t.Fatalf("run: stdout %q exit %d stderr %q", got, out.Exit, out.Stderr)
	}

	start := time.Now()
	out, err = r.Run(ctx, runners.Command{Script: "echo before; sleep 30", Timeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatalf("timeout run: %v", err)
	}
	if !out.TimedOut || out.Exit != -1 || time.Since(start) > 15*time.Second {
		t.Fatalf("timeout: timedOut=%v exit=%d after %s", out.TimedOut, out.Exit, time.Since(start))
	}

	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "a.txt"), []byte("alpha\n"), 0o640)
	os.Symlink("sub/a.txt", filepath.Join(src, "link"))
	remote := "/tmp/pipeline-copy-" + strings.ReplaceAll(t.Name(), "/", "_")
	if err := r.CopyIn(ctx, src, remote); err != nil {
		t.Fatalf("copy in: %v", err)
	}
	out, err = r.Run(ctx, runners.Command{Script: "cat " + remote + "/link; stat -c %a " + remote + "/sub/a.txt"})
	if err != nil || string(out.Stdout) != "alpha\n640\n" {
		t.Fatalf("after copy in: %q %v", out.Stdout, err)
	}
	back := filepath.Join(t.TempDir(), "back")
	if err := r.CopyOut(ctx, remote+"/sub", back); err != nil {
		t.Fatalf("copy out: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(back, "a.txt")); err != nil || string(b) != "alpha\n" {
		t.Fatalf("copy out: %q %v", b, err)
	}
	if !reset {
		r.Run(ctx, runners.Command{Script: "rm -rf " + remote})
		return
	}

	// A daemon started by one command is still there for the next (as a
	// package's postinst starting a service), and Reset takes it away with
	// the files.
	out, err = r.Run(ctx, runners.Command{Script: "nohup sleep 1000 >/dev/null 2>&1 & echo $! > /run/test-daemon.pid"})
	if err != nil || out.Exit != 0 {
		t.Fatalf("start daemon: %v %s", err, out.Stderr)
	}
	out, _ = r.Run(ctx, runners.Command{Script: `kill -0 "$(cat /run/test-daemon.pid)" && echo alive`})
	if strings.TrimSpace(string(out.Stdout)) != "alive" {
		t.Fatalf("daemon did not survive between commands: %q %q", out.Stdout, out.Stderr)
	}
	if err := r.Reset(ctx); err != nil {
		t.Fatalf("reset: %v", err)
	}
	out, err = r.Run(ctx, runners.Command{Script: "ls " + remote + " /run/test-daemon.pid 2>&1; pgrep -x sleep | wc -l"})
	if err != nil {
		t.Fatalf("after reset: %v", err)
	}
	if !strings.Contains(string(out.Stdout), "No such file") || !strings.HasSuffix(string(out.Stdout), "1\n") {
		t.Fatalf("reset left state behind: %q", out.Stdout)
	}
}

func TestLocal(t *testing.T) {
	conformance(t, &runners.Local{Name: "local"}, false)
}

func TestChroot(t *testing.T) {
	testutil.NeedTool(t, "bwrap")
	testutil.NeedTool(t, "nsenter")
	rootfs, _ := runnertest.Rootfs(t)
	conformance(t, &runners.Chroot{Name: "chroot", Rootfs: rootfs, WorkDir: t.TempDir()}, true)
}

// The fallback where overlayfs cannot be mounted: a full copy per run.
func TestChrootCopy(t *testing.T) {
	testutil.NeedTool(t, "bwrap")
	rootfs, _ := runnertest.Rootfs(t)
	conformance(t, &runners.Chroot{Name: "chroot-copy", Rootfs: rootfs, WorkDir: t.TempDir(), Copy: true}, true)
}

func TestContainer(t *testing.T) {
	_, tarball := runnertest.Rootfs(t)
	p := runnertest.NewPodman(t)
	c := &runners.Container{Name: "podman", Engine: p.Engine, Env: p.Env, RunArgs: p.RunArgs,
		Image: "localhost/pipeline-runnertest:v1", Tarball: tarball}
	conformance(t, c, true)
}

func TestSSH(t *testing.T) {
	d := runnertest.StartSSHD(t, 0)
	s := &runners.SSH{Name: "ssh", Addr: d.Addr, User: d.User, Key: d.Key, KnownHosts: d.KnownHosts}
	conformance(t, s, false)
}

func TestSSHRejectsUnknownHostKey(t *testing.T) {
	d := runnertest.StartSSHD(t, 0)
	other := runnertest.StartSSHD(t, 0)
	// The known_hosts of another server: same address form, wrong key.
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	b, _ := os.ReadFile(other.KnownHosts)
	os.WriteFile(wrong, []byte(strings.Replace(string(b), other.Addr[len("127.0.0.1:"):], d.Addr[len("127.0.0.1:"):], 1)), 0o644)
	s := &runners.SSH{Name: "ssh", Addr: d.Addr, User: d.User, Key: d.Key, KnownHosts: wrong, ReadyTimeout: time.Second}
	err := s.Start(context.Background())
	if err == nil || !strings.Contains(errs.Format(err), "host key") || !errorsIs(err, runners.ErrUnreachable) {
		t.Fatalf("want a host key error marked unreachable, got %v", err)
	}
}

// known_hosts holds only the server's ed25519 key while the server offers
// an ECDSA key first: the client must ask for the known type, not fail.
func TestSSHNarrowsHostKeyAlgorithms(t *testing.T) {
	d := runnertest.StartSSHD(t, 0, "ecdsa")
	s := &runners.SSH{Name: "ssh", Addr: d.Addr, User: d.User, Key: d.Key, KnownHosts: d.KnownHosts, ReadyTimeout: time.Second}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	defer s.Close()
	out, err := s.Run(context.Background(), runners.Command{Script: "echo ok"})
	if err != nil || string(out.Stdout) != "ok\n" {
		t.Fatalf("%q %v", out.Stdout, err)
	}
}
