package integration_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
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
	"github.com/pipeline-ci/pipeline/runners/runnertest"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/integration"
)

// A real sshd on 127.0.0.1 is the staging host: every kind of check runs
// over one SSH connection (http through its direct-tcpip tunnel), with
// retries, timeouts, a JUnit-emitting script and the log scan. A second
// target whose host key does not match is an infrastructure error: the
// stage exits 3 and still reports the first target.
func TestSSHTargetRealSuite(t *testing.T) {
	t.Parallel() // long and mostly waiting: overlap with the others
	d := runnertest.StartSSHD(t, 0)
	web := httpServer(t)
	repo := t.TempDir()
	work := filepath.Join(t.TempDir(), "host") // the "installation" on the host
	keyFile := filepath.Join(repo, "ci_key")
	os.WriteFile(keyFile, d.Key, 0o600)
	wrongKnown := filepath.Join(repo, "wrong_known_hosts")
	other := runnertest.StartSSHD(t, 0)
	b, _ := os.ReadFile(other.KnownHosts)
	os.WriteFile(wrongKnown, []byte(strings.Replace(string(b), portOf(other.Addr), portOf(d.Addr), 1)), 0o644)

	os.MkdirAll(filepath.Join(repo, "suites"), 0o755)
	os.WriteFile(filepath.Join(repo, "suites", "report.sh"), []byte(`#!/bin/sh
cat <<XML
<testsuite name="host"><testcase name="disk"/><testcase name="clock"><failure message="clock skew 9s">ntp off</failure></testcase></testsuite>
XML
`), 0o755)
	suite := fmt.Sprintf(`suite: host
checks:
  - id: web-port
    port: {port: %[2]s}
  - id: web-health
    http: {url: "http://127.0.0.1:%[2]s/health", body: /ok/}
  - id: web-missing
    http: {url: "http://127.0.0.1:%[2]s/missing"}
  - id: version-file
    file: {path: %[1]s/etc/version, mode: "0644", contains: /^2\.0$/}
  - id: becomes-ready
    command: {run: "test -e %[1]s/state/ready"}
    within: 15s
    every: 500ms
  - id: slow-command
    command: {run: "sleep 5", timeout: 1s}
  - id: root-user
    user: {name: root, uid: 0, home: /root}
  - id: root-group
    group: {name: root, gid: 0}
  - id: ostype
    kernel: {param: kernel.ostype, value: Linux}
  - id: host-report
    script: {path: report.sh, format: junit}
  - id: fresh-only
    only_on: fresh
    command: {run: "false"}
`, work, portOf(web))
	os.WriteFile(filepath.Join(repo, "suites", "host.yaml"), []byte(suite), 0o644)
	cfgText := fmt.Sprintf(`version: 1
integration:
  version: "2.0"
  previous: "1.0"
  scenarios: [upgrade]
  base: mkdir -p %[1]s/etc %[1]s/state %[1]s/log && echo "$PIPELINE_VERSION" > %[1]s/etc/version
  provision: |
    echo "$PIPELINE_VERSION" > %[1]s/etc/version
    echo "error: flag --old is deprecated" >> %[1]s/log/app.log
    (sleep 2; touch %[1]s/state/ready) >/dev/null 2>&1 &
  suites: [suites/*.yaml]
  snapshot:
    paths: [%[1]s/etc]
    # The CI host changes under us (other jobs): keep to our own files.
    ignore: ["package:*", "port:*", "user:*", "group:*", "service:*"]
  logs:
    files: [%[1]s/log/*.log]
    journal: false
    allow: [deprecated]
  targets:
    - {name: staging, runner: ssh, host: 127.0.0.1, port: %[2]s, user: root, key_file: ci_key, known_hosts: %[3]s}
    - {name: impostor, runner: ssh, host: 127.0.0.1, port: %[2]s, user: root, key_file: ci_key, known_hosts: %[4]s}
`, work, portOf(d.Addr), d.KnownHosts, wrongKnown)
	os.WriteFile(filepath.Join(repo, "pipeline.yaml"), []byte(cfgText), 0o644)
	cfg, err := config.Load(filepath.Join(repo, "pipeline.yaml"), ci.MapEnv{}.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	reports := t.TempDir()
	env := &stages.Env{Repo: repo, Config: cfg, CI: ci.Context{Provider: ci.Terminal, Env: ci.MapEnv{}},
		Log: testLog(t), Report: &report.Dir{Path: reports}, Forge: gitops.None{}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := (&integration.Stage{}).Run(ctx, env)
	if errs.KindOf(err) != errs.Infra || res == nil || !strings.Contains(errs.Format(err), "impostor") {
		t.Fatalf("want an infrastructure error naming impostor (exit 3), got %v", err)
	}
	data := res.Data.(*integration.Data)
	byName := map[string]integration.Case{}
	staging := data.Targets[0]
	if staging.Target != "staging" || len(staging.Infra) != 0 {
		t.Fatalf("staging: %+v", staging)
	}
	for _, c := range staging.Failures {
		byName[c.Suite+"/"+c.Name] = c
	}
	want := map[string]string{
		"host/web-missing":            "GET http://127.0.0.1:" + portOf(web) + "/missing: status 404, want 200",
		"host/slow-command":           "timed out after 1",
		"host/host-report/host.clock": "clock skew 9s",
	}
	for k, msg := range want {
		if c, ok := byName[k]; !ok || !strings.Contains(c.Message, msg) {
			t.Errorf("%s: want failure %q, got %+v", k, msg, c)
		}
	}
	if len(staging.Failures) != len(want) {
		t.Errorf("failures: %+v", staging.Failures)
	}
	if c := staging.Phases["upgrade"]; c.Skipped != 1 || c.Passed < 12 {
		t.Errorf("upgrade phase counts %+v", c)
	}
	impostor := data.Targets[1]
	if len(impostor.Infra) != 1 || !strings.Contains(impostor.Infra[0], "host key") {
		t.Errorf("impostor: %+v", impostor)
	}
	junit, _ := os.ReadFile(filepath.Join(reports, "junit-integration.xml"))
	for _, w := range []string{`classname="provision.impostor.upgrade"`, `<error message=`, `name="becomes-ready"`, `classname="logs.staging.upgrade"`, `classname="idempotence.staging.upgrade"`} {
		if !strings.Contains(string(junit), w) {
			t.Errorf("JUnit lacks %s", w)
		}
	}
	// The readiness check needed more than one try.
	js, _ := os.ReadFile(filepath.Join(reports, "integration.json"))
	if !strings.Contains(string(js), `"name": "host-report/host.clock"`) {
		t.Errorf("integration.json:\n%s", js)
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func httpServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			fmt.Fprintln(w, "ok")
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}
