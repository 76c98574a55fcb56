package preflight

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

func host(euid int, installed ...string) Host {
	return Host{EUID: euid, LookPath: func(p string) (string, error) {
		for _, i := range installed {
			if i == p {
				return "/usr/bin/" + p, nil
			}
		}
		return "", exec.ErrNotFound
	}}
}

func cfgWith(edit func(*config.Config)) *config.Config {
	c := config.Default()
	c.Path = "/repo/pipeline.yaml"
	if edit != nil {
		edit(c)
	}
	return c
}

var allTemplateTools = []string{"mmdebstrap", "mkfs.ext4", "mkfs.vfat", "mcopy", "sfdisk", "qemu-img", "bwrap", "qemu-system-x86_64", "ssh-keygen"}

func TestCheck(t *testing.T) {
	tmpl := cfgWith(func(c *config.Config) { c.Template.Name = "appliance/dev" })
	chroot := cfgWith(func(c *config.Config) {
		c.Integration.Targets = []config.IntegrationTarget{{Name: "c", Runner: "chroot", Rootfs: "/srv/rootfs"}, {Name: "p", Runner: "container", Tarball: "/srv/rootfs.tar", Engine: []string{"podman", "--runtime", "/usr/sbin/runc"}}}
	})
	// Targets without a root filesystem of their own: the tool bootstraps one.
	bootstrap := cfgWith(func(c *config.Config) {
		c.Integration.Targets = []config.IntegrationTarget{{Name: "p", Runner: "container"}, {Name: "s", Runner: "ssh", Host: "h"}}
	})
	for _, tc := range []struct {
		name    string
		h       Host
		stage   string
		cfg     *config.Config
		dryRun  bool
		want    []string // substrings of the error; none: no error
		wantNot []string
	}{
		{"template as root with every tool", host(0, allTemplateTools...), "template", tmpl, false, nil, nil},
		{"template not root", host(1000, allTemplateTools...), "template", tmpl, false,
			[]string{"template needs root", "mmdebstrap", "hint: run it as root (sudo pipeline template)"}, []string{"apt-get"}},
		{"template dry run needs no root", host(1000, allTemplateTools...), "template", tmpl, true, nil, nil},
		{"template without mmdebstrap and qemu-img", host(0, "mkfs.ext4", "mkfs.vfat", "mcopy", "sfdisk", "bwrap", "qemu-system-x86_64", "ssh-keygen"), "template", tmpl, false,
			[]string{"template needs mmdebstrap, qemu-img, which are not installed", "sudo apt-get install mmdebstrap qemu-utils"}, []string{"needs root"}},
		{"template smoke boot without qemu", host(0, "mmdebstrap", "mkfs.ext4", "mkfs.vfat", "mcopy", "sfdisk", "qemu-img", "bwrap", "ssh-keygen"), "template", tmpl, false,
			[]string{"template needs qemu-system-x86_64, which is not installed", "sudo apt-get install qemu-system-x86"}, nil},
		{"template with the smoke boot off needs no qemu", host(0, "mmdebstrap", "mkfs.ext4", "mkfs.vfat", "mcopy", "sfdisk", "qemu-img", "bwrap"), "template",
			cfgWith(func(c *config.Config) {
				off := false
				c.Template.Name = "appliance/dev"
				c.Template.Boot.Enabled = &off
			}), false, nil, nil},
		{"template not configured: the stage says so itself", host(1000), "template", cfgWith(nil), false, nil, nil},
		{"integration chroot not root, podman missing", host(1000), "integration", chroot, false,
			[]string{`integration needs root: target "c" runs in a chroot`, "integration needs podman, which is not installed", "apt-get install podman"}, nil},
		{"integration as root with podman", host(0, "podman"), "integration", chroot, false, nil, nil},
		{"integration bootstrapping its base without mmdebstrap", host(0, "podman", "ssh", "tar"), "integration", bootstrap, false,
			[]string{"integration needs mmdebstrap, which is not installed", "sudo apt-get install mmdebstrap"}, []string{"needs root"}},
		{"integration bootstrapping its base not root", host(1000, "podman", "ssh", "tar", "mmdebstrap"), "integration", bootstrap, false,
			[]string{`integration needs root: target "p" runs on the base it bootstraps with mmdebstrap`}, []string{"not installed"}},
		{"integration bootstrap, dry run: no root", host(1000, "podman", "ssh", "tar", "mmdebstrap"), "integration", bootstrap, true, nil, nil},
		{"integration with its own rootfs needs no mmdebstrap", host(0, "podman"), "integration", chroot, false, nil, []string{"mmdebstrap"}},
		{"no pipeline.yaml for promote", host(0, "git"), "promote", config.Default(), false,
			[]string{"promote needs a pipeline.yaml, and none was found", "pipeline init"}, nil},
		{"release works without pipeline.yaml", host(1000, "git"), "release", config.Default(), false, nil, nil},
		{"a tool with no known package", host(0), "integration", cfgWith(func(c *config.Config) {
			c.Integration.Targets = []config.IntegrationTarget{{Name: "x", Runner: "container", Image: "appliance:12", Engine: []string{"nerdctl"}}}
		}), false, []string{"nerdctl", "install it or put it on PATH"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.h, tc.stage, tc.cfg, tc.dryRun)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error with %q", tc.want)
			}
			if errs.Code(err) != 2 {
				t.Errorf("exit code %d, want 2", errs.Code(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(errs.Format(err), w) {
					t.Errorf("error %q\n lacks %q", err, w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(errs.Format(err), w) {
					t.Errorf("error %q\n has %q", err, w)
				}
			}
		})
	}
}

func TestDiskFull(t *testing.T) {
	enospc := &os.PathError{Op: "write", Path: "/var/tmp/x.img", Err: syscall.ENOSPC}
	for _, tc := range []struct {
		name string
		err  error
		full bool
	}{
		{"ENOSPC from a write", fmt.Errorf("template: disk: %w", enospc), true},
		{"a child process said it", errors.New("mmdebstrap: tar: write error: No space left on device"), true},
		{"another error", errors.New("mirror unreachable"), false},
		{"no error", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DiskFull("template", tc.err)
			if !tc.full {
				if got != tc.err {
					t.Fatalf("changed %v into %v", tc.err, got)
				}
				return
			}
			if errs.Code(got) != 3 || !strings.Contains(errs.Format(got), "the disk is full") || !strings.Contains(errs.Format(got), "df -h") {
				t.Fatalf("got %v (exit %d)", got, errs.Code(got))
			}
			if tc.err != nil && errors.Is(tc.err, syscall.ENOSPC) && !errors.Is(got, syscall.ENOSPC) {
				t.Error("the cause is lost")
			}
		})
	}
}
