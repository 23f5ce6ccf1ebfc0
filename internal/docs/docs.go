// Package docs serves PlanoAuth's OpenAPI contract and an API reference
// rendered from it by Redoc. The Redoc bundle is embedded in the binary, so
// the reference works without any network access: the page loads nothing
// but same-origin URLs.
package docs

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"

	_ "embed"

	"github.com/getkin/kin-openapi/openapi3"
)

// Paths served by Handler.
const (
	SpecYAMLPath = "/openapi.yaml"
	SpecJSONPath = "/openapi.json"
	DocsPath     = "/docs"
	BundlePath   = "/docs/redoc.standalone.js"
)

// redocBundle is Redoc's standalone bundle; see assets/README.md for where it
// comes from and how to refresh it.
//
//go:embed assets/redoc.standalone.js
var redocBundle []byte

// bundleURL is the bundle's URL as the page links it: the content hash in
// the query string gives a new bundle a new URL, so the long cache lifetime
// the bundle is served with is safe.
var bundleURL = BundlePath + "?v=" + strings.Trim(etag(redocBundle), `"`)[:16]

// fontStack is a system font stack, so the page needs no web fonts.
const (
	fontStack = `system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif`
	monoStack = `ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace`
)

// initScript starts Redoc; it is inlined in the page and allowed by the
// Content-Security-Policy through its hash.
var initScript = func() string {
	options := map[string]any{
		"hideDownloadButton": false,
		"theme": map[string]any{
			"typography": map[string]any{
				"fontFamily": fontStack,
				"headings":   map[string]any{"fontFamily": fontStack},
				"code":       map[string]any{"fontFamily": monoStack},
			},
		},
	}
	opts, err := json.Marshal(options)
	if err != nil {
		panic(err) // static data; cannot fail
	}
	spec, _ := json.Marshal(SpecJSONPath)
	return fmt.Sprintf("Redoc.init(%s, %s, document.getElementById(\"redoc\"));", spec, opts)
}()

// contentSecurityPolicy lets the page load only same-origin resources.
// Redoc injects its styles as <style> elements (hence 'unsafe-inline' for
// styles), uses a data: SVG image in its CSS, and runs its search index in a
// worker created from a blob: URL.
var contentSecurityPolicy = func() string {
	sum := sha256.Sum256([]byte(initScript))
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'",
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"font-src 'self'",
		"connect-src 'self'",
		"worker-src 'self' blob:",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}()

// Handler serves the contract and its rendered reference:
//
//	GET /openapi.yaml  the spec bytes as given (Content-Type application/yaml)
//	GET /openapi.json  the same document as JSON, converted once at start-up
//	GET /docs          an HTML page rendering /openapi.json with the embedded Redoc bundle
//	GET /docs/redoc.standalone.js  the embedded bundle (long cache headers, ETag)
//
// Every path also answers HEAD; other methods get 405 Method Not Allowed.
// It returns an error when the spec cannot be converted.
func Handler(spec []byte, title string) (http.Handler, error) {
	specJSON, err := toJSON(spec)
	if err != nil {
		return nil, fmt.Errorf("docs: convert OpenAPI spec to JSON: %w", err)
	}

	const revalidate = "no-cache" // small, may change: clients revalidate by ETag
	page := newAsset([]byte(renderPage(title)), "text/html; charset=utf-8", revalidate)
	page.header = http.Header{
		"Content-Security-Policy": {contentSecurityPolicy},
		"Referrer-Policy":         {"no-referrer"},
		"X-Frame-Options":         {"DENY"},
	}
	routes := map[string]asset{
		SpecYAMLPath: newAsset(bytes.Clone(spec), "application/yaml", revalidate),
		SpecJSONPath: newAsset(specJSON, "application/json", revalidate),
		DocsPath:     page,
		BundlePath:   newAsset(redocBundle, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"),
	}

	mux := http.NewServeMux()
	for path, a := range routes {
		// A "GET" pattern also matches HEAD; ServeMux answers other
		// methods with 405 Method Not Allowed and an Allow header.
		mux.Handle("GET "+path, a)
	}
	return mux, nil
}

// asset is one fixed response body with its headers.
type asset struct {
	body         []byte
	etag         string
	contentType  string
	cacheControl string
	header       http.Header // extra headers
}

func newAsset(body []byte, contentType, cacheControl string) asset {
	return asset{body: body, etag: etag(body), contentType: contentType, cacheControl: cacheControl}
}

// ServeHTTP writes the asset; http.ServeContent handles HEAD, conditional
// requests (If-None-Match) and ranges.
func (a asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", a.cacheControl)
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	for k, v := range a.header {
		h[k] = v
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// etag returns a strong entity tag for body.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// toJSON parses an OpenAPI 3 document (YAML or JSON) and returns it as JSON.
func toJSON(spec []byte) ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	if doc.OpenAPI == "" {
		return nil, errors.New("not an OpenAPI 3 document: no openapi field")
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("marshal spec: %w", err)
	}
	return out, nil
}

// renderPage returns the HTML page. It references only same-origin URLs and
// no web fonts.
func renderPage(title string) string {
	t := html.EscapeString(title)
	if t == "" {
		t = "API reference"
	}
	return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>` + t + `</title>
<style>body { margin: 0; padding: 0; font-family: ` + fontStack + `; }</style>
</head>
<body>
<noscript>This API reference needs JavaScript. The contract itself is at <a href="` + SpecYAMLPath + `">` + SpecYAMLPath + `</a> and <a href="` + SpecJSONPath + `">` + SpecJSONPath + `</a>.</noscript>
<div id="redoc"></div>
<script src="` + bundleURL + `"></script>
<script>` + initScript + `</script>
</body>
</html>
`
}
