package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// Every file path in the release section of pipeline.yaml names a file in
// the repository: the changelog and the version files relative to its
// root, the templates relative to pipeline.yaml. The loader refuses
// absolute paths and climbs out with ".." (config.RepoPathProblem); here,
// before a file is read or written, the path is resolved through symbolic
// links and must still be inside the repository: a release never writes,
// commits or publishes a file from elsewhere.

// inside returns the absolute path of rel (the value of key in
// pipeline.yaml) taken relative to base, once it is known to stay inside
// root with symbolic links followed; else a usage error naming the key
// where pipeline.yaml sets it.
func (r *run) inside(root, base, key, rel string) (string, error) {
	p := rel
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, rel)
	}
	real, err := resolve(p)
	if err == nil {
		var realRoot string
		if realRoot, err = filepath.EvalSymlinks(root); err == nil && !within(realRoot, real) {
			err = fmt.Errorf("it resolves to %s, outside the repository %s", real, realRoot)
		}
	}
	if err != nil {
		return "", errs.New(errs.Usage, fmt.Errorf("%s: %s %q: %w", r.env.Config.Where(key), key, rel, err),
			"give a path inside the repository (no .., no absolute path, no symbolic link that leads out of it)")
	}
	return p, nil
}

// resolve is p with every symbolic link followed, for the part of p that
// exists (a changelog written for the first time does not).
func resolve(p string) (string, error) {
	rest := ""
	for q := filepath.Clean(p); ; q = filepath.Dir(q) {
		if _, err := os.Lstat(q); err == nil {
			real, err := filepath.EvalSymlinks(q)
			if err != nil {
				return "", err
			}
			return filepath.Join(real, rest), nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if q == filepath.Dir(q) {
			return filepath.Clean(p), nil
		}
		rest = filepath.Join(filepath.Base(q), rest)
	}
}

// within reports whether p is root or below it.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// committable is inside for a file the release writes and commits (the
// changelog, a version file) in the work tree g: it must also not be
// ignored by git, or the release commit would go without it.
func (r *run) committable(ctx context.Context, g *gitops.Git, key, rel string) (string, error) {
	p, err := r.inside(g.Dir, g.Dir, key, rel)
	if err != nil {
		return "", err
	}
	// A file HEAD tracks is committed whatever .gitignore says: read in
	// process when it can be (a release plan starts at most two git
	// processes), else asked of git.
	// A dry run, which writes nothing, leaves the check to the real run
	// (before it writes anything) and so plans with one git process.
	if r.env.DryRun || r.trackedAtHead(g, rel) {
		return p, nil
	}
	// check-ignore exits 0 for an ignored, untracked path, 1 for one git
	// will commit.
	out, err := g.Run(ctx, "check-ignore", "--verbose", "--", rel)
	if err == nil && out != "" {
		source, _, _ := strings.Cut(out, "\t")
		return "", errs.New(errs.Usage, fmt.Errorf("%s: %s %q is ignored by git (%s), so the release commit could not hold it", r.env.Config.Where(key), key, rel, source),
			"choose a path git does not ignore, or remove the pattern from the ignore file")
	}
	return p, nil
}

// trackedAtHead reports whether HEAD's tree holds rel in the work tree
// g, read in process; false when that cannot be told without git.
func (r *run) trackedAtHead(g *gitops.Git, rel string) bool {
	f, err := gitops.OpenFiles(g.Dir)
	if err != nil {
		return false
	}
	head, _, err := f.Head()
	if err != nil || head == "" {
		return false
	}
	in, err := f.InTree(head, filepath.ToSlash(filepath.Clean(rel)))
	return err == nil && in
}

// uncommittable is the error of a run whose written files did not all
// make it into the release commit (ignored by git in a way committable did
// not see: a global excludes file changed meanwhile): nothing is pushed or
// tagged on a commit without them.
func (r *run) uncommittable(ctx context.Context) error {
	if len(r.changed) == 0 {
		return nil
	}
	pending := map[string]bool{}
	for _, p := range r.pending(ctx) {
		pending[p] = true
	}
	var lost []string
	for _, p := range r.changed {
		if !pending[p] {
			lost = append(lost, p)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	return errs.New(errs.Usage, fmt.Errorf("release: %s written but git does not see the change, so the release commit would go without it", strings.Join(lost, ", ")),
		"check that git does not ignore it (git check-ignore -v "+lost[0]+"); nothing was committed, pushed or tagged")
}
