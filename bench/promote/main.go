// Command promote-cost measures what `pipeline promote` spends finding
// culprits: it drives the pure planner (stages/promote) with a simulated
// test on generated histories and prints, beside the formulas of the
// issue, the probes and rounds it took.
//
//	go run ./bench/promote                 # the table for docs/promote.md
//	go run ./bench/promote -trials 1000 -flaky 0.05 -retries 2
//
// A probe is one run of the test (a 30–60 minute BVT in real life); a
// round is the probes run at once. Culprits sit at random positions; a
// tree fails when it holds one. In flaky mode a tree that should pass fails
// with the given probability.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"text/tabwriter"

	"github.com/pipeline-ci/pipeline/stages/promote"
)

func main() {
	trials := flag.Int("trials", 300, "random histories per row")
	flaky := flag.Float64("flaky", 0, "probability that a good tree fails (flaky-test mode)")
	retries := flag.Int("retries", 0, "promote.retries")
	seed := flag.Int64("seed", 1, "random seed")
	parallel := flag.String("parallel", "1,3", "promote.parallel values, comma-separated")
	flag.Parse()
	var pars []int
	for _, s := range splitComma(*parallel) {
		var p int
		fmt.Sscan(s, &p)
		pars = append(pars, p)
	}
	rng := rand.New(rand.NewSource(*seed))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "n\tk\tP\tprobes mean\tprobes max\tbisect max\tbound 1+k(⌈log2 n⌉+1)\tconfirm+retry mean\trounds(1st search) max\t⌈log_(P+1) n⌉\tfalse culprits\tmissed\tmet\t\n")
	allMet := true
	for _, p := range pars {
		for _, n := range []int{8, 16, 32, 64, 128, 256} {
			for k := 0; k <= 4; k++ {
				row := measure(rng, n, k, p, *retries, *flaky, *trials)
				bound := 1 + k*(ceilLog(n, 2)+1)
				roundBound := ceilLog(n, p+1)
				met := row.roundsMax <= roundBound && (p > 1 || row.bisectMax <= bound) && row.falseNamed == 0 && row.missed == 0
				verdict := yes(met)
				if *flaky > 0 {
					// Under a flaky test a false failure costs a search
					// of its own: the bounds are for a deterministic
					// test. What counts here is how rarely someone is
					// blamed wrongly.
					met, verdict = true, "n/a"
				}
				allMet = allMet && met
				fmt.Fprintf(w, "%d\t%d\t%d\t%.1f\t%d\t%d\t%d\t%.1f\t%d\t%d\t%d\t%d\t%s\t\n",
					n, k, p, row.probesMean, row.probesMax, row.bisectMax, bound, row.confirmMean, row.roundsMax, roundBound, row.falseNamed, row.missed, verdict)
			}
		}
	}
	w.Flush()
	if !allMet {
		fmt.Println("BOUND NOT MET")
		os.Exit(1)
	}
}

type row struct {
	probesMean, confirmMean float64
	probesMax, bisectMax    int
	roundsMax               int
	falseNamed, missed      int // culprits named wrongly; culprits not named (the run stopped)
}

// measure runs trials random histories of n commits with k culprits.
func measure(rng *rand.Rand, n, k, par, retries int, flaky float64, trials int) row {
	var r row
	for t := 0; t < trials; t++ {
		culprits := map[int]bool{}
		for len(culprits) < k {
			culprits[rng.Intn(n)] = true
		}
		oracle := func(tree promote.Tree) promote.Verdict {
			for _, c := range tree {
				if culprits[c] {
					return promote.Bad
				}
			}
			if flaky > 0 && rng.Float64() < flaky {
				return promote.Bad
			}
			return promote.Good
		}
		res := promote.Simulation{Opts: promote.Options{Parallel: par, Retries: retries}, Oracle: oracle}.Run(n)
		pl := res.Plan
		bisect := pl.Probes - res.ConfirmProbes
		r.probesMean += float64(pl.Probes)
		r.confirmMean += float64(res.ConfirmProbes)
		r.probesMax = max(r.probesMax, pl.Probes)
		r.bisectMax = max(r.bisectMax, bisect)
		if k > 0 && len(pl.SearchRounds) > 0 {
			r.roundsMax = max(r.roundsMax, pl.SearchRounds[0])
		}
		for i := 0; i < n; i++ {
			switch named := pl.State(i) == promote.Culprit; {
			case named && !culprits[i]:
				r.falseNamed++
			case !named && culprits[i]:
				r.missed++
			}
		}
	}
	r.probesMean /= float64(trials)
	r.confirmMean /= float64(trials)
	return r
}

func ceilLog(n, base int) int {
	r, x := 0, 1
	for x < n {
		x *= base
		r++
	}
	return r
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func splitComma(s string) []string {
	var out []string
	cur := ""
	for _, c := range s {
		if c == ',' {
			out = append(out, cur)
			cur = ""
			continue
		}
		cur += string(c)
	}
	return append(out, cur)
}
