// Command docscheck checks the DOM that a browser rendered from /docs: every operation of the
// contract must have its own section, headed by its summary. scripts/docs-check.sh runs it on
// the output of Chromium's --dump-dom; the operations come from the same embedded contract
// that the server renders, so the list is never written down twice.
//
//	docscheck DOM.html
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/plano/planoauth/internal/spec"
)

// sectionPrefix starts the id that Redoc gives each operation's section: operation/{operationId}.
const sectionPrefix = "operation/"

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "docscheck:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: docscheck DOM.html")
	}
	contract, err := spec.Load()
	if err != nil {
		return err
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	headings, err := operationHeadings(f)
	if err != nil {
		return err
	}
	ops := contract.Operations()
	if problems := unrendered(ops, headings); len(problems) > 0 {
		return fmt.Errorf("%d of %d operations are not rendered:\n  %s", len(problems), len(ops), strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(stdout, "docscheck: all %d operations are rendered under their summaries\n", len(ops))
	return nil
}

// operationHeadings maps the operationId of each operation section in the DOM to the text of
// the section's first heading.
func operationHeadings(dom io.Reader) (map[string]string, error) {
	root, err := html.Parse(dom)
	if err != nil {
		return nil, fmt.Errorf("parse DOM: %w", err)
	}
	headings := map[string]string{}
	for n := range root.Descendants() {
		id, ok := strings.CutPrefix(attribute(n, "id"), sectionPrefix)
		if !ok || n.Type != html.ElementNode {
			continue
		}
		if _, seen := headings[id]; !seen {
			headings[id] = text(firstHeading(n))
		}
	}
	return headings, nil
}

// unrendered describes each operation without a section, or whose section is not headed by its
// summary. An operation without a summary is a problem too: there would be nothing to check.
func unrendered(ops []*spec.Operation, headings map[string]string) []string {
	var problems []string
	for _, op := range ops {
		summary := collapse(op.Operation.Summary)
		heading, ok := headings[op.ID]
		switch {
		case summary == "":
			problems = append(problems, fmt.Sprintf("%s has no summary in the contract", op.ID))
		case !ok:
			problems = append(problems, fmt.Sprintf("%s (%q): no section %s%s", op.ID, summary, sectionPrefix, op.ID))
		case heading != summary:
			problems = append(problems, fmt.Sprintf("%s: heading %q, want %q", op.ID, heading, summary))
		}
	}
	return problems
}

func attribute(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}

func firstHeading(section *html.Node) *html.Node {
	for n := range section.Descendants() {
		switch n.DataAtom {
		case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
			return n
		}
	}
	return nil
}

// text returns the visible text of n with white space collapsed, as a reader sees it.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return collapse(b.String())
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }
