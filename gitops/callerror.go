package gitops

import "errors"

// callError is a forge call that failed after its retries, said once:
// "gitlab: comment on !2: 404 Not Found". What names the forge and the
// call.
type callError struct {
	what string
	err  error
}

func (e *callError) Error() string { return e.what + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// NamesCall reports whether err, returned by a Forge method, already says
// which forge and which call failed ("gitlab: comment on !2: …"): a
// caller then adds its own context, not the name of the call again
// ("comment on !2: gitlab: comment on !2: …").
func NamesCall(err error) bool {
	var c *callError
	return errors.As(err, &c)
}
