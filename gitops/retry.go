package gitops

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/text"
)

// Retry policy. Two layers:
//
//  1. The HTTP client (go-retryablehttp, inside both client libraries)
//     repeats a request the server answered with 429 (always: the server did
//     nothing), or with 5xx when the method is safe to repeat (GET, HEAD,
//     PUT, PATCH: our PUT/PATCH set values, so repeating them is harmless).
//  2. Every Forge method runs in call(): when a request failed in a way that
//     leaves us not knowing whether the server acted (connection dropped,
//     timeout, 5xx on POST), the whole method runs again. Each write method
//     first looks for its result (check-then-create), so running it again
//     never makes a second tag, milestone, MR, comment or release.

// Retry configures retries; the zero value gets the defaults.
type Retry struct {
	// Attempts per HTTP request (layer 1) and per method (layer 2). Default 5.
	Attempts int
	// Min and Max bound the exponential backoff when the server says nothing.
	// Defaults 500ms and 10s.
	Min, Max time.Duration
	// MaxWait caps a wait the server asks for (Retry-After,
	// RateLimit-Reset). Default 2 minutes: longer than that and the job
	// should fail and say so.
	MaxWait time.Duration
	// Timeout is the limit for one HTTP request. Default 30s.
	Timeout time.Duration

	logf func(format string, args ...any) // from Options.Logf
}

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
	if resp.StatusCode == http.StatusTooManyRequests || secondaryRateLimit(resp) {
		return true, nil
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
		if resp.Request != nil && safeToRepeat(resp.Request.Method) {
			return true, nil
		}
	}
	return false, nil
}

// secondaryRateLimit: GitHub answers an exhausted or secondary rate limit
// with 403 and Retry-After or X-RateLimit-Remaining: 0.
func secondaryRateLimit(resp *http.Response) bool {
	return resp.StatusCode == http.StatusForbidden &&
		(resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-RateLimit-Remaining") == "0")
}

func safeToRepeat(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodOptions:
		return true
	}
	return false
}

// backoff is layer 1's Backoff: the server's Retry-After or rate-limit reset
// when it gives one (capped by MaxWait), otherwise exponential with jitter.
func (r Retry) backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if d, ok := r.serverWait(resp); ok {
		return d
	}
	return r.expBackoff(attempt)
}

func (r Retry) expBackoff(attempt int) time.Duration {
	d := time.Duration(float64(r.Min) * math.Pow(2, float64(attempt)))
	if d > r.Max || d <= 0 {
		d = r.Max
	}
	// Up to 25% jitter so that parallel jobs do not retry in step.
	return d + time.Duration(rand.Int64N(int64(d)/4+1))
}

// serverWait reads how long the server asked us to wait.
func (r Retry) serverWait(resp *http.Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	h := resp.Header
	var d time.Duration
	found := false
	if v := h.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil {
			d, found = time.Duration(secs)*time.Second, true
		} else if t, err := http.ParseTime(v); err == nil {
			d, found = time.Until(t), true
		}
	}
	if !found {
		for _, k := range []string{"RateLimit-Reset", "X-RateLimit-Reset"} {
			if v := h.Get(k); v != "" {
				if epoch, err := strconv.ParseInt(v, 10, 64); err == nil && epoch > 0 {
					d, found = time.Until(time.Unix(epoch, 0)), true
					break
				}
			}
		}
	}
	if !found {
		return 0, false
	}
	if d < 0 {
		d = 0
	}
	if d > r.MaxWait {
		d = r.MaxWait
	}
	return d, true
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
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return true, 0
	case errors.As(err, &oe):
		return true, 0
	case errors.As(err, &ue):
		return true, 0
	}
	return false, 0
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
		return fmt.Errorf("%s: %w", what, err)
	}
	return errs.New(errs.Infra, fmt.Errorf("%s: %w", what, err), "")
}
