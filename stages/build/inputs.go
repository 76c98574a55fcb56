package build

// A component's inputs: what its packages are built from, the time of the
// last commit that changed them (its SOURCE_DATE_EPOCH) and the key that
// names its packages in the component cache.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/yamlbound"
	"github.com/pipeline-ci/pipeline/stages"
	"go.yaml.in/yaml/v3"
)

// cacheFormat changes when what a cached component holds, or how its key
// is computed, changes: old entries are then simply never found.
const cacheFormat = "pipeline component cache 1"

// Inputs is what one component's packages depend on.
type Inputs struct {
	Name string `json:"name"`
	// Paths are the files and directories it is built from, relative to
	// the repository ("." is all of it).
	Paths []string `json:"paths"`
	// Trees are the git object ids of Paths at HEAD ("-" when absent).
	Trees []string `json:"trees"`
	// Definition is the component's entry in pipeline.yaml as committed,
	// as it bears on the bytes (command, dir, env, packages, prebuilt,
	// inputs); Effective is the entry in effect, ${…} expanded.
	Definition string `json:"definition"`
	Effective  string `json:"effective"`
	// Tools maps each program listed in tools: to its version line.
	Tools map[string]string `json:"tools,omitempty"`
	// Time is the SOURCE_DATE_EPOCH its command gets.
	Time time.Time `json:"time"`
}

// Key is the component's cache key: the sha256 of everything above.
func (in Inputs) Key() string {
	data, _ := json.Marshal(struct {
		Format string `json:"format"`
		Inputs
		Unix int64 `json:"unix"`
	}{cacheFormat, in, in.Time.Unix()})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// InputPaths is what a component is built from: its dir, its prebuilt
// directory and its inputs: list; the whole repository when it declares
// none of them.
func InputPaths(c config.Component) []string {
	var out []string
	for _, p := range append([]string{c.Dir, c.Prebuilt}, c.Inputs...) {
		if p == "" {
			continue
		}
		p = path.Clean(filepath.ToSlash(p))
		if p == "." || p == "/" {
			return []string{"."}
		}
		out = append(out, strings.TrimPrefix(p, "/"))
	}
	if len(out) == 0 {
		return []string{"."}
	}
	sort.Strings(out)
	return dedupe(out)
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Covers says whether the repository-relative file p is one of paths or
// below one of them.
func Covers(paths []string, p string) bool {
	for _, in := range paths {
		if in == "." || p == in || strings.HasPrefix(p, in+"/") {
			return true
		}
	}
	return false
}

// definition is the part of a component's pipeline.yaml entry that bears
// on its bytes, as canonical JSON (after:, timeout: and tools: do not: the
// tools' versions are in the key on their own).
func definition(raw map[string]any) string {
	keep := map[string]any{}
	for k, v := range raw {
		switch k {
		case "name", "after", "timeout", "tools":
			continue
		}
		keep[k] = v
	}
	data, _ := json.Marshal(keep)
	return string(data)
}

// rawComponents reads build.components of a pipeline.yaml without
// expanding anything, by name, as definition() sees them.
func rawComponents(data []byte) (map[string]string, error) {
	var doc struct {
		Build struct {
			Components []map[string]any `yaml:"components"`
		} `yaml:"build"`
	}
	if err := yamlbound.Check(data); err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, c := range doc.Build.Components {
		name, _ := c["name"].(string)
		out[name] = definition(c)
	}
	return out, nil
}

// inputsReader computes components' Inputs from git.
type inputsReader struct {
	git *gitops.Git
	// config is pipeline.yaml relative to the repository, "" when it is
	// not in it (its history then says nothing).
	config string
	tools  func(ctx context.Context, name string) string
}

// componentInputs returns each component's Inputs. override, when not
// zero, is the job's own SOURCE_DATE_EPOCH, which every component gets.
func (r inputsReader) componentInputs(ctx context.Context, cs []config.Component, override time.Time) (map[string]Inputs, error) {
	defs := map[string]string{}
	if r.config != "" {
		// "./": relative to the --repo directory, which may be below the
		// root of the git repository.
		if data, err := r.git.RunBytes(ctx, nil, "show", "HEAD:./"+r.config); err == nil {
			defs, _ = rawComponents(data)
		}
	}
	defTimes, err := r.definitionTimes(ctx, defs)
	if err != nil {
		return nil, err
	}
	var all []string
	for _, c := range cs {
		all = append(all, InputPaths(c)...)
	}
	trees, err := r.objectIDs(ctx, all)
	if err != nil {
		return nil, err
	}
	tools := map[string]string{}
	list := make([]Inputs, len(cs))
	for i, c := range cs {
		effective, _ := json.Marshal(c)
		in := Inputs{Name: c.Name, Paths: InputPaths(c), Definition: defs[c.Name], Effective: string(effective), Tools: map[string]string{}}
		for _, p := range in.Paths {
			in.Trees = append(in.Trees, trees[p])
		}
		for _, t := range c.Tools {
			if _, ok := tools[t]; !ok {
				tools[t] = r.tools(ctx, t)
			}
			in.Tools[t] = tools[t]
		}
		list[i] = in
	}
	// The times: one git log per component, a few at once.
	errc := make([]error, len(cs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range list {
		if !override.IsZero() {
			list[i].Time = override
			continue
		}
		wg.Add(1)
		go func(in *Inputs, err *error) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			*err = r.date(ctx, in, defTimes[in.Name])
		}(&list[i], &errc[i])
	}
	wg.Wait()
	out := map[string]Inputs{}
	for i, in := range list {
		if errc[i] != nil {
			return nil, errc[i]
		}
		out[in.Name] = in
	}
	return out, nil
}

// date sets in.Time: the last commit that changed its paths, or its
// definition (defTime) when that is later.
func (r inputsReader) date(ctx context.Context, in *Inputs, defTime time.Time) error {
	args := append([]string{"log", "-1", "--format=%ct", "HEAD", "--"}, in.Paths...)
	ct, err := r.git.Run(ctx, args...)
	if err != nil {
		return fmt.Errorf("component %s: time of the last commit that changed %s: %w", in.Name, strings.Join(in.Paths, " "), err)
	}
	in.Time = unixTime(ct)
	if defTime.After(in.Time) {
		in.Time = defTime
	}
	if in.Time.IsZero() { // paths never committed: the commit's time
		ct, err := r.git.Run(ctx, "log", "-1", "--format=%ct", "HEAD")
		if err != nil {
			return fmt.Errorf("commit time: %w", err)
		}
		in.Time = unixTime(ct)
	}
	return nil
}

// objectIDs maps each path to its git object id at HEAD ("-" when it is
// not in the commit), with one git ls-tree.
func (r inputsReader) objectIDs(ctx context.Context, paths []string) (map[string]string, error) {
	out := map[string]string{}
	var ask []string
	for _, p := range paths {
		out[p] = "-"
		if p == "." {
			id, err := r.git.Run(ctx, "rev-parse", "HEAD^{tree}")
			if err != nil {
				return nil, fmt.Errorf("the commit's tree: %w", err)
			}
			out[p] = strings.TrimSpace(id)
			continue
		}
		ask = append(ask, p)
	}
	if len(ask) == 0 {
		return out, nil
	}
	list, err := r.git.RunBytes(ctx, nil, append([]string{"ls-tree", "-z", "HEAD", "--"}, ask...)...)
	if err != nil {
		return nil, fmt.Errorf("git ls-tree of the components' inputs: %w", err)
	}
	for _, e := range strings.Split(string(list), "\x00") {
		meta, p, ok := strings.Cut(e, "\t")
		if f := strings.Fields(meta); ok && len(f) == 3 {
			if _, asked := out[p]; asked {
				out[p] = f[2]
			}
		}
	}
	return out, nil
}

func unixTime(s string) time.Time {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// maxConfigCommits bounds the walk through pipeline.yaml's history: a
// definition unchanged for longer than that is dated by the oldest
// commit looked at (later, so still correct: only the bytes of a build
// from before that are not repeated).
const maxConfigCommits = 500

// definitionTimes walks the commits that changed pipeline.yaml, newest
// first, and dates each component's definition by the oldest commit of
// the unbroken run that has it as it is at HEAD.
func (r inputsReader) definitionTimes(ctx context.Context, defs map[string]string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if r.config == "" || len(defs) == 0 {
		return out, nil
	}
	log, err := r.git.Run(ctx, "log", "--format=%H %ct", "-n", strconv.Itoa(maxConfigCommits), "HEAD", "--", r.config)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", r.config, err)
	}
	open := map[string]bool{}
	for n := range defs {
		open[n] = true
	}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		sha, ct, ok := strings.Cut(line, " ")
		if !ok || len(open) == 0 {
			break
		}
		var then map[string]string
		if data, err := r.git.RunBytes(ctx, nil, "show", sha+":./"+r.config); err == nil {
			then, _ = rawComponents(data)
		}
		for n := range open {
			if then[n] != defs[n] {
				delete(open, n) // changed by the commit after this one
				continue
			}
			out[n] = unixTime(ct)
		}
	}
	return out, nil
}

// toolVersion is the first line of `name --version`, or "not installed".
func toolVersion(ctx context.Context, name string) string {
	out, err := exec.CommandContext(ctx, name, "--version").CombinedOutput()
	if err != nil && len(out) == 0 {
		return "not installed"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// componentInputs computes every component's Inputs from git. The job's
// own SOURCE_DATE_EPOCH, when set, is every component's time.
func componentInputs(ctx context.Context, env *stages.Env, rev Revision) (map[string]Inputs, error) {
	r := inputsReader{git: gitops.Open(env.Repo), tools: toolVersion}
	if rel, ok := insideRepo(env.Repo, env.Config.Path); ok {
		r.config = rel
	}
	var override time.Time
	if ci.Get(env.CI.Env, "SOURCE_DATE_EPOCH") != "" {
		override = rev.Time
	}
	in, err := r.componentInputs(ctx, env.Config.Build.Components, override)
	if err != nil {
		return nil, errs.Infraf("%w", err)
	}
	return in, nil
}
