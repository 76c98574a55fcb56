// Package serve is `pipeline serve`, the companion agent GitLab calls for
// merge-request external status checks. GitLab POSTs the merge-request
// event to http://HOST:PORT/checks/NAME, signed in X-Gitlab-Signature (the
// hex HMAC-SHA256 of the body with the check's shared secret), each time
// the MR changes; the agent checks the signature in constant time, answers
// 202 at once and queues the event; a worker decides the check and answers
// GitLab through POST .../status_check_responses, but only while the
// event's commit is still the MR's head.
//
// It lives under internal/ and not under stages/ because it is not a stage:
// it never runs in a pipeline, it judges nothing itself, and it only reads
// what the stages recorded (stages/handoff verdicts) and what the release model
// parses (release.ParseConventional). No package but the command needs it.
//
// Files: serve.go the HTTP side (routes, limits, signature, queue,
// shutdown); checks.go what each check answers; stats.go the counters
// /healthz shows.
package serve

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/text"
	"github.com/pipeline-ci/pipeline/stages/handoff"
	"github.com/sirupsen/logrus"
)

// Forge is what the agent asks of GitLab.
type Forge interface {
	// MergeRequestHead is the MR's head commit and state now.
	MergeRequestHead(ctx context.Context, mr int) (sha, state string, err error)
	// SetExternalStatusCheck answers the check (passed, failed, pending).
	SetExternalStatusCheck(ctx context.Context, mr, checkID int, sha, status string) error
	// UpsertComment keeps one comment per marker on the MR (the reason a
	// title check failed).
	UpsertComment(ctx context.Context, target gitops.CommentTarget, marker, body string) error
}

// VerdictSource gives what a stage recorded for a commit: Outcome passed,
// failed, or pending when the stage has not judged it yet.
type VerdictSource interface {
	Verdict(ctx context.Context, sha, stage string) (handoff.Verdict, error)
}

// Options configure a Server.
type Options struct {
	Config config.Serve
	// Secrets are the shared secrets by check name; a configured check
	// without one is refused by New.
	Secrets map[string]string
	// Project is the GitLab project served (id or group/name): events of
	// another project are refused.
	Project  string
	Forge    Forge
	Verdicts VerdictSource
	Log      *logging.Logger
	// JobTimeout bounds the work on one event (reading the MR, answering).
	JobTimeout time.Duration
}

// Server is the agent.
type Server struct {
	opts    Options
	checks  map[string][]byte // name → secret
	queue   chan job
	mu      sync.RWMutex // held for reading while enqueueing; for writing to close the queue
	closed  bool
	workers sync.WaitGroup
	stats   stats
	log     *logging.Logger
	// workCtx is the context of the work in progress: it outlives the
	// listener and is cancelled only when draining takes too long.
	workCtx    context.Context
	cancelWork context.CancelFunc
}

// job is one accepted event: the few fields a check needs, not the body.
type job struct {
	check    string
	checkID  int
	mr       int
	sha      string
	title    string
	state    string
	accepted time.Time
}

// New checks opts and starts the workers.
func New(opts Options) (*Server, error) {
	if opts.Forge == nil {
		return nil, errors.New("serve: no forge")
	}
	if opts.Log == nil {
		opts.Log = logging.Discard()
	}
	if opts.JobTimeout == 0 {
		opts.JobTimeout = time.Minute
	}
	s := &Server{opts: opts, checks: map[string][]byte{}, log: opts.Log}
	for _, c := range opts.Config.Checks {
		secret := opts.Secrets[c.Name]
		if secret == "" {
			return nil, fmt.Errorf("serve: check %s has no shared secret (the variable serve.checks[].secret_env names is empty or unset)", c.Name)
		}
		s.checks[c.Name] = []byte(secret)
	}
	if len(s.checks) == 0 {
		return nil, errors.New("serve: no checks configured (serve.checks)")
	}
	s.queue = make(chan job, opts.Config.Queue)
	s.workCtx, s.cancelWork = context.WithCancel(context.Background())
	for i := 0; i < opts.Config.Workers; i++ {
		s.workers.Add(1)
		go s.worker()
	}
	return s, nil
}

// Handler is the agent's HTTP interface: POST /checks/{name} and GET /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /checks/{name}", s.receive)
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

// Serve answers on ln until ctx ends, then drains: it stops taking
// requests, lets the queued and in-flight events finish (at most drain
// long: after that their work is cancelled) and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	cfg := s.opts.Config
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: cfg.ReadTimeout.D(),
		ReadTimeout:       cfg.ReadTimeout.D(),
		WriteTimeout:      cfg.ReadTimeout.D() + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.WithFields(logrus.Fields{"listen": ln.Addr().String(), "checks": strings.Join(s.names(), ","),
		"queue": cfg.Queue, "workers": cfg.Workers}).Info("serve: listening")
	select {
	case err := <-errc:
		s.Close(0)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.WithField("queued", len(s.queue)).Info("serve: stopping: no new requests; draining the queue")
	deadline := time.Now().Add(drain) // one budget for both steps
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_ = hs.Shutdown(sctx) //nolint:contextcheck // draining follows the end of ctx: it has a budget of its own; waits for the requests being read
	return s.Close(time.Until(deadline))
}

// Close stops taking events and waits for the queue to drain, at most
// drain long (0: cancel the work at once).
func (s *Server) Close(drain time.Duration) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	timer := time.NewTimer(drain)
	defer timer.Stop()
	var unfinished int64
	select {
	case <-done:
	case <-timer.C:
		st := s.stats.snapshot(0)
		unfinished = st.Accepted - st.Answered - st.Stale - st.Failed
		s.cancelWork()
		<-done
	}
	s.cancelWork()
	st := s.stats.snapshot(0)
	s.log.WithFields(logrus.Fields{"accepted": st.Accepted, "answered": st.Answered, "stale": st.Stale,
		"failed": st.Failed, "refused": st.Refused, "rejected": st.Rejected}).Info("serve: stopped")
	if unfinished > 0 {
		return fmt.Errorf("serve: %d accepted event(s) were not worked on before the drain timeout (%s) and were cancelled", unfinished, drain)
	}
	return nil
}

func (s *Server) names() []string {
	var out []string
	for _, c := range s.opts.Config.Checks {
		out = append(out, c.Name)
	}
	return out
}

// Stats are the agent's counters.
func (s *Server) Stats() Stats { return s.stats.snapshot(len(s.queue)) }

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	st := s.Stats()
	st.Status, st.Capacity, st.Workers = "ok", s.opts.Config.Queue, s.opts.Config.Workers
	code := http.StatusOK
	s.mu.RLock()
	if s.closed {
		st.Status, code = "draining", http.StatusServiceUnavailable
	}
	s.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(st)
}

// event is what the agent reads of GitLab's merge-request payload.
type event struct {
	ObjectKind string `json:"object_kind"`
	Project    struct {
		ID   int    `json:"id"`
		Path string `json:"path_with_namespace"`
	} `json:"project"`
	Attrs struct {
		IID        int    `json:"iid"`
		Title      string `json:"title"`
		State      string `json:"state"`
		LastCommit struct {
			ID string `json:"id"`
		} `json:"last_commit"`
	} `json:"object_attributes"`
	Rule struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	} `json:"external_approval_rule"`
}

func (s *Server) receive(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	log := s.log.WithFields(logrus.Fields{"check": name, "remote": r.RemoteAddr})
	secret, ok := s.checks[name]
	if !ok {
		log.Warn("serve: no such check: the agent answers " + strings.Join(s.names(), ", "))
		s.stats.add(&s.stats.rejected)
		http.Error(w, "no such check", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.Config.MaxBodyBytes))
	if err != nil {
		s.stats.add(&s.stats.rejected)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warnf("serve: request refused: body over %d bytes (serve.max_body_bytes)", s.opts.Config.MaxBodyBytes)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		log.Warnf("serve: request refused: reading the body: %v", err)
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if !validSignature(r.Header.Get("X-Gitlab-Signature"), body, secret) {
		// Never log the body: it is whatever an unauthenticated caller sent.
		s.stats.add(&s.stats.rejected)
		what := "wrong"
		if r.Header.Get("X-Gitlab-Signature") == "" {
			what = "missing"
		}
		log.Warnf("serve: request refused: %s X-Gitlab-Signature (%d-byte body not read)", what, len(body))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ObjectKind != "merge_request" || ev.Attrs.IID <= 0 ||
		ev.Rule.ID <= 0 || !isSHA(ev.Attrs.LastCommit.ID) {
		log.Warn("serve: request refused: not a merge-request event with object_attributes.iid, last_commit.id and external_approval_rule.id")
		s.stats.add(&s.stats.rejected)
		http.Error(w, "not a merge request status check event", http.StatusBadRequest)
		return
	}
	if !s.serves(ev) {
		log.Warnf("serve: request refused: project %d (%s) is not the one served (%s)", ev.Project.ID, ev.Project.Path, s.opts.Project)
		s.stats.add(&s.stats.rejected)
		http.Error(w, "project not served", http.StatusForbidden)
		return
	}
	j := job{check: name, checkID: ev.Rule.ID, mr: ev.Attrs.IID, sha: ev.Attrs.LastCommit.ID,
		title: ev.Attrs.Title, state: ev.Attrs.State, accepted: time.Now()}
	if !s.enqueue(j) {
		log.WithFields(logrus.Fields{"mr": j.mr, "commit": short(j.sha)}).Warn("serve: queue full or stopping: refused with 503 (GitLab shows the check pending until the MR changes or someone retries it)")
		s.stats.add(&s.stats.refused)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	s.stats.add(&s.stats.accepted)
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) enqueue(j job) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false
	}
	select {
	case s.queue <- j:
		return true
	default:
		return false
	}
}

// serves: the event's project is the one the agent answers for.
func (s *Server) serves(ev event) bool {
	p := s.opts.Project
	return p == "" || p == strconv.Itoa(ev.Project.ID) || p == ev.Project.Path
}

// validSignature compares the hex HMAC-SHA256 of body in constant time.
func validSignature(header string, body, secret []byte) bool {
	got, err := hex.DecodeString(strings.TrimSpace(header))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

func (s *Server) worker() {
	defer s.workers.Done()
	for j := range s.queue {
		s.work(j)
	}
}

func (s *Server) work(j job) {
	ctx, cancel := context.WithTimeout(s.workCtx, s.opts.JobTimeout)
	defer cancel()
	log := s.log.WithFields(logrus.Fields{"check": j.check, "mr": j.mr, "commit": short(j.sha)})
	status, reason, err := s.decide(ctx, j)
	if err != nil {
		log.Errorf("serve: not answered: %v", err)
		s.stats.add(&s.stats.failed)
		return
	}
	// GitLab refuses an answer for an old head (409); asking first keeps a
	// replayed or late event from even trying.
	head, state, err := s.opts.Forge.MergeRequestHead(ctx, j.mr)
	if err != nil {
		log.Errorf("serve: not answered: reading the MR: %v", err)
		s.stats.add(&s.stats.failed)
		return
	}
	if head != j.sha || state != "opened" {
		log.WithField("head", short(head)).Infof("serve: not answered: %s is no longer the head of an open MR (%s)", short(j.sha), state)
		s.stats.add(&s.stats.stale)
		return
	}
	err = s.opts.Forge.SetExternalStatusCheck(ctx, j.mr, j.checkID, j.sha, status)
	switch {
	case errors.Is(err, gitops.ErrStaleSHA):
		log.Info("serve: not answered: the MR moved on while the check was decided")
		s.stats.add(&s.stats.stale)
		return
	case err != nil:
		log.Errorf("serve: not answered: %v", err)
		s.stats.add(&s.stats.failed)
		return
	}
	answered := time.Since(j.accepted)
	log.WithField("status", status).Infof("serve: answered %s: %s", status, reason)
	if j.check == config.CheckTitle && status == handoff.OutcomeFailed {
		// GitLab's widget shows no reason: say it on the MR, one comment
		// kept up to date.
		body := fmt.Sprintf("**Status check `title` failed** for %s: %s.\n\nThe release notes and the squash commit take the MR title; edit it and the check runs again.", short(j.sha), reason)
		if err := s.opts.Forge.UpsertComment(ctx, gitops.CommentTarget{MergeRequest: j.mr}, "pipeline-check-title", body); err != nil {
			log.Warnf("serve: the reason was not commented on the MR: %v", err)
		}
	}
	// Counted last: /healthz says a job is answered once all its work
	// (the answer, the log line, the comment) is done.
	s.stats.add(&s.stats.answered)
	s.stats.observe(answered)
}

func isSHA(s string) bool {
	if len(s) < 7 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func short(sha string) string { return text.Short(sha, 12) }
