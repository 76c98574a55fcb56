package runners

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/internal/proc"
)

// Chroot runs in a copy of a rootfs directory under bubblewrap. Start copies
// Rootfs to a fresh work directory and starts one long-lived sandbox there
// (own mount, PID, network, IPC and UTS namespaces, loopback up); every
// command enters it with nsenter, so daemons started by one command (a
// package's postinst) are still running for the next, as on a real host.
// Reset kills the sandbox and starts again from a new copy. Needs root.
//
// There is no systemd in the sandbox: services are whatever processes the
// packages started; see the service check for how it decides "running".
type Chroot struct {
	Name string
	// Rootfs is the base tree; it is never written to.
	Rootfs string
	// WorkDir holds the per-run copy; empty means a temp dir.
	WorkDir string
	// Copy makes each run's root a full copy (cp -a) instead of an
	// overlay on Rootfs; Start falls back to it when overlayfs cannot be
	// mounted here.
	Copy bool
	// Bwrap is the bubblewrap program (default "bwrap").
	Bwrap string

	mu      sync.Mutex
	work    string
	sandbox *exec.Cmd
	pid     int // the sandbox's init as seen from here
}

func (c *Chroot) Target() string { return c.Name }

func (c *Chroot) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.start(ctx)
	if err != nil && !c.Copy {
		// No overlayfs here (or not allowed): a plain copy always works.
		c.Copy = true
		if err2 := c.start(ctx); err2 == nil {
			return nil
		}
	}
	return err
}

func (c *Chroot) start(ctx context.Context) error {
	if st, err := os.Stat(filepath.Join(c.Rootfs, "bin", "sh")); err != nil || st.IsDir() {
		return unreachable(c.Name, "rootfs", fmt.Errorf("%s has no bin/sh: give the path of an unpacked root filesystem", c.Rootfs))
	}
	base := c.WorkDir
	if base == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return unreachable(c.Name, "work dir", err)
	}
	work, err := os.MkdirTemp(base, "chroot-"+safeName(c.Name)+"-")
	if err != nil {
		return unreachable(c.Name, "work dir", err)
	}
	root := filepath.Join(work, "root")
	useOverlay := !c.Copy
	if useOverlay {
		for _, d := range []string{root, filepath.Join(work, "upper"), filepath.Join(work, "ovl")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				os.RemoveAll(work)
				return unreachable(c.Name, "work dir", err)
			}
		}
	} else if out, err := proc.Command(ctx, "cp", "-a", "--reflink=auto", c.Rootfs, root).CombinedOutput(); err != nil {
		// --reflink=auto makes the copy nearly free on btrfs/xfs.
		os.RemoveAll(work)
		return unreachable(c.Name, "copy rootfs", fmt.Errorf("%w: %s", err, out))
	}
	bwrap := c.Bwrap
	if bwrap == "" {
		bwrap = "bwrap"
	}
	info, infoW, err := os.Pipe()
	if err != nil {
		return unreachable(c.Name, "pipe", err)
	}
	argv := []string{bwrap,
		"--bind", root, "/",
		"--dev", "/dev", "--proc", "/proc", "--ro-bind", "/sys", "/sys",
		"--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
		"--hostname", safeName(c.Name), "--cap-add", "ALL",
		"--die-with-parent", "--info-fd", "3",
		"--", "/bin/sh", "-c", "echo ready; exec sleep infinity"}
	if useOverlay {
		// The copy is an overlay mounted in a mount namespace of its own
		// (unshare), so it vanishes with the sandbox and never shows on
		// the host; only the upper dir holds what the run wrote.
		argv = append([]string{"unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
			`mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" && shift 4 && exec "$@"`,
			"sh", c.Rootfs, filepath.Join(work, "upper"), filepath.Join(work, "ovl"), root}, argv...)
	}
	// The sandbox lives until stop, not until the ctx of this call ends;
	// its own process group goes as a whole then.
	cmd := proc.Command(context.Background(), argv[0], argv[1:]...) //nolint:contextcheck // the sandbox outlives this call (see above)
	cmd.ExtraFiles = []*os.File{infoW}
	stderr := &limitedBuffer{max: 4096}
	cmd.Stderr = stderr
	// The init says "ready" once it runs inside the finished sandbox;
	// before that, entering the namespaces may find the old root.
	readyR, err := cmd.StdoutPipe()
	if err != nil {
		return unreachable(c.Name, "pipe", err)
	}
	if err := cmd.Start(); err != nil {
		infoW.Close()
		info.Close()
		os.RemoveAll(work)
		return unreachable(c.Name, "start bubblewrap", err)
	}
	infoW.Close()
	pid, err := readChildPid(info, 10*time.Second)
	info.Close()
	if err == nil {
		err = waitReady(readyR, 10*time.Second)
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(work)
		return unreachable(c.Name, "start bubblewrap", fmt.Errorf("%w: %s", err, stderr.String()))
	}
	c.work, c.sandbox, c.pid = work, cmd, pid
	return nil
}

// waitReady waits for the line "ready" on r.
func waitReady(r io.Reader, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("unexpected %q from the sandbox", line)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("the sandbox did not start within %s", timeout)
	}
}

// readChildPid reads bubblewrap's --info-fd JSON ({"child-pid": N}).
func readChildPid(f *os.File, timeout time.Duration) (int, error) {
	type info struct {
		ChildPid int `json:"child-pid"`
	}
	ch := make(chan info, 1)
	errc := make(chan error, 1)
	go func() {
		var in info
		if err := json.NewDecoder(bufio.NewReader(f)).Decode(&in); err != nil {
			errc <- fmt.Errorf("no child pid from bubblewrap: %w", err)
			return
		}
		ch <- in
	}()
	select {
	case in := <-ch:
		return in.ChildPid, nil
	case err := <-errc:
		return 0, err
	case <-time.After(timeout):
		return 0, fmt.Errorf("bubblewrap did not start within %s", timeout)
	}
}

func (c *Chroot) argv() ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sandbox == nil {
		return nil, unreachable(c.Name, "run", fmt.Errorf("sandbox not started"))
	}
	p := fmt.Sprint(c.pid)
	return []string{"nsenter", "--target", p, "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd",
		"--", "/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8",
		"/bin/sh", "-c"}, nil
}

func (c *Chroot) Run(ctx context.Context, cmd Command) (Output, error) {
	argv, err := c.argv()
	if err != nil {
		return Output{}, err
	}
	return execRun(ctx, c.Name, argv, cmd, nil)
}

func (c *Chroot) CopyIn(ctx context.Context, src, dst string) error {
	return CopyInTar(ctx, c, src, dst)
}

func (c *Chroot) CopyOut(ctx context.Context, src, dst string) error {
	return CopyOutTar(ctx, c, src, dst)
}

func (c *Chroot) Reset(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop()
	return c.start(ctx)
}

func (c *Chroot) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop()
	return nil
}

// stop kills the sandbox (its PID namespace dies with its init, taking
// every daemon along) and removes the copy.
func (c *Chroot) stop() {
	if c.sandbox != nil {
		_ = proc.Kill(c.sandbox.Process)
		_ = c.sandbox.Wait()
		c.sandbox = nil
	}
	if c.work != "" {
		os.RemoveAll(c.work)
		c.work = ""
	}
}

// safeName keeps letters, digits, '-' and '_' of s.
func safeName(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "target"
	}
	return string(b)
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - len(l.buf); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		l.buf = append(l.buf, p[:room]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}
