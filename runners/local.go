package runners

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/pipeline-ci/pipeline/internal/proc"
)

// Local runs on this machine: for suites about the CI host itself, and for
// tests. Reset runs ResetCommand when one is set.
type Local struct {
	Name         string
	ResetCommand string
}

func (l *Local) Target() string                  { return l.Name }
func (l *Local) Start(ctx context.Context) error { return nil }
func (l *Local) Close() error                    { return nil }

func (l *Local) Run(ctx context.Context, cmd Command) (Output, error) {
	return execRun(ctx, l.Name, []string{"/bin/sh", "-c"}, cmd, nil)
}

func (l *Local) CopyIn(ctx context.Context, src, dst string) error  { return copyLocal(ctx, src, dst) }
func (l *Local) CopyOut(ctx context.Context, src, dst string) error { return copyLocal(ctx, src, dst) }

func (l *Local) Reset(ctx context.Context) error {
	if l.ResetCommand == "" {
		return ErrNoReset
	}
	out, err := execRun(ctx, l.Name, []string{"/bin/sh", "-c"}, Command{Script: l.ResetCommand}, nil)
	if err != nil {
		return err
	}
	if out.Exit != 0 {
		return fmt.Errorf("%s: reset command exited %d: %s", l.Name, out.Exit, out.Stderr)
	}
	return nil
}

func (l *Local) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// copyLocal copies a file or tree with cp -a (keeps modes, links, owners).
// A tree is merged into dst, as tar does on the other runners; nothing at
// dst is removed first.
func copyLocal(ctx context.Context, src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	args := []string{"-a", src, dst}
	if st, err := os.Stat(src); err == nil && st.IsDir() {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		args = []string{"-a", src + "/.", dst}
	}
	if out, err := proc.Command(ctx, "cp", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a %s %s: %w: %s", src, dst, err, out)
	}
	return nil
}
