// Package runnertest starts the real things the runner and integration
// tests run on: a Debian rootfs (made once with mmdebstrap by
// internal/rootfs and cached under /var/tmp/pipeline-testcache, or
// $PIPELINE_TESTCACHE), a real
// sshd on 127.0.0.1, and a podman
// configuration that works on this kind of machine.
package runnertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/rootfs"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"golang.org/x/crypto/ssh"
)

// CacheDir is shared by the tests of every area: content-hash directories
// written atomically. It is testutil.CacheRoot: /var/tmp/pipeline-testcache,
// or $PIPELINE_TESTCACHE.
var CacheDir = testutil.CacheRoot()

// BaseCacheDir holds the test bases, made by internal/rootfs exactly as
// the integration stage makes integration.bootstrap's base: a stage run
// with XDG_CACHE_HOME=CacheDir and the default bootstrap finds the same
// base here, so the machine bootstraps it once for every test.
var BaseCacheDir = filepath.Join(CacheDir, "pipeline", "rootfs")

// RootfsPackages are added to minbase: what the runner and integration
// tests need on the target (integration.bootstrap's default).
var RootfsPackages = []string{"procps"}

// BaseSpec is the test base without the inputs read from the machine:
// Debian bookworm minbase from deb.debian.org with RootfsPackages, docs
// kept.
func BaseSpec() rootfs.Spec {
	return rootfs.Spec{Packages: RootfsPackages, KeepDocs: true}.Normal()
}

// Rootfs returns a cached Debian minbase root filesystem: the unpacked
// directory (never to be written to: copy it) and its tarball (for podman
// import). The first call on a machine runs mmdebstrap (1 to 3 minutes);
// a new state of the mirror (a Debian point release) makes a new one.
func Rootfs(t testing.TB) (dir, tarball string) {
	t.Helper()
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "mmdebstrap")
	ctx := context.Background()
	spec := BaseSpec()
	spec.Mmdebstrap = rootfs.MmdebstrapVersion(ctx)
	cache := rootfs.Cache{Dir: BaseCacheDir, Log: func(m string) { t.Log(m) }}
	state, err := rootfs.MirrorState(ctx, spec.Source())
	spec.MirrorState = state
	if err != nil {
		// Offline: an earlier state's base serves the tests as well.
		b, ok := cache.FindEarlier(spec)
		if !ok {
			t.Fatalf("test rootfs: %v, and %s holds no earlier base", err, BaseCacheDir)
		}
		spec = b.Spec
	}
	b, err := cache.Get(ctx, spec, true)
	if err != nil {
		t.Fatalf("test rootfs: %v", err)
	}
	return b.Rootfs, b.Tarball
}

// Podman is the podman CLI with the flags this kind of machine needs, and
// an environment pointing it at a containers.conf and storage.conf written
// for the test. Storage is shared under CacheDir so that an imported image
// is imported once.
type Podman struct {
	Engine  []string
	Env     []string
	RunArgs []string
}

// NewPodman writes the configuration and returns how to call podman.
func NewPodman(t testing.TB) Podman {
	t.Helper()
	testutil.NeedRoot(t)
	podman := testutil.NeedTool(t, "podman")
	runc := "/usr/sbin/runc"
	if _, err := os.Stat(runc); err != nil {
		runc = testutil.NeedTool(t, "runc")
	}
	dir := t.TempDir()
	storage := filepath.Join(CacheDir, "integration-podman-storage")
	conf := filepath.Join(dir, "containers.conf")
	storageConf := filepath.Join(dir, "storage.conf")
	write(t, conf, fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = %q
`, runc))
	write(t, storageConf, fmt.Sprintf(`[storage]
driver = "vfs"
graphroot = %q
runroot = %q
`, filepath.Join(storage, "graph"), filepath.Join(storage, "run")))
	env := append(os.Environ(), "CONTAINERS_CONF="+conf, "CONTAINERS_STORAGE_CONF="+storageConf)
	return Podman{
		Engine: []string{podman, "--runtime", runc, "--storage-driver=vfs", "--cgroup-manager=cgroupfs"},
		Env:    env,
		RunArgs: []string{"--network", "none",
			"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"},
	}
}

func write(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// SSHD is a real OpenSSH server on 127.0.0.1 started for a test.
type SSHD struct {
	Addr       string
	User       string
	Key        []byte // the client's private key (PEM)
	KnownHosts string
	cmd        *exec.Cmd
}

// StartSSHD starts /usr/sbin/sshd on a free port with a temp ed25519 host
// key and an authorized key for root, and stops it when the test ends.
// maxSessions raises sshd's per-connection session limit (0: the default
// of 10). extraHostKeys ("ecdsa", "rsa") adds host keys of those types,
// offered before the ed25519 one, which alone is in KnownHosts.
func StartSSHD(t testing.TB, maxSessions int, extraHostKeys ...string) *SSHD {
	t.Helper()
	testutil.NeedRoot(t)
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		sshd = testutil.NeedTool(t, "sshd")
	}
	keygen := testutil.NeedTool(t, "ssh-keygen")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	hostKeys := ""
	for _, typ := range extraHostKeys {
		p := filepath.Join(dir, "host_"+typ)
		if out, err := exec.Command(keygen, "-q", "-t", typ, "-N", "", "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
		hostKeys += "HostKey " + p + "\n"
	}
	// The client key.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "authorized_keys")
	write(t, auth, string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	os.Chmod(auth, 0o600)

	port := freePort(t)
	if maxSessions == 0 {
		maxSessions = 10
	}
	conf := filepath.Join(dir, "sshd_config")
	write(t, conf, fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
%sHostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions %d
MaxStartups 100
PidFile %s
Subsystem sftp internal-sftp
`, port, hostKeys, hostKey, auth, maxSessions, filepath.Join(dir, "sshd.pid")))
	cmd := exec.Command(sshd, "-D", "-e", "-f", conf)
	logf, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			t.Fatalf("sshd did not listen on %s: %s", addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	write(t, known, fmt.Sprintf("[127.0.0.1]:%d %s", port, pub))
	return &SSHD{Addr: addr, User: "root", Key: pem.EncodeToMemory(block), KnownHosts: known, cmd: cmd}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
