package forgetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake GitLab (under /api/v4/) and GitHub (under /api/v3/, the
// GitHub Enterprise layout) REST server with in-memory state.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:PORT).
	URL string

	srv *httptest.Server
	mu  sync.Mutex

	tokens    map[string]bool // API tokens (PRIVATE-TOKEN, Bearer)
	jobTokens map[string]bool // GitLab CI_JOB_TOKENs
	faults    []*faultState
	requests  []Request
	nextID    int64
	now       func() time.Time

	gitlab *GitLab
	github *GitHub
}

// Request is one request the server received, for assertions.
type Request struct {
	Method string
	Path   string // unescaped path
	Query  string
	Status int    // status answered; 0 when the connection was dropped (or no answer yet)
	Fault  string // the fault injected, if any
	Auth   string // "token", "job-token", "none" or "bad"
	Body   string // the request body as sent (what a test searches for leaks)
	// Response is the body answered (nil when dropped), for checking the
	// answers against the forges' API descriptions (Conformance).
	Response []byte
}

// New starts a server on 127.0.0.1 that is closed when the test ends. It
// accepts the tokens given (as GitLab PRIVATE-TOKEN / Bearer and GitHub
// Bearer); add GitLab job tokens with AddJobToken.
func New(t testing.TB, tokens ...string) *Server {
	s := &Server{tokens: map[string]bool{}, jobTokens: map[string]bool{}, now: time.Now}
	for _, tok := range tokens {
		s.tokens[tok] = true
	}
	s.gitlab = newGitLab(s)
	s.github = newGitHub(s)
	mux := http.NewServeMux()
	s.gitlab.routes(mux)
	s.github.routes(mux)
	s.srv = httptest.NewServer(s.handler(mux))
	s.URL = s.srv.URL
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

// Close stops the server.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// GitLabURL is the API base to give a GitLab client: URL + "/api/v4".
func (s *Server) GitLabURL() string { return s.URL + "/api/v4" }

// GitHubURL is the API base to give a GitHub client: URL + "/api/v3/".
func (s *Server) GitHubURL() string { return s.URL + "/api/v3/" }

// AddToken accepts tok as an API token from now on.
func (s *Server) AddToken(tok string) { s.mu.Lock(); s.tokens[tok] = true; s.mu.Unlock() }

// AddJobToken accepts tok as a GitLab CI_JOB_TOKEN (JOB-TOKEN header), which,
// as on GitLab, may only call the releases endpoints.
func (s *Server) AddJobToken(tok string) { s.mu.Lock(); s.jobTokens[tok] = true; s.mu.Unlock() }

// GitLab is the GitLab side's state.
func (s *Server) GitLab() *GitLab { return s.gitlab }

// GitHub is the GitHub side's state.
func (s *Server) GitHub() *GitHub { return s.github }

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count is how many requests matched method ("" any) and the path pattern
// (see Fault.Path).
func (s *Server) Count(method, pattern string) int {
	re := globRegexp(pattern)
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || method == r.Method) && re.MatchString(r.Path) {
			n++
		}
	}
	return n
}

// Writes counts the write requests (POST, PUT, PATCH, DELETE) received.
func (s *Server) Writes() int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			n++
		}
	}
	return n
}

// --- faults -----------------------------------------------------------------

// FaultKind is what goes wrong.
type FaultKind int

const (
	// RateLimited answers 429 with Retry-After (and RateLimit-Reset /
	// X-RateLimit-Reset) without doing anything.
	RateLimited FaultKind = iota + 1
	// ServerError answers 500 without doing anything.
	ServerError
	// ServerErrorAfter does the request, then answers 500: the write is
	// applied but the client does not know it.
	ServerErrorAfter
	// Slow handles the request, then waits Delay before answering: the
	// client may give up first although the request was applied.
	Slow
	// Drop closes the connection without handling the request.
	Drop
	// DropAfter handles the request, then closes the connection without an
	// answer: the write is applied, the response lost.
	DropAfter
	// SecondaryRateLimited answers as GitHub does for its secondary rate
	// limit: 403, a message naming it, no Retry-After, and the primary
	// window's headers (X-RateLimit-Remaining not 0). Clients must wait at
	// least a minute.
	SecondaryRateLimited
	// PrimaryRateLimited answers as GitHub does when the primary rate limit
	// is used up: 403 with X-RateLimit-Remaining: 0 and X-RateLimit-Reset
	// RetryAfter from now.
	PrimaryRateLimited
)

func (k FaultKind) String() string {
	return [...]string{"", "429", "500", "500-after", "slow", "drop", "drop-after", "403-secondary", "403-primary"}[k]
}

// Fault injects trouble into matching requests.
type Fault struct {
	Method string // "" matches any method
	// Path is matched against the unescaped request path: "*" matches
	// within one path segment, "**" across segments; "" matches every path.
	// Example: "/api/v4/projects/*/merge_requests".
	Path string
	Kind FaultKind
	// Times is how many matching requests are hit (default 1). With
	// EachRequest it counts per distinct method and path, so every call a
	// client makes fails Times times before it goes through.
	Times       int
	EachRequest bool
	RetryAfter  time.Duration // for RateLimited and PrimaryRateLimited; default 1s
	Delay       time.Duration // for Slow
}

type faultState struct {
	Fault
	re   *regexp.Regexp
	seen map[string]int
}

// Inject adds a fault; it applies to requests from now on.
func (s *Server) Inject(f Fault) {
	if f.Times == 0 {
		f.Times = 1
	}
	if f.RetryAfter == 0 {
		f.RetryAfter = time.Second
	}
	s.mu.Lock()
	s.faults = append(s.faults, &faultState{Fault: f, re: globRegexp(f.Path), seen: map[string]int{}})
	s.mu.Unlock()
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() { s.mu.Lock(); s.faults = nil; s.mu.Unlock() }

func globRegexp(p string) *regexp.Regexp {
	if p == "" {
		return regexp.MustCompile(`.*`)
	}
	q := regexp.QuoteMeta(p)
	q = strings.ReplaceAll(q, `\*\*`, `.*`)
	q = strings.ReplaceAll(q, `\*`, `[^/]*`)
	return regexp.MustCompile(`^` + q + `$`)
}

func (s *Server) pickFault(r *http.Request) *faultState {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Method != "" && f.Method != r.Method {
			continue
		}
		if !f.re.MatchString(r.URL.Path) {
			continue
		}
		key := ""
		if f.EachRequest {
			key = r.Method + " " + r.URL.Path
		}
		if f.seen[key] >= f.Times {
			continue
		}
		f.seen[key]++
		return f
	}
	return nil
}

// --- request handling ------------------------------------------------------------

func (s *Server) handler(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := s.pickFault(r)
		rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: s.authOf(r)}
		if r.Body != nil {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec.Body = string(body)
		}
		if f != nil {
			rec.Fault = f.Kind.String()
		}
		// Logged before the client can see any answer, so that a test
		// reading Requests right after a call finds it.
		s.mu.Lock()
		i := len(s.requests)
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
		answered := func(status int) {
			s.mu.Lock()
			s.requests[i].Status = status
			s.mu.Unlock()
		}
		withBody := func(body []byte) {
			s.mu.Lock()
			s.requests[i].Response = append([]byte(nil), body...)
			s.mu.Unlock()
		}
		if f != nil {
			switch f.Kind {
			case RateLimited:
				secs := int(f.RetryAfter.Round(time.Second) / time.Second)
				if secs < 1 {
					secs = 1
				}
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				reset := strconv.FormatInt(s.now().Add(f.RetryAfter).Unix(), 10)
				w.Header().Set("RateLimit-Reset", reset)
				w.Header().Set("X-RateLimit-Reset", reset)
				w.Header().Set("X-RateLimit-Remaining", "0")
				answered(http.StatusTooManyRequests)
				writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "429 Too Many Requests"})
				return
			case SecondaryRateLimited, PrimaryRateLimited:
				// docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api
				h := w.Header()
				h.Set("X-RateLimit-Limit", "5000")
				h.Set("X-RateLimit-Resource", "core")
				reset, remaining := s.now().Add(time.Hour), "4000"
				msg := "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
				doc := "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
				if f.Kind == PrimaryRateLimited {
					reset, remaining = s.now().Add(f.RetryAfter), "0"
					msg = "API rate limit exceeded for user ID 1."
					doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit"
				}
				h.Set("X-RateLimit-Remaining", remaining)
				h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
				answered(http.StatusForbidden)
				writeJSON(w, http.StatusForbidden, map[string]any{"message": msg, "documentation_url": doc})
				return
			case ServerError:
				answered(http.StatusInternalServerError)
				writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "500 Internal Server Error"})
				return
			case Drop:
				hijackClose(w)
				return
			}
		}
		// Handle into a buffer so that a fault can still replace the answer.
		bw := &bufWriter{header: http.Header{}, status: http.StatusOK}
		mux.ServeHTTP(bw, r)
		if f != nil {
			switch f.Kind {
			case Slow:
				// The request is done; the answer is late (the client
				// may have given up by then).
				select {
				case <-time.After(f.Delay):
				case <-r.Context().Done():
					return
				}
			case DropAfter:
				hijackClose(w)
				return
			case ServerErrorAfter:
				answered(http.StatusInternalServerError)
				writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "500 Internal Server Error"})
				return
			}
		}
		for k, v := range bw.header {
			w.Header()[k] = v
		}
		if strings.HasPrefix(r.URL.Path, "/api/v3/") {
			// GitHub reports its primary rate limit on every answer.
			h := w.Header()
			h.Set("X-RateLimit-Limit", "5000")
			h.Set("X-RateLimit-Remaining", "4999")
			h.Set("X-RateLimit-Used", "1")
			h.Set("X-RateLimit-Reset", strconv.FormatInt(s.now().Add(time.Hour).Unix(), 10))
			h.Set("X-RateLimit-Resource", "core")
		}
		answered(bw.status)
		withBody(bw.body.Bytes())
		w.WriteHeader(bw.status)
		_, _ = w.Write(bw.body.Bytes())
	})
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

type bufWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (b *bufWriter) Header() http.Header { return b.header }
func (b *bufWriter) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
func (b *bufWriter) WriteHeader(code int) {
	if !b.wrote {
		b.status = code
		b.wrote = true
	}
}

// authOf classifies the request's credentials.
func (s *Server) authOf(r *http.Request) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok := r.Header.Get("JOB-TOKEN"); tok != "" {
		if s.jobTokens[tok] {
			return "job-token"
		}
		return "bad"
	}
	tok := r.Header.Get("PRIVATE-TOKEN")
	if tok == "" {
		if a := r.Header.Get("Authorization"); a != "" {
			_, tok, _ = strings.Cut(a, " ")
		}
	}
	switch {
	case tok == "":
		return "none"
	case s.tokens[tok]:
		return "token"
	}
	return "bad"
}

func (s *Server) id() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	return s.nextID
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// params merges the query string and a JSON or form body into one map of
// strings (nested JSON values are kept as raw JSON text).
func params(r *http.Request) (url.Values, map[string]json.RawMessage) {
	v := r.URL.Query()
	raw := map[string]json.RawMessage{}
	body, _ := io.ReadAll(r.Body)
	if len(bytes.TrimSpace(body)) == 0 {
		return v, raw
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, _ := url.ParseQuery(string(body))
		for k, vals := range form {
			v[k] = vals
		}
		return v, raw
	}
	_ = json.Unmarshal(body, &raw)
	for k, m := range raw {
		var str string
		if json.Unmarshal(m, &str) == nil {
			v.Set(k, str)
			continue
		}
		v.Set(k, strings.Trim(string(m), `"`))
	}
	return v, raw
}

// page slices items by page/per_page (GitLab) or page/per_page (GitHub) and
// sets the pagination headers of the flavour: GitLab's X-Page, X-Total… and
// Link; GitHub's Link.
func page[T any](w http.ResponseWriter, r *http.Request, items []T, gitlab bool) []T {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 20
		if !gitlab {
			per = 30
		}
	}
	if per > 100 {
		per = 100
	}
	pg, _ := strconv.Atoi(q.Get("page"))
	if pg <= 0 {
		pg = 1
	}
	total := len(items)
	pages := (total + per - 1) / per
	if pages == 0 {
		pages = 1
	}
	link := func(p int, rel string) string {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		qq := u.Query()
		qq.Set("page", strconv.Itoa(p))
		qq.Set("per_page", strconv.Itoa(per))
		u.RawQuery = qq.Encode()
		return fmt.Sprintf("<%s>; rel=\"%s\"", u.String(), rel)
	}
	var links []string
	if pg < pages {
		links = append(links, link(pg+1, "next"))
	}
	if pg > 1 {
		links = append(links, link(pg-1, "prev"))
	}
	links = append(links, link(1, "first"), link(pages, "last"))
	w.Header().Set("Link", strings.Join(links, ", "))
	if gitlab {
		h := w.Header()
		h.Set("X-Page", strconv.Itoa(pg))
		h.Set("X-Per-Page", strconv.Itoa(per))
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa(pages))
		next, prev := "", ""
		if pg < pages {
			next = strconv.Itoa(pg + 1)
		}
		if pg > 1 {
			prev = strconv.Itoa(pg - 1)
		}
		h.Set("X-Next-Page", next)
		h.Set("X-Prev-Page", prev)
	}
	start := (pg - 1) * per
	if start >= total {
		return []T{}
	}
	end := start + per
	if end > total {
		end = total
	}
	return items[start:end]
}

// seedTimes fills the times a seeded issue, MR or PR leaves unset: created
// now unless given; updated now, or at its end (closed or merged) when that
// is later, as a forge would have it.
func seedTimes(now time.Time, created, updated *time.Time, end *time.Time) {
	if created.IsZero() {
		*created = now
	}
	*updated = now
	if end != nil && updated.Before(*end) {
		*updated = *end
	}
}

// copies returns the values behind ps, so that what tests read back is a
// snapshot they cannot change the fake's state through.
func copies[T any](ps []*T) []T {
	var out []T
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

// find returns the first item that match accepts, or nil.
func find[T any](items []*T, match func(*T) bool) *T {
	for _, it := range items {
		if match(it) {
			return it
		}
	}
	return nil
}

// filter returns the items keep accepts, in order (an empty list, not nil,
// when there are none: the forges answer [] rather than null).
func filter[T any](items []*T, keep func(*T) bool) []*T {
	out := []*T{}
	for _, it := range items {
		if keep(it) {
			out = append(out, it)
		}
	}
	return out
}

var closingRe = regexp.MustCompile(`(?i)\b(?:close[sd]?|closing|fix(?:e[sd]|ing)?|resolve[sd]?|resolving|implement(?:s|ed|ing)?)\b:?\s+#(\d+)`)

// closedNumbers returns the issue numbers a description closes with the
// closing keywords GitLab and GitHub both recognise ("Closes #12").
func closedNumbers(text string) []int64 {
	var out []int64
	seen := map[int64]bool{}
	for _, m := range closingRe.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func fakeSHA(seed string) string {
	h := uint64(1469598103934665603)
	for _, c := range []byte(seed) {
		h ^= uint64(c)
		h *= 1099511628211
	}
	s := fmt.Sprintf("%016x%016x%08x", h, h*31+7, uint32(h>>7))
	return s[:40]
}
