package promote

import (
	"fmt"
	"math/rand"
	"testing"
)

// BenchmarkPlan drives the planner on random histories (n candidates, k
// culprits at random positions, P probes a round) and reports probes and
// rounds per promotion next to the bounds:
//
//	probes ≤ 1 + k·(⌈log2 n⌉ + 1) + confirmations
//	rounds of the first search = ⌈log_(P+1) n⌉
//
// go test ./stages/promote -run '^$' -bench Plan prints them; the table
// in docs/promote.md comes from bench/promote (the same simulation, more
// columns).
func BenchmarkPlan(b *testing.B) {
	for _, par := range []int{1, 3} {
		for _, n := range []int{8, 32, 256} {
			for _, k := range []int{0, 1, 4} {
				b.Run(fmt.Sprintf("P=%d/n=%d/k=%d", par, n, k), func(b *testing.B) {
					rng := rand.New(rand.NewSource(1))
					var probes, confirms, rounds, worstBisect, worstRounds int
					for i := 0; i < b.N; i++ {
						culprits := map[int]bool{}
						for len(culprits) < k {
							culprits[rng.Intn(n)] = true
						}
						res := Simulation{Opts: Options{Parallel: par}, Oracle: containsAny(culprits)}.Run(n)
						probes += res.Plan.Probes
						confirms += res.ConfirmProbes
						worstBisect = max(worstBisect, res.Plan.Probes-res.ConfirmProbes)
						if k > 0 {
							rounds += res.Plan.SearchRounds[0]
							worstRounds = max(worstRounds, res.Plan.SearchRounds[0])
						}
					}
					b.ReportMetric(float64(probes)/float64(b.N), "probes/op")
					b.ReportMetric(float64(confirms)/float64(b.N), "confirm/op")
					b.ReportMetric(float64(worstBisect), "worst-bisect-probes")
					b.ReportMetric(float64(1+k*(ceilLog(n, 2)+1)), "bound-probes")
					b.ReportMetric(float64(worstRounds), "worst-rounds")
					b.ReportMetric(float64(ceilLog(n, par+1)), "bound-rounds")
					if worstRounds > ceilLog(n, par+1) || (par == 1 && worstBisect > 1+k*(ceilLog(n, 2)+1)) {
						b.Fatalf("bound not met: %d probes, %d rounds", worstBisect, worstRounds)
					}
				})
			}
		}
	}
}
