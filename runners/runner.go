// Package runners is where integration suites run: one Runner interface and
// its implementations — local (this machine), chroot (a rootfs directory
// under bubblewrap, a fresh copy per run), container (podman or docker CLI,
// the image imported from a rootfs tarball), ssh (a real host, one
// connection reused) and qemu (the template image booted with snapshot=on,
// reached over SSH).
//
// A Runner only moves commands and files. Which commands to run and what
// their output means is the business of stages/integration.
package runners

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"
)

// Command is one shell script run by /bin/sh -c on the target.
type Command struct {
	Script string
	// Stdin, when set, is fed to the script.
	Stdin io.Reader
	// Env is exported before the script runs. Runners pass it inside the
	// script itself, so it works where sshd refuses SetEnv.
	Env map[string]string
	// Timeout bounds the run; zero means only the context bounds it. A run
	// that times out is reported in Output.TimedOut, not as an error: it is
	// a verdict on the target, not on the machinery.
	Timeout time.Duration
}

// Output is what a command left behind.
type Output struct {
	Stdout   []byte
	Stderr   []byte
	Exit     int // -1 when killed (timeout)
	TimedOut bool
	Duration time.Duration
}

// Runner runs commands on one target and moves files in and out of it.
//
// Run returns an error only when the command could not be run at all (the
// target is unreachable, the sandbox is gone): such errors wrap
// ErrUnreachable. A command that ran and exited non-zero is a normal Output.
type Runner interface {
	// Target is the target's name, for logs and reports.
	Target() string
	// Start makes the target ready (copies the rootfs, starts the
	// container, boots the VM, connects). It is called once before use.
	Start(ctx context.Context) error
	Run(ctx context.Context, cmd Command) (Output, error)
	// CopyIn copies the local file or directory src to dst on the target
	// (dst is the new file's or directory's own path).
	CopyIn(ctx context.Context, src, dst string) error
	// CopyOut copies the file or directory src on the target to the local dst.
	CopyOut(ctx context.Context, src, dst string) error
	// Reset brings the target back to its clean base state. Runners that
	// cannot (a long-lived host without a reset command) return
	// ErrNoReset.
	Reset(ctx context.Context) error
	// Close releases everything Start made. It is safe to call twice.
	Close() error
}

// Dialer is implemented by runners that can open a TCP connection as seen
// from the target (ssh: direct-tcpip; local: a plain dial). The http check
// uses it; elsewhere it runs curl or wget on the target.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

var (
	// ErrUnreachable marks errors where the target could not be reached or
	// the command not started: an infrastructure fault (exit 3).
	ErrUnreachable = errors.New("target unreachable")
	// ErrNoReset is returned by Reset when the target has no way back to a
	// clean state.
	ErrNoReset = errors.New("target has no reset")
)

// unreachable wraps err as an ErrUnreachable error naming the target.
func unreachable(target, what string, err error) error {
	return fmt.Errorf("%s: %s: %w: %w", target, what, ErrUnreachable, err)
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Script returns cmd's script with its Env exported first, in sorted order
// so that the text is stable.
func Script(cmd Command) string {
	if len(cmd.Env) == 0 {
		return cmd.Script
	}
	keys := make([]string, 0, len(cmd.Env))
	for k := range cmd.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, Quote(cmd.Env[k]))
	}
	b.WriteString(cmd.Script)
	return b.String()
}

// withTargetTimeout wraps a command line so that timeout(1) on the target
// kills it after d, where the runner cannot kill it from here (a killed
// ssh session or podman exec leaves the process running on the target).
// Targets without timeout(1) run the line as it is.
func withTargetTimeout(line string, d time.Duration) string {
	secs := fmt.Sprintf("%.3f", d.Seconds())
	return "if command -v timeout >/dev/null 2>&1; then exec timeout -s KILL " + secs + " " + line + "; else exec " + line + "; fi"
}
