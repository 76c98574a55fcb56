package serve

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is what /healthz shows. Every request taken is counted once in
// Accepted (then, once worked on, in Answered, Stale or Failed), Refused
// (503: queue full or stopping) or Rejected (401, 400, 403, 404, 413):
// nothing is dropped without a count.
type Stats struct {
	Status   string `json:"status"`
	Queued   int    `json:"queued"`
	Capacity int    `json:"capacity"`
	Workers  int    `json:"workers"`
	Accepted int64  `json:"accepted"`
	Answered int64  `json:"answered"`
	Stale    int64  `json:"stale"`
	Failed   int64  `json:"failed"`
	Refused  int64  `json:"refused"`
	Rejected int64  `json:"rejected"`
	// P99Millis is the 99th percentile, over the last answers, of the time
	// from 202 to GitLab's answer.
	P99Millis float64 `json:"p99_ms_to_answer"`
}

type stats struct {
	accepted, answered, stale, failed, refused, rejected atomic.Int64

	mu    sync.Mutex
	times []time.Duration // ring of the last answer delays
	next  int
}

const keptTimes = 1024

func (s *stats) add(c *atomic.Int64) { c.Add(1) }

func (s *stats) observe(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.times) < keptTimes {
		s.times = append(s.times, d)
		return
	}
	s.times[s.next] = d
	s.next = (s.next + 1) % keptTimes
}

func (s *stats) snapshot(queued int) Stats {
	st := Stats{Queued: queued, Accepted: s.accepted.Load(), Answered: s.answered.Load(), Stale: s.stale.Load(),
		Failed: s.failed.Load(), Refused: s.refused.Load(), Rejected: s.rejected.Load()}
	s.mu.Lock()
	ts := append([]time.Duration(nil), s.times...)
	s.mu.Unlock()
	if len(ts) > 0 {
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		st.P99Millis = float64(ts[(len(ts)*99+99)/100-1]) / float64(time.Millisecond) // nearest rank
	}
	return st
}
