package integration_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/runners"
	"github.com/pipeline-ci/pipeline/runners/runnertest"
	"github.com/pipeline-ci/pipeline/stages/integration"
)

// benchSuite is 200 read-only checks of the kinds a real suite has, about
// the host the sshd runs on.
func benchSuite(tb testing.TB) *integration.Suite {
	var b strings.Builder
	b.WriteString("suite: bench\nchecks:\n")
	kinds := []string{
		"file: {path: /etc/passwd, type: file, mode: \"0644\", owner: root, contains: /^root:/}",
		"command: {run: \"uname -s\", stdout: Linux}",
		"kernel: {param: kernel.ostype, value: Linux}",
		"user: {name: root, uid: 0}",
		"group: {name: root, gid: 0}",
		"package: {name: dpkg}",
		"port: {port: 1, listening: false}",
		"service: {name: no-such-service, running: false}",
	}
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "  - id: c%03d\n    %s\n", i, kinds[i%len(kinds)])
	}
	s, err := integration.ParseSuite("bench.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkSSHTargets runs a 200-check suite on 1 and on 8 SSH targets (8
// separate sshd processes on 127.0.0.1, one connection each, reused by
// every check), all targets at once. It reports checks/s; ns/op is the
// wall time of one whole run.
func BenchmarkSSHTargets(b *testing.B) {
	suite := benchSuite(b)
	var servers []*runnertest.SSHD
	for i := 0; i < 8; i++ {
		servers = append(servers, runnertest.StartSSHD(b, 0))
	}
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			checks := 0
			start := time.Now()
			for i := 0; i < b.N; i++ {
				plan := &integration.Plan{Suites: []*integration.Suite{suite}, Provision: "true", Base: "true",
					CheckTimeout: time.Minute, ProvisionTimeout: time.Minute, Parallel: n}
				for j := 0; j < n; j++ {
					d := servers[j]
					plan.Targets = append(plan.Targets, integration.Target{Name: fmt.Sprintf("t%d", j), Kind: "ssh",
						Runner:    &runners.SSH{Name: fmt.Sprintf("t%d", j), Addr: d.Addr, User: d.User, Key: d.Key, KnownHosts: d.KnownHosts},
						Scenarios: []string{integration.Upgrade}})
				}
				runs := integration.Execute(context.Background(), plan)
				for _, r := range runs {
					for _, c := range r.Cases {
						if c.Suite == "bench" {
							if c.Status != integration.Pass {
								b.Fatalf("%s %s: %s", c.Target, c.Name, c.Message)
							}
							checks++
						}
					}
				}
			}
			b.ReportMetric(float64(checks)/time.Since(start).Seconds(), "checks/s")
		})
	}
}
