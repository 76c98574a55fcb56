package gitops

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/text"
)

// Retry policy. Two layers:
//
//  1. The HTTP client (go-retryablehttp, inside both client libraries)
//     repeats a request the server refused for its rate limit (the server
//     did nothing), or answered with 5xx when the method is safe to repeat
//     (GET, HEAD, PUT, PATCH: our PUT/PATCH set values, so repeating them
//     is harmless).
//  2. Every Forge method runs in call(): when a request failed in a way that
//     leaves us not knowing whether the server acted (connection dropped,
//     timeout, 5xx on POST), the whole method runs again. Each write method
//     first looks for its result (check-then-create), so running it again
//     never makes a second tag, milestone, MR, comment or release.
//
// Rate limits (GitLab 429; GitHub 403 or 429, see
// docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api):
// the wait is the server's Retry-After; else, when X-RateLimit-Remaining
// is 0, until X-RateLimit-Reset (GitLab: RateLimit-Reset); else — GitHub's
// secondary limit without a header — at least a minute, doubling on each
// try up to MaxWait. A first wait longer than MaxWait is not waited: the
// call fails at once (exit 3) and says until when the limit holds. Never
// sooner than the server asks: GitHub may ban an integration that keeps
// retrying.

// Retry configures retries; the zero value gets the defaults.
type Retry struct {
	// Attempts per HTTP request (layer 1) and per method (layer 2). Default 5.
	Attempts int
	// Min and Max bound the exponential backoff when the server says nothing.
	// Defaults 500ms and 10s.
	Min, Max time.Duration
	// MaxWait is the longest rate-limit wait a call sits through; a server
	// asking for longer fails the call. Default 2 minutes.
	MaxWait time.Duration
	// Timeout is the limit for one HTTP request. Default 30s.
	Timeout time.Duration
	// Sleep, when set, is called with every wait instead of waiting (tests
	// record the waits and return at once).
	Sleep func(d time.Duration)

	logf func(format string, args ...any) // from Options.Logf
}

// secondaryWait is the least wait after a GitHub secondary rate limit that
// names no time: "wait for at least one minute before retrying".
const secondaryWait = time.Minute

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.Min <= 0 {
		r.Min = 500 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 10 * time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = 2 * time.Minute
	}
	if r.Timeout <= 0 {
		r.Timeout = 30 * time.Second
	}
	return r
}

// checkRetry is layer 1's CheckRetry for go-retryablehttp.
func (r Retry) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil || resp == nil {
		// Whether the server acted is unknown: layer 2 decides.
		return false, nil
	}
	if rl, ok := rateLimitOf(resp, 0); ok {
		// Retried only when the wait the server asks for is one we sit
		// through.
		return rl.wait <= r.MaxWait, nil
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
		if resp.Request != nil && safeToRepeat(resp.Request.Method) {
			return true, nil
		}
	}
	return false, nil
}

func safeToRepeat(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodOptions:
		return true
	}
	return false
}

// rateLimit is a refusal for a rate limit, and how long to wait.
type rateLimit struct {
	wait      time.Duration
	until     time.Time // when the server names a time
	secondary bool      // GitHub's secondary limit (no time named)
}

// rateLimitOf reads a rate-limit refusal: 429, or GitHub's 403 with
// Retry-After, X-RateLimit-Remaining: 0 or a message about a rate limit.
// attempt (0 first) doubles the wait of a secondary limit.
func rateLimitOf(resp *http.Response, attempt int) (rateLimit, bool) {
	if resp == nil {
		return rateLimit{}, false
	}
	h := resp.Header
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
	case http.StatusForbidden:
		if h.Get("Retry-After") == "" && h.Get("X-RateLimit-Remaining") != "0" && !bodySaysRateLimit(resp) {
			return rateLimit{}, false
		}
	default:
		return rateLimit{}, false
	}
	if v := h.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil {
			return rateLimit{wait: max(time.Duration(secs)*time.Second, 0)}, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return rateLimit{wait: max(time.Until(t), 0), until: t}, true
		}
	}
	reset := func(k string) (rateLimit, bool) {
		epoch, err := strconv.ParseInt(h.Get(k), 10, 64)
		if err != nil || epoch <= 0 {
			return rateLimit{}, false
		}
		t := time.Unix(epoch, 0)
		// One more second: the reset time is rounded down to the second.
		return rateLimit{wait: max(time.Until(t)+time.Second, 0), until: t}, true
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if rl, ok := reset("X-RateLimit-Reset"); ok {
			return rl, true
		}
	}
	if h.Get("X-RateLimit-Resource") == "" { // GitLab's header, not GitHub's primary window
		if rl, ok := reset("RateLimit-Reset"); ok {
			return rl, true
		}
	}
	return rateLimit{wait: secondaryWait << min(attempt, 6), secondary: true}, true
}

// bodySaysRateLimit peeks at a 403's body for GitHub's "rate limit"
// message, leaving the body readable. The start it read stays with the
// body, so that a later look (after the HTTP client drained it) sees it too.
func bodySaysRateLimit(resp *http.Response) bool {
	if resp.Body == nil {
		return false
	}
	pb, ok := resp.Body.(*peekedBody)
	if !ok {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		pb = &peekedBody{Reader: io.MultiReader(bytes.NewReader(head), resp.Body), Closer: resp.Body, head: head}
		resp.Body = pb
	}
	return bytes.Contains(bytes.ToLower(pb.head), []byte("rate limit"))
}

type peekedBody struct {
	io.Reader
	io.Closer
	head []byte
}

// backoff is layer 1's Backoff: the rate-limit wait the server asks for
// (a secondary limit: at least a minute, doubling, at most MaxWait),
// otherwise exponential with jitter. With Sleep set it reports the wait
// there and waits no time.
func (r Retry) backoff(_, _ time.Duration, attempt int, resp *http.Response) time.Duration {
	d := r.expBackoff(attempt)
	if rl, ok := rateLimitOf(resp, attempt); ok {
		d = min(rl.wait, r.MaxWait)
		if rl.secondary {
			d = max(d, secondaryWait)
		}
	}
	if r.Sleep != nil {
		r.Sleep(d)
		return 0
	}
	return d
}

func (r Retry) expBackoff(attempt int) time.Duration {
	d := time.Duration(float64(r.Min) * math.Pow(2, float64(attempt)))
	if d > r.Max || d <= 0 {
		d = r.Max
	}
	// Up to 25% jitter so that parallel jobs do not retry in step.
	return d + time.Duration(rand.Int64N(int64(d)/4+1))
}

// limitErr gives the error of a rate-limit refusal that was not waited
// out (its wait is longer than MaxWait, or the tries ran out) the time the
// limit holds until, and what to do.
func (r Retry) limitErr(err error, rl rateLimit) error {
	if rl.secondary {
		return errs.New(errs.Infra, fmt.Errorf("%w (secondary rate limit: too many requests too fast)", err),
			"wait a few minutes before running the job again, and run fewer jobs against the forge at once")
	}
	when := "in " + max(rl.wait, 0).Round(time.Second).String()
	if !rl.until.IsZero() {
		when = rl.until.UTC().Format("15:04:05 UTC") + " (" + when + ")"
	}
	return errs.New(errs.Infra, fmt.Errorf("%w (rate limit: the server asks to wait until %s; pipeline waits at most %s)", err, when, r.MaxWait),
		"run the job again after "+when)
}

// transient reports whether err may go away on a second try, and how long
// to wait first (0: use the exponential backoff). kind is the forge's
// classification of API errors.
type classify func(err error) (transient bool, wait time.Duration)

type nestedKey struct{}

// call runs f, and runs it again while it fails transiently. what names the
// operation for the error message ("gitlab: create tag v1.2.0"). A call
// made inside another (a write's check) runs once: the outer call repeats
// the whole method, so the tries do not multiply.
func (r Retry) call(ctx context.Context, what string, cls classify, f func(ctx context.Context) error) error {
	attempts := r.Attempts
	nested := ctx.Value(nestedKey{}) != nil
	if nested {
		attempts = 1
	}
	inner := context.WithValue(ctx, nestedKey{}, true)
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		if err = f(inner); err == nil {
			return nil
		}
		again, wait := transientNet(err)
		if !again && cls != nil {
			again, wait = cls(err)
		}
		if !again || ctx.Err() != nil || attempt+1 >= attempts {
			break
		}
		if wait <= 0 {
			wait = r.expBackoff(attempt)
		}
		if wait > r.MaxWait {
			wait = r.MaxWait
		}
		if r.logf != nil {
			r.logf("%s: %s; trying again in %s", what, firstLine(RedactURL(err.Error())), wait.Round(time.Millisecond))
		}
		if r.Sleep != nil {
			r.Sleep(wait)
			continue
		}
		select {
		case <-ctx.Done():
			return errs.New(errs.Infra, fmt.Errorf("%s: %w", what, ctx.Err()), "")
		case <-time.After(wait):
		}
	}
	if nested {
		return err // the outer call wraps it
	}
	return wrapForgeErr(what, err)
}

// transientNet: a dropped connection, a reset, a timeout. The server may or
// may not have acted; the method's own check decides on the next try.
func transientNet(err error) (bool, time.Duration) {
	if errors.Is(err, context.Canceled) {
		return false, 0
	}
	if permanentNet(err) {
		return false, 0
	}
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return true, 0
	case errors.As(err, &oe):
		return true, 0
	case errors.As(err, &ue):
		// The connection broke (closed, reset) before an answer came.
		return true, 0
	}
	return false, 0
}

// permanentNet: errors that the same request meets again every time, so
// that retrying only delays the message: the URL cannot be parsed or has
// a scheme other than http(s), the server's certificate is not trusted or
// not for this host, a TLS client talks to a plain HTTP server, or the host
// name does not exist.
func permanentNet(err error) bool {
	var (
		ue        *url.Error
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		dns       *net.DNSError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &verify), errors.As(err, &record):
		return true
	case errors.As(err, &dns) && dns.IsNotFound:
		return true
	case errors.As(err, &ue):
		// net/url's parse errors, and net/http's "unsupported protocol
		// scheme" (a plain string error, no type to match).
		return ue.Op == "parse" || strings.Contains(ue.Err.Error(), "unsupported protocol scheme")
	}
	return false
}

func firstLine(s string) string { return text.FirstLine(s) }

// wrapForgeErr gives err an exit-code kind: ours (usage) stay as they are;
// anything the server or the network did is infrastructure.
func wrapForgeErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return &callError{what: what, err: err}
	}
	return errs.New(errs.Infra, &callError{what: what, err: err}, "")
}
