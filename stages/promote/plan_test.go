package promote

import (
	"math/rand"
	"testing"
)

// containsAny is the monotonic oracle: a tree fails when it holds a culprit.
func containsAny(culprits map[int]bool) func(Tree) Verdict {
	return func(t Tree) Verdict {
		for _, c := range t {
			if culprits[c] {
				return Bad
			}
		}
		return Good
	}
}

func ceilLog(n, base int) int {
	r, x := 0, 1
	for x < n {
		x *= base
		r++
	}
	return r
}

// TestPlanExhaustive tries every set of culprits on every history of up to
// 9 candidates, with 1–3 parallel probes: all culprits named, every other
// commit promoted in order, nothing untested landed, and the cost bound met.
func TestPlanExhaustive(t *testing.T) {
	for n := 0; n <= 9; n++ {
		for mask := 0; mask < 1<<n; mask++ {
			culprits := map[int]bool{}
			for i := 0; i < n; i++ {
				if mask&(1<<i) != 0 {
					culprits[i] = true
				}
			}
			for par := 1; par <= 3; par++ {
				res := Simulation{Opts: Options{Parallel: par}, Oracle: containsAny(culprits)}.Run(n)
				p := res.Plan
				if res.LandedUntested {
					t.Fatalf("n=%d culprits=%v P=%d: landed a tree that was not tested", n, culprits, par)
				}
				var want Tree
				for i := 0; i < n; i++ {
					st := p.State(i)
					if culprits[i] {
						if st != Culprit {
							t.Fatalf("n=%d culprits=%v P=%d: candidate %d is %s, want culprit", n, culprits, par, i, st)
						}
						continue
					}
					want = append(want, i)
					if st != Promoted {
						t.Fatalf("n=%d culprits=%v P=%d: candidate %d is %s, want promoted", n, culprits, par, i, st)
					}
				}
				if len(want) != len(res.Master) {
					t.Fatalf("n=%d culprits=%v P=%d: master %v, want %v", n, culprits, par, res.Master, want)
				}
				for i := range want {
					if want[i] != res.Master[i] {
						t.Fatalf("n=%d culprits=%v P=%d: master %v, want %v", n, culprits, par, res.Master, want)
					}
				}
				k := len(culprits)
				if n > 0 {
					bound := 1 + k*(ceilLog(n, 2)+1) + res.ConfirmProbes
					if par == 1 && p.Probes > bound {
						t.Fatalf("n=%d culprits=%v: %d probes > bound %d", n, culprits, p.Probes, bound)
					}
					if k > 0 && p.SearchRounds[0] > ceilLog(n, par+1) {
						t.Fatalf("n=%d culprits=%v P=%d: first search took %d rounds > ⌈log_%d %d⌉ = %d",
							n, culprits, par, p.SearchRounds[0], par+1, n, ceilLog(n, par+1))
					}
				}
			}
		}
	}
}

// TestNSectionShrinks checks the n-section alone on every interval up to
// 300: each round leaves at most ⌈L/(P+1)⌉ to search.
func TestNSectionShrinks(t *testing.T) {
	for p := 1; p <= 6; p++ {
		for l := 2; l <= 300; l++ {
			pts := nsection(0, l, p, func(int) bool { return true })
			if len(pts) == 0 || len(pts) > p {
				t.Fatalf("P=%d L=%d: %d points", p, l, len(pts))
			}
			prev, worst := 0, 0
			for _, x := range append(pts, l) {
				if x-prev > worst {
					worst = x - prev
				}
				prev = x
			}
			if max := (l + p) / (p + 1); worst > max {
				t.Fatalf("P=%d L=%d: points %v leave %d > %d", p, l, pts, worst, max)
			}
		}
	}
}

// TestFailsOnlyTogether: commit a breaks nothing alone, b breaks nothing
// alone, together they fail: the later one is the culprit, a lands.
func TestFailsOnlyTogether(t *testing.T) {
	const a, b, n = 2, 5, 8
	oracle := func(t Tree) Verdict {
		has := map[int]bool{}
		for _, c := range t {
			has[c] = true
		}
		if has[a] && has[b] {
			return Bad
		}
		return Good
	}
	res := Simulation{Opts: Options{Parallel: 1}, Oracle: oracle}.Run(n)
	for i := 0; i < n; i++ {
		want := Promoted
		if i == b {
			want = Culprit
		}
		if got := res.Plan.State(i); got != want {
			t.Errorf("candidate %d: %s, want %s", i, got, want)
		}
	}
}

// TestSkips: prefixes that answer 125 are stepped around; when the only
// prefixes between a pass and a failure are skipped, the commits are named
// suspects, not a culprit.
func TestSkips(t *testing.T) {
	culprit := 5
	skip := map[int]bool{3: true} // trees whose last commit is 3
	oracle := func(t Tree) Verdict {
		for _, c := range t {
			if c == culprit {
				return Bad
			}
		}
		if len(t) > 0 && skip[t[len(t)-1]] {
			return Skip
		}
		return Good
	}
	res := Simulation{Opts: Options{Parallel: 1}, Oracle: oracle}.Run(8)
	if got := res.Plan.State(culprit); got != Culprit {
		t.Fatalf("candidate %d: %s, want culprit", culprit, got)
	}
	// 3 could not be tested as the last commit, but a longer passing prefix holds it.
	for _, i := range []int{0, 1, 2, 3, 4, 6, 7} {
		if got := res.Plan.State(i); got != Promoted {
			t.Errorf("candidate %d: %s, want promoted", i, got)
		}
	}

	// Culprit 4 hidden behind untestable 2 and 3.
	oracle2 := func(t Tree) Verdict {
		for _, c := range t {
			if c == 4 {
				return Bad
			}
		}
		if len(t) > 0 && (t[len(t)-1] == 2 || t[len(t)-1] == 3) {
			return Skip
		}
		return Good
	}
	res = Simulation{Opts: Options{Parallel: 1}, Oracle: oracle2}.Run(6)
	for i, want := range []State{Promoted, Promoted, Suspect, Suspect, Suspect, Promoted} {
		if got := res.Plan.State(i); got != want {
			t.Errorf("hidden culprit: candidate %d: %s, want %s", i, got, want)
		}
	}

	// The whole batch untestable, nothing failing: nothing lands, all not tested.
	res = Simulation{Opts: Options{Parallel: 2}, Oracle: func(t Tree) Verdict {
		if len(t) == 0 {
			return Good
		}
		return Skip
	}}.Run(4)
	for i := 0; i < 4; i++ {
		if got := res.Plan.State(i); got != NotTested {
			t.Errorf("all skipped: candidate %d: %s", i, got)
		}
	}
	if len(res.Master) != 0 {
		t.Errorf("all skipped: landed %v", res.Master)
	}
}

// TestBaseBroken: when master itself fails, the confirmation of the
// "culprit" runs master and nothing is blamed.
func TestBaseBroken(t *testing.T) {
	res := Simulation{Opts: Options{Parallel: 1}, Oracle: func(Tree) Verdict { return Bad }}.Run(5)
	if !res.Plan.BaseBroken {
		t.Fatal("master fails the test, but the plan did not say so")
	}
	for i := 0; i < 5; i++ {
		if res.Plan.State(i) != NotTested {
			t.Errorf("candidate %d: %s, want not tested", i, res.Plan.State(i))
		}
	}
}

// TestConflictsBlocked: a commit that does not apply without the culprit is
// blocked; the others go on.
func TestConflictsBlocked(t *testing.T) {
	// 3 is the culprit; 5 only applies on top of 3.
	conflict := func(c int, t Tree) bool {
		if c != 5 {
			return false
		}
		for _, x := range t {
			if x == 3 {
				return false
			}
		}
		return true
	}
	res := Simulation{Opts: Options{Parallel: 1}, Oracle: containsAny(map[int]bool{3: true}), Conflict: conflict}.Run(8)
	for i, want := range []State{Promoted, Promoted, Promoted, Culprit, Promoted, Blocked, Promoted, Promoted} {
		if got := res.Plan.State(i); got != want {
			t.Errorf("candidate %d: %s, want %s", i, got, want)
		}
	}
	if res.Plan.BlamedOn(5) != 3 {
		t.Errorf("blocked 5 blamed on %d, want 3", res.Plan.BlamedOn(5))
	}
}

// TestFlaky: a test that fails good trees at random, with retries, still
// names the real culprits and never lands an untested tree.
func TestFlaky(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	wrong := 0
	for trial := 0; trial < 300; trial++ {
		n := 4 + rng.Intn(60)
		culprits := map[int]bool{rng.Intn(n): true}
		base := containsAny(culprits)
		oracle := func(t Tree) Verdict {
			if v := base(t); v == Good && rng.Float64() < 0.1 {
				return Bad
			}
			return base(t)
		}
		res := Simulation{Opts: Options{Parallel: 1 + trial%3, Retries: 2}, Oracle: oracle}.Run(n)
		if res.LandedUntested {
			t.Fatalf("trial %d: landed an untested tree", trial)
		}
		for c := range culprits {
			if res.Plan.State(c) != Culprit {
				wrong++
			}
		}
	}
	// With 10% flakiness and 2 retries, a false verdict needs three
	// failures in a row (1 in 1000) and then survives the confirmation.
	if wrong > 3 {
		t.Errorf("%d of 300 culprits missed under a 10%% flaky test with 2 retries", wrong)
	}
}

// FuzzPlan drives the planner with arbitrary verdicts: it always ends,
// never lands an untested tree, and leaves every candidate in one state.
func FuzzPlan(f *testing.F) {
	f.Add(uint8(8), uint8(1), uint8(1), []byte{1, 2, 3, 0, 2, 1})
	f.Add(uint8(30), uint8(3), uint8(0), []byte{2, 2, 2, 3, 3, 1})
	f.Fuzz(func(t *testing.T, n, par, retries uint8, verdicts []byte) {
		if len(verdicts) == 0 {
			verdicts = []byte{1}
		}
		k := 0
		oracle := func(Tree) Verdict {
			v := Verdict(1 + verdicts[k%len(verdicts)]%3)
			k++
			return v
		}
		res := Simulation{Opts: Options{Parallel: int(par%5) + 1, Retries: int(retries % 3)}, Oracle: oracle}.Run(int(n % 40))
		if res.LandedUntested {
			t.Fatal("landed an untested tree")
		}
		last := -1
		for _, c := range res.Master {
			if c <= last {
				t.Fatalf("master out of order: %v", res.Master)
			}
			last = c
		}
		if res.Plan.Probes > 40*int(n%40+1)*(int(retries%3)+2) {
			t.Fatalf("%d probes for %d candidates", res.Plan.Probes, n%40)
		}
		promoted := 0
		for i := 0; i < int(n%40); i++ {
			if res.Plan.State(i) == Promoted {
				promoted++
			}
		}
		if promoted != len(res.Master) {
			t.Fatalf("%d promoted, %d on master", promoted, len(res.Master))
		}
		for _, c := range res.Master {
			if res.Plan.State(c) != Promoted {
				t.Fatalf("candidate %d on master is %s", c, res.Plan.State(c))
			}
		}
	})
}
