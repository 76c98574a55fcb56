package promote

import "fmt"

// Tree is a set of candidates applied in order onto the starting master.
type Tree []int

// Simulation runs a Plan against a pure oracle instead of git and a real
// test: the cost benchmark and the exhaustive tests drive the planner this
// way. Conflict, when set, says whether candidate c fails to apply onto
// tree.
type Simulation struct {
	Opts     Options
	Oracle   func(t Tree) Verdict
	Conflict func(c int, t Tree) bool
	// Log receives one line per step when set.
	Log func(string)
}

// SimResult is what a simulated promotion did.
type SimResult struct {
	Plan *Plan
	// Master is what landed, in order.
	Master Tree
	// Tested maps each landed tree (as a string key) to true when it was
	// probed good: the simulator checks that nothing untested lands.
	LandedUntested bool
	// ConfirmProbes counts the probes run to retry or confirm.
	ConfirmProbes int
}

// Run simulates the promotion of n candidates.
func (s Simulation) Run(n int) SimResult {
	p := NewPlan(n, s.Opts)
	var master Tree
	passed := map[string]bool{}
	res := SimResult{Plan: p}
	prefix := func(batch []int, i int) Tree {
		t := append(Tree(nil), master...)
		return append(t, batch[:i]...)
	}
	for steps := 0; ; steps++ {
		if steps > 100000 {
			panic("promote: simulation does not end")
		}
		st := p.Next()
		switch st.Kind {
		case StepDone:
			res.Master = master
			return res
		case StepBuild:
			var blocked []int
			t := append(Tree(nil), master...)
			for _, c := range st.Build {
				if s.Conflict != nil && s.Conflict(c, t) {
					blocked = append(blocked, c)
					continue
				}
				t = append(t, c)
			}
			p.Built(blocked)
		case StepProbe:
			for _, pr := range st.Probes {
				t := prefix(st.Batch, pr.Prefix)
				v := s.Oracle(t)
				if v == Good {
					passed[fmt.Sprint(t)] = true
				}
				if pr.Reason == ReasonRetry || pr.Reason == ReasonConfirm {
					res.ConfirmProbes++
				}
				if s.Log != nil {
					s.Log(fmt.Sprintf("probe %v %v -> %v", pr, t, v))
				}
				p.Record(pr, v)
			}
		case StepLand:
			t := prefix(st.Batch, st.Land)
			if !passed[fmt.Sprint(t)] {
				res.LandedUntested = true
			}
			master = t
			p.LandDone()
		}
	}
}
