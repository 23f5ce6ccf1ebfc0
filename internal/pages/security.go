package pages

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"

	"github.com/plano/planoauth/internal/gen"
)

// SecurityPath is the page where a user signs in (a password, then a second factor, or a
// passkey alone) and manages its second factors: an authenticator app, passkeys, recovery codes.
// Unlike the link pages it needs JavaScript, for WebAuthn: one same-origin script
// (SecurityScriptPath) that calls the API with fetch. The session token lives in that script's
// memory only (no cookie, no storage): a reload signs the page out.
const (
	SecurityPath       = "/security"
	SecurityScriptPath = "/security/security.js"
)

//go:embed assets/security.js
var securityScript []byte

//go:embed assets/security.css
var securityCSS string

// securityStyle is the page's inlined CSS: the link pages' and its own, allowed by its hash.
var securityStyle = css + securityCSS

var securityStyleHash = func() string {
	sum := sha256.Sum256([]byte(securityStyle))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// Security is what the page needs to know of the service: the application it signs in to when
// the query names none, and the origins where passkeys work (the relying party's; none when
// passkeys are off).
type Security struct {
	DefaultApplication gen.ApplicationSlug
	PasskeyOrigins     []string
}

// SecurityHandler serves the page and its script.
func SecurityHandler(cfg Security) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+SecurityPath, func(w http.ResponseWriter, r *http.Request) {
		app := gen.ApplicationSlug(r.URL.Query().Get("application"))
		if !app.Valid() {
			app = cfg.DefaultApplication
		}
		var body bytes.Buffer
		if err := securityTmpl.Execute(&body, securityView{Application: string(app),
			PasskeyOrigins: strings.Join(cfg.PasskeyOrigins, " ")}); err != nil {
			http.Error(w, "page failed", http.StatusInternalServerError)
			return
		}
		securityHeaders(w, "text/html; charset=utf-8")
		_, _ = body.WriteTo(w)
	})
	mux.HandleFunc("GET "+SecurityScriptPath, func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w, "text/javascript; charset=utf-8")
		_, _ = w.Write(securityScript)
	})
	return mux
}

// securityHeaders are the page's and its script's: nothing cached, framed or sniffed, and a
// policy that allows this origin's script and API, the inlined CSS, the QR code (a data: PNG),
// and no form submission (the script sends everything).
func securityHeaders(w http.ResponseWriter, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"connect-src 'self'",
		"style-src " + securityStyleHash,
		"img-src data:",
		"form-action 'none'",
		"base-uri 'none'",
		"frame-ancestors 'none'",
	}, "; "))
}

type securityView struct {
	Application    string
	PasskeyOrigins string
}

var securityTmpl = template.Must(template.New("security").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>Sign-in and security · Plano</title>
<style>` + securityStyle + `</style>
<script src="` + SecurityScriptPath + `" defer></script>
</head>
<body>
<main id="page" data-application="{{.Application}}" data-passkey-origins="{{.PasskeyOrigins}}">
<p class="brand">Plano</p>
<h1 id="title">Sign in</h1>
<p id="message" class="outcome bad" role="alert" hidden></p>
<noscript><p class="outcome bad">This page needs JavaScript for passkeys and for talking to the service.</p></noscript>

<section id="signin" hidden>
<form id="password-form">
<label for="email">Email</label>
<input id="email" type="email" name="email" autocomplete="username webauthn" required maxlength="254">
<label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password" required maxlength="256">
<button type="submit">Sign in</button>
</form>
<button type="button" id="passkey-signin" class="secondary passkey-only">Sign in with a passkey</button>
<p class="muted passkey-elsewhere" hidden>Passkeys work on this page at <span class="passkey-origin"></span>.</p>
</section>

<section id="second" hidden>
<p>Your account has a second factor. Finish signing in with it.</p>
<form id="code-form">
<label for="code">Code from your authenticator app</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required>
<button type="submit">Continue</button>
</form>
<button type="button" id="second-passkey" class="secondary passkey-only">Use a passkey</button>
<details>
<summary>Lost your app and passkeys?</summary>
<form id="recovery-form">
<label for="recovery">A recovery code</label>
<input id="recovery" name="recovery" autocomplete="off" maxlength="64" required>
<button type="submit" class="secondary">Use the recovery code</button>
</form>
</details>
</section>

<section id="account" hidden>
<p id="status" class="outcome good"></p>
<h2>Authenticator app</h2>
<p id="totp-state" class="muted"></p>
<button type="button" id="totp-start" class="secondary" hidden>Set up an authenticator app</button>
<div id="totp-setup" hidden>
<p>Scan this code with your app, or type the key into it.</p>
<img id="totp-qr" alt="QR code of the key" width="192" height="192">
<p class="secret"><span class="muted">Key:</span> <code id="totp-secret"></code></p>
<form id="totp-form">
<label for="totp-code">Code the app shows now</label>
<input id="totp-code" name="totp-code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required>
<button type="submit">Confirm the app</button>
</form>
</div>
<h2>Passkeys</h2>
<ul id="passkeys"></ul>
<form id="remove-form" hidden>
<p>Enter your password to remove this passkey.</p>
<label for="remove-password">Password</label>
<input id="remove-password" type="password" name="remove-password" autocomplete="current-password" required maxlength="256">
<button type="submit">Remove the passkey</button>
</form>
<button type="button" id="passkey-add" class="secondary passkey-only">Add a passkey</button>
<p class="muted passkey-elsewhere" hidden>Passkeys work on this page at <span class="passkey-origin"></span>.</p>
<h2>Recovery codes</h2>
<p id="recovery-state" class="muted"></p>
<div id="recovery-new" hidden>
<p class="outcome">Keep these somewhere safe: each works once, and they are shown only now.</p>
<ol id="recovery-codes" class="codes"></ol>
</div>
<button type="button" id="signout" class="secondary">Sign out</button>
</section>
</main>
</body>
</html>
`))
