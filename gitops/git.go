package gitops

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Git runs the git CLI in one repository.
type Git struct {
	Dir string
	Env []string // extra environment, KEY=VALUE
}

// Run runs git with args and returns its stdout with the trailing newline
// removed. The error names the command and carries git's stderr.
func (g *Git) Run(ctx context.Context, args ...string) (string, error) {
	out, err := g.RunBytes(ctx, nil, args...)
	return strings.TrimRight(string(out), "\n"), err
}

// RunBytes runs git with stdin and returns stdout byte-exactly.
func (g *Git) RunBytes(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.Dir
	if len(g.Env) > 0 {
		cmd.Env = append(cmd.Environ(), g.Env...)
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
