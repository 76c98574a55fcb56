package runners

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/internal/proc"
)

// Container runs in a podman (or docker) container. The image is imported
// from a rootfs tarball with `podman import` (no registry is needed), a
// container is started from it running `sleep infinity`, and every command
// is a `podman exec`. Daemons a package starts keep running in the container
// between commands; there is no systemd as PID 1 (see the service check).
// Reset removes the container and starts a new one from the image.
type Container struct {
	Name string
	// Engine is the CLI and its global flags, e.g. ["podman",
	// "--runtime", "/usr/sbin/runc", "--storage-driver=vfs"]; default
	// ["podman"].
	Engine []string
	// Env is the environment of the engine CLI (CONTAINERS_CONF, ...);
	// nil means this process's.
	Env []string
	// Image is the image to run; when Tarball is set and the image does
	// not exist yet, it is imported from it.
	Image   string
	Tarball string
	// RunArgs are extra `run` flags (--ulimit, --network, ...).
	RunArgs []string

	mu sync.Mutex
	id string
}

func (c *Container) Target() string { return c.Name }

// engine is the engine CLI with args, stopped with its process group when
// ctx ends (internal/proc).
func (c *Container) engine(ctx context.Context, args ...string) *exec.Cmd {
	eng := c.Engine
	if len(eng) == 0 {
		eng = []string{"podman"}
	}
	cmd := proc.Command(ctx, eng[0], append(append([]string(nil), eng[1:]...), args...)...)
	cmd.Env = c.Env
	return cmd
}

func (c *Container) engineOut(ctx context.Context, what string, args ...string) (string, error) {
	cmd := c.engine(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := runCtx(ctx, cmd); err != nil {
		return "", unreachable(c.Name, what, fmt.Errorf("%s %s: %w: %s", cmd.Path, strings.Join(args, " "), err, strings.TrimSpace(stderr.String())))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// EnsureImage imports Tarball as Image unless the image already exists.
func (c *Container) EnsureImage(ctx context.Context) error {
	if err := runCtx(ctx, c.engine(ctx, "image", "exists", c.Image)); err == nil {
		return nil
	}
	if c.Tarball == "" {
		return unreachable(c.Name, "image", fmt.Errorf("image %s does not exist and no rootfs tarball is configured to import it from", c.Image))
	}
	if _, err := os.Stat(c.Tarball); err != nil {
		return unreachable(c.Name, "image", err)
	}
	_, err := c.engineOut(ctx, "import image", "import", c.Tarball, c.Image)
	return err
}

func (c *Container) Start(ctx context.Context) error {
	if err := c.EnsureImage(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start(ctx)
}

func (c *Container) start(ctx context.Context) error {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "pipeline-" + safeName(c.Name) + "-" + hex.EncodeToString(suffix)
	args := append([]string{"run", "-d", "--name", name, "--hostname", safeName(c.Name)}, c.RunArgs...)
	args = append(args, c.Image, "sleep", "infinity")
	if _, err := c.engineOut(ctx, "start container", args...); err != nil {
		return err
	}
	c.id = name
	return nil
}

func (c *Container) Run(ctx context.Context, cmd Command) (Output, error) {
	c.mu.Lock()
	id := c.id
	c.mu.Unlock()
	if id == "" {
		return Output{}, unreachable(c.Name, "run", fmt.Errorf("container not started"))
	}
	eng := c.Engine
	if len(eng) == 0 {
		eng = []string{"podman"}
	}
	argv := append(append(append([]string(nil), eng...), "exec", "-i", id), "/bin/sh", "-c")
	if cmd.Timeout > 0 {
		// Killing `podman exec` here does not stop the process in the
		// container: timeout(1) there does. The local timer stays as the
		// backstop, a little later.
		inner := cmd
		inner.Script = withTargetTimeout("/bin/sh -c "+Quote(Script(cmd)), cmd.Timeout)
		inner.Env = nil
		inner.Timeout = cmd.Timeout + 3*time.Second
		out, err := execRun(ctx, c.Name, argv, inner, c.Env)
		if err == nil && out.Exit == 137 && out.Duration >= cmd.Timeout {
			out.Exit, out.TimedOut = -1, true
		}
		return out, err
	}
	out, err := execRun(ctx, c.Name, argv, cmd, c.Env)
	// podman exec exits 125-127 itself when the container is gone.
	if err == nil && out.Exit >= 125 && out.Exit <= 127 && bytes.Contains(out.Stderr, []byte("no container with")) {
		return out, unreachable(c.Name, "exec", fmt.Errorf("%s", bytes.TrimSpace(out.Stderr)))
	}
	return out, err
}

func (c *Container) CopyIn(ctx context.Context, src, dst string) error {
	return CopyInTar(ctx, c, src, dst)
}

func (c *Container) CopyOut(ctx context.Context, src, dst string) error {
	return CopyOutTar(ctx, c, src, dst)
}

func (c *Container) Reset(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove() //nolint:contextcheck // removal must happen even after a cancel
	return c.start(ctx)
}

func (c *Container) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove()
	return nil
}

func (c *Container) remove() {
	if c.id != "" {
		// Also after a cancel: the container must go.
		_ = c.engine(context.Background(), "rm", "-f", "-t", "0", c.id).Run()
		c.id = ""
	}
}

// runCtx runs cmd (made with ctx) and says "cancelled (SIGTERM)" or
// "timed out" when ctx ended first.
func runCtx(ctx context.Context, cmd *exec.Cmd) error {
	err := cmd.Run()
	if stop := proc.Stopped(ctx); err != nil && stop != nil {
		return stop
	}
	return err
}
