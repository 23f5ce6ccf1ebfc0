// Package pages serves the pages that emailed links open: /magic (sign in), /reset (choose a new
// password; without a link, ask for one by email: security notices point there), /verify
// (confirm an email) and /invite (accept an invitation). Mail scanners and
// link previews open links, so a GET only shows the page and never uses the link; the page's
// button, a form POST that works without JavaScript, does. Each outcome is said in plain words,
// and on success the browser goes to the application's redirect URL (with a sign-in token the
// application exchanges) or the page says it is done.
//
// The pages are html/template with their CSS embedded and inlined (allowed by its hash), no
// script, no image, nothing from another origin; a strict Content-Security-Policy with
// frame-ancestors 'none'. The form carries the link's token, which is itself the secret, so a
// forged form cannot use a link its author does not hold; cross-origin POSTs are refused all the
// same (http.CrossOriginProtection: Sec-Fetch-Site, else Origin against Host), so that no other
// site can make a browser use a link of the site's choosing (a sign-in of the attacker's
// account). No cookie is set.
package pages

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/requestid"
)

// Kind is what a link does; the values are those the links' table stores.
type Kind string

// The kinds of link, each with its page.
const (
	SignIn       Kind = "sign_in"
	Reset        Kind = "password_reset"
	Verification Kind = "verification"
	Invitation   Kind = "invitation"
)

// paths are the pages of each kind, each taking ?token=.
var paths = map[Kind]string{SignIn: "/magic", Reset: "/reset", Verification: "/verify", Invitation: "/invite"}

// Path is the page of kind.
func Path(kind Kind) string { return paths[kind] }

// Link is what a page shows of a usable link.
type Link struct {
	Application string // the application's name, e.g. PlanoOrder
	Email       string
	// RedirectURL is where the browser goes once the link is used ("" when nowhere): the
	// page's form may lead there.
	RedirectURL string
	// KeepPassword: using the link is the first proof of an account that has a password, which
	// takes back what the account set up unless the account's password is shown: the form asks
	// for it (optional) on the pages that prove an email (all but a reset's).
	KeepPassword bool
	// NoNewPassword: the account has a password, or its email is proven: an invitation sets the
	// password only of an account it brings (it is no password reset), so its form asks for none.
	NoNewPassword bool
}

// Use is what a page's button sends: the link's token, a new password (a reset, or an
// invitation's optional one), and the account's own password, shown to keep what the account
// set up (see Link.KeepPassword).
type Use struct {
	Token, Password, CurrentPassword string
}

// ErrHandover is what UseLink answers (wrapped, with its cause) when it used the link and then
// could not hand the browser over to the application: what the link does was done, so the page
// says so rather than that nothing changed.
var ErrHandover = errors.New("the link was used, but its hand-over to the application failed")

// Links is what the pages need of the service. Errors are *envelope.Error answers:
// invalid-token, link-used, link-expired, rate-limited, invalid-param on password (too weak),
// invalid-password (not the account's own), or any other (said as a failure).
type Links interface {
	// PeekLink returns the usable link of token of kind, without using it.
	PeekLink(ctx context.Context, kind Kind, token string) (Link, error)
	// UseLink uses the link, setting the new password when one is given (a reset needs one) and
	// keeping what the account set up when its own password is shown and right. It returns the
	// link and where to send the browser ("" to say it is done). A refused password (too weak,
	// or not the account's) leaves the link usable and is answered with the link.
	UseLink(ctx context.Context, kind Kind, use Use) (Link, string, error)
	// ResetApplication is the name of the application of slug ("": the service's own), for the
	// reset page opened without a link; invalid-param when there is none such.
	ResetApplication(ctx context.Context, slug string) (string, error)
	// RequestReset emails a reset link and code to the account of email in the application of
	// slug, as the API's reset request does: whether the email has an account is not told.
	RequestReset(ctx context.Context, slug, email string) error
}

// maxEmail bounds the email the reset page asks for (RFC 5321's path limit).
const maxEmail = 254

//go:embed assets/pages.css
var css string

// styleHash allows the inlined CSS and nothing else.
var styleHash = func() string {
	sum := sha256.Sum256([]byte(css))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// Handler serves every kind's page: GET shows it, POST presses its button.
func Handler(links Links, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	for kind, path := range paths {
		p := page{kind: kind, links: links, log: log}
		mux.HandleFunc("GET "+path, p.show)
		mux.HandleFunc("POST "+path, p.submit)
	}
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, r, http.StatusForbidden, view{Title: "This form came from another site",
			Outcome: &outcome{Text: "For your safety, a link can only be used with the button of its own page. Open the link from your email again."}})
	}))
	return csrf.Handler(mux)
}

type page struct {
	kind  Kind
	links Links
	log   *slog.Logger
}

// show answers GET: the page with its button, or why the link cannot be used. It never uses
// the link.
func (p page) show(w http.ResponseWriter, r *http.Request) {
	if p.kind == Reset && !r.URL.Query().Has("token") {
		p.showResetRequest(w, r)
		return
	}
	token := r.URL.Query().Get("token")
	link, err := p.links.PeekLink(r.Context(), p.kind, token)
	if err != nil {
		p.refuse(w, r, err)
		return
	}
	render(w, r, http.StatusOK, p.form(link, token, ""))
}

// submit answers the button: the link is used, and the browser goes on or is told it is done.
func (p page) submit(w http.ResponseWriter, r *http.Request) {
	token := r.PostFormValue("token")
	if p.kind == Reset && !r.PostForm.Has("token") {
		p.submitResetRequest(w, r)
		return
	}
	password := r.PostFormValue("password")
	if password != r.PostFormValue("password_repeat") {
		link, err := p.links.PeekLink(r.Context(), p.kind, token)
		if err != nil {
			p.refuse(w, r, err)
			return
		}
		render(w, r, http.StatusUnprocessableEntity, p.form(link, token, "The two passwords differ: type the same one twice."))
		return
	}
	if p.kind == Reset && password == "" {
		link, err := p.links.PeekLink(r.Context(), p.kind, token)
		if err != nil {
			p.refuse(w, r, err)
			return
		}
		render(w, r, http.StatusUnprocessableEntity, p.form(link, token, "Type the new password."))
		return
	}
	use := Use{Token: token, Password: password, CurrentPassword: r.PostFormValue("current_password")}
	link, next, err := p.links.UseLink(r.Context(), p.kind, use)
	var answer *envelope.Error
	if errors.As(err, &answer) && answer.Status == gen.StatusInvalidParam && len(answer.Params) > 0 {
		render(w, r, http.StatusUnprocessableEntity, p.form(link, token, "This password "+answer.Params[0].Message+"."))
		return
	}
	if errors.As(err, &answer) && answer.Status == gen.StatusInvalidPassword {
		v := p.form(link, token, "")
		v.CurrentPasswordError = "This is not the account's password. Try again, or leave it empty to confirm without keeping what was set up."
		render(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if errors.Is(err, ErrHandover) {
		p.handoverFailed(w, r, link, err)
		return
	}
	if err != nil {
		p.refuse(w, r, err)
		return
	}
	if next != "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	render(w, r, http.StatusOK, p.done(link))
}

// showResetRequest is the reset page opened without a link (as security notices point to it):
// a form that asks for the account's email, to email it a reset link.
func (p page) showResetRequest(w http.ResponseWriter, r *http.Request) {
	slug := r.URL.Query().Get("application")
	app, ok := p.resetApplication(w, r, slug)
	if ok {
		render(w, r, http.StatusOK, resetRequestForm(app, slug, ""))
	}
}

// submitResetRequest answers the reset request form: a link is emailed when the email has an
// account, and the page says the same either way.
func (p page) submitResetRequest(w http.ResponseWriter, r *http.Request) {
	slug, email := r.PostFormValue("application"), strings.TrimSpace(r.PostFormValue("email"))
	app, ok := p.resetApplication(w, r, slug)
	if !ok {
		return
	}
	if email == "" || len(email) > maxEmail || !strings.Contains(email, "@") || !utf8.ValidString(email) || strings.ContainsRune(email, 0) {
		render(w, r, http.StatusUnprocessableEntity, resetRequestForm(app, slug, "Type the email address of your account."))
		return
	}
	if err := p.links.RequestReset(r.Context(), slug, email); err != nil {
		p.refuse(w, r, err)
		return
	}
	render(w, r, http.StatusOK, view{Title: "Check your email", Outcome: &outcome{Good: true, Text: "If " + email +
		" is the email of an account, a link to choose a new password is on its way (with a code for another device). " +
		"It works once, within 15 minutes. Nothing arrived? Look in the spam folder, or ask again in a few minutes."}})
}

// resetApplication names the application of slug, or answers why not (false).
func (p page) resetApplication(w http.ResponseWriter, r *http.Request, slug string) (string, bool) {
	app, err := p.links.ResetApplication(r.Context(), slug)
	var answer *envelope.Error
	if errors.As(err, &answer) && answer.Status == gen.StatusInvalidParam {
		render(w, r, problemNoApplication.code, view{Title: problemNoApplication.title, Outcome: &outcome{Text: problemNoApplication.text, Bad: true}})
		return "", false
	}
	if err != nil {
		p.refuse(w, r, err)
		return "", false
	}
	return app, true
}

// resetRequestForm is the form that asks for a reset link in the application app (of slug).
func resetRequestForm(app, slug, emailError string) view {
	return view{Title: "Reset your password", Request: true, Action: paths[Reset], Application: slug, Button: "Email me a link",
		Intro:      "Type the email address of your " + app + " account. We email it a link to choose a new password, which signs you out everywhere else.",
		EmailError: emailError}
}

// refuse says why a link cannot be used, in plain words for each answer.
func (p page) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var answer *envelope.Error
	status := gen.StatusApplicationCrash
	if errors.As(err, &answer) {
		status = answer.Status
	}
	problem, ok := problems[status]
	if !ok {
		p.log.ErrorContext(r.Context(), "link page failed", "request_id", requestid.FromContext(r.Context()),
			"kind", p.kind, "error", err)
		problem = problem500
		problem.text += " If it keeps failing, quote this reference: " + requestid.FromContext(r.Context()) + "."
	}
	if answer != nil && answer.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(answer.RetryAfter.Round(time.Second)/time.Second)))
	}
	render(w, r, problem.code, view{Title: problem.title, Outcome: &outcome{Text: problem.text, Bad: true}})
}

// handoverFailed says what the used link did, and that the way on to the application failed.
func (p page) handoverFailed(w http.ResponseWriter, r *http.Request, link Link, err error) {
	id := requestid.FromContext(r.Context())
	p.log.ErrorContext(r.Context(), "link page: hand-over failed", "request_id", id, "kind", p.kind, "error", err)
	wd := wordings[p.kind]
	render(w, r, http.StatusInternalServerError, view{Title: fill(wd.doneTitle, link), Outcome: &outcome{
		Text: fill(wd.handoverFailed, link) + " Reference for support: " + id + "."}})
}

type problem struct {
	code        int
	title, text string
}

var problems = map[gen.Status]problem{
	gen.StatusInvalidToken: {http.StatusNotFound, "This link does not work",
		"It may have been cut short: open it from the email again, or copy the whole link. If that does not help, ask for a new email."},
	gen.StatusLinkExpired: {http.StatusGone, "This link has expired",
		"Links work for a limited time (a sign-in or password reset link for 15 minutes), and a newer email replaces an older one. Ask for a new email."},
	gen.StatusLinkUsed: {http.StatusGone, "This link was used already",
		"Each link works once. If you did not use it yourself, ask for a new email and then change your password."},
	gen.StatusLinkWrongApplication: {http.StatusConflict, "This link is for another application",
		"Open it from the application that sent you the email."},
	gen.StatusRateLimited: {http.StatusTooManyRequests, "Too many attempts",
		"Wait a few minutes, then open the link again."},
}

// problemNoApplication is the reset page's answer to an application it does not know.
var problemNoApplication = problem{http.StatusNotFound, "This page does not work",
	"The address of this page names no Plano application. Open the password reset of your application instead."}

var problem500 = problem{http.StatusInternalServerError, "Something went wrong",
	"Nothing was changed. Try again in a moment."}

// wording is what each kind's page says; elsewhere is how to use the email's code instead, on
// another device.
type wording struct {
	title, intro, button          string
	elsewhere                     string
	password, optionalPassword    bool
	doneTitle, doneText, doneNext string
	// handoverFailed says what was done when going on to the application failed afterwards.
	handoverFailed string
}

var wordings = map[Kind]wording{
	SignIn: {title: "Sign in to {app}", intro: "Press the button to sign in as {email}.", button: "Sign in",
		elsewhere: "To sign in on another device, type your email and the {digits}-digit code from the same email in {app} there.",
		doneTitle: "Your email address is confirmed",
		doneText:  "This link has done its work. {app} did not say which page comes next, so go back to {app} to carry on.",
		handoverFailed: "This link has done its work (it cannot be used again), but signing you in to {app} failed. " +
			"Go back to {app} and sign in there."},
	Reset: {title: "Choose a new password", intro: "For {email} in {app}. Setting it signs you out everywhere else.",
		button: "Set the new password", password: true,
		elsewhere: "To choose the new password on another device, type your email and the {digits}-digit code from the same email in {app}'s password reset there.",
		doneTitle: "Your password is changed",
		doneText:  "Your new password works now, and every earlier session was signed out. Sign in to {app} with it.",
		handoverFailed: "Your new password works now, and every earlier session was signed out, but signing you in to " +
			"{app} failed. Sign in to {app} with the new password."},
	Verification: {title: "Confirm your email address", intro: "Press the button to confirm that {email} is yours.",
		button: "Confirm", elsewhere: "To confirm it on another device, type your email and the {digits}-digit code from the same email in {app} there.",
		doneTitle: "Your email address is confirmed", doneText: "Thank you: {email} is confirmed.",
		handoverFailed: "Thank you: {email} is confirmed, but signing you in to {app} failed. " +
			"Go back to {app} and sign in there."},
	Invitation: {title: "Accept your invitation to {app}",
		intro:  "You were invited as {email}. Choose a password now, or leave it empty and sign in with emailed links.",
		button: "Accept the invitation", password: true, optionalPassword: true,
		elsewhere: "To accept it on another device, type your email and the {digits}-digit code from the same email in {app} there.",
		doneTitle: "Your invitation is accepted", doneText: "Welcome! Sign in to {app} as {email}.",
		handoverFailed: "Welcome! Your invitation is accepted, but signing you in to {app} failed. Sign in to {app} as {email}."},
}

// fill puts the link's application and email, and the length of its code, into a sentence.
func fill(s string, link Link) string {
	return strings.NewReplacer("{app}", link.Application, "{email}", link.Email, "{digits}", strconv.Itoa(auth.CodeDigits)).Replace(s)
}

func (p page) form(link Link, token, passwordError string) view {
	wd := wordings[p.kind]
	v := view{Title: fill(wd.title, link), Intro: fill(wd.intro, link), Elsewhere: fill(wd.elsewhere, link), Form: true, Action: paths[p.kind],
		Token: token, Email: link.Email, Button: wd.button, Password: wd.password, OptionalPassword: wd.optionalPassword,
		PasswordError: passwordError, FormTarget: origin(link.RedirectURL)}
	if link.KeepPassword && p.kind != Reset {
		// The first proof of an account with a password: its registrant keeps it by showing the
		// password. An invitation's new password would be chosen after that: not asked for here.
		v.CurrentPassword, v.Password, v.OptionalPassword = true, false, false
		if p.kind == Invitation {
			v.Intro = fill("You were invited as {email}.", link)
		}
	} else if link.NoNewPassword && p.kind == Invitation {
		v.Password, v.OptionalPassword = false, false
		v.Intro = fill("You were invited as {email}. Accepting does not change how you sign in.", link)
	}
	return v
}

func (p page) done(link Link) view {
	wd := wordings[p.kind]
	return view{Title: fill(wd.doneTitle, link), Outcome: &outcome{Text: fill(wd.doneText, link), Good: true}}
}

// origin is the origin of a redirect URL, for the form-action directive ("" when none).
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(u.Host, " ;,'\"") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// view is what the template renders.
type view struct {
	Title            string
	Intro            string
	Elsewhere        string // how to use the email's code on another device instead
	Form             bool
	Action           string
	Token            string
	Email            string
	Button           string
	Password         bool
	OptionalPassword bool
	PasswordError    string
	// CurrentPassword asks for the account's own password, to keep what the account set up.
	CurrentPassword      bool
	CurrentPasswordError string
	FormTarget           string // an origin the form's answer may redirect to
	Outcome              *outcome
	// Request is the reset page's form that asks for an email (no link), in the application
	// of slug Application.
	Request     bool
	Application string
	EmailError  string
}

type outcome struct {
	Text      string
	Bad, Good bool
}

var tmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>{{.Title}} · Plano</title>
<style>` + css + `</style>
</head>
<body>
<main>
<p class="brand">Plano</p>
<h1>{{.Title}}</h1>
{{with .Outcome}}<p class="outcome{{if .Bad}} bad{{end}}{{if .Good}} good{{end}}">{{.Text}}</p>{{end}}
{{if .Form}}<p>{{.Intro}}</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
{{if .CurrentPassword}}<input class="hidden" type="email" name="username" autocomplete="username" value="{{.Email}}" readonly tabindex="-1" aria-hidden="true">
<p><strong>If you created this account, enter its password to keep it.</strong> Without it, this confirms that the address is yours and takes the account over: its password, sessions and settings stop working, since they may have been set up by someone else.</p>
<label for="current_password">The account's password (optional)</label>
<input id="current_password" type="password" name="current_password" autocomplete="current-password" maxlength="256">
{{if .CurrentPasswordError}}<p class="field-error" role="alert">{{.CurrentPasswordError}}</p>{{end}}
{{end}}{{if .Password}}<input class="hidden" type="email" name="username" autocomplete="username" value="{{.Email}}" readonly tabindex="-1" aria-hidden="true">
<label for="password">{{if .OptionalPassword}}Password (optional){{else}}New password{{end}}</label>
<input id="password" type="password" name="password" autocomplete="new-password" maxlength="256"{{if not .OptionalPassword}} required minlength="10"{{end}} aria-describedby="password-help">
<label for="password_repeat">Type it again</label>
<input id="password_repeat" type="password" name="password_repeat" autocomplete="new-password" maxlength="256"{{if not .OptionalPassword}} required{{end}}>
{{if .PasswordError}}<p class="field-error" role="alert">{{.PasswordError}}</p>{{end}}
<p class="muted" id="password-help">At least 10 characters. A few unrelated words make a strong password that is easy to remember.</p>
{{end}}<button type="submit">{{.Button}}</button>
</form>
<p class="muted">{{.Elsewhere}}</p>
<p class="muted">If you did not ask for this email, close this page: nothing happens until the button is pressed.</p>
{{end}}
{{if .Request}}<p>{{.Intro}}</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="application" value="{{.Application}}">
<label for="email">Email address</label>
<input id="email" type="email" name="email" autocomplete="username" maxlength="254" required>
{{if .EmailError}}<p class="field-error" role="alert">{{.EmailError}}</p>{{end}}
<button type="submit">{{.Button}}</button>
</form>
{{end}}
</main>
</body>
</html>
`))

// render writes a page with the headers every page has.
func render(w http.ResponseWriter, r *http.Request, code int, v view) {
	var body bytes.Buffer
	if err := tmpl.Execute(&body, v); err != nil {
		http.Error(w, "page failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", contentSecurityPolicy(v.FormTarget))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = body.WriteTo(w)
	}
}

// contentSecurityPolicy allows the inlined CSS and a form sent to this origin, which may
// redirect to formTarget (Chromium applies form-action to the redirect that answers a form).
func contentSecurityPolicy(formTarget string) string {
	formAction := "'self'"
	if formTarget != "" {
		formAction += " " + formTarget
	}
	return strings.Join([]string{
		"default-src 'none'",
		"style-src " + styleHash,
		"form-action " + formAction,
		"base-uri 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}
