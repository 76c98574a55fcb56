package template_test

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/runners/qemu"
	"github.com/pipeline-ci/pipeline/stages/template/templatetest"
)

// TestFixtureImage builds (or finds in the test cache) the minimal image
// other packages' tests boot, and checks what they rely on.
func TestFixtureImage(t *testing.T) {
	img := templatetest.Image(t)
	if img.HostKey == "" || img.Cmdline == "" {
		t.Fatalf("fixture lacks host key or cmdline: %+v", img)
	}
	if img.QCOW2 == "" || img.Kernel == "" || img.Initrd == "" {
		t.Fatalf("fixture files missing: %+v", img)
	}
}

// TestDiskBootsWithUEFI boots the image the way Vagrant's providers do:
// UEFI firmware (OVMF), systemd-boot from the EFI partition, the kernel and
// initrd from there — no direct kernel boot. Reaching the kernel's banner
// on the serial console, with the root from the boot entry, proves the
// partition table, the EFI partition and the loader entry.
func TestDiskBootsWithUEFI(t *testing.T) {
	img := templatetest.Image(t)
	ovmf := "/usr/share/ovmf/OVMF.fd"
	testutil.NeedTool(t, "qemu-system-x86_64")
	vm, err := qemu.Start(context.Background(), qemu.Config{Image: img.QCOW2, Firmware: ovmf, ConsoleLog: filepath.Join(t.TempDir(), "console.log")})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Kill()
	// Up to the " ro" after the root: the console line may be matched
	// while qemu is still writing it.
	line, err := vm.WaitForMarker(context.Background(), regexp.MustCompile(`Kernel command line: .*root=PARTUUID=\S+ ro`), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := img.Cmdline; !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(line) {
		t.Fatalf("kernel command line %q lacks %q", line, want)
	}
}
