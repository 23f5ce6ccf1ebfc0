package views_test

import (
	"testing"

	"github.com/plano/planoauth/internal/spec"
	"github.com/plano/planoauth/internal/views"
)

// TestAbsentViewIsTheContractsDefault ties the views' rendering of an absent view parameter
// (nil) to each view schema's `default` in the contract: the params layer does not fill
// defaults in, so this is what an absent parameter means.
func TestAbsentViewIsTheContractsDefault(t *testing.T) {
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	for schema, absent := range map[string]string{
		"SessionView":     string(views.DefaultSessionView),
		"ApplicationView": string(views.DefaultApplicationView),
		"ClientView":      string(views.DefaultClientView),
	} {
		ref := s.Doc.Components.Schemas[schema]
		if ref == nil {
			t.Fatalf("the contract has no %s schema", schema)
		}
		if got := ref.Value.Default; got != absent {
			t.Errorf("%s: the contract's default is %v; an absent view renders %q", schema, got, absent)
		}
	}
}
