package spec_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/spec"
)

func TestDomainOperations(t *testing.T) {
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		table := s.Operation("coexistenceTouch").DomainOperations()
		if got := table["clients"]; !slices.Contains(got, "activate") {
			t.Errorf("clients accepts %v, want activate among them", got)
		}
		if got := table["users"]; len(got) == 0 || slices.Contains(got, "activate") {
			t.Errorf("users accepts %v, want operations without activate", got)
		}
	})
	t.Run("NoExtension", func(t *testing.T) {
		if table := s.Operation("sessionsCreate").DomainOperations(); table != nil {
			t.Errorf("sessionsCreate has domain operations %v, want none", table)
		}
	})
}

// The server routes by PathPrefix before anything else: it must be every operation's, and end
// at a segment (the contract's paths are /api/v1/...).
func TestPathPrefix(t *testing.T) {
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	prefix := s.PathPrefix()
	if prefix != "/api/v1/" {
		t.Errorf("PathPrefix() = %q, want /api/v1/", prefix)
	}
	for _, op := range s.Operations() {
		if !strings.HasPrefix(op.Path, prefix) {
			t.Errorf("%s %s lacks the prefix %s", op.Method, op.Path, prefix)
		}
	}
}
