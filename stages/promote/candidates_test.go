package promote

import (
	"testing"

	"github.com/pipeline-ci/pipeline/gitops"
)

func TestPending(t *testing.T) {
	sha := func(c byte) string {
		b := make([]byte, 40)
		for i := range b {
			b[i] = c
		}
		return string(b)
	}
	staging := []gitops.Commit{
		{SHA: sha('a'), Subject: "a"},
		{SHA: sha('b'), Subject: "b"},
		{SHA: sha('c'), Subject: "c", Parents: []string{"x", "y"}},
		{SHA: sha('d'), Subject: "d"},
		{SHA: sha('e'), Subject: "e"},
		{SHA: sha('f'), Subject: "f"},
	}
	master := []gitops.Commit{
		{SHA: sha('1'), Trailers: []gitops.Trailer{{Key: "Promoted-from", Value: sha('a')}}},
		{SHA: sha('2'), CherryPickedFrom: []string{sha('b')[:10]}}, // a short sha, by prefix
		{SHA: sha('3'), Trailers: []gitops.Trailer{{Key: "promoted-from", Value: sha('d')}}},
		{SHA: sha('4'), CherryPickedFrom: []string{"eeee"}}, // too short to trust
	}
	got := Pending(staging, master, map[string]bool{sha('f'): true})
	if len(got) != 2 || got[0].SHA != sha('c') || got[1].SHA != sha('e') {
		t.Fatalf("pending = %+v, want c then e", got)
	}
	if !got[0].Merge || got[1].Merge {
		t.Errorf("merge flags wrong: %+v", got)
	}
	// a, b before c and d before e are on master already.
	if got[0].onTarget != 2 || got[1].onTarget != 3 {
		t.Errorf("commits on master before c, e: %d, %d, want 2, 3", got[0].onTarget, got[1].onTarget)
	}
	if n := len(Pending(staging, nil, nil)); n != 6 {
		t.Errorf("with an empty master: %d pending, want 6", n)
	}
}
