package qemu_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/runners/qemu"
	"github.com/pipeline-ci/pipeline/stages/template/templatetest"
)

func TestKernelCmdline(t *testing.T) {
	for in, want := range map[string]string{
		"root=/dev/vda2 ro":              "root=/dev/vda2 ro console=ttyS0,115200 panic=-1",
		"console=hvc0 panic=5":           "console=hvc0 panic=5",
		"":                               "console=ttyS0,115200 panic=-1",
		"  root=PARTUUID=x   quiet  ":    "root=PARTUUID=x quiet console=ttyS0,115200 panic=-1",
		"console=ttyS0,115200 panic=-1 ": "console=ttyS0,115200 panic=-1",
	} {
		if got := qemu.KernelCmdline(in); got != want {
			t.Errorf("KernelCmdline(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBootErrorShowsConsole(t *testing.T) {
	e := &qemu.BootError{What: "ssh on 127.0.0.1:1", Reason: "timed out after 1s", Console: "line1\nKernel panic\n", LogPath: "/x/console.log"}
	s := e.Error()
	for _, want := range []string{"waiting for ssh on 127.0.0.1:1", "timed out after 1s", "/x/console.log", "Kernel panic"} {
		if !strings.Contains(s, want) {
			t.Errorf("error %q lacks %q", s, want)
		}
	}
}

func TestStartRefusesMissingImage(t *testing.T) {
	_, err := qemu.Start(context.Background(), qemu.Config{Image: filepath.Join(t.TempDir(), "nope.qcow2")})
	if err == nil || !strings.Contains(errs.Format(err), "nope.qcow2") {
		t.Fatalf("want an error naming the image, got %v", err)
	}
}

// TestBootSSHAndSnapshot boots the template fixture, logs in over the
// forwarded port with a key handed over as a systemd credential, writes in
// the guest, and checks that the image file did not change.
func TestBootSSHAndSnapshot(t *testing.T) {
	img := templatetest.Image(t)
	before := sha(t, img.QCOW2)
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	ctx := context.Background()
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: img.QCOW2, Kernel: img.Kernel, Initrd: img.Initrd, Append: img.Cmdline,
		ConsoleLog: filepath.Join(dir, "console.log"), ForwardSSH: true, Credentials: qemu.AuthorizedKeys(string(pub)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Kill()
	t.Logf("accelerator: %s, ssh on %s", vm.Accel(), vm.SSHAddr())
	if err := vm.WaitForSSH(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.WaitForMarker(ctx, regexp.MustCompile(`Linux version`), time.Second); err != nil {
		t.Fatalf("the console log lacks the kernel banner: %v", err)
	}
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(fmt.Sprintf("[127.0.0.1]:%d %s\n", vm.SSHPort(), img.HostKey)), 0o600)
	var out []byte
	for i := 0; i < 10; i++ {
		out, err = exec.Command("ssh", "-i", key, "-p", fmt.Sprint(vm.SSHPort()), "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile="+known, "-o", "StrictHostKeyChecking=yes", "root@127.0.0.1",
			"cat /proc/cmdline; echo scribble > /root/scribble; sync").CombinedOutput()
		if err == nil {
			break
		}
		time.Sleep(3 * time.Second)
	}
	if err != nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "panic=-1") || !strings.Contains(string(out), img.Cmdline) {
		t.Errorf("guest cmdline %q lacks %q and panic=-1", out, img.Cmdline)
	}
	if err := vm.Shutdown(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-vm.Done():
	default:
		t.Fatal("VM still running after Shutdown")
	}
	if after := sha(t, img.QCOW2); after != before {
		t.Fatal("the image changed: snapshot=on must keep it untouched")
	}
	log, _ := os.ReadFile(filepath.Join(dir, "console.log"))
	if !strings.Contains(string(log), "Linux version") {
		t.Error("console log file lacks the kernel banner")
	}
}

// TestHungBootIsKilledWithConsole boots a kernel that cannot find its root
// disk: the initramfs waits forever. The wait must end at the timeout with
// the console tail in the error, and Kill must stop qemu.
func TestHungBootIsKilledWithConsole(t *testing.T) {
	img := templatetest.Image(t)
	ctx := context.Background()
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: img.QCOW2, Kernel: img.Kernel, Initrd: img.Initrd,
		Append: "root=PARTUUID=00000000-0000-4000-8000-000000000000 rootdelay=600", ForwardSSH: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Kill()
	// The kernel starts (slowly, on a loaded machine), then the initramfs
	// waits for a root disk that never comes.
	if _, err := vm.WaitForMarker(ctx, regexp.MustCompile(`Linux version`), 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = vm.WaitForMarker(ctx, regexp.MustCompile(`never printed`), 20*time.Second)
	var be *qemu.BootError
	if !errors.As(err, &be) {
		t.Fatalf("want a *BootError, got %v", err)
	}
	// The error carries the console's last lines (kernel messages here).
	if !strings.Contains(be.Reason, "timed out") || !regexp.MustCompile(`\[\s*\d+\.\d+\] `).MatchString(be.Console) || !strings.Contains(errs.Format(err), be.Console) {
		t.Fatalf("error lacks the timeout or the console: %v", err)
	}
	if err := vm.WaitForSSH(ctx, 2*time.Second); err == nil {
		t.Fatal("ssh answered on a guest that has no root file system")
	}
	vm.Kill()
	select {
	case <-vm.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("qemu still running after Kill")
	}
}

func sha(t *testing.T, p string) string {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return fmt.Sprintf("%x", h.Sum(nil))
}
