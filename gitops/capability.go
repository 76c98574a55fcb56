package gitops

// Capabilities is what a forge can do beyond the Forge interface's
// reads, and how it writes links: callers ask Can(f) instead of comparing
// Kind() strings.
type Capabilities struct {
	// Writes: statuses, comments, merge requests, milestones and
	// releases reach a server. The none forge's writes return an error
	// wrapping ErrNoForge instead.
	Writes bool
	// ExternalStatusChecks: the forge has GitLab's external status checks
	// (an MR waits for an answer from `pipeline serve`).
	ExternalStatusChecks bool
	// MRRef and IssueRef write a merge request or an issue in text, as
	// fmt formats with its number ("!%d", "#%d").
	MRRef, IssueRef string
	// Web holds the paths below the project's web URL of a merge request
	// (%d), an issue (%d), a commit (%s) and a comparison (%s...%s); empty
	// when the forge has no web pages.
	Web WebPaths
}

// WebPaths are fmt formats of a forge's pages, relative to the project's
// web URL.
type WebPaths struct {
	MergeRequest, Issue, Commit, Compare string
}

// capable is a forge that says what it can do.
type capable interface {
	Capabilities() Capabilities
}

// Can is what f can do. A forge that does not say (a test double) is
// taken to write, with nothing beyond.
func Can(f Forge) Capabilities {
	if c, ok := f.(capable); ok {
		return c.Capabilities()
	}
	return Capabilities{Writes: true, MRRef: "!%d", IssueRef: "#%d"}
}

func (*GitLab) Capabilities() Capabilities {
	return Capabilities{Writes: true, ExternalStatusChecks: true, MRRef: "!%d", IssueRef: "#%d",
		Web: WebPaths{MergeRequest: "/-/merge_requests/%d", Issue: "/-/issues/%d", Commit: "/-/commit/%s", Compare: "/-/compare/%s...%s"}}
}

func (*GitHub) Capabilities() Capabilities {
	return Capabilities{Writes: true, MRRef: "#%d", IssueRef: "#%d",
		Web: WebPaths{MergeRequest: "/pull/%d", Issue: "/issues/%d", Commit: "/commit/%s", Compare: "/compare/%s...%s"}}
}

func (None) Capabilities() Capabilities {
	return Capabilities{MRRef: "!%d", IssueRef: "#%d"}
}
