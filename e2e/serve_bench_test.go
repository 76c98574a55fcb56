package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
)

// BenchmarkServe202 measures the real `pipeline serve` taking signed
// merge-request events from CLIENTS concurrent connections: requests per
// second and the latency to the 202, while its workers answer the fake
// GitLab (in this process) as fast as they can. The queue is large enough
// that nothing is refused: the figure is the agent's intake, not its
// queue limit. bench/serve/run.sh runs it; docs/serve.md has the figures.
func BenchmarkServe202(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchServe(b, clients) })
	}
}

func benchServe(b *testing.B, clients int) {
	// A queue that holds the whole run: only 202s are timed.
	p := newServeProjectQ(b, b.N+16, 4, "")
	a := startAgent(b, p.dir)
	p.addChecks(a.url)
	iid := p.gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "fix(net): dhcp", SourceBranch: "dhcp", TargetBranch: "staging"})
	body := p.gl.MergeRequestEvent("42", iid, p.title)
	sig := forgetest.Sign(body, titleSecret)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}

	lat := make([]time.Duration, b.N)
	codes := make([]int, b.N)
	next := make(chan int, b.N)
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				req, _ := http.NewRequest(http.MethodPost, a.url+"/checks/title", bytes.NewReader(body))
				req.Header.Set("X-Gitlab-Signature", sig)
				t0 := time.Now()
				resp, err := client.Do(req)
				lat[i] = time.Since(t0)
				if err == nil {
					codes[i] = resp.StatusCode
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	for i, c := range codes {
		if c != http.StatusAccepted {
			b.Fatalf("request %d: %d, want 202", i, c)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	rank := func(q int) time.Duration { return lat[(len(lat)*q+99)/100-1] }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(rank(50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(rank(99).Microseconds())/1000, "p99_ms")
	h := a.settled(b)
	if int(h["answered"]) != b.N {
		b.Fatalf("%d accepted, healthz %v", b.N, h)
	}
}
