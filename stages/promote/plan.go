package promote

// This file is the plan of a whole promotion, across batches: pure logic,
// no I/O. Candidates are numbered 0..n-1 in staging's first-parent order.
// The plan asks its executor for three kinds of step, in a loop:
//
//	Build  pick these candidates, in order, onto what has landed so far;
//	       say which ones conflicted (they are "blocked", never forced)
//	Probe  test these prefixes of the built batch (one round, in parallel)
//	Land   push this prefix of the built batch: it passed, so master gets it
//
// A batch that passes lands whole. A batch that fails is searched (see
// search.go); its passing prefix lands, its first culprit is marked, and the
// commits after the culprit become the next batch, built without it, so
// their tree is tested again before anything of them lands.

// State is what became of a candidate.
type State string

const (
	NotTested State = "not tested" // never judged in this run (nothing failed; or the run stopped)
	Promoted  State = "promoted"   // landed on master
	Culprit   State = "culprit"    // first failing commit of a batch, confirmed
	Suspect   State = "suspect"    // one of these commits is the culprit; the others could not be tested (exit 125)
	Blocked   State = "blocked"    // does not apply without an earlier culprit (or onto master): not forced
)

// StepKind is the kind of work the plan asks for.
type StepKind int

const (
	StepDone StepKind = iota
	StepBuild
	StepProbe
	StepLand
)

// Step is one piece of work for the executor.
type Step struct {
	Kind StepKind
	// Build: the candidates to pick, in order, onto the landed ones.
	Build []int
	// Probe: the prefixes of the current batch to test in this round.
	Probes []Probe
	// Land: the prefix of the current batch to push (its commits are
	// Batch[:Land]).
	Land int
	// Batch is the current batch (candidates, in order) for Probe and Land.
	Batch []int
}

// Options tune the search.
type Options struct {
	Parallel int // probes a round
	Retries  int // extra runs of a failing probe
}

// Plan is the state of one promotion.
type Plan struct {
	opts   Options
	states []State
	// blamedOn says, for a culprit-free blocked or suspect candidate, which
	// culprit it was dropped with (index, or -1).
	blamedOn []int
	foundIn  []int // batch (1-based) in which a culprit or suspect was found
	landed   []int // candidates promoted, in landing order

	batch     []int // current batch (built)
	search    *Search
	pending   []int // to build next
	lastDrop  int   // last culprit dropped (-1: none)
	landNext  int   // prefix to land before going on (0: none)
	afterLand func()
	done      bool

	// BaseBroken: the base fails the test on its own.
	BaseBroken bool
	// Inconsistent: a batch search gave contradictory results (flaky test).
	Inconsistent bool

	// Counters for the report and the cost benchmark.
	Probes       int
	Rounds       int
	Batches      int
	SearchRounds []int // rounds of n-section search, per batch
}

// NewPlan starts the plan for n candidates.
func NewPlan(n int, opts Options) *Plan {
	p := &Plan{opts: opts, states: make([]State, n), blamedOn: make([]int, n), foundIn: make([]int, n), lastDrop: -1}
	for i := range p.states {
		p.states[i] = NotTested
		p.blamedOn[i] = -1
		p.pending = append(p.pending, i)
	}
	if n == 0 {
		p.done = true
	}
	return p
}

// State returns what became of candidate i.
func (p *Plan) State(i int) State { return p.states[i] }

// BlamedOn returns the culprit a blocked candidate was dropped with, or -1.
func (p *Plan) BlamedOn(i int) int { return p.blamedOn[i] }

// FoundIn returns the batch (1-based) in which culprit or suspect i was
// found, or 0.
func (p *Plan) FoundIn(i int) int { return p.foundIn[i] }

// Landed returns the promoted candidates in landing order.
func (p *Plan) Landed() []int { return append([]int(nil), p.landed...) }

// Batch returns the current batch.
func (p *Plan) Batch() []int { return append([]int(nil), p.batch...) }

// Next returns the next step; StepDone when the promotion is over.
func (p *Plan) Next() Step {
	if p.done {
		return Step{Kind: StepDone}
	}
	if p.landNext > 0 {
		return Step{Kind: StepLand, Land: p.landNext, Batch: p.Batch()}
	}
	if p.search == nil {
		if len(p.pending) == 0 {
			p.done = true
			return Step{Kind: StepDone}
		}
		return Step{Kind: StepBuild, Build: append([]int(nil), p.pending...)}
	}
	if probes := p.search.Next(); len(probes) > 0 {
		p.Probes += len(probes)
		p.Rounds++
		if probes[0].Reason == ReasonSearch {
			p.SearchRounds[len(p.SearchRounds)-1]++
		}
		return Step{Kind: StepProbe, Probes: probes, Batch: p.Batch()}
	}
	p.resolve()
	return p.Next()
}

// Built tells the plan which candidates of the Build step conflicted and
// were left out; the others form the new batch, in order.
func (p *Plan) Built(blocked []int) {
	isBlocked := map[int]bool{}
	for _, b := range blocked {
		isBlocked[b] = true
		p.states[b] = Blocked
		p.blamedOn[b] = p.lastDrop
	}
	p.batch = nil
	for _, c := range p.pending {
		if !isBlocked[c] {
			p.batch = append(p.batch, c)
		}
	}
	p.pending = nil
	if len(p.batch) == 0 {
		p.done = true
		return
	}
	p.Batches++
	p.SearchRounds = append(p.SearchRounds, 0)
	p.search = NewSearch(len(p.batch), p.opts.Parallel, p.opts.Retries)
}

// Record gives the verdict of one probe of the current round.
func (p *Plan) Record(pr Probe, v Verdict) {
	if p.search != nil {
		p.search.Record(pr, v)
	}
}

// LandDone tells the plan the Land step is done.
func (p *Plan) LandDone() {
	for _, c := range p.batch[:p.landNext] {
		p.states[c] = Promoted
		p.landed = append(p.landed, c)
	}
	p.landNext = 0
	if p.afterLand != nil {
		f := p.afterLand
		p.afterLand = nil
		f()
	}
}

// resolve acts on the end of a batch search.
func (p *Plan) resolve() {
	r := p.search.Result()
	batch := p.batch
	nb := p.Batches
	p.search = nil
	var next func()
	switch {
	case r.BaseBroken:
		p.BaseBroken = true
		p.done = true
		return
	case r.Inconsistent:
		p.Inconsistent = true
		next = func() { p.done = true }
	case r.Culprit > 0:
		c := batch[r.Culprit-1]
		next = func() {
			p.states[c] = Culprit
			p.foundIn[c] = nb
			p.lastDrop = c
			p.pending = append([]int(nil), batch[r.Culprit:]...)
		}
	case len(r.Suspects) > 0:
		last := r.Suspects[len(r.Suspects)-1]
		next = func() {
			for _, s := range r.Suspects {
				p.states[batch[s-1]] = Suspect
				p.foundIn[batch[s-1]] = nb
			}
			p.lastDrop = batch[last-1]
			p.pending = append([]int(nil), batch[last:]...)
		}
	default:
		// Passed whole, or the rest could not be tested: nothing follows.
		next = func() { p.done = true }
	}
	if r.Pass > 0 {
		p.landNext = r.Pass
		p.afterLand = next
		return
	}
	next()
}
