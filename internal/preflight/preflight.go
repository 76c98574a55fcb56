// Package preflight checks, before a stage starts, what a newcomer's machine
// most often lacks — root where a stage needs it, a tool that is not
// installed — and turns a full disk met during a stage into one sentence
// that says what to do. Each answer names the stage, the reason and the fix
// (which Debian package to install, what to run).
//
// The checks are pure over a Host (euid, LookPath), so they are tested
// without being root or uninstalling anything.
package preflight

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// Host is what the checks look at.
type Host struct {
	EUID     int
	LookPath func(string) (string, error)
}

// This is the machine pipeline runs on.
func This() Host { return Host{EUID: os.Geteuid(), LookPath: exec.LookPath} }

// Packages maps a tool to the Debian package that installs it.
var Packages = map[string]string{
	"mmdebstrap":         "mmdebstrap",
	"mkfs.ext4":          "e2fsprogs",
	"mkfs.vfat":          "dosfstools",
	"mcopy":              "mtools",
	"sfdisk":             "fdisk",
	"qemu-img":           "qemu-utils",
	"qemu-system-x86_64": "qemu-system-x86",
	"bwrap":              "bubblewrap",
	"podman":             "podman",
	"docker":             "docker.io",
	"ssh":                "openssh-client",
	"ssh-keygen":         "openssh-client",
	"git":                "git",
	"make":               "make",
	"dpkg-deb":           "dpkg",
	"rpmbuild":           "rpm",
	"createrepo_c":       "createrepo-c",
	"tar":                "tar",
}

// need is what one stage needs of the host with this configuration.
type need struct {
	root  string   // why root is needed ("" = not needed)
	tools []string // programs on PATH
}

func needs(stage string, cfg *config.Config, dryRun bool) need {
	var n need
	switch stage {
	case "template":
		if cfg.Template.Name == "" {
			return n // the stage says itself that it is not configured
		}
		n.tools = []string{"mmdebstrap", "mkfs.ext4", "mkfs.vfat", "mcopy", "sfdisk", "qemu-img", "bwrap"}
		if !cfg.Template.Boot.Off() {
			// The smoke boot (--no-boot skips it at run time).
			n.tools = append(n.tools, "qemu-system-x86_64", "ssh-keygen")
		}
		if !dryRun {
			n.root = "it bootstraps Debian with mmdebstrap and provisions the image as root"
		}
	case "integration":
		for _, t := range cfg.Integration.Targets {
			if t.NeedsBootstrap() {
				// The base of integration.bootstrap, unless already cached:
				// the cache is only known once the mirror's state is read.
				n.tools = append(n.tools, "mmdebstrap", "tar")
				if !dryRun {
					n.root = fmt.Sprintf("target %q runs on the base it bootstraps with mmdebstrap (integration.bootstrap)", t.Name)
				}
			}
			switch t.Runner {
			case "chroot":
				if !dryRun {
					n.root = fmt.Sprintf("target %q runs in a chroot", t.Name)
				}
			case "container":
				engine := "podman"
				if len(t.Engine) > 0 {
					engine = t.Engine[0]
				}
				n.tools = append(n.tools, engine)
			case "qemu":
				n.tools = append(n.tools, "qemu-system-x86_64", "qemu-img", "ssh")
			case "ssh":
				n.tools = append(n.tools, "ssh")
			}
		}
	case "promote", "release":
		n.tools = []string{"git"}
	}
	return n
}

// Check says what the host lacks for the stage: a usage error (exit 2) with
// one sentence per problem and the command that fixes them, or nil.
func Check(h Host, stage string, cfg *config.Config, dryRun bool) error {
	switch stage {
	case "build", "template", "integration", "promote":
		if cfg.Path == "" {
			return errs.New(errs.Usage, fmt.Errorf("%s needs a pipeline.yaml, and none was found in the repository or above it", stage),
				"run `pipeline init` to write a starter pipeline.yaml (docs/config.md), or give --config FILE")
		}
	}
	n := needs(stage, cfg, dryRun)
	var probs []string
	var hints []string
	if n.root != "" && h.EUID != 0 {
		probs = append(probs, fmt.Sprintf("%s needs root: %s", stage, n.root))
		hints = append(hints, "run it as root (sudo pipeline "+stage+"), or on a CI runner that runs jobs as root")
	}
	var missing, pkgs []string
	seen := map[string]bool{}
	for _, t := range n.tools {
		if seen[t] {
			continue
		}
		seen[t] = true
		if _, err := h.LookPath(t); err != nil {
			missing = append(missing, t)
			if p, ok := Packages[t]; ok {
				pkgs = append(pkgs, p)
			}
		}
	}
	if len(missing) > 0 {
		probs = append(probs, fmt.Sprintf("%s needs %s, which %s not installed (not on PATH)",
			stage, strings.Join(missing, ", "), map[bool]string{true: "is", false: "are"}[len(missing) == 1]))
		if len(pkgs) > 0 {
			sort.Strings(pkgs)
			hints = append(hints, "install: sudo apt-get install "+strings.Join(pkgs, " ")+" (or run scripts/install-deps.sh)")
		} else {
			hints = append(hints, "install it or put it on PATH")
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return errs.New(errs.Usage, errors.New(strings.Join(probs, "; ")), strings.Join(hints, "; "))
}

// DiskFull turns an error caused by a full disk (ENOSPC, or its message
// when a child process reported it) into an infrastructure error (exit 3)
// that says so and what to do; other errors come back unchanged.
func DiskFull(stage string, err error) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.ENOSPC) && !strings.Contains(strings.ToLower(err.Error()), "no space left on device") {
		return err
	}
	return errs.New(errs.Infra, fmt.Errorf("%s: the disk is full (no space left on device): %w", stage, err),
		"free space (df -h shows which file system; remove old .pipeline/ work dirs, `podman system prune`), or set TMPDIR and the artifact store to a larger disk, then re-run")
}
