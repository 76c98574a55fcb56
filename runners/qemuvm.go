package runners

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/runners/qemu"
	"golang.org/x/crypto/ssh"
)

// QEMU boots the template disk image in a throw-away VM (runners/qemu:
// snapshot=on, so the image never changes) and runs everything over SSH
// through user-mode networking's port forward, with the SSH runner. Reset
// kills the VM and boots it again: a fresh template every time.
type QEMU struct {
	Name string
	VM   qemu.Config // Image, Kernel, ... ; ForwardSSH is forced on
	// User and Key log in to the guest; HostKey is the guest's public host
	// key ("ssh-ed25519 AAAA..."), checked like any known_hosts entry.
	User    string
	Key     []byte
	HostKey string
	// BootTimeout bounds the wait for SSH (default 10m: software emulation on a loaded machine
	// is slow).
	BootTimeout time.Duration

	mu  sync.Mutex
	vm  *qemu.VM
	ssh *SSH
	dir string
}

func (q *QEMU) Target() string { return q.Name }

func (q *QEMU) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.boot(ctx)
}

func (q *QEMU) boot(ctx context.Context) error {
	if q.HostKey == "" {
		return unreachable(q.Name, "qemu", fmt.Errorf("no host key for the guest: host keys are always checked; give the template's public host key"))
	}
	dir, err := os.MkdirTemp("", "pipeline-qemu-runner-")
	if err != nil {
		return unreachable(q.Name, "qemu", err)
	}
	cfg := q.VM
	cfg.ForwardSSH = true
	if len(q.Key) > 0 {
		// Let our key in for this boot only (systemd credential); the
		// template itself holds no key of ours.
		signer, err := ssh.ParsePrivateKey(q.Key)
		if err != nil {
			os.RemoveAll(dir)
			return unreachable(q.Name, "qemu", fmt.Errorf("private key: %w", err))
		}
		creds := map[string]string{}
		for k, v := range cfg.Credentials {
			creds[k] = v
		}
		name := "ssh.authorized_keys." + q.User
		if _, set := creds[name]; !set {
			creds[name] = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
		}
		cfg.Credentials = creds
	}
	if cfg.ConsoleLog == "" {
		cfg.ConsoleLog = filepath.Join(dir, "console.log")
	}
	// The VM lives until Close or Reset, not until ctx of this call ends.
	vm, err := qemu.Start(context.WithoutCancel(ctx), cfg)
	if err != nil {
		os.RemoveAll(dir)
		return unreachable(q.Name, "boot", err)
	}
	timeout := q.BootTimeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	if err := vm.WaitForSSH(ctx, timeout); err != nil {
		_ = vm.Kill() // already failing: the first error is the one reported
		os.RemoveAll(dir)
		return unreachable(q.Name, "boot", err)
	}
	known := filepath.Join(dir, "known_hosts")
	host, port, _ := net.SplitHostPort(vm.SSHAddr())
	line := fmt.Sprintf("[%s]:%s %s\n", host, port, strings.TrimSpace(q.HostKey))
	if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
		_ = vm.Kill() // already failing: the first error is the one reported
		os.RemoveAll(dir)
		return unreachable(q.Name, "qemu", err)
	}
	s := &SSH{Name: q.Name, Addr: vm.SSHAddr(), User: q.User, Key: q.Key, KnownHosts: known, ReadyTimeout: time.Minute}
	if err := s.Start(ctx); err != nil {
		_ = vm.Kill() // already failing: the first error is the one reported
		os.RemoveAll(dir)
		return err
	}
	// SSH answers before the guest has finished booting; a suite (and the
	// idempotence snapshots) must see the settled system, so wait for
	// systemd to say the boot is over (running or degraded).
	if _, err := s.Run(ctx, Command{Script: "command -v systemctl >/dev/null 2>&1 && systemctl is-system-running --wait >/dev/null 2>&1; true",
		Timeout: timeout}); err != nil {
		s.Close()
		_ = vm.Kill() // already failing: the first error is the one reported
		os.RemoveAll(dir)
		return err
	}
	q.vm, q.ssh, q.dir = vm, s, dir
	return nil
}

func (q *QEMU) conn() (*SSH, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ssh == nil {
		return nil, unreachable(q.Name, "run", fmt.Errorf("vm not started"))
	}
	return q.ssh, nil
}

func (q *QEMU) Run(ctx context.Context, cmd Command) (Output, error) {
	s, err := q.conn()
	if err != nil {
		return Output{}, err
	}
	return s.Run(ctx, cmd)
}

func (q *QEMU) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s, err := q.conn()
	if err != nil {
		return nil, err
	}
	return s.DialContext(ctx, network, addr)
}

func (q *QEMU) CopyIn(ctx context.Context, src, dst string) error {
	return CopyInTar(ctx, q, src, dst)
}

func (q *QEMU) CopyOut(ctx context.Context, src, dst string) error {
	return CopyOutTar(ctx, q, src, dst)
}

func (q *QEMU) Reset(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stop()
	return q.boot(ctx)
}

func (q *QEMU) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stop()
	return nil
}

// ConsoleLog is the current VM's serial console log (for artifacts).
func (q *QEMU) ConsoleLog() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.vm == nil {
		return ""
	}
	return q.vm.ConsoleLog()
}

func (q *QEMU) stop() {
	if q.ssh != nil {
		q.ssh.Close()
		q.ssh = nil
	}
	if q.vm != nil {
		_ = q.vm.Kill() // stopping: a VM that will not die is reaped with its process group
		q.vm = nil
	}
	if q.dir != "" {
		os.RemoveAll(q.dir)
		q.dir = ""
	}
}
