package docs_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/docs"
)

const testTitle = "Docs Test API"

func newHandler(t *testing.T) (http.Handler, []byte) {
	t.Helper()
	spec, err := os.ReadFile("testdata/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h, err := docs.Handler(spec, testTitle)
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	return h, spec
}

func do(t *testing.T, h http.Handler, method, target string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func TestPaths(t *testing.T) {
	h, _ := newHandler(t)
	tests := []struct {
		path        string
		contentType string
	}{
		{docs.SpecYAMLPath, "application/yaml"},
		{docs.SpecJSONPath, "application/json"},
		{docs.DocsPath, "text/html; charset=utf-8"},
		{docs.BundlePath, "text/javascript; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := do(t, h, http.MethodGet, tt.path, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET status = %d, want 200", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			if len(body) == 0 {
				t.Error("empty body")
			}
			if res.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}

			res, body = do(t, h, http.MethodHead, tt.path, nil)
			if res.StatusCode != http.StatusOK || len(body) != 0 {
				t.Errorf("HEAD: status %d with %d body bytes, want 200 and none", res.StatusCode, len(body))
			}

			for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
				res, _ = do(t, h, m, tt.path, nil)
				if res.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("%s status = %d, want 405", m, res.StatusCode)
				}
			}
		})
	}
}

func TestUnknownPath(t *testing.T) {
	h, _ := newHandler(t)
	res, _ := do(t, h, http.MethodGet, "/docs/other.js", nil)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("status = %d, want 404", res.StatusCode)
	}
}

func TestYAMLAsGiven(t *testing.T) {
	h, spec := newHandler(t)
	_, body := do(t, h, http.MethodGet, docs.SpecYAMLPath, nil)
	if string(body) != string(spec) {
		t.Error("/openapi.yaml differs from the spec given to Handler")
	}
}

func TestJSON(t *testing.T) {
	h, _ := newHandler(t)
	_, body := do(t, h, http.MethodGet, docs.SpecJSONPath, nil)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Title string `json:"title"`
		} `json:"info"`
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("/openapi.json is not JSON: %v", err)
	}
	if doc.Info.Title != testTitle {
		t.Errorf("info.title = %q, want %q", doc.Info.Title, testTitle)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if _, ok := doc.Paths["/widgets/{id}"]; !ok {
		t.Errorf("paths lack /widgets/{id}: %s", body)
	}
}

var (
	attrURL      = regexp.MustCompile(`(?i)\b(?:src|href)="([^"]*)"`)
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
)

func TestPageIsSelfContained(t *testing.T) {
	h, _ := newHandler(t)
	res, body := do(t, h, http.MethodGet, docs.DocsPath, nil)
	page := string(body)

	for _, s := range []string{"http://", "https://", "//fonts.", "@import"} {
		if strings.Contains(page, s) {
			t.Errorf("page contains %q", s)
		}
	}
	urls := attrURL.FindAllStringSubmatch(page, -1)
	if len(urls) == 0 {
		t.Fatal("page has no src/href attributes")
	}
	var bundle bool
	for _, m := range urls {
		u := m[1]
		if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
			t.Errorf("page references non-same-origin URL %q", u)
		}
		if strings.HasPrefix(u, docs.BundlePath) {
			bundle = true
		}
	}
	if !bundle {
		t.Error("page does not load the embedded bundle")
	}
	if !strings.Contains(page, `"`+docs.SpecJSONPath+`"`) {
		t.Error("page does not render /openapi.json")
	}
	if !strings.Contains(page, "<title>"+testTitle+"</title>") {
		t.Error("page lacks the title")
	}

	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "font-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "http") || strings.Contains(csp, "*") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("Content-Security-Policy %q allows too much", csp)
	}
	// The inline start-up script must be allowed by its hash.
	scripts := inlineScript.FindAllStringSubmatch(page, -1)
	if len(scripts) != 1 {
		t.Fatalf("found %d inline scripts, want 1", len(scripts))
	}
	sum := sha256.Sum256([]byte(scripts[0][1]))
	if hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, hash) {
		t.Errorf("Content-Security-Policy %q does not allow the inline script (%s)", csp, hash)
	}
}

func TestTitleEscaped(t *testing.T) {
	spec, err := os.ReadFile("testdata/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h, err := docs.Handler(spec, `</title><script>alert(1)</script>`)
	if err != nil {
		t.Fatal(err)
	}
	_, body := do(t, h, http.MethodGet, docs.DocsPath, nil)
	if strings.Contains(string(body), "<script>alert(1)") {
		t.Error("title is not HTML-escaped")
	}
}

func TestBundle(t *testing.T) {
	h, _ := newHandler(t)
	res, body := do(t, h, http.MethodGet, docs.BundlePath, nil)
	if len(body) < 100_000 || !strings.Contains(string(body[:1000]), "redoc") {
		t.Fatalf("bundle looks wrong: %d bytes", len(body))
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("Cache-Control = %q, want a long max-age", cc)
	}
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	res, body = do(t, h, http.MethodGet, docs.BundlePath, http.Header{"If-None-Match": {etag}})
	if res.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: status %d with %d body bytes, want 304 and none", res.StatusCode, len(body))
	}
}

func TestBadSpec(t *testing.T) {
	for name, spec := range map[string]string{
		"not YAML":       "openapi: [3.0.3\n",
		"not OpenAPI":    "{}",
		"external $ref":  "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    $ref: 'https://example.com/a.yaml'\n",
		"wrong type key": "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths: 7\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := docs.Handler([]byte(spec), "x"); err == nil {
				t.Error("Handler accepted a bad spec")
			}
		})
	}
}
