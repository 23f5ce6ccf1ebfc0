package main

import (
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plano/planoauth/internal/spec"
)

// renderedDOM is the shape of Redoc's output for one operation, reduced to what is checked.
const renderedDOM = `<html><body><div id="redoc">
<ul role="menu"><li data-item-id="tag/sessions/operation/sessionsCreate"><span>Log in with email and password</span></li></ul>
<div data-section-id="operation/sessionsCreate" id="operation/sessionsCreate">
  <div><h2><a href="#tag/sessions/operation/sessionsCreate"></a>Log in with email
    and password </h2><p>Checks the password.</p></div>
</div>
<div id="operation/sessionsRead"><h2>Read the caller&#39;s session</h2></div>
</div></body></html>`

func operation(id, summary string) *spec.Operation {
	return &spec.Operation{ID: id, Operation: &openapi3.Operation{OperationID: id, Summary: summary}}
}

func TestUnrendered(t *testing.T) {
	headings, err := operationHeadings(strings.NewReader(renderedDOM))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		op   *spec.Operation
		want string // a part of the problem reported; "" for none
	}{
		{"OK", operation("sessionsCreate", "Log in with email and password"), ""},
		{"OKEscapedText", operation("sessionsRead", "Read the caller's session"), ""},
		{"ErrNoSection", operation("sessionsDelete", "Log out"), "no section operation/sessionsDelete"},
		{"ErrOtherHeading", operation("sessionsCreate", "Log in"), `heading "Log in with email and password"`},
		{"ErrNoSummary", operation("sessionsRead", ""), "no summary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := unrendered([]*spec.Operation{tt.op}, headings)
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("problems = %q, want none", problems)
			case tt.want != "" && (len(problems) != 1 || !strings.Contains(problems[0], tt.want)):
				t.Errorf("problems = %q, want one containing %q", problems, tt.want)
			}
		})
	}
}

// TestMenuIsNotEnough: a summary in the side menu alone does not count as rendered.
func TestMenuIsNotEnough(t *testing.T) {
	dom := `<ul role="menu"><li data-item-id="tag/sessions/operation/sessionsCreate"><span>Log in with email and password</span></li></ul>`
	headings, err := operationHeadings(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	if problems := unrendered([]*spec.Operation{operation("sessionsCreate", "Log in with email and password")}, headings); len(problems) != 1 {
		t.Errorf("problems = %q, want the operation reported", problems)
	}
}
