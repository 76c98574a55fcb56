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
	pf := func(v string) gitops.Trailer { return gitops.Trailer{Key: "Promoted-from", Value: v} }
	master := []gitops.Commit{
		{SHA: sha('1'), Trailers: []gitops.Trailer{pf(sha('a'))}, CherryPickedFrom: []string{sha('a')}},
		{SHA: sha('2'), Trailers: []gitops.Trailer{pf(sha('b')[:10])}, CherryPickedFrom: []string{sha('b')}}, // a short sha, by prefix
		{SHA: sha('3'), Trailers: []gitops.Trailer{{Key: "promoted-from", Value: sha('d')}}, CherryPickedFrom: []string{sha('d')}},
		{SHA: sha('4'), Trailers: []gitops.Trailer{pf("eeee")}, CherryPickedFrom: []string{"eeee"}}, // too short to trust
		// Not promote's: a -x line alone, a trailer alone, or a pick of
		// another commit whose message names e: e is not held.
		{SHA: sha('5'), CherryPickedFrom: []string{sha('e')}},
		{SHA: sha('6'), Trailers: []gitops.Trailer{pf(sha('e'))}},
		{SHA: sha('7'), Trailers: []gitops.Trailer{pf(sha('e')), pf(sha('9'))}, CherryPickedFrom: []string{sha('e'), sha('9')}},
		{SHA: sha('8'), Trailers: []gitops.Trailer{pf(sha('e'))}, CherryPickedFrom: []string{sha('9')}},
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
