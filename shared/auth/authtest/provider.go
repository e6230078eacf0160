// Package authtest helps tests that sign people in: an in-process OpenID
// Connect provider that stands in for Google, and SignIn, which opens a
// session without one.
package authtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/redub/redub/shared/auth"
)

// Identity is the account that signs in at the provider.
type Identity struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Picture       string
	// Claims are applied to the ID token last, to test bad tokens: they
	// replace standard claims ("aud", "exp", "nonce", "iss", ...) or add
	// others; a nil value removes the claim.
	Claims map[string]any
}

// Alice is the default identity.
func Alice() Identity {
	return Identity{
		Subject:       "110248495921238986420",
		Email:         "alice@example.com",
		EmailVerified: true,
		Name:          "Alice Example",
		Picture:       "https://example.com/alice.png",
	}
}

// Provider is an OpenID Connect provider on 127.0.0.1. It serves
// /.well-known/openid-configuration, /jwks (a fresh RSA key, RS256),
// /authorize (signs in the identity set with SetIdentity and redirects back
// with a code) and /token (checks the client's id and secret, the redirect
// URI, the PKCE S256 verifier, and that each code is used once and within
// 10 minutes). Codes can also be minted without HTTP with Authorize.
type Provider struct {
	URL          string // the issuer: the server's base URL
	ClientID     string
	ClientSecret string

	srv    *httptest.Server
	key    *rsa.PrivateKey
	signer jose.Signer

	mu            sync.Mutex
	now           func() time.Time
	identity      Identity
	grants        map[string]*grant
	hits          map[string]int
	failDiscovery int
}

type grant struct {
	clientID, redirectURI, challenge, nonce string
	identity                                Identity
	expires                                 time.Time
	used                                    bool
}

const keyID = "authtest-1"

// NewProvider starts a provider, closed when the test ends.
func NewProvider(t testing.TB) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("authtest: generate key: %v", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: keyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatalf("authtest: new signer: %v", err)
	}
	p := &Provider{
		ClientID:     "authtest-client.apps.example.com",
		ClientSecret: "authtest-client-secret", //nolint:gosec // a test provider's credential, public on purpose
		key:          key,
		signer:       signer,
		now:          time.Now,
		identity:     Alice(),
		grants:       map[string]*grant{},
		hits:         map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[r.URL.Path]++
		p.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	return p
}

// Configure points opts at this provider: client id and secret, issuer and
// HTTP client.
func (p *Provider) Configure(opts *auth.Options) {
	opts.ClientID, opts.ClientSecret, opts.IssuerURL, opts.HTTPClient = p.ClientID, p.ClientSecret, p.URL, p.srv.Client()
}

// SetIdentity sets who signs in at /authorize (Alice by default).
func (p *Provider) SetIdentity(id Identity) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.identity = id
}

// SetNow sets the provider's clock (time.Now by default), which stamps the
// ID tokens' iat and exp and the codes' expiry.
func (p *Provider) SetNow(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = now
}

// FailDiscovery makes the next n discovery requests fail with a 503.
func (p *Provider) FailDiscovery(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failDiscovery = n
}

// Requests returns how many requests the provider got for path, such as
// "/.well-known/openid-configuration" or "/token".
func (p *Provider) Requests(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[path]
}

// Authorize does what the provider's authorization endpoint does when id
// signs in: it checks the authorization request URL (as Start redirects to)
// and returns the redirect back to the app, with a fresh code and the state.
func (p *Provider) Authorize(authURL string, id Identity) (*url.URL, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, fmt.Errorf("parse authorization URL: %w", err)
	}
	if !strings.HasPrefix(authURL, p.URL+"/authorize?") {
		return nil, fmt.Errorf("authorization URL %q is not this provider's /authorize", authURL)
	}
	q := u.Query()
	switch {
	case q.Get("response_type") != "code":
		return nil, fmt.Errorf("response_type is %q, want code", q.Get("response_type"))
	case q.Get("client_id") != p.ClientID:
		return nil, fmt.Errorf("client_id is %q, want %q", q.Get("client_id"), p.ClientID)
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		return nil, fmt.Errorf("scope %q lacks openid", q.Get("scope"))
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		return nil, errors.New("no S256 code_challenge")
	case q.Get("state") == "":
		return nil, errors.New("no state")
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !back.IsAbs() {
		return nil, fmt.Errorf("redirect_uri %q is not an absolute URL", q.Get("redirect_uri"))
	}
	code := random()
	p.mu.Lock()
	p.grants[code] = &grant{
		clientID:    p.ClientID,
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		nonce:       q.Get("nonce"),
		identity:    id,
		expires:     p.now().Add(10 * time.Minute),
	}
	p.mu.Unlock()
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	return back, nil
}

// SignIDToken signs claims as an ID token of this provider.
func (p *Provider) SignIDToken(claims map[string]any) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	jws, err := p.signer.Sign(b)
	if err != nil {
		return "", fmt.Errorf("sign ID token: %w", err)
	}
	return jws.CompactSerialize()
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	fail := p.failDiscovery > 0
	if fail {
		p.failDiscovery--
	}
	p.mu.Unlock()
	if fail {
		http.Error(w, "discovery is down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p.key.PublicKey, KeyID: keyID, Algorithm: string(jose.RS256), Use: "sig"},
	}})
}

// authorize signs in the current identity at once and redirects back.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	id := p.identity
	p.mu.Unlock()
	back, err := p.Authorize(p.URL+r.URL.RequestURI(), id)
	if err != nil {
		http.Error(w, "bad authorization request: "+err.Error(), http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, back.String(), http.StatusFound) //nolint:gosec // a test provider redirecting to the registered redirect_uri
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		// RFC 6749 2.3.1: both are form-encoded before basic auth.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(p.ClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	p.mu.Lock()
	g := p.grants[r.PostForm.Get("code")]
	now := p.now()
	valid := g != nil && !g.used && now.Before(g.expires) && g.clientID == id
	if g != nil {
		g.used = true // one presentation, right or wrong
	}
	p.mu.Unlock()
	switch {
	case !valid:
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	claims := map[string]any{
		"iss":            p.URL,
		"sub":            g.identity.Subject,
		"aud":            p.ClientID,
		"azp":            p.ClientID,
		"iat":            now.Unix(),
		"exp":            now.Add(time.Hour).Unix(),
		"email":          g.identity.Email,
		"email_verified": g.identity.EmailVerified,
		"name":           g.identity.Name,
		"picture":        g.identity.Picture,
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	for k, v := range g.identity.Claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	idToken, err := p.SignIDToken(claims)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": "at-" + random(),
		"token_type":   "Bearer",
		"expires_in":   3600,
		"scope":        "openid email profile",
		"id_token":     idToken,
	})
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": "authtest: " + code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
