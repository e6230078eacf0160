package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/httpapi"
)

const (
	// flowTTL is how long a sign-in may take, from Start to Callback.
	flowTTL = 10 * time.Minute
	// maxReturnTo bounds return_to so the sign-in cookie stays well under
	// the browsers' 4 KB limit.
	maxReturnTo = 1024
	// discoveryTimeout bounds the first request's wait for the provider.
	discoveryTimeout = 10 * time.Second
	// flowMAC separates the sign-in cookie's signatures from any other use
	// of the secret.
	flowMAC = "redub oauth flow v1\x00"
)

// Google is Google sign-in (OpenID Connect, authorization code flow with
// PKCE): Start sends the browser to the provider and Callback finishes the
// sign-in. The provider's discovery document is fetched by the first request
// that needs it, not at construction (a cold start must not call Google),
// then cached; a failed fetch is retried by the next request.
type Google struct {
	opts     Options
	sessions *Sessions
	users    *Users
	cookie   string // the sign-in cookie's name

	mu sync.Mutex
	p  *provider // nil until discovered
}

// provider is what discovery yields.
type provider struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// NewGoogle returns the Google sign-in handlers. It does no I/O. It fails when
// opts has no Secret or AppURL, or sessions or users is nil. Without a
// ClientID and ClientSecret the handlers answer 503 (not configured).
func NewGoogle(opts Options, sessions *Sessions, users *Users) (*Google, error) {
	if sessions == nil || users == nil {
		return nil, errors.New("auth: NewGoogle needs Sessions and Users")
	}
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	name := "redub_oauth"
	if opts.secure() {
		name = "__Secure-redub_oauth"
	}
	return &Google{opts: opts, sessions: sessions, users: users, cookie: name}, nil
}

// RedirectURL is the callback URL to register with Google: AppURL +
// "/auth/google/callback".
func (g *Google) RedirectURL() string {
	return g.opts.AppURL.JoinPath("auth", "google", "callback").String()
}

// discover returns the provider, fetching its discovery document on first
// use. Failures are not cached.
func (g *Google) discover(ctx context.Context) (*provider, error) {
	if err := g.configured(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.p != nil {
		return g.p, nil
	}
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	// The client in the context is kept for the later JWKS fetches.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, g.opts.HTTPClient), g.opts.IssuerURL)
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, fmt.Errorf("discover OpenID provider %s: %w", g.opts.IssuerURL, err),
			"Google sign-in is unavailable right now; try again in a moment")
	}
	endpoint := p.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic: one request per exchange, no guessing
	g.p = &provider{
		oauth: oauth2.Config{
			ClientID:     g.opts.ClientID,
			ClientSecret: g.opts.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  g.RedirectURL(),
			Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
		},
		verifier: p.Verifier(&oidc.Config{ClientID: g.opts.ClientID, Now: g.opts.Now}),
	}
	return g.p, nil
}

func (g *Google) configured() error {
	if g.opts.ClientID == "" || g.opts.ClientSecret == "" {
		return apperr.New(apperr.Unavailable, "Google sign-in is not configured (GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET); in development use POST /auth/dev-login")
	}
	return nil
}

// flow is what the sign-in cookie carries from Start to Callback. It is
// signed, not encrypted: it holds nothing the browser may not see.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r,omitempty"`
	Expires  int64  `json:"e"` // Unix seconds
}

// Start is GET /auth/google[?return_to=/path]. It answers 302 to the
// provider's authorization endpoint, with a new state, nonce and PKCE
// challenge kept in a signed, HttpOnly, 10-minute cookie. A return_to that is
// not a path on this app is a 400 problem; an unreachable provider a 503.
func (g *Google) Start() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		returnTo, err := checkReturnTo(r.URL.Query())
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		p, err := g.discover(r.Context())
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		now := g.opts.Now()
		f := flow{
			State:    randomString(),
			Nonce:    randomString(),
			Verifier: oauth2.GenerateVerifier(),
			ReturnTo: returnTo,
			Expires:  now.Add(flowTTL).Unix(),
		}
		http.SetCookie(w, &http.Cookie{ //nolint:gosec // HttpOnly and SameSite always; Secure whenever AUTH_URL is https (plain-HTTP localhost only otherwise)
			Name:     g.cookie,
			Value:    g.sign(f),
			Path:     g.opts.appPath("auth", "google"),
			MaxAge:   int(flowTTL.Seconds()),
			Expires:  now.Add(flowTTL),
			Secure:   g.opts.secure(),
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode, // sent on the provider's top-level redirect back
		})
		target := p.oauth.AuthCodeURL(f.State,
			oauth2.S256ChallengeOption(f.Verifier),
			oidc.Nonce(f.Nonce),
			oauth2.SetAuthURLParam("prompt", "select_account"))
		redirect(w, target)
	})
}

// Callback is GET /auth/google/callback, where the provider sends the browser
// back. It checks state against the sign-in cookie, exchanges the code with
// the PKCE verifier, verifies the ID token (signature, issuer, audience,
// expiry) and its nonce, requires a verified email, upserts the user by
// Google subject, opens a session, sets the session cookie and answers 302 to
// AppURL + return_to. The sign-in cookie is cleared whatever happens.
//
// Errors, as problems: a missing, forged, expired or mismatched state, or no
// code, is 400 (invalid); an error from the provider is 401 when the person
// declined or must interact (access_denied, login_required, ...) and 400
// otherwise; a refused code (replayed or expired) or a bad ID token is 401; an
// unverified email is 403; an email owned by another account is 409; an
// unreachable provider is 503.
func (g *Google) Callback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{ //nolint:gosec // HttpOnly and SameSite always; Secure whenever AUTH_URL is https (plain-HTTP localhost only otherwise)
			Name: g.cookie, Path: g.opts.appPath("auth", "google"), MaxAge: -1,
			Secure: g.opts.secure(), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		})
		target, err := g.callback(w, r)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		redirect(w, target)
	})
}

func (g *Google) callback(w http.ResponseWriter, r *http.Request) (string, error) {
	q := r.URL.Query()
	if err := g.configured(); err != nil {
		return "", err
	}
	if e := q.Get("error"); e != "" {
		return "", providerError(e)
	}
	f, err := g.readFlow(r)
	if err != nil {
		return "", err
	}
	state := q.Get("state")
	if state == "" {
		return "", apperr.New(apperr.Invalid, "the callback has no state; start the sign-in again")
	}
	if subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		return "", apperr.New(apperr.Invalid, "the callback's state does not match this browser's sign-in; start the sign-in again")
	}
	code := q.Get("code")
	if code == "" {
		return "", apperr.New(apperr.Invalid, "the callback has no code; start the sign-in again")
	}
	p, err := g.discover(r.Context())
	if err != nil {
		return "", err
	}
	profile, err := g.exchange(r.Context(), p, code, f)
	if err != nil {
		return "", err
	}
	var (
		token   string
		expires time.Time
	)
	err = g.sessions.db.WithTx(r.Context(), func(tx pgx.Tx) error {
		u, err := g.users.UpsertGoogleTx(r.Context(), tx, profile)
		if err != nil {
			return err
		}
		token, expires, err = g.sessions.OpenTx(r.Context(), tx, u.ID, clientIP(r), r.UserAgent())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	g.sessions.setCookie(w, token, expires)
	returnTo := f.ReturnTo
	if returnTo == "" {
		returnTo = "/"
	}
	return origin(g.opts.AppURL) + g.opts.AppURL.Path + returnTo, nil
}

// exchange trades the code for tokens and returns the verified profile.
func (g *Google) exchange(ctx context.Context, p *provider, code string, f flow) (GoogleProfile, error) {
	tok, err := p.oauth.Exchange(oidc.ClientContext(ctx, g.opts.HTTPClient), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return GoogleProfile{}, exchangeError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return GoogleProfile{}, errors.New("exchange code: the token response has no id_token")
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		if _, ok := errors.AsType[*oidc.TokenExpiredError](err); ok {
			return GoogleProfile{}, apperr.Wrap(apperr.Unauthenticated, err, "the sign-in has expired; sign in again")
		}
		return GoogleProfile{}, apperr.Wrap(apperr.Unauthenticated, err, "the provider's ID token could not be verified; sign in again")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return GoogleProfile{}, apperr.New(apperr.Unauthenticated, "the ID token was not issued for this sign-in (nonce mismatch); sign in again")
	}
	var c struct {
		AuthorizedParty string    `json:"azp"`
		Email           string    `json:"email"`
		EmailVerified   claimBool `json:"email_verified"`
		Name            string    `json:"name"`
		Picture         string    `json:"picture"`
	}
	if err := idt.Claims(&c); err != nil {
		return GoogleProfile{}, apperr.Wrap(apperr.Unauthenticated, err, "the ID token's claims are malformed; sign in again")
	}
	// OpenID Connect Core 3.1.3.7: with several audiences, azp must be us.
	if len(idt.Audience) > 1 && c.AuthorizedParty != g.opts.ClientID {
		return GoogleProfile{}, apperr.New(apperr.Unauthenticated, "the ID token was issued to another client; sign in again")
	}
	if idt.Subject == "" {
		return GoogleProfile{}, apperr.New(apperr.Unauthenticated, "the ID token has no subject; sign in again")
	}
	if c.Email == "" || !bool(c.EmailVerified) {
		return GoogleProfile{}, apperr.New(apperr.Forbidden, "this Google account's email address is not verified; verify it with Google, then sign in again")
	}
	return GoogleProfile{
		Subject:    idt.Subject,
		Email:      clip(c.Email, 320),
		Name:       clip(c.Name, 256),
		PictureURL: pictureURL(c.Picture),
	}, nil
}

// exchangeError classifies a failed code exchange. Only the OAuth error code
// is kept for the caller; the provider's description and body go to the
// cause.
func exchangeError(err error) error {
	re, ok := errors.AsType[*oauth2.RetrieveError](err)
	switch {
	case !ok:
		return apperr.Wrap(apperr.Unavailable, fmt.Errorf("exchange code: %w", err), "Google sign-in is unavailable right now; try again in a moment")
	case re.ErrorCode == "invalid_grant":
		return apperr.Wrap(apperr.Unauthenticated, err, "the provider refused the sign-in code (already used or expired); sign in again")
	case re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client":
		return fmt.Errorf("exchange code: the provider refused our client credentials: %w", err) // a misconfiguration: 500, reported
	case re.Response != nil && re.Response.StatusCode >= 500:
		return apperr.Wrap(apperr.Unavailable, fmt.Errorf("exchange code: %w", err), "Google sign-in is unavailable right now; try again in a moment")
	}
	return apperr.Wrap(apperr.Unauthenticated, err, "the provider refused the sign-in (%s); sign in again", safeCode(re.ErrorCode))
}

// providerError is the problem for an error the provider redirected back.
func providerError(code string) error {
	code = safeCode(code)
	switch code {
	case "access_denied", "login_required", "consent_required", "interaction_required", "account_selection_required":
		return apperr.New(apperr.Unauthenticated, "sign-in was not completed at the provider (%s)", code)
	}
	return apperr.New(apperr.Invalid, "the provider refused the sign-in request (%s)", code)
}

// safeCode returns an OAuth error code fit to show, or "unknown".
func safeCode(code string) string {
	if code == "" || len(code) > 64 || strings.Trim(code, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
		return "unknown"
	}
	return code
}

// sign returns f as a cookie value: base64url(JSON) "." base64url(HMAC).
func (g *Google) sign(f flow) string {
	b, _ := json.Marshal(f) // cannot fail: strings and an int
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(g.mac(payload))
}

func (g *Google) mac(payload string) []byte {
	m := hmac.New(sha256.New, []byte(g.opts.Secret))
	m.Write([]byte(flowMAC))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// readFlow returns the sign-in cookie's flow when it is present, signed by us
// and unexpired; otherwise a 400 problem.
func (g *Google) readFlow(r *http.Request) (flow, error) {
	c, err := r.Cookie(g.cookie)
	if err != nil || c.Value == "" {
		return flow{}, apperr.New(apperr.Invalid, "this browser has no sign-in in progress (the sign-in cookie is missing: cookies blocked, or more than 10 minutes passed); start the sign-in again")
	}
	bad := apperr.New(apperr.Invalid, "the sign-in cookie is not valid; start the sign-in again")
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return flow{}, bad
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, g.mac(payload)) {
		return flow{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return flow{}, bad
	}
	var f flow
	if err := json.Unmarshal(b, &f); err != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return flow{}, bad
	}
	if !g.opts.Now().Before(time.Unix(f.Expires, 0)) {
		return flow{}, apperr.New(apperr.Invalid, "the sign-in took more than 10 minutes; start the sign-in again")
	}
	return f, nil
}

// checkReturnTo returns the return_to parameter when it is a path on this
// app. "//host" and "/\host" are refused because browsers read them as
// another host; so are backslashes and control characters anywhere (browsers
// turn "\" into "/" and drop tabs and newlines before parsing).
func checkReturnTo(q url.Values) (string, error) {
	v, ok := q["return_to"]
	if !ok {
		return "", nil
	}
	rt := v[0]
	bad := func(why string) error {
		return apperr.InvalidField("return_to", "return_to must be a path on this app, such as /jobs: %s", why)
	}
	switch {
	case len(v) > 1:
		return "", bad("it is given more than once")
	case len(rt) > maxReturnTo:
		return "", bad(fmt.Sprintf("it is longer than %d bytes", maxReturnTo))
	case !strings.HasPrefix(rt, "/"):
		return "", bad("it must start with /")
	case strings.HasPrefix(rt, "//"):
		return "", bad("it must not start with //")
	case strings.ContainsRune(rt, '\\'):
		return "", bad(`it must not contain \`)
	case strings.ContainsFunc(rt, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		return "", bad("it must not contain control characters")
	}
	u, err := url.Parse(rt)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "", bad("it does not parse as a relative path")
	}
	return rt, nil
}

// pictureURL keeps only https picture URLs, so the app never renders another
// scheme from a token.
func pictureURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(s) > 2048 {
		return ""
	}
	return s
}

// claimBool reads a boolean claim sent as true or "true".
type claimBool bool

func (b *claimBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`, "null":
		*b = false
	default:
		return fmt.Errorf("boolean claim is %s", data)
	}
	return nil
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func redirect(w http.ResponseWriter, target string) {
	w.Header().Set("Location", target)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}
