package template

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/rootfs"
)

// BaseSpecOf is the base of a recipe: the boot packages and the recipe's
// extra packages, so provisioning only adds the meta-package.
func BaseSpecOf(r Recipe, mirrorState, mmdebstrapVersion string) rootfs.Spec {
	pkgs := append(append([]string(nil), r.BasePackages...), r.Packages...)
	sort.Strings(pkgs)
	return rootfs.Spec{Distribution: r.Distribution, Suite: r.Suite, Mirror: r.Mirror, Components: r.Components,
		Variant: r.Variant, Packages: pkgs, MirrorState: mirrorState, Mmdebstrap: mmdebstrapVersion}
}

// Provisioner runs the recipe's steps inside a root filesystem directory
// with bubblewrap: /proc, /dev, /tmp and /run are set up in bwrap's own
// mount namespace, so nothing is mounted on the host.
type Provisioner struct {
	Root string    // the root filesystem
	Repo string    // the repository checkout (files and scripts are relative to it)
	Log  io.Writer // command output
	// binds are host directories made visible under /run/pipeline.
	binds []string
}

// Prepare makes the root filesystem fit for running commands: the host's
// DNS configuration and a policy-rc.d that stops services from starting.
// Finish undoes both.
func (p *Provisioner) Prepare() error {
	resolv := filepath.Join(p.Root, "etc/resolv.conf")
	if fi, err := os.Lstat(resolv); err == nil || !os.IsNotExist(err) {
		if fi != nil {
			_ = os.Rename(resolv, resolv+".pipeline-saved")
		}
	}
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		host = []byte("nameserver 127.0.0.53\n")
	}
	if err := os.WriteFile(resolv, host, 0o644); err != nil {
		return err
	}
	// apt drops to the _apt user to download; the bound repository may
	// sit in a directory only root can enter (a CI checkout, a temp dir).
	if err := os.WriteFile(filepath.Join(p.Root, aptSandboxConf), []byte("APT::Sandbox::User \"root\";\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.Root, "usr/sbin/policy-rc.d"), []byte("#!/bin/sh\n# pipeline template: no service starts while provisioning\nexit 101\n"), 0o755)
}

const aptSandboxConf = "etc/apt/apt.conf.d/00pipeline-template-sandbox"

// Finish restores what Prepare changed and leaves the image clean: no
// package lists, no downloaded packages, no machine id (each VM makes its
// own on first boot).
func (p *Provisioner) Finish() error {
	resolv := filepath.Join(p.Root, "etc/resolv.conf")
	os.Remove(resolv)
	if _, err := os.Lstat(resolv + ".pipeline-saved"); err == nil {
		if err := os.Rename(resolv+".pipeline-saved", resolv); err != nil {
			return err
		}
	}
	os.Remove(filepath.Join(p.Root, "usr/sbin/policy-rc.d"))
	os.Remove(filepath.Join(p.Root, aptSandboxConf))
	for _, g := range []string{"var/lib/apt/lists/*_*", "var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/log/apt/eipp.log.xz"} {
		matches, _ := filepath.Glob(filepath.Join(p.Root, g))
		for _, m := range matches {
			os.Remove(m)
		}
	}
	if err := os.WriteFile(filepath.Join(p.Root, "etc/machine-id"), nil, 0o444); err != nil {
		return err
	}
	os.Remove(filepath.Join(p.Root, "var/lib/dbus/machine-id"))
	return nil
}

// Bind makes a host directory visible read-only inside the root while
// provisioning and returns its path there.
func (p *Provisioner) Bind(hostDir string) string {
	p.binds = append(p.binds, hostDir)
	return fmt.Sprintf("/run/pipeline/bind%d", len(p.binds)-1)
}

// Run runs a shell script as root inside the root filesystem (/bin/sh -e).
func (p *Provisioner) Run(ctx context.Context, script string) (string, error) {
	args := []string{
		"--bind", p.Root, "/",
		"--dev", "/dev", "--proc", "/proc",
		"--perms", "1777", "--tmpfs", "/tmp", "--tmpfs", "/run",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
		"--clearenv",
		"--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--setenv", "HOME", "/root",
		"--setenv", "DEBIAN_FRONTEND", "noninteractive",
		"--setenv", "LC_ALL", "C.UTF-8",
		"--chdir", "/",
	}
	for i, b := range p.binds {
		args = append(args, "--ro-bind", b, fmt.Sprintf("/run/pipeline/bind%d", i))
	}
	args = append(args, "/bin/sh", "-ec", script)
	return runCmd(ctx, p.Log, "", nil, "bwrap", args...)
}

// CopyFile copies a repository file into the image at dest with mode.
func (p *Provisioner) CopyFile(f config.TemplateFile) error {
	src := f.Src
	if !filepath.IsAbs(src) {
		src = filepath.Join(p.Repo, src)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("template.files: %w", err)
	}
	mode := os.FileMode(0o644)
	if f.Mode != "" {
		m, _ := strconv.ParseUint(f.Mode, 8, 32)
		mode = os.FileMode(m)
	}
	dest, err := p.inRoot(f.Dest)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dest, data, mode); err != nil {
		return err
	}
	return os.Chmod(dest, mode)
}

// inRoot maps an absolute image path to the host, refusing paths that
// leave the root.
func (p *Provisioner) inRoot(path string) (string, error) {
	clean := filepath.Clean("/" + path)
	if strings.Contains(path, "..") && clean != filepath.Clean(path) {
		return "", fmt.Errorf("%q leaves the image's root", path)
	}
	return filepath.Join(p.Root, clean), nil
}

// WriteFile writes content at an image path.
func (p *Provisioner) WriteFile(path string, content []byte, mode os.FileMode) error {
	dest, err := p.inRoot(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dest, content, mode)
}

// MkdirAll makes a directory at an image path.
func (p *Provisioner) MkdirAll(path string) error {
	dest, err := p.inRoot(path)
	if err != nil {
		return err
	}
	return os.MkdirAll(dest, 0o755)
}

// UserScript is the shell that creates a user with keys and sudo.
func UserScript(u config.TemplateUser, keys []string) string {
	shell := u.Shell
	if shell == "" {
		shell = "/bin/bash"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "id -u %[1]s >/dev/null 2>&1 || useradd --create-home --shell %[2]s %[1]s\n", u.Name, shellQuote(shell))
	fmt.Fprintf(&b, "install -d -m 700 -o %[1]s -g %[1]s ~%[1]s/.ssh\n", u.Name)
	fmt.Fprintf(&b, "printf '%%s\\n' %s > ~%s/.ssh/authorized_keys\n", quoteAll(keys), u.Name)
	fmt.Fprintf(&b, "chown %[1]s:%[1]s ~%[1]s/.ssh/authorized_keys && chmod 600 ~%[1]s/.ssh/authorized_keys\n", u.Name)
	if u.Sudo {
		fmt.Fprintf(&b, "echo '%[1]s ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/%[1]s && chmod 440 /etc/sudoers.d/%[1]s\n", u.Name)
	}
	return b.String()
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = shellQuote(s)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
