package promote

import "fmt"

// This file is the search inside one batch: pure logic, no I/O. A batch is
// a list of N commits applied in order on top of a base (master, or what was
// just promoted). Prefix i is the tree "base + the first i commits"; prefix 0
// is the base itself. The search only ever judges prefixes, because an
// arbitrary subset of commits is a tree nobody will ever land.
//
// The search assumes the test is monotonic along the prefixes (once a
// prefix fails, longer ones fail too) and looks for the first failing prefix
// with an n-section: with P probes a round it splits the unknown interval
// into P+1 parts, so the interval shrinks by P+1 each round (binary search
// when P = 1). It copes with the three ways real tests break that
// assumption:
//   - exit 125 ("cannot test"): the prefix is skipped and the nearest
//     untested prefix is probed instead, like `git bisect skip`;
//   - flaky failures: a failing probe is run again up to Retries times and
//     one pass is enough to call the prefix good;
//   - before a culprit is named it is confirmed by running it and its
//     parent again (see finishConfirm).

// Verdict is what one probe, or the judgement of a prefix, said.
type Verdict int

const (
	Unknown Verdict = iota // not judged yet
	Good                   // exit 0
	Bad                    // exit 1–127 except 125
	Skip                   // exit 125: the tree cannot be tested
)

func (v Verdict) String() string {
	switch v {
	case Good:
		return "good"
	case Bad:
		return "bad"
	case Skip:
		return "skip"
	}
	return "unknown"
}

// MarshalText makes verdicts readable in --json.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// Reason says why a probe is run; it is shown in the log and the report.
type Reason string

const (
	ReasonBatch   Reason = "batch"   // the whole batch, the first probe
	ReasonSearch  Reason = "search"  // a point of the n-section
	ReasonRetry   Reason = "retry"   // a failing probe run again (flaky tests)
	ReasonConfirm Reason = "confirm" // the culprit or its parent run again
)

// Probe asks for one test run of one prefix.
type Probe struct {
	Prefix int
	Reason Reason
}

// SearchResult is how a batch search ended. Prefix numbers are 1-based
// positions in the batch: prefix i ends with the batch's i-th commit.
type SearchResult struct {
	// Pass is the longest prefix that passed (0: none; N: the whole batch).
	// Only a prefix that was tested and passed is ever given here, so it is
	// always safe to land.
	Pass int
	// Culprit is the prefix whose last commit is the first culprit, or 0.
	Culprit int
	// Suspects is set instead of Culprit when the prefixes between the last
	// pass and the first failure could not be tested (exit 125): the first
	// culprit is one of these commits, and it cannot be said which.
	Suspects []int
	// Untested lists the commits after Pass that were never judged because
	// every prefix containing them answered "cannot test" and none failed.
	Untested []int
	// BaseBroken: the base itself fails the test, so no commit can be blamed.
	BaseBroken bool
	// Inconsistent: a prefix that passed failed on its confirmation run:
	// the test or its environment is too unreliable to name a culprit.
	Inconsistent bool
}

// Search is the state of the search in one batch. Use Next to get the
// probes of the next round, Record their verdicts, and repeat until Next
// returns nothing; then Result says how it ended.
type Search struct {
	n        int
	parallel int
	retries  int

	verdict    []Verdict // settled verdict of each prefix 0..n
	baseTested bool      // prefix 0 has passed a real run
	// judging holds the prefixes whose last run failed and that still have
	// retries left; their verdict is not settled.
	judging map[int]*judgement
	// confirm is the culprit being confirmed (0: not confirming).
	confirm       int
	confirmParent int
	confirmed     map[int]Verdict // verdicts of the confirmation runs
	done          bool
	result        SearchResult
	started       bool
}

type judgement struct {
	fails  int
	reason Reason
}

// NewSearch starts a search on a batch of n commits with parallel probes a
// round and retries runs again of a failing probe.
func NewSearch(n, parallel, retries int) *Search {
	if parallel < 1 {
		parallel = 1
	}
	if retries < 0 {
		retries = 0
	}
	s := &Search{
		n: n, parallel: parallel, retries: retries,
		verdict: make([]Verdict, n+1),
		judging: map[int]*judgement{},
	}
	// The base is assumed good: it is what master (or the promoted prefix)
	// already is. A culprit's confirmation runs it for real.
	s.verdict[0] = Good
	if n == 0 {
		s.done = true
	}
	return s
}

// Done reports whether the search has ended.
func (s *Search) Done() bool { return s.done }

// Result is the outcome; meaningful once Done.
func (s *Search) Result() SearchResult { return s.result }

// Verdict returns the settled verdict of prefix i.
func (s *Search) Verdict(i int) Verdict { return s.verdict[i] }

// Next returns the probes of the next round (at most parallel of them),
// or nil when the search is over.
func (s *Search) Next() []Probe {
	if s.done {
		return nil
	}
	// A failing probe is retried before anything else uses its verdict.
	if len(s.judging) > 0 {
		var out []Probe
		for i := 0; i <= s.n && len(out) < s.parallel; i++ {
			if j, ok := s.judging[i]; ok {
				r := ReasonRetry
				if j.reason == ReasonConfirm {
					r = ReasonConfirm
				}
				out = append(out, Probe{Prefix: i, Reason: r})
			}
		}
		return out
	}
	if s.confirm > 0 {
		var out []Probe
		for _, i := range []int{s.confirm, s.confirmParent} {
			if _, ok := s.confirmed[i]; !ok && len(out) < s.parallel {
				out = append(out, Probe{Prefix: i, Reason: ReasonConfirm})
			}
		}
		if len(out) > 0 {
			return out
		}
		s.finishConfirm()
		if s.done {
			return nil
		}
	}
	if !s.started {
		// The whole batch first: when it passes (the common case) that
		// is the only probe.
		s.started = true
		return []Probe{{Prefix: s.n, Reason: ReasonBatch}}
	}
	lo, hi := s.bounds()
	if hi < 0 {
		// Nothing failed yet, but the top of the batch could not be
		// tested: probe the longest prefixes that still can be.
		var out []Probe
		for i := s.n; i > lo && len(out) < s.parallel; i-- {
			if s.verdict[i] == Unknown {
				out = append(out, Probe{Prefix: i, Reason: ReasonSearch})
			}
		}
		if len(out) > 0 {
			return out
		}
		s.finish(SearchResult{Pass: lo, Untested: span(lo+1, s.n)})
		return nil
	}
	points := nsection(lo, hi, s.parallel, func(i int) bool { return s.verdict[i] == Unknown })
	if len(points) > 0 {
		out := make([]Probe, len(points))
		for k, p := range points {
			out[k] = Probe{Prefix: p, Reason: ReasonSearch}
		}
		return out
	}
	// Nothing left to test between the last pass and the first failure:
	// confirm before naming.
	s.confirm, s.confirmParent = hi, lo
	s.confirmed = map[int]Verdict{}
	return s.Next()
}

// Record gives the verdict of one probe returned by Next.
func (s *Search) Record(p Probe, v Verdict) {
	if s.done || p.Prefix < 0 || p.Prefix > s.n {
		return
	}
	// The culprit's confirmation is itself the second run of a failure:
	// it is not retried again. Every other failure is, up to Retries times.
	if v == Bad && !(p.Reason == ReasonConfirm && p.Prefix == s.confirm) {
		j := s.judging[p.Prefix]
		if j == nil {
			j = &judgement{reason: p.Reason}
			if p.Reason == ReasonRetry {
				j.reason = ReasonSearch
			}
		}
		j.fails++
		retries := s.retries
		if p.Reason == ReasonConfirm && p.Prefix == s.confirmParent {
			// A parent that passed before and fails now contradicts
			// itself: it gets one retry more than any other probe
			// before the run stops on it.
			retries++
		}
		if j.fails <= retries {
			s.judging[p.Prefix] = j
			return
		}
	}
	reason := p.Reason
	if j := s.judging[p.Prefix]; j != nil {
		reason = j.reason
		delete(s.judging, p.Prefix)
	}
	if reason == ReasonConfirm {
		s.confirmed[p.Prefix] = v
		return
	}
	s.verdict[p.Prefix] = v
}

// finishConfirm acts on the two confirmation runs. Flaky tests fail
// spuriously far more often than they pass spuriously, so a pass wins: a
// culprit that passes its confirmation was a flaky failure, it becomes
// good and the search goes on. A parent that passed before and now fails
// (twice) means the test or its environment changed under the run: nobody
// is blamed. The base (master) is only assumed good until its first run;
// if that run fails, master itself is broken.
func (s *Search) finishConfirm() {
	c, parent := s.confirm, s.confirmParent
	cv, pv := s.confirmed[c], s.confirmed[parent]
	s.confirm, s.confirmParent, s.confirmed = 0, 0, nil
	if pv == Good && parent == 0 {
		s.baseTested = true
	}
	switch {
	case pv == Bad && parent == 0 && !s.baseTested:
		s.finish(SearchResult{BaseBroken: true})
	case pv == Bad:
		s.finish(SearchResult{Inconsistent: true})
	case cv == Good:
		s.verdict[c] = Good
	default:
		// Bad, or Skip (cannot be re-run): name it on the evidence.
		s.name(parent, c)
	}
}

func (s *Search) name(lo, hi int) {
	if hi == lo+1 {
		s.finish(SearchResult{Pass: lo, Culprit: hi})
		return
	}
	s.finish(SearchResult{Pass: lo, Suspects: span(lo+1, hi)})
}

func (s *Search) finish(r SearchResult) {
	s.done = true
	s.result = r
}

// bounds returns the first failing prefix hi (-1 when none) and the last
// passing prefix lo below it.
func (s *Search) bounds() (lo, hi int) {
	hi = -1
	for i := 0; i <= s.n; i++ {
		if s.verdict[i] == Bad {
			hi = i
			break
		}
	}
	top := s.n + 1
	if hi >= 0 {
		top = hi
	}
	return s.lastGoodBelow(top), hi
}

func (s *Search) lastGoodBelow(top int) int {
	for i := top - 1; i > 0; i-- {
		if s.verdict[i] == Good {
			return i
		}
	}
	return 0
}

// nsection picks at most p prefixes strictly between lo and hi that split
// the interval into p+1 parts of at most ⌈(hi-lo)/(p+1)⌉ each; a point
// that cannot be probed (ok false: skipped or already known) moves to the
// nearest one that can.
func nsection(lo, hi, p int, ok func(int) bool) []int {
	length := hi - lo
	if length <= 1 {
		return nil
	}
	step := (length + p) / (p + 1) // ⌈length/(p+1)⌉
	chosen := map[int]bool{}
	var out []int
	for j := 1; j <= p; j++ {
		ideal := lo + j*step
		if ideal >= hi {
			break
		}
		if q, found := nearest(ideal, lo, hi, func(i int) bool { return ok(i) && !chosen[i] }); found {
			chosen[q] = true
			out = append(out, q)
		}
	}
	if len(out) == 0 {
		return nil
	}
	sortInts(out)
	return out
}

// nearest returns the prefix closest to ideal, strictly inside (lo, hi),
// for which ok holds; ties go to the lower one.
func nearest(ideal, lo, hi int, ok func(int) bool) (int, bool) {
	for d := 0; ideal-d > lo || ideal+d < hi; d++ {
		if i := ideal - d; i > lo && i < hi && ok(i) {
			return i, true
		}
		if i := ideal + d; d > 0 && i > lo && i < hi && ok(i) {
			return i, true
		}
	}
	return 0, false
}

func span(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// String describes a probe for the log.
func (p Probe) String() string { return fmt.Sprintf("prefix %d (%s)", p.Prefix, p.Reason) }
