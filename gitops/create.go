package gitops

// The create-or-adopt logic every forge client shares: the API calls differ,
// what to do when a create meets what is already there does not.

import (
	"context"
)

// releaseReader is what createRelease needs of a forge besides the create
// call itself.
type releaseReader interface {
	GetRelease(ctx context.Context, tag string) (*Release, error)
	UpdateRelease(ctx context.Context, in ReleaseInput) (*Release, error)
}

// createRelease is CreateRelease for every forge. In one retried call
// (retried) it looks the release up and, when it is absent, creates it
// (create, which says whether the forge refused because the release already
// exists: the answer to an earlier try of ours was lost, and the retry must
// not fail on its own work). A release that was there either way is brought
// up to date with in; a new one is read back.
func createRelease(ctx context.Context, f releaseReader, in ReleaseInput,
	retried func(try func(ctx context.Context) error) error,
	create func(ctx context.Context) (alreadyExists bool, err error)) (*Release, error) {
	var exists bool
	err := retried(func(ctx context.Context) error {
		r, err := f.GetRelease(ctx, in.Tag)
		if err != nil || r != nil {
			exists = r != nil
			return err
		}
		dup, err := create(ctx)
		if dup {
			exists = true
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if exists {
		return f.UpdateRelease(ctx, in)
	}
	return f.GetRelease(ctx, in.Tag)
}

// createMilestone is CreateMilestone for every forge. In one retried call
// (retried) it looks for the milestone titled title among all (list) and,
// when there is none, creates it (create, which says whether the forge
// refused because the title is taken: a lost answer to an earlier try of
// ours, so the milestone is looked up again).
func createMilestone(title string, list func() ([]Milestone, error),
	retried func(try func(ctx context.Context) error) error,
	create func(ctx context.Context) (m *Milestone, titleTaken bool, err error)) (*Milestone, error) {
	byTitle := func() (*Milestone, error) {
		ms, err := list()
		for _, m := range ms {
			if m.Title == title {
				return &m, err
			}
		}
		return nil, err
	}
	var out *Milestone
	err := retried(func(ctx context.Context) error {
		m, err := byTitle()
		if err != nil || m != nil {
			out = m
			return err
		}
		created, taken, err := create(ctx)
		if taken {
			out, err = byTitle()
			return err
		}
		out = created
		return err
	})
	return out, err
}
