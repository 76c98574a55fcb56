// Package qemu boots a disk image in a throw-away virtual machine with
// qemu-system-x86_64. It is the machinery behind the template stage's smoke
// boot and the integration stage's qemu runner.
//
// The image is opened with snapshot=on, so nothing the guest writes ever
// reaches it: every boot starts from the same template. The guest runs under
// KVM when /dev/kvm is usable and under software emulation (TCG) otherwise;
// when qemu cannot start a vCPU under KVM (nested virtualisation lacking
// features, as on some CI hosts) Start falls back to TCG by itself.
// Credentials hand systemd credentials to the guest over SMBIOS, e.g. a
// throw-away SSH key for root (AuthorizedKeys), without changing the image.
// Its serial console (ttyS0) is captured to a log file and kept in memory so
// callers can wait for a line to appear, and user-mode networking forwards a
// free port on 127.0.0.1 to the guest's SSH port.
//
// A typical use:
//
//	vm, err := qemu.Start(ctx, qemu.Config{
//		Image:      "template.qcow2",
//		Kernel:     "vmlinuz", Initrd: "initrd.img",
//		Append:     "root=/dev/vda2 ro",
//		ConsoleLog: "console.log",
//		ForwardSSH: true,
//		Credentials: qemu.AuthorizedKeys(pub), // log in as root with your key
//	})
//	if err != nil { ... }
//	defer vm.Kill()
//	if err := vm.WaitForSSH(ctx, 3*time.Minute); err != nil {
//		// err is a *BootError carrying the tail of the console log
//	}
//	// ssh -p vm.SSHPort() user@127.0.0.1 ...
//	vm.Shutdown(30 * time.Second)
//
// Every method is safe to call from several goroutines.
package qemu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pipeline-ci/pipeline/internal/proc"
)

// Config describes one virtual machine.
type Config struct {
	// Image is the disk image to boot. It is attached as a virtio disk with
	// snapshot=on and is never modified.
	Image string
	// Format is the image format ("qcow2", "raw", "vmdk"); empty lets qemu
	// guess from the name (.qcow2, .vmdk, otherwise raw).
	Format string

	// Kernel and Initrd, when Kernel is set, boot the guest directly (no
	// firmware, no bootloader): much faster under emulation. Append is the
	// kernel command line; "console=ttyS0" and "panic=-1" are added so the
	// console is captured and a kernel panic ends the VM instead of hanging.
	Kernel string
	Initrd string
	Append string

	// Firmware is a UEFI firmware image (e.g. /usr/share/ovmf/OVMF.fd) used
	// when booting the disk through its own bootloader; empty means the
	// default BIOS.
	Firmware string

	MemoryMB int // default 1024
	CPUs     int // default 1

	// Accel is "kvm", "tcg" or "" (KVM when usable, else TCG).
	Accel string

	// ConsoleLog is the file the serial console is written to. Empty means
	// a file in a temporary directory removed by Kill/Shutdown.
	ConsoleLog string

	// ForwardSSH forwards a free 127.0.0.1 port to the guest's port 22.
	ForwardSSH bool

	// Credentials are systemd credentials handed to the guest through SMBIOS
	// (type 11, systemd 252 and later). The image is not changed: for
	// example "ssh.authorized_keys.root" lets a throw-away key log in as
	// root for this boot only (see AuthorizedKeys).
	Credentials map[string]string

	// ExtraArgs are appended to the qemu command line.
	ExtraArgs []string

	// Binary is the qemu program; default qemu-system-x86_64.
	Binary string
}

// BootError says the guest did not get where it was expected to within
// the time allowed, or qemu stopped early. Console holds the last lines of
// the serial console so the reader sees where it hung.
type BootError struct {
	What    string // what was awaited: `console line "login:"`, "ssh on 127.0.0.1:2222"
	Reason  string // "timed out after 2m0s", "qemu exited: exit status 1"
	Console string // tail of the console log
	LogPath string // full console log
}

func (e *BootError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vm: waiting for %s: %s", e.What, e.Reason)
	if e.LogPath != "" {
		fmt.Fprintf(&b, " (console log: %s)", e.LogPath)
	}
	if e.Console != "" {
		b.WriteString("\n--- last lines of the serial console ---\n")
		b.WriteString(strings.TrimRight(e.Console, "\n"))
		b.WriteString("\n--- end of console ---")
	}
	return b.String()
}

// VM is a running (or finished) virtual machine.
type VM struct {
	cfg     Config
	cmd     *exec.Cmd
	accel   string
	sshPort int
	tmpDir  string // removed on Kill
	qmpPath string

	mu      sync.Mutex
	console bytes.Buffer  // everything the guest printed (capped, see maxConsole)
	changed chan struct{} // closed and replaced whenever console grows or qemu exits
	logFile *os.File

	done    chan struct{} // closed when qemu has exited
	exitErr error
	stderr  bytes.Buffer
}

// maxConsole caps the in-memory copy of the console; the log file keeps all.
const maxConsole = 4 << 20

// Start boots the machine and returns as soon as qemu runs. The guest keeps
// booting in the background: use WaitForMarker or WaitForSSH. ctx bounds the
// machine's whole life: when it is cancelled the VM is killed.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	if cfg.Image == "" {
		return nil, errors.New("qemu: no disk image given")
	}
	if _, err := os.Stat(cfg.Image); err != nil {
		return nil, fmt.Errorf("qemu: disk image: %w", err)
	}
	if cfg.Binary == "" {
		cfg.Binary = "qemu-system-x86_64"
	}
	if _, err := exec.LookPath(cfg.Binary); err != nil {
		return nil, fmt.Errorf("qemu: %s is not installed (Debian: apt-get install qemu-system-x86): %w", cfg.Binary, err)
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 1024
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	accel, auto := cfg.Accel, cfg.Accel == ""
	if auto {
		accel = "tcg"
		if KVMUsable() {
			accel = "kvm"
		}
	}
	tmp, err := os.MkdirTemp("", "pipeline-qemu-")
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	if cfg.ConsoleLog == "" {
		cfg.ConsoleLog = filepath.Join(tmp, "console.log")
	}

	// A free port can be taken by someone else between our probe and qemu's
	// bind; qemu then fails at once, so try a few ports.
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		vm, err := start(ctx, cfg, accel, tmp)
		if err == nil {
			return vm, nil
		}
		lastErr = err
		if auto && accel == "kvm" {
			// /dev/kvm can accept a VM and still fail on the first vCPU
			// (nested virtualisation without the features qemu needs):
			// fall back to emulation, and remember for later VMs.
			kvmBroken.Store(true)
			accel = "tcg"
			continue
		}
		if !cfg.ForwardSSH || !strings.Contains(err.Error(), "hostfwd") && !strings.Contains(err.Error(), "host forwarding") {
			break
		}
	}
	os.RemoveAll(tmp)
	return nil, lastErr
}

func start(ctx context.Context, cfg Config, accel, tmp string) (*VM, error) {
	vm := &VM{cfg: cfg, accel: accel, tmpDir: tmp, changed: make(chan struct{}), done: make(chan struct{})}
	if cfg.ForwardSSH {
		p, err := FreePort() //nolint:contextcheck // a local bind: nothing to wait for
		if err != nil {
			return nil, fmt.Errorf("qemu: find a free port for ssh: %w", err)
		}
		vm.sshPort = p
	}
	vm.qmpPath = filepath.Join(tmp, "qmp.sock")
	os.Remove(vm.qmpPath)
	args := vm.args()

	logFile, err := os.Create(cfg.ConsoleLog)
	if err != nil {
		return nil, fmt.Errorf("qemu: console log: %w", err)
	}
	vm.logFile = logFile

	// Its own process group (internal/proc), stopped when ctx ends, and
	// killed by the kernel if pipeline itself dies (SIGKILL from a CI
	// runner): a VM never outlives the run.
	cmd := proc.Command(ctx, cfg.Binary, args...)
	cmd.Stdin = nil
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stderr = &lockedWriter{mu: &vm.mu, w: &vm.stderr}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("qemu: start %s: %w", cfg.Binary, err)
	}
	vm.cmd = cmd

	copied := make(chan struct{})
	go func() { vm.copyConsole(stdout); close(copied) }()
	go func() {
		<-copied
		err := cmd.Wait()
		vm.mu.Lock()
		vm.exitErr = err
		vm.logFile.Close()
		close(vm.done)
		vm.notifyLocked()
		vm.mu.Unlock()
	}()
	go func() {
		select {
		case <-ctx.Done():
			// proc stops qemu's group; then its files go.
			<-vm.done
			vm.cleanup()
		case <-vm.done:
		}
	}()

	// qemu refuses a bad option or a taken port within a moment; report
	// that as a start error rather than as a boot that never happened.
	select {
	case <-vm.done:
		vm.mu.Lock()
		msg := strings.TrimSpace(vm.stderr.String())
		vm.mu.Unlock()
		return nil, fmt.Errorf("qemu exited at start (%v): %s\n  command: %s %s", vm.exitErr, msg, cfg.Binary, strings.Join(args, " ")) //nolint:errorlint // exitErr is nil when qemu exits 0; the message is what matters
	case <-time.After(startGrace(accel)):
	}
	return vm, nil
}

// startGrace is how long Start watches for qemu refusing to run. KVM
// failures (a vCPU that cannot be set up) come later than option errors,
// and later still on a loaded machine.
func startGrace(accel string) time.Duration {
	if accel == "kvm" {
		return 3 * time.Second
	}
	return 300 * time.Millisecond
}

// args is qemu's command line for this VM.
func (vm *VM) args() []string {
	cfg := vm.cfg
	a := []string{
		"-name", "pipeline",
		"-machine", "q35,accel=" + vm.accel,
		"-m", strconv.Itoa(cfg.MemoryMB),
		"-smp", strconv.Itoa(cfg.CPUs),
		"-display", "none",
		"-vga", "none",
		"-serial", "stdio",
		"-monitor", "none",
		"-qmp", "unix:" + vm.qmpPath + ",server=on,wait=off",
		"-no-reboot", // a reboot or panic=-1 ends the VM
	}
	if vm.accel == "kvm" {
		a = append(a, "-cpu", "host")
	} else {
		a = append(a, "-cpu", "max")
	}
	drive := "file=" + cfg.Image + ",if=virtio,snapshot=on,cache=unsafe"
	if f := imageFormat(cfg); f != "" {
		drive += ",format=" + f
	}
	a = append(a, "-drive", drive)
	if cfg.Firmware != "" {
		a = append(a, "-bios", cfg.Firmware)
	}
	if cfg.Kernel != "" {
		a = append(a, "-kernel", cfg.Kernel)
		if cfg.Initrd != "" {
			a = append(a, "-initrd", cfg.Initrd)
		}
		a = append(a, "-append", KernelCmdline(cfg.Append))
	}
	netdev := "user,id=net0"
	if cfg.ForwardSSH {
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:22", vm.sshPort)
	}
	names := make([]string, 0, len(cfg.Credentials))
	for k := range cfg.Credentials {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		// qemu's option parser reads ",," as a literal comma.
		v := strings.ReplaceAll(cfg.Credentials[k], ",", ",,")
		a = append(a, "-smbios", "type=11,value=io.systemd.credential:"+k+"="+v)
	}
	a = append(a, "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0",
		// A guest without entropy can wait minutes for sshd's keys.
		"-device", "virtio-rng-pci")
	return append(a, cfg.ExtraArgs...)
}

// AuthorizedKeys returns the credential that makes systemd (252 and later,
// tmpfiles provision.conf) write pubkey into /root/.ssh/authorized_keys at
// boot, so a throw-away key can log in as root without changing the image.
func AuthorizedKeys(pubkey string) map[string]string {
	return map[string]string{"ssh.authorized_keys.root": strings.TrimSpace(pubkey)}
}

// KernelCmdline adds what the machinery needs to a kernel command line: the
// serial console and panic=-1 (a panic reboots, and -no-reboot turns that
// into qemu exiting), unless the caller already set them.
func KernelCmdline(cmdline string) string {
	parts := strings.Fields(cmdline)
	has := func(prefix string) bool {
		for _, p := range parts {
			if strings.HasPrefix(p, prefix) {
				return true
			}
		}
		return false
	}
	if !has("console=") {
		parts = append(parts, "console=ttyS0,115200")
	}
	if !has("panic=") {
		parts = append(parts, "panic=-1")
	}
	return strings.Join(parts, " ")
}

func imageFormat(cfg Config) string {
	if cfg.Format != "" {
		return cfg.Format
	}
	switch strings.ToLower(filepath.Ext(cfg.Image)) {
	case ".qcow2":
		return "qcow2"
	case ".vmdk":
		return "vmdk"
	case ".raw":
		return "raw"
	}
	return ""
}

// copyConsole copies qemu's stdout (the serial console) to the log file
// and the in-memory buffer, waking waiters.
func (vm *VM) copyConsole(r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			vm.mu.Lock()
			_, _ = vm.logFile.Write(buf[:n]) // the console log is a diagnostic; the ring buffer below still holds the tail
			if vm.console.Len()+n > maxConsole {
				keep := vm.console.Bytes()[vm.console.Len()/2:]
				vm.console = *bytes.NewBuffer(append([]byte(nil), keep...))
			}
			vm.console.Write(buf[:n])
			vm.notifyLocked()
			vm.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (vm *VM) notifyLocked() {
	close(vm.changed)
	vm.changed = make(chan struct{})
}

// Accel is the accelerator the VM runs with: "kvm" or "tcg".
func (vm *VM) Accel() string { return vm.accel }

// SSHPort is the 127.0.0.1 port forwarded to the guest's port 22 (0 when
// Config.ForwardSSH is false).
func (vm *VM) SSHPort() int { return vm.sshPort }

// SSHAddr is "127.0.0.1:port" for SSH clients.
func (vm *VM) SSHAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(vm.sshPort)) }

// ConsoleLog is the path of the console log file.
func (vm *VM) ConsoleLog() string { return vm.cfg.ConsoleLog }

// Console returns what the guest printed on its serial console so far.
func (vm *VM) Console() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.console.String()
}

// ConsoleTail returns the last n lines of the console.
func (vm *VM) ConsoleTail(n int) string { return tailLines(vm.Console(), n) }

func tailLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Done is closed when qemu has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Wait waits for qemu to exit and returns its exit error (nil for a clean
// exit, such as the guest powering off).
func (vm *VM) Wait() error {
	<-vm.done
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.exitErr
}

// WaitForMarker waits until the console shows a line matching re, and
// returns that line. It fails with a *BootError when timeout passes, ctx
// ends or qemu exits first. The VM is left running either way: the caller
// decides whether to Kill it.
func (vm *VM) WaitForMarker(ctx context.Context, re *regexp.Regexp, timeout time.Duration) (string, error) {
	what := fmt.Sprintf("console line matching %q", re.String())
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		vm.mu.Lock()
		text := vm.console.String()
		changed := vm.changed
		vm.mu.Unlock()
		if line, ok := matchLine(text, re); ok {
			return line, nil
		}
		select {
		case <-changed:
		case <-vm.done:
			// qemu has exited: one last look (its final output is in).
			if line, ok := matchLine(vm.Console(), re); ok {
				return line, nil
			}
			return "", vm.bootError(what, "qemu exited before it appeared: "+vm.exitReason())
		case <-deadline.C:
			return "", vm.bootError(what, "timed out after "+timeout.String())
		case <-ctx.Done():
			return "", vm.bootError(what, proc.Stopped(ctx).Error())
		}
	}
}

// matchLine finds the first complete or partial line matching re.
func matchLine(text string, re *regexp.Regexp) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), maxConsole)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if re.MatchString(line) {
			return line, true
		}
	}
	return "", false
}

// WaitForSSH waits until the forwarded port answers with an SSH banner
// ("SSH-2.0-…"): qemu's forwarder accepts connections before the guest
// listens, so a TCP connect alone proves nothing.
func (vm *VM) WaitForSSH(ctx context.Context, timeout time.Duration) error {
	if vm.sshPort == 0 {
		return errors.New("qemu: WaitForSSH on a VM started without ForwardSSH")
	}
	what := "ssh on " + vm.SSHAddr()
	deadline := time.Now().Add(timeout)
	for {
		if banner(ctx, vm.SSHAddr()) {
			return nil
		}
		select {
		case <-vm.done:
			return vm.bootError(what, "qemu exited: "+vm.exitReason())
		case <-ctx.Done():
			return vm.bootError(what, proc.Stopped(ctx).Error())
		case <-time.After(time.Second):
		}
		if time.Now().After(deadline) {
			return vm.bootError(what, "timed out after "+timeout.String())
		}
	}
}

// banner tells whether an SSH server answers at addr with its banner,
// within 2 s to connect and 3 s to read, or until ctx ends.
func banner(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	deadline := time.Now().Add(3 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if c.SetReadDeadline(deadline) != nil {
		return false
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

func (vm *VM) exitReason() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	msg := "exit status 0"
	if vm.exitErr != nil {
		msg = vm.exitErr.Error()
	}
	if s := strings.TrimSpace(vm.stderr.String()); s != "" {
		msg += ": " + tailLines(s, 5)
	}
	return msg
}

func (vm *VM) bootError(what, reason string) *BootError {
	return &BootError{What: what, Reason: reason, Console: vm.ConsoleTail(40), LogPath: vm.cfg.ConsoleLog}
}

// Shutdown stops the VM cleanly: it presses the ACPI power button, waits up
// to grace for the guest to power off, then asks qemu to quit, and kills it
// as a last resort. The image is untouched in every case (snapshot=on).
func (vm *VM) Shutdown(grace time.Duration) error {
	select {
	case <-vm.done:
		vm.cleanup()
		return nil
	default:
	}
	if err := vm.qmp("system_powerdown"); err == nil {
		select {
		case <-vm.done:
			vm.cleanup()
			return nil
		case <-time.After(grace):
		}
	}
	if err := vm.qmp("quit"); err == nil {
		select {
		case <-vm.done:
			vm.cleanup()
			return nil
		case <-time.After(5 * time.Second):
		}
	}
	return vm.Kill()
}

// Kill stops qemu at once (SIGKILL) and waits for it to be gone. It is
// safe to call more than once and after the VM has exited.
func (vm *VM) Kill() error {
	if vm.cmd != nil && vm.cmd.Process != nil {
		select {
		case <-vm.done:
		default:
			_ = proc.Kill(vm.cmd.Process)
			<-vm.done
		}
	}
	vm.cleanup()
	return nil
}

func (vm *VM) cleanup() {
	if vm.tmpDir != "" && !strings.HasPrefix(vm.cfg.ConsoleLog, vm.tmpDir) {
		os.RemoveAll(vm.tmpDir)
	}
}

// qmp sends one command over the QMP socket.
func (vm *VM) qmp(command string) error {
	// No caller's context: Shutdown and Kill run when it may be over. The
	// socket is local; the deadlines bound it.
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(context.Background(), "unix", vm.qmpPath)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil { // greeting
		return err
	}
	for _, cmd := range []string{"qmp_capabilities", command} {
		b, _ := json.Marshal(map[string]string{"execute": cmd})
		if _, err := c.Write(append(b, '\n')); err != nil {
			return err
		}
		for { // skip events until the reply
			line, err := r.ReadString('\n')
			if err != nil {
				if cmd == "quit" {
					return nil // qemu closed the socket: that is the answer
				}
				return err
			}
			var msg map[string]json.RawMessage
			if json.Unmarshal([]byte(line), &msg) != nil {
				continue
			}
			if e, ok := msg["error"]; ok {
				return fmt.Errorf("qmp %s: %s", cmd, e)
			}
			if _, ok := msg["return"]; ok {
				break
			}
		}
	}
	return nil
}

// kvmBroken is set when qemu failed to start under KVM although /dev/kvm
// looked usable.
var kvmBroken atomic.Bool

// FreePort returns a TCP port on 127.0.0.1 that nobody listens on now.
func FreePort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// KVMUsable reports whether this process can create a KVM virtual machine:
// /dev/kvm opens read-write, speaks the stable API and accepts KVM_CREATE_VM.
// A device node alone is not enough (it may be there without permission,
// or in a VM without nested virtualisation).
func KVMUsable() bool {
	if kvmBroken.Load() {
		return false
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	const kvmGetAPIVersion, kvmCreateVM = 0xAE00, 0xAE01
	v, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmGetAPIVersion, 0)
	if errno != 0 || v != 12 {
		return false
	}
	fd, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmCreateVM, 0)
	if errno != 0 {
		return false
	}
	syscall.Close(int(fd))
	return true
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
