package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/internal/proc"
	"github.com/pipeline-ci/pipeline/internal/text"
)

// Git runs the git CLI in one repository. Mutations (commit, tag,
// cherry-pick, push) and history walks all go through the real git binary so
// that hooks, config and shallow files behave exactly as git defines them.
type Git struct {
	Dir string
	Env []string // extra environment, KEY=VALUE
}

// Open returns a Git for the repository at dir.
func Open(dir string) *Git { return &Git{Dir: dir} }

// Run runs git with args and returns its stdout with the trailing newline
// removed. The error names the command and carries git's stderr.
func (g *Git) Run(ctx context.Context, args ...string) (string, error) {
	out, err := g.RunBytes(ctx, nil, args...)
	return strings.TrimRight(string(out), "\n"), err
}

// RunBytes runs git with stdin and returns stdout byte-exactly.
func (g *Git) RunBytes(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	// Its own process group, stopped as a whole on cancel: git's children
	// (ssh, hooks, credential helpers) go with it, and Wait does not wait
	// for them to close git's pipes.
	cmd := proc.Command(ctx, "git", args...)
	cmd.Dir = g.Dir
	// Never stop for a password prompt in CI: fail instead.
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0")
	cmd.Env = append(cmd.Env, g.Env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if stop := proc.Stopped(ctx); stop != nil {
			// "timed out" or "cancelled (SIGTERM)", not "signal: terminated".
			err = stop
		}
		return stdout.Bytes(), &GitError{
			Args:   redactArgs(args),
			Stderr: RedactURL(strings.TrimSpace(stderr.String())),
			Stdout: RedactURL(stdout.String()),
			Err:    err,
		}
	}
	return stdout.Bytes(), nil
}

// GitError is a failed git command. Credentials embedded in URLs are
// redacted from its text.
type GitError struct {
	Args   []string
	Stderr string
	Stdout string
	Err    error
}

func (e *GitError) Error() string {
	msg := "git " + strings.Join(e.Args, " ") + ": " + e.Err.Error()
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *GitError) Unwrap() error { return e.Err }

// ExitCode is git's exit status, or -1 when it did not exit normally.
func (e *GitError) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

var urlCreds = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(://)[^/@\s]+@`) })

// RedactURL replaces the user-info of every URL in s (https://user:token@host)
// with "***" so that a token embedded in a remote URL never reaches a log.
func RedactURL(s string) string { return urlCreds().ReplaceAllString(s, "${1}***@") }

func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = RedactURL(a)
	}
	return out
}

// exitCode returns git's exit status from err, or -1.
func exitCode(err error) int {
	var ge *GitError
	if errors.As(err, &ge) {
		return ge.ExitCode()
	}
	return -1
}

// --- reading refs and history ---------------------------------------------

// RevParse resolves rev to a full commit sha.
func (g *Git) RevParse(ctx context.Context, rev string) (string, error) {
	return g.Run(ctx, "rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
}

// Exists reports whether rev names a commit that is present locally.
func (g *Git) Exists(ctx context.Context, rev string) bool {
	_, err := g.Run(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	return err == nil
}

// Head is the sha of HEAD.
func (g *Git) Head(ctx context.Context) (string, error) { return g.RevParse(ctx, "HEAD") }

// CurrentBranch is the checked-out branch, or "" on a detached HEAD.
func (g *Git) CurrentBranch(ctx context.Context) (string, error) {
	out, err := g.Run(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil {
		if exitCode(err) == 1 {
			return "", nil
		}
		return "", err
	}
	return out, nil
}

// IsAncestor reports whether a is an ancestor of (or equal to) b in the
// history present locally.
func (g *Git) IsAncestor(ctx context.Context, a, b string) (bool, error) {
	_, err := g.Run(ctx, "merge-base", "--is-ancestor", a, b)
	if err == nil {
		return true, nil
	}
	if exitCode(err) == 1 {
		return false, nil
	}
	return false, err
}

// MergeBase returns the best common ancestor of a and b, or "" when the
// local history has none (unrelated, or cut off by a shallow clone).
func (g *Git) MergeBase(ctx context.Context, a, b string) (string, error) {
	out, err := g.Run(ctx, "merge-base", a, b)
	if err != nil {
		if exitCode(err) == 1 {
			return "", nil
		}
		return "", err
	}
	return out, nil
}

// RemoteRef returns the sha a remote ref points to on the server (ls-remote),
// or "" when it does not exist. Use it for the expected old value of a
// guarded push.
func (g *Git) RemoteRef(ctx context.Context, remote, ref string) (string, error) {
	out, err := g.Run(ctx, "ls-remote", "--end-of-options", remote, ref)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == ref {
			return f[0], nil
		}
	}
	return "", nil
}

// Fetch fetches refspecs from remote.
func (g *Git) Fetch(ctx context.Context, remote string, refspecs ...string) error {
	_, err := g.Run(ctx, append([]string{"fetch", "--quiet", "--no-tags", remote}, refspecs...)...)
	return err
}

// --- shallow clones ---------------------------------------------------------

// IsShallow reports whether the repository is a shallow clone (GitLab CI
// clones with depth 20 by default).
func (g *Git) IsShallow(ctx context.Context) (bool, error) {
	out, err := g.Run(ctx, "rev-parse", "--is-shallow-repository")
	if err != nil {
		return false, err
	}
	return out == "true", nil
}

// deepenSteps are the --deepen amounts tried in turn before giving up and
// unshallowing: most needs (the last weekly tag, the staging/master merge
// base) are met within the first two.
var deepenSteps = []int{50, 200, 1000, 5000}

// DeepenUntil deepens a shallow clone step by step (fetch --deepen) until
// done reports true, and unshallows as a last resort. refspecs are fetched
// with every step so that the refs the condition looks at come along. On a
// complete clone it only checks done once. It returns an error when done is
// still false with the whole history present.
func (g *Git) DeepenUntil(ctx context.Context, remote string, refspecs []string, done func(context.Context) (bool, error)) error {
	ok, err := done(ctx)
	if err != nil || ok {
		return err
	}
	for _, n := range deepenSteps {
		shallow, err := g.IsShallow(ctx)
		if err != nil {
			return err
		}
		if !shallow {
			return errNotInHistory
		}
		args := append([]string{"fetch", "--quiet", "--no-tags", "--deepen=" + strconv.Itoa(n), remote}, refspecs...)
		if _, err := g.Run(ctx, args...); err != nil {
			return fmt.Errorf("deepen shallow clone by %d: %w", n, err)
		}
		if ok, err := done(ctx); err != nil || ok {
			return err
		}
	}
	if shallow, err := g.IsShallow(ctx); err != nil {
		return err
	} else if shallow {
		args := append([]string{"fetch", "--quiet", "--no-tags", "--unshallow", remote}, refspecs...)
		if _, err := g.Run(ctx, args...); err != nil {
			return fmt.Errorf("unshallow clone: %w", err)
		}
	}
	ok, err = done(ctx)
	if err != nil || ok {
		return err
	}
	return errNotInHistory
}

var errNotInHistory = errors.New("not found in the complete history")

// ErrNotInHistory: the history asked for is not there even in the complete
// clone (the tag is not an ancestor, the branches share no history).
var ErrNotInHistory = errNotInHistory

// DeepenToTag makes sure the history from tag to HEAD is present: it fetches
// the tag if needed and deepens only until the tag's commit is an ancestor of
// HEAD. It returns ErrNotInHistory when the tag is not an ancestor of HEAD.
func (g *Git) DeepenToTag(ctx context.Context, remote, tag string) error {
	ref := "refs/tags/" + tag
	if !g.Exists(ctx, ref) {
		sha, err := g.RemoteRef(ctx, remote, ref+"^{}")
		if err == nil && sha == "" {
			sha, err = g.RemoteRef(ctx, remote, ref)
		}
		if err != nil {
			return fmt.Errorf("look up tag %s on %s: %w", tag, RedactURL(remote), err)
		}
		if sha == "" {
			return fmt.Errorf("tag %s does not exist on %s", tag, RedactURL(remote))
		}
		fetch := []string{"fetch", "--quiet", "--no-tags"}
		if !g.Exists(ctx, sha) {
			// Only the tagged commit; the history in between comes with
			// deepening. (--depth on a commit we already have would cut
			// our history short at it.)
			fetch = append(fetch, "--depth=1")
		}
		if _, err := g.Run(ctx, append(fetch, remote, "+"+ref+":"+ref)...); err != nil {
			return fmt.Errorf("fetch tag %s: %w", tag, err)
		}
	}
	return g.DeepenToAncestor(ctx, remote, ref, "HEAD")
}

// DeepenToAncestor deepens until ancestor is reachable from rev (both must
// already be present locally).
func (g *Git) DeepenToAncestor(ctx context.Context, remote, ancestor, rev string) error {
	err := g.DeepenUntil(ctx, remote, nil, func(ctx context.Context) (bool, error) {
		return g.IsAncestor(ctx, ancestor, rev)
	})
	if errors.Is(err, errNotInHistory) {
		return fmt.Errorf("%s is not an ancestor of %s: %w", ancestor, rev, err)
	}
	return err
}

// DeepenToMergeBase fetches the branches a and b from remote into
// refs/remotes/REMOTE/… (a clone made with --depth has only one branch),
// deepens until they have a merge base, and returns it.
func (g *Git) DeepenToMergeBase(ctx context.Context, remote, a, b string) (string, error) {
	shallow, err := g.IsShallow(ctx)
	if err != nil {
		return "", err
	}
	var refspecs []string
	for _, br := range []string{a, b} {
		spec := trackingSpec(remote, br)
		refspecs = append(refspecs, spec)
		fetch := []string{"fetch", "--quiet", "--no-tags"}
		// A branch we do not have yet comes as deep as a CI clone would;
		// one we have is updated without --depth, which would cut its
		// history short.
		if shallow && !g.Exists(ctx, "refs/remotes/"+remote+"/"+br) {
			fetch = append(fetch, "--depth=20")
		}
		if _, err := g.Run(ctx, append(fetch, remote, spec)...); err != nil {
			return "", fmt.Errorf("fetch branch %s: %w", br, err)
		}
	}
	ra, rb := "refs/remotes/"+remote+"/"+a, "refs/remotes/"+remote+"/"+b
	var base string
	err = g.DeepenUntil(ctx, remote, refspecs, func(ctx context.Context) (bool, error) {
		base, err = g.MergeBase(ctx, ra, rb)
		return base != "", err
	})
	if errors.Is(err, errNotInHistory) {
		return "", fmt.Errorf("%s and %s have no common history: %w", a, b, err)
	}
	return base, err
}

func trackingSpec(remote, branch string) string {
	return "+refs/heads/" + branch + ":refs/remotes/" + remote + "/" + branch
}

// DeepenSince deepens a shallow clone to include every commit after t
// (fetch --shallow-since).
func (g *Git) DeepenSince(ctx context.Context, remote string, t time.Time, refspecs ...string) error {
	shallow, err := g.IsShallow(ctx)
	if err != nil || !shallow {
		return err
	}
	args := append([]string{"fetch", "--quiet", "--no-tags", "--shallow-since=" + strconv.FormatInt(t.Unix(), 10), remote}, refspecs...)
	_, err = g.Run(ctx, args...)
	return err
}

// --- commits and trailers ----------------------------------------------------

// Well-known trailers.
const (
	// TrailerChangelog overrides the changelog line of a commit ("Changelog: skip" drops it).
	TrailerChangelog = "Changelog"
	// TrailerPromotedFrom is written by promote on every commit it picks
	// onto master: the staging commit it came from.
	TrailerPromotedFrom = "Promoted-from"
)

// Trailer is one "Key: value" line of a commit message's trailer block.
type Trailer struct {
	Key   string
	Value string
}

// Commit is one commit as read from git log.
type Commit struct {
	SHA         string
	Parents     []string
	Author      string
	AuthorEmail string
	AuthorTime  time.Time
	CommitTime  time.Time
	Subject     string
	Message     string // the full raw message
	Trailers    []Trailer
	// CherryPickedFrom are the shas of the "(cherry picked from commit …)"
	// lines that `git cherry-pick -x` writes.
	CherryPickedFrom []string
}

// Trailer returns the values of the trailer key (case-insensitive).
func (c Commit) Trailer(key string) []string {
	var out []string
	for _, t := range c.Trailers {
		if strings.EqualFold(t.Key, key) {
			out = append(out, t.Value)
		}
	}
	return out
}

const (
	fieldSep = "\x1f"
	logFmt   = "%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%ct%x1f%s%x1f%B%x1f%(trailers:unfold,only)"
)

// Log lists the commits of a revision range (git log arguments, e.g.
// "v1.2.0..HEAD", or "--first-parent", "master"), newest first.
func (g *Git) Log(ctx context.Context, args ...string) ([]Commit, error) {
	out, err := g.RunBytes(ctx, nil, append([]string{"log", "-z", "--format=" + logFmt}, args...)...)
	if err != nil {
		return nil, err
	}
	var commits []Commit
	for _, rec := range strings.Split(string(out), "\x00") {
		if strings.TrimSpace(rec) == "" {
			continue
		}
		c, err := parseCommit(rec)
		if err != nil {
			return nil, err
		}
		commits = append(commits, c)
	}
	return commits, nil
}

// ReadCommit reads one commit.
func (g *Git) ReadCommit(ctx context.Context, rev string) (*Commit, error) {
	cs, err := g.Log(ctx, "-1", rev, "--")
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("commit %s not found", rev)
	}
	return &cs[0], nil
}

func parseCommit(rec string) (Commit, error) {
	f := strings.SplitN(strings.TrimLeft(rec, "\n"), fieldSep, 9)
	if len(f) != 9 {
		return Commit{}, fmt.Errorf("git log: unexpected record %.60q", rec)
	}
	at, _ := strconv.ParseInt(f[4], 10, 64)
	ct, _ := strconv.ParseInt(f[5], 10, 64)
	c := Commit{
		SHA: f[0], Parents: strings.Fields(f[1]), Author: f[2], AuthorEmail: f[3],
		AuthorTime: time.Unix(at, 0).UTC(), CommitTime: time.Unix(ct, 0).UTC(),
		Subject: f[6], Message: f[7],
		Trailers:         ParseTrailers(f[8]),
		CherryPickedFrom: CherryPickedFrom(f[7]),
	}
	return c, nil
}

// ParseTrailers parses the output of %(trailers:unfold,only) or
// `git interpret-trailers --parse`: one "Key: value" per line.
func ParseTrailers(s string) []Trailer {
	var out []Trailer
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		out = append(out, Trailer{Key: k, Value: strings.TrimSpace(v)})
	}
	return out
}

var cherryLine = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\(cherry picked from commit ([0-9a-f]{7,64})\)\s*$`)
})

// CherryPickedFrom returns the shas named by "(cherry picked from commit …)"
// lines in a commit message, oldest pick first.
func CherryPickedFrom(msg string) []string {
	var out []string
	for _, m := range cherryLine().FindAllStringSubmatch(msg, -1) {
		out = append(out, m[1])
	}
	return out
}

// InterpretTrailers parses the trailers of a message with git itself
// (interpret-trailers --parse), for messages that are not commits yet.
func (g *Git) InterpretTrailers(ctx context.Context, msg string) ([]Trailer, error) {
	out, err := g.RunBytes(ctx, []byte(msg), "interpret-trailers", "--parse")
	if err != nil {
		return nil, err
	}
	return ParseTrailers(string(out)), nil
}

// --- patch identity -------------------------------------------------------------

// CherryEntry is one line of `git cherry`: a commit of head and whether an
// equivalent change (same patch-id) is already in upstream.
type CherryEntry struct {
	SHA     string
	Applied bool
}

// Cherry compares head with upstream by patch-id (git cherry): every commit
// of upstream..head, oldest first, marked Applied when upstream already has
// the same change (for instance because it was cherry-picked there).
func (g *Git) Cherry(ctx context.Context, upstream, head string) ([]CherryEntry, error) {
	out, err := g.Run(ctx, "cherry", upstream, head)
	if err != nil {
		return nil, err
	}
	var res []CherryEntry
	for _, line := range strings.Split(out, "\n") {
		sign, sha, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		res = append(res, CherryEntry{SHA: sha, Applied: sign == "-"})
	}
	return res, nil
}

// PatchID returns the stable patch-id of a commit's change ("" for a commit
// without a diff, such as an empty commit).
func (g *Git) PatchID(ctx context.Context, rev string) (string, error) {
	diff, err := g.RunBytes(ctx, nil, "show", "--format=", "--no-color", "--no-ext-diff", rev)
	if err != nil {
		return "", err
	}
	out, err := g.RunBytes(ctx, diff, "patch-id", "--stable")
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "", nil
	}
	return f[0], nil
}

// --- mutations --------------------------------------------------------------------

// Commit stages paths (all changes when none are given) and commits them
// with message. It returns the new commit's sha.
func (g *Git) Commit(ctx context.Context, message string, paths ...string) (string, error) {
	add := []string{"add", "--all"}
	if len(paths) > 0 {
		add = append(append(add, "--"), paths...)
	}
	if _, err := g.Run(ctx, add...); err != nil {
		return "", err
	}
	if _, err := g.RunBytes(ctx, []byte(message), "commit", "--quiet", "--file=-"); err != nil {
		return "", err
	}
	return g.Head(ctx)
}

// Tag creates tag name at rev: annotated with message, or lightweight when
// message is empty. An existing tag at the same commit is left as it is (a
// re-run does not fail); at another commit it is an error.
func (g *Git) Tag(ctx context.Context, name, rev, message string) error {
	want, err := g.RevParse(ctx, rev)
	if err != nil {
		return err
	}
	if have, err := g.RevParse(ctx, "refs/tags/"+name); err == nil {
		if have == want {
			return nil
		}
		return fmt.Errorf("tag %s already exists at %s, not at %s: %w", name, short(have), short(want), ErrTagExists)
	}
	args := []string{"tag"}
	if message != "" {
		args = append(args, "--annotate", "--file=-")
	}
	args = append(args, "--end-of-options", name, want)
	var stdin []byte
	if message != "" {
		stdin = []byte(message)
	}
	_, err = g.RunBytes(ctx, stdin, args...)
	return err
}

// ErrTagExists: the tag exists and points to a different commit.
var ErrTagExists = errors.New("tag exists at another commit")

// CherryPickOptions tune CherryPick.
type CherryPickOptions struct {
	// RecordOrigin appends "(cherry picked from commit …)" (-x).
	RecordOrigin bool
	// Trailers are appended to the message (e.g. Promoted-from).
	Trailers []Trailer
	// Mainline picks a merge commit relative to this parent (-m).
	Mainline int
}

// ErrConflict: the cherry-pick did not apply cleanly; it was aborted and the
// work tree is as before.
var ErrConflict = errors.New("cherry-pick conflict")

// ErrEmptyPick: the change is already on the branch (the pick would be
// empty); nothing was committed.
var ErrEmptyPick = errors.New("cherry-pick would be empty: change already applied")

// ConflictError names the commit and files of a failed cherry-pick.
type ConflictError struct {
	SHA   string
	Files []string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("cherry-pick %s conflicts in %s", short(e.SHA), strings.Join(e.Files, ", "))
}
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// CherryPick picks sha onto the checked-out branch and returns the new
// commit. On conflict it aborts (leaving the tree clean) and returns a
// *ConflictError; when the change is already there it returns ErrEmptyPick.
func (g *Git) CherryPick(ctx context.Context, sha string, opts CherryPickOptions) (string, error) {
	args := []string{"cherry-pick", "--allow-empty-message"}
	if opts.RecordOrigin {
		args = append(args, "-x")
	}
	if opts.Mainline > 0 {
		args = append(args, "-m", strconv.Itoa(opts.Mainline))
	}
	args = append(args, sha)
	if _, err := g.Run(ctx, args...); err != nil {
		var ge *GitError
		text := ""
		if errors.As(err, &ge) {
			text = ge.Stderr + ge.Stdout
		}
		if strings.Contains(text, "is now empty") || strings.Contains(text, "nothing to commit") {
			_, _ = g.Run(ctx, "cherry-pick", "--skip")
			return "", fmt.Errorf("cherry-pick %s: %w", short(sha), ErrEmptyPick)
		}
		files, _ := g.Run(ctx, "diff", "--name-only", "--diff-filter=U")
		if _, aerr := g.Run(ctx, "cherry-pick", "--abort"); aerr != nil {
			return "", fmt.Errorf("cherry-pick %s failed and could not be aborted: %w: %w", short(sha), aerr, err)
		}
		if files != "" {
			return "", &ConflictError{SHA: sha, Files: strings.Split(files, "\n")}
		}
		return "", err
	}
	if len(opts.Trailers) > 0 {
		args := []string{"commit", "--quiet", "--amend", "--no-edit"}
		for _, t := range opts.Trailers {
			args = append(args, "--trailer", t.Key+": "+t.Value)
		}
		if _, err := g.Run(ctx, args...); err != nil {
			return "", err
		}
	}
	return g.Head(ctx)
}

// --- guarded pushes ------------------------------------------------------------------

// RefUpdate is one ref of a guarded push.
type RefUpdate struct {
	// Ref is the full remote ref (refs/heads/master, refs/tags/v1.2.0).
	Ref string
	// New is the local commit (or tag ref) to push; "" deletes Ref.
	New string
	// Old is the sha the remote ref must still have for the push to go
	// through; "" means the ref must not exist yet.
	Old string
}

// ErrPushRejected: the remote refused the push because a ref moved (someone
// else pushed), because it already exists, or by a hook. Nothing was
// updated: pushes are atomic.
var ErrPushRejected = errors.New("push rejected")

// PushRejectedError lists the refs the remote refused and why.
type PushRejectedError struct {
	Remote string
	Refs   map[string]string // ref → reason ("stale info", "fetch first", …)
}

func (e *PushRejectedError) Error() string {
	var parts []string
	moved := false
	for ref, why := range e.Refs {
		parts = append(parts, ref+" ("+why+")")
		moved = moved || strings.Contains(why, "stale info") || strings.Contains(why, "fetch first") ||
			strings.Contains(why, "non-fast-forward") || strings.Contains(why, "already exists")
	}
	sort.Strings(parts)
	next := "the server refused it (a protected branch or tag, or a hook): check the token's push rights"
	if moved {
		next = "someone else changed it meanwhile: fetch and re-run"
	}
	return fmt.Sprintf("push to %s rejected, nothing was updated: %s; %s", RedactURL(e.Remote), strings.Join(parts, ", "), next)
}
func (e *PushRejectedError) Is(target error) bool { return target == ErrPushRejected }

// Push updates every ref in one atomic push: either all of them move or
// none. Each ref is guarded by --force-with-lease with its expected old
// value, so a ref someone else moved since we read it makes the whole push
// fail with a *PushRejectedError instead of losing their work.
func (g *Git) Push(ctx context.Context, remote string, updates ...RefUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	args := []string{"push", "--atomic", "--porcelain"}
	var specs []string
	for _, u := range updates {
		if !strings.HasPrefix(u.Ref, "refs/") {
			return fmt.Errorf("push %s: give the full ref name (refs/heads/…, refs/tags/…)", u.Ref)
		}
		args = append(args, "--force-with-lease="+u.Ref+":"+u.Old)
		specs = append(specs, u.New+":"+u.Ref)
	}
	args = append(append(append(args, "--end-of-options"), remote), specs...)
	out, err := g.Run(ctx, args...)
	if err == nil {
		return nil
	}
	var ge *GitError
	if errors.As(err, &ge) {
		if rej := parsePorcelainRejects(ge.Stdout + "\n" + out); len(rej) > 0 {
			return &PushRejectedError{Remote: remote, Refs: rej}
		}
	}
	return fmt.Errorf("push to %s: %w", RedactURL(remote), err)
}

// parsePorcelainRejects reads `git push --porcelain` output: lines
// "FLAG<TAB>from:to<TAB>summary (reason)" where FLAG "!" is a rejection.
func parsePorcelainRejects(out string) map[string]string {
	rej := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) < 3 || f[0] != "!" {
			continue
		}
		_, to, _ := strings.Cut(f[1], ":")
		reason := f[2]
		if i := strings.Index(reason, "("); i >= 0 {
			reason = strings.TrimSuffix(reason[i+1:], ")")
		}
		rej[to] = reason
	}
	return rej
}

// --- worktrees -----------------------------------------------------------------------------

// WorktreeAdd checks rev out (detached) in a new worktree at path and
// returns a Git for it. Stages use it to build master's next state without
// touching the job's checkout. Remove it with WorktreeRemove.
func (g *Git) WorktreeAdd(ctx context.Context, path, rev string) (*Git, error) {
	if _, err := g.Run(ctx, "worktree", "add", "--detach", "--force", "--quiet", path, rev); err != nil {
		return nil, err
	}
	return &Git{Dir: path, Env: g.Env}, nil
}

// WorktreeRemove removes the worktree at path, discarding its changes, and
// prunes git's record of it. A worktree already gone is not an error.
func (g *Git) WorktreeRemove(ctx context.Context, path string) error {
	_, err := g.Run(ctx, "worktree", "remove", "--force", "--force", path)
	if err != nil && !strings.Contains(err.Error(), "is not a working tree") {
		return err
	}
	_, err = g.Run(ctx, "worktree", "prune")
	return err
}

func short(sha string) string { return text.Short(sha, 12) }
