package integration_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/integration"
	"github.com/pipeline-ci/pipeline/stages/template/templatetest"
	"golang.org/x/crypto/ssh"
)

// The template image (built by the template stage, cached) boots under
// qemu with snapshot=on; the suite runs over SSH through the port forward,
// with systemd as PID 1, so the service check asks systemctl and the log
// scan reads the journal.
func TestQEMUTargetRealSuite(t *testing.T) {
	t.Parallel() // long and mostly waiting: overlap with the others
	templatetest.NeedTools(t)
	img := templatetest.Image(t)
	repo := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(repo, "ci_key"), pem.EncodeToMemory(block), 0o600)
	os.WriteFile(filepath.Join(repo, "template_host_key.pub"), []byte(img.HostKey+"\n"), 0o644)
	os.MkdirAll(filepath.Join(repo, "suites"), 0o755)
	os.WriteFile(filepath.Join(repo, "suites", "vm.yaml"), []byte(`suite: vm
checks:
  - id: sshd-running
    service: {name: ssh, running: true, enabled: true}
  - id: sshd-port
    port: {port: 22}
  - id: debian
    file: {path: /etc/os-release, contains: /VERSION_CODENAME=bookworm/}
  - id: provisioned
    file: {path: /etc/appliance-provisioned, contains: /^2\.0$/}
  - id: openssh
    package: {name: openssh-server}
  - id: root
    user: {name: root, uid: 0}
  - id: linux
    kernel: {param: kernel.ostype, value: Linux}
  - id: systemd-is-pid1
    command: {run: "cat /proc/1/comm", stdout: systemd}
`), 0o644)
	cfgText := fmt.Sprintf(`version: 1
integration:
  version: "2.0"
  scenarios: [fresh]
  provision: |
    echo "$PIPELINE_VERSION" > /etc/appliance-provisioned
    logger -p user.err "appliance: error: simulated failure to reach the licence server"
  suites: [suites/*.yaml]
  snapshot: {paths: [/etc/appliance-provisioned]}
  logs:
    journal: true
    patterns: ["appliance: error"]
  targets:
    - name: vm
      runner: qemu
      disk_image: %s
      kernel: %s
      initrd: %s
      cmdline: %q
      user: root
      key_file: ci_key
      known_hosts: template_host_key.pub
`, img.QCOW2, img.Kernel, img.Initrd, img.Cmdline)
	os.WriteFile(filepath.Join(repo, "pipeline.yaml"), []byte(cfgText), 0o644)
	cfg, err := config.Load(filepath.Join(repo, "pipeline.yaml"), ci.MapEnv{}.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	env := &stages.Env{Repo: repo, Config: cfg, CI: ci.Context{Provider: ci.Terminal, Env: ci.MapEnv{}},
		Log: testLog(t), Report: &report.Dir{Path: t.TempDir()}, Forge: gitops.None{}}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := (&integration.Stage{}).Run(ctx, env)
	if res == nil || errs.KindOf(err) != errs.Failure {
		t.Fatalf("want a failure (the journal line), got %v", err)
	}
	data := res.Data.(*integration.Data)
	f := failures(data)
	// One journal line per provisioning run: provision, then the
	// idempotence run.
	if len(f) != 2 || !strings.HasPrefix(f[0], "logs.vm.fresh journal:") || !strings.HasPrefix(f[1], "logs.vm.fresh journal:") {
		t.Fatalf("want exactly the two journal hits, got %v\n%+v", f, data.Targets[0].Failures)
	}
	for _, hit := range data.Targets[0].Failures {
		if !strings.Contains(hit.Message, "root[") || !strings.Contains(hit.Message, "appliance: error: simulated failure to reach the licence server") {
			t.Errorf("hit message %q", hit.Message)
		}
	}
	if c := data.Targets[0].Phases["fresh"]; c.Passed < 8+2 {
		t.Errorf("fresh phase: %+v", c)
	}
}
