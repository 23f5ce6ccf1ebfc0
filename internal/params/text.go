package params

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/plano/planoauth/internal/gen"
)

// PostgreSQL's text cannot hold NUL or invalid UTF-8, so a string carrying either would fail
// deep in a query. Every string parameter is checked here instead, once, for every operation.
const unstorableMessage = "must be valid UTF-8 without NUL characters"

func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// unstorableStrings returns the dotted paths of the strings in a decoded JSON value that
// PostgreSQL could not store.
func unstorableStrings(v any, path string) []gen.ParamError {
	var bad []gen.ParamError
	switch v := v.(type) {
	case string:
		if !storable(v) {
			bad = append(bad, gen.ParamError{Param: orBody(path), Message: unstorableMessage})
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			bad = append(bad, unstorableStrings(v[k], join(path, k))...)
		}
	case []any:
		for i, item := range v {
			bad = append(bad, unstorableStrings(item, join(path, fmt.Sprint(i)))...)
		}
	}
	return bad
}

func unstorableQuery(query url.Values) []gen.ParamError {
	var bad []gen.ParamError
	for name, values := range query {
		for _, v := range values {
			if !storable(v) || !storable(name) {
				bad = append(bad, gen.ParamError{Param: strings.ToValidUTF8(strings.ReplaceAll(name, "\x00", ""), "?"), Message: unstorableMessage})
				break
			}
		}
	}
	sort.Slice(bad, func(i, j int) bool { return bad[i].Param < bad[j].Param })
	return bad
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}
