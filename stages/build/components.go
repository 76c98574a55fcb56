package build

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/proc"
	"github.com/pipeline-ci/pipeline/stages"
)

// ComponentResult is what one component produced.
type ComponentResult struct {
	Name     string   `json:"name"`
	Command  string   `json:"command,omitempty"`
	Prebuilt string   `json:"prebuilt,omitempty"`
	Files    []string `json:"files"`         // package files, relative to the repository
	Log      string   `json:"log,omitempty"` // the command's output in the report dir
	Seconds  float64  `json:"seconds"`
	Error    string   `json:"error,omitempty"`
	// Key is the component's cache key, SourceDate the SOURCE_DATE_EPOCH
	// of its build (the last commit that changed its inputs).
	Key        string    `json:"key,omitempty"`
	SourceDate time.Time `json:"source_date"`
	// Reused is true when its packages were taken from the component
	// cache instead of running its command.
	Reused bool `json:"reused"`
}

// componentPlan is how each component is to be built: its inputs, and
// whether the cache may give its packages.
type componentPlan struct {
	inputs map[string]Inputs
	cache  artifacts.Store // nil: no component cache
	// rebuild names the components built whatever the cache holds; all
	// of them when rebuildAll.
	rebuild    map[string]bool
	rebuildAll bool
	// dirty are the changed files of a dirty tree: a component whose
	// inputs hold one is built and not cached; config is pipeline.yaml
	// relative to the repository, which is every component's input.
	dirty  []string
	config string
}

// cacheable says whether c may be taken from the cache or stored in it.
func (p *componentPlan) cacheable(c config.Component) bool {
	if p.cache == nil || c.Command == "" {
		return false
	}
	paths := append([]string{p.config}, p.inputs[c.Name].Paths...)
	for _, f := range p.dirty {
		if Covers(paths, f) {
			return false
		}
	}
	return true
}

// tailLines is how much of a failed command's output the error shows.
const tailLines = 25

// Order returns the component names in an order where each comes after
// those in its after: list, keeping the file's order otherwise. The config
// validator has already refused unknown names and cycles.
func Order(cs []config.Component) []string {
	done := map[string]bool{}
	var out []string
	for len(out) < len(cs) {
		progress := false
		for _, c := range cs {
			if done[c.Name] {
				continue
			}
			ready := true
			for _, a := range c.After {
				if !done[a] {
					ready = false
				}
			}
			if ready {
				done[c.Name] = true
				out = append(out, c.Name)
				progress = true
			}
		}
		if !progress { // a cycle: leave the rest in file order
			for _, c := range cs {
				if !done[c.Name] {
					done[c.Name] = true
					out = append(out, c.Name)
				}
			}
		}
	}
	return out
}

// buildComponents runs the components: each starts when those it comes
// after are done, at most parallel at once. The first failure cancels the
// others and is returned with the tail of its output.
func buildComponents(ctx context.Context, env *stages.Env, cs []config.Component, parallel int, plan *componentPlan) ([]ComponentResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]ComponentResult, len(cs))
	done := make(map[string]chan struct{}, len(cs))
	for _, c := range cs {
		done[c.Name] = make(chan struct{})
	}
	sem := make(chan struct{}, parallel)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i, c := range cs {
		wg.Add(1)
		go func(i int, c config.Component) {
			defer wg.Done()
			defer close(done[c.Name])
			results[i] = ComponentResult{Name: c.Name, Command: c.Command, Prebuilt: c.Prebuilt}
			for _, a := range c.After {
				select {
				case <-done[a]:
				case <-ctx.Done():
				}
			}
			if ctx.Err() == nil {
				select {
				case sem <- struct{}{}:
					defer func() { <-sem }()
				case <-ctx.Done():
				}
			}
			if ctx.Err() != nil {
				results[i].Error = "not built: stopped before it started (another component failed or the build was cancelled)"
				return
			}
			r, err := buildComponent(ctx, env, c, plan)
			results[i] = r
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel(fmt.Errorf("component %s failed", c.Name))
				}
				mu.Unlock()
			}
		}(i, c)
	}
	wg.Wait()
	return results, firstErr
}

// buildComponent takes one component's packages from the cache, or runs
// its command (or reads its prebuilt directory) and finds the package
// files it produced.
func buildComponent(ctx context.Context, env *stages.Env, c config.Component, plan *componentPlan) (res ComponentResult, err error) {
	in := plan.inputs[c.Name]
	key := in.Key()
	res = ComponentResult{Name: c.Name, Command: c.Command, Prebuilt: c.Prebuilt, Key: key, SourceDate: in.Time}
	start := time.Now()
	defer func() { res.Seconds = time.Since(start).Seconds() }()
	cacheable := plan.cacheable(c)
	if cacheable && !plan.rebuildAll && !plan.rebuild[c.Name] {
		entry, ok, err := fetchComponent(ctx, plan.cache, env.Repo, c.Name, key)
		if err != nil {
			res.Error = err.Error()
			return res, errs.Infraf("component %s: %w", c.Name, err)
		}
		if ok {
			res.Reused = true
			for _, f := range entry.Files {
				res.Files = append(res.Files, filepath.FromSlash(f.Path))
			}
			env.Log.Infof("component %s: reused, key %.12s (inputs unchanged, SOURCE_DATE_EPOCH=%d): %d package file(s) from %s, sha256 verified",
				c.Name, key, in.Time.Unix(), len(res.Files), plan.cache.URL(CachePrefix(c.Name, key)))
			return res, nil
		}
	}
	var output []byte
	if c.Command != "" {
		env.Log.Infof("component %s: running %s (key %.12s, SOURCE_DATE_EPOCH=%d)", c.Name, c.Command, key, in.Time.Unix())
		var err error
		output, err = runCommand(ctx, env.Repo, c, in.Time)
		res.Seconds = time.Since(start).Seconds()
		if p, werr := env.Report.WriteFile(filepath.Join("build", c.Name+".log"), output); werr == nil && p != "" {
			res.Log = p
		}
		// The output goes to the job log in one piece, inside the
		// component's own section, so parallel components never interleave.
		end := env.Log.Step("component " + c.Name)
		w := env.Log.Writer()
		fmt.Fprintf(w, "$ %s\n", c.Command)
		_, _ = w.Write(output)
		env.Log.Flush()
		took := time.Since(start).Round(time.Millisecond)
		stopped := ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded)
		switch {
		case err != nil && stopped:
			fmt.Fprintf(w, "→ %s stopped after %s: %v\n", c.Name, took, err)
		case err != nil:
			fmt.Fprintf(w, "→ %s failed after %s: %v\n", c.Name, took, err)
		default:
			fmt.Fprintf(w, "→ %s built in %s\n", c.Name, took)
		}
		end()
		if err != nil {
			if stopped {
				// Cancelled (SIGTERM) or another component failed: not
				// this component's failure.
				stop := proc.Stopped(ctx)
				res.Error = "stopped: " + stop.Error()
				return res, stop
			}
			res.Error = err.Error()
			return res, errs.Failuref("component %s: `%s` %v\n%s", c.Name, c.Command, err, tail(output, tailLines))
		}
	}
	files, err := findPackages(env.Repo, c)
	if err != nil {
		res.Error = err.Error()
		return res, err
	}
	res.Files = files
	env.Log.Infof("component %s: %d package file(s) in %s", c.Name, len(files), time.Since(start).Round(time.Millisecond))
	if cacheable {
		if _, err := storeComponent(ctx, plan.cache, env.Repo, in, files); err != nil {
			res.Error = err.Error()
			return res, errs.Infraf("component %s: %w", c.Name, err)
		}
		env.Log.Infof("component %s: cached under key %.12s", c.Name, key)
	}
	return res, nil
}

// runCommand runs the command with sh -c, its stdout and stderr together,
// in its own process group so a timeout or a failing sibling stops
// everything it started.
func runCommand(ctx context.Context, repo string, c config.Component, sourceDate time.Time) ([]byte, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout.D())
		defer cancel()
	}
	cmd := proc.Command(ctx, "sh", "-c", c.Command)
	cmd.Dir = filepath.Join(repo, c.Dir)
	// The process environment is inherited (the build tools need PATH, HOME
	// and the CI's variables); on top, what makes builds reproducible: the
	// component's own SOURCE_DATE_EPOCH. Not the meta-package version,
	// which changes on every commit: a package built from it would change
	// bytes without changing version.
	cmd.Env = append(os.Environ(),
		"SOURCE_DATE_EPOCH="+strconv.FormatInt(sourceDate.Unix(), 10),
		"PIPELINE_COMPONENT="+c.Name,
	)
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+c.Env[k])
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := proc.Run(cmd) // its group dies with pipeline, however pipeline dies
	if stop := proc.Stopped(ctx); err != nil && stop != nil {
		err = stop
		if errors.Is(stop, proc.ErrTimedOut) {
			err = fmt.Errorf("timed out after %s (build.components timeout)", c.Timeout.D())
		}
	}
	return out.Bytes(), err
}

// findPackages expands the component's globs (or lists its prebuilt
// directory) into .deb/.rpm files relative to the repository.
func findPackages(repo string, c config.Component) ([]string, error) {
	var files []string
	if c.Prebuilt != "" {
		dir := filepath.Join(repo, c.Prebuilt)
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, errs.New(errs.Usage, fmt.Errorf("component %s: prebuilt directory: %w", c.Name, err), "create it, or fix build.components prebuilt:")
		}
		for _, e := range entries {
			if !e.IsDir() && isPackage(e.Name()) {
				files = append(files, filepath.Join(c.Prebuilt, e.Name()))
			}
		}
		if len(files) == 0 {
			return nil, errs.Failuref("component %s: prebuilt directory %s holds no .deb or .rpm file", c.Name, c.Prebuilt)
		}
		return files, nil
	}
	seen := map[string]bool{}
	for _, g := range c.Packages {
		matches, err := filepath.Glob(filepath.Join(repo, g))
		if err != nil {
			return nil, errs.Usagef("component %s: packages glob %q: %v", c.Name, g, err)
		}
		n := 0
		for _, m := range matches {
			rel, _ := filepath.Rel(repo, m)
			if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && isPackage(m) && !seen[rel] {
				seen[rel] = true
				files = append(files, rel)
				n++
			}
		}
		if n == 0 {
			return nil, errs.Failuref("component %s: its command succeeded but packages glob %q matched no .deb or .rpm file: fix the glob or the command", c.Name, g)
		}
	}
	sort.Strings(files)
	return files, nil
}

func isPackage(name string) bool {
	return strings.HasSuffix(name, ".deb") || (strings.HasSuffix(name, ".rpm") && !strings.HasSuffix(name, ".src.rpm"))
}

// tail returns the last n lines of out.
func tail(out []byte, n int) string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return "  (no output)"
	}
	return "  | " + strings.Join(lines, "\n  | ")
}
